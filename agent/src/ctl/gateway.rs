//! `ctl gateway`: the Gateway API statuses the agent computed (its `/debug/state`), one row
//! per condition: what the Lease holder writes to the cluster, and all there is of it with
//! `--manifests`.

use std::process::ExitCode;

use serde_json::Value;

use super::{get_json, print, table};
use crate::cli::OutputFormat;

/// The column names.
const HEADER: [&str; 7] = [
    "KIND",
    "OBJECT",
    "WHERE",
    "CONDITION",
    "STATUS",
    "REASON",
    "MESSAGE",
];

/// Prints the statuses of `/debug/state`.
pub async fn gateway(agent: &str, out: OutputFormat) -> anyhow::Result<ExitCode> {
    let state = get_json(agent, "/debug/state").await?;
    let doc = state.get("gateway_api").cloned().unwrap_or_default();
    print(out, &doc, &table(&HEADER, &rows(&doc)));
    Ok(ExitCode::SUCCESS)
}

/// One row per condition; WHERE is a listener (`listener NAME, N routes`) or a route's parent
/// (`namespace/name[/section][:port]`), empty for the object itself.
fn rows(doc: &Value) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut push = |kind: &str, object: &str, at: String, conditions: &Value| {
        for c in conditions.as_array().into_iter().flatten() {
            let field = |f: &str| c[f].as_str().unwrap_or("").to_string();
            rows.push(vec![
                kind.to_string(),
                object.to_string(),
                at.clone(),
                field("type"),
                field("status"),
                field("reason"),
                field("message"),
            ]);
        }
    };
    let objects = |kind: &str| doc[kind].as_object().cloned().unwrap_or_default();
    for (name, s) in objects("gatewayclasses") {
        push("GatewayClass", &name, String::new(), &s["conditions"]);
    }
    for (name, s) in objects("gateways") {
        push("Gateway", &name, String::new(), &s["conditions"]);
        for l in s["listeners"].as_array().into_iter().flatten() {
            let at = format!(
                "listener {}, {} routes",
                l["name"].as_str().unwrap_or(""),
                l["attachedRoutes"].as_i64().unwrap_or(0)
            );
            push("Gateway", &name, at, &l["conditions"]);
        }
    }
    for (name, s) in objects("httproutes") {
        for p in s["parents"].as_array().into_iter().flatten() {
            let r = &p["parentRef"];
            let ns = r["namespace"].as_str().map_or_else(
                || name.split('/').next().unwrap_or("").to_string(),
                str::to_string,
            );
            let mut at = format!("{ns}/{}", r["name"].as_str().unwrap_or(""));
            if let Some(section) = r["sectionName"].as_str() {
                at.push_str(&format!("/{section}"));
            }
            if let Some(port) = r["port"].as_i64() {
                at.push_str(&format!(":{port}"));
            }
            push("HTTPRoute", &name, at, &p["conditions"]);
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_row_per_condition() {
        let c = |t: &str, s: &str, r: &str| json!({"type": t, "status": s, "reason": r, "message": "m"});
        let doc = json!({
            "gatewayclasses": {"haproxy": {"conditions": [c("Accepted", "True", "Accepted")]}},
            "gateways": {"infra/gw": {"conditions": [c("Programmed", "True", "Programmed")],
                "listeners": [{"name": "http", "attachedRoutes": 2,
                               "conditions": [c("Accepted", "True", "Accepted")]}]}},
            "httproutes": {"default/r": {"parents": [{"parentRef": {"name": "gw", "namespace": "infra",
                "sectionName": "http"}, "conditions": [c("ResolvedRefs", "False", "BackendNotFound")]}]}},
        });
        let text = table(&HEADER, &rows(&doc));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert!(lines[1].starts_with("GatewayClass  haproxy"), "{text}");
        assert!(lines[3].contains("listener http, 2 routes"), "{text}");
        assert!(
            lines[4].contains("infra/gw/http") && lines[4].contains("BackendNotFound"),
            "{text}"
        );
    }
}
