//! `ctl route HOST PATH`: where a request goes, asked of the live HAProxy with `get map` on
//! each routing map in the frontend's lookup order, with the matched entry's policies, the
//! backend's servers, and what the agent's desired state says.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::{Context, bail};
use haproxy::config::RouteTarget;
use haproxy::config::gateway::Listen;
use haproxy::proto::{Command, MapLookup, Reply};
use haproxy::{BackendName, FilePath, MapKey, RuntimeClient};
use serde_json::{Value, json};

use super::maps::{map_kind, policy_notes};
use super::request::{Request, canary_choice};
use super::servers::{HEADER, ServerRow, server_rows};
use super::{get_json, print, table};
use crate::cli::OutputFormat;

/// One `get map` of the lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Step {
    /// Which key (`host+path`, …).
    key_kind: &'static str,
    /// The key tried.
    key: String,
    /// The map's kind (`regex`, `exact`, `prefix`).
    map: String,
    /// The map file.
    file: FilePath,
}

/// The lookups in the frontend's order: for each key, the regex map, the exact map, then
/// the prefix map (haproxy.cfg: `map_regm`, `map_str`, `map_beg`); first hit wins.
fn steps(request: &Request, files: &BTreeMap<String, FilePath>) -> Vec<Step> {
    let mut out = Vec::new();
    for (key_kind, key) in request.keys() {
        for map in ["regex", "exact", "prefix"] {
            if let Some(file) = files.get(map) {
                out.push(Step {
                    key_kind,
                    key: key.clone(),
                    map: map.to_string(),
                    file: file.clone(),
                });
            }
        }
    }
    out
}

/// The route a lookup found.
struct Found {
    step: usize,
    key: String,
    value: String,
}

/// Traces `request` on bind `listen`: the Gateway API routes first when HAProxy serves
/// some (the Lua action runs before the Ingress lookups; see [`super::route_gateway`]), then,
/// when they pass the request on, the Ingress route maps.
pub(super) async fn route(
    client: &RuntimeClient,
    agent: &str,
    request: &Request,
    listen: Listen,
    out: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let list = client.maps().await.context("cannot list HAProxy's maps")?;
    let gateway = match super::route_gateway::files(&list) {
        Some(f) => {
            let key = listen.key();
            Some(super::route_gateway::trace(client, &f, &key, listen.tls(), request).await?)
        }
        None if !listen.shared() => {
            bail!(
                "HAProxy serves no Gateway API route, so it has no bind {}",
                listen.key()
            )
        }
        None => None,
    };
    if let Some(t) = &gateway
        && let Some(backends) = &t.decided
    {
        return super::route_gateway::print_decided(client, request, t, backends, out).await;
    }
    let (mut text, mut doc, code) = ingress_route(client, agent, request, list).await?;
    if let Some(t) = gateway {
        text = format!(
            "{}
{text}",
            t.lines.join("\n")
        );
        doc["gateway"] = t.doc;
    }
    print(out, &doc, &text);
    Ok(code)
}

/// The Ingress part of the trace: its text, its document and the exit code.
async fn ingress_route(
    client: &RuntimeClient,
    agent: &str,
    request: &Request,
    list: Vec<haproxy::proto::parse::MapInfo>,
) -> anyhow::Result<(String, Value, ExitCode)> {
    let files = routing_maps(list)?;
    let steps = steps(request, &files);
    let (tried, found) = look_up(client, &steps).await?;
    let state = get_json(agent, "/debug/state").await;
    let patterns = canary_patterns(client, &files).await;
    let report = Report::build(
        request,
        &steps,
        &tried,
        found.as_ref(),
        state.as_ref().ok(),
        &patterns,
    );
    let servers = match &report.backend {
        Some(b) => server_rows(client, Some(b)).await?,
        None => Vec::new(),
    };
    let mut text = report.text();
    let cells: Vec<Vec<String>> = servers.iter().map(ServerRow::cells).collect();
    if !servers.is_empty() {
        text.push('\n');
        text.push_str(&table(&HEADER, &cells));
    } else if let Some(b) = &report.backend {
        let _ = writeln!(text, "backend {b} has no servers: HAProxy answers 503");
    }
    text.push_str(&agent_note(&state, &report));
    let mut doc = report.json();
    doc["servers"] = serde_json::to_value(&servers).unwrap_or_default();
    doc["agent_error"] = match &state {
        Err(e) => Value::String(format!("{e:#}")),
        Ok(_) => Value::Null,
    };
    let code = if report.disagreements.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    };
    Ok((text, doc, code))
}

/// HAProxy's routing map files by kind (`exact`, `prefix`, `regex`), from `show map`.
fn routing_maps(
    list: Vec<haproxy::proto::parse::MapInfo>,
) -> anyhow::Result<BTreeMap<String, FilePath>> {
    let files: BTreeMap<String, FilePath> = list
        .into_iter()
        .filter(|m| !m.file.is_empty())
        .filter_map(|m| {
            let kind = map_kind(&m.file).to_string();
            let file = FilePath::new(m.file.clone()).ok()?;
            ["regex", "exact", "prefix"]
                .contains(&kind.as_str())
                .then_some((kind, file))
        })
        .collect();
    if files.is_empty() {
        bail!("HAProxy has no routing maps (is this the agent's HAProxy?)");
    }
    Ok(files)
}

/// Looks `steps` up in HAProxy's maps, in one batch, in order: the lookups up to the
/// first that matched, and that match.
async fn look_up(
    client: &RuntimeClient,
    steps: &[Step],
) -> anyhow::Result<(Vec<MapLookup>, Option<Found>)> {
    let cmds: Vec<Command> = steps
        .iter()
        .map(|s| Ok(Command::GetMap(s.file.clone(), MapKey::new(s.key.clone())?)))
        .collect::<anyhow::Result<_>>()?;
    let replies = client
        .batch(&cmds)
        .await
        .context("cannot look the request up in HAProxy's maps")?;
    let mut tried = Vec::new();
    for (i, r) in replies.into_iter().enumerate() {
        let lookup = match r {
            Ok(Reply::MapLookup(l)) => l,
            Ok(other) => bail!("unexpected reply to get map: {other:?}"),
            Err(e) => bail!("HAProxy refused get map: {e}"),
        };
        tried.push(lookup.clone());
        if let MapLookup { found: Some(m), .. } = lookup {
            let found = Found {
                step: i,
                key: m.key,
                value: m.value,
            };
            return Ok((tried, Some(found)));
        }
    }
    Ok((tried, None))
}

/// Whether the agent's desired state agrees with what HAProxy answered.
fn agent_note(state: &anyhow::Result<Value>, report: &Report) -> String {
    match (state, report.disagreements.is_empty()) {
        (Err(e), _) => format!("\nthe agent's desired state is unavailable: {e:#}\n"),
        (Ok(_), true) => "\nthe agent's desired state agrees\n".to_string(),
        (Ok(_), false) => {
            let mut s = "\nDISAGREES with the agent's desired state:\n".to_string();
            for d in &report.disagreements {
                let _ = writeln!(s, "  {d}");
            }
            s
        }
    }
}

/// What the trace found, before the servers are read.
struct Report {
    lines: Vec<String>,
    steps: Vec<Value>,
    backend: Option<BackendName>,
    route: Value,
    disagreements: Vec<String>,
}

/// The entries of HAProxy's canary ACL file (beside the route maps), empty when it has none.
async fn canary_patterns(
    client: &RuntimeClient,
    files: &BTreeMap<String, FilePath>,
) -> Vec<String> {
    let Some(dir) = files
        .get("exact")
        .and_then(|f| f.as_str().rsplit_once('/'))
        .map(|(d, _)| d)
    else {
        return Vec::new();
    };
    let Ok(file) = FilePath::new(format!("{dir}/canary.acl")) else {
        return Vec::new();
    };
    match client.send(Command::ShowAcl(file)).await {
        Ok(Reply::AclEntries(entries)) => entries.into_iter().map(|e| e.pattern).collect(),
        _ => Vec::new(),
    }
}

impl Report {
    fn build(
        request: &Request,
        steps: &[Step],
        tried: &[MapLookup],
        found: Option<&Found>,
        state: Option<&Value>,
        patterns: &[String],
    ) -> Self {
        let mut lines = vec![format!(
            "{} {}{} (keys as the frontend builds them)",
            request.method, request.host, request.path
        )];
        let mut step_docs = Vec::new();
        for (i, (s, l)) in steps.iter().zip(tried).enumerate() {
            let hit = l.found.as_ref();
            let what = match hit {
                Some(m) => format!("matched {:?} -> {}", m.key, m.value),
                None => "no match".to_string(),
            };
            lines.push(format!(
                "  {}. {:<6} map {:<6} {:<13} {:?}: {what}",
                i + 1,
                s.map,
                format!("({})", l.method),
                s.key_kind,
                s.key
            ));
            step_docs.push(json!({
                "map": s.map, "file": s.file.as_str(), "method": l.method,
                "key_kind": s.key_kind, "key": s.key,
                "matched": hit.map(|m| json!({"key": m.key, "value": m.value})),
            }));
        }
        let desired = state.map(|s| &s["desired"]);
        let mut disagreements = Vec::new();
        let (backend, route) = match found {
            Some(f) => {
                let step = &steps[f.step];
                if let Some(d) = desired {
                    disagreements.extend(check_desired(d, steps, f));
                }
                Self::matched(request, step, f, patterns, &mut lines)
            }
            None => {
                let default = desired
                    .and_then(|d| d["default_backend"].as_str())
                    .map(str::to_string);
                match default.as_deref() {
                    Some("built-in 404") => {
                        lines.push("no route: HAProxy answers 404 (no default backend)".into());
                        (None, json!({"default": "built-in 404"}))
                    }
                    Some(b) => {
                        lines.push(format!("no route: the default backend {b}"));
                        (BackendName::new(b).ok(), json!({"default": b}))
                    }
                    None => {
                        lines.push(
                            "no route: the frontend's default backend (the agent did not say which)"
                                .into(),
                        );
                        (None, json!({"default": null}))
                    }
                }
            }
        };
        if let (Some(b), Some(d)) = (&backend, desired)
            && d["backends"].get(b.as_str()).is_none()
        {
            disagreements.push(format!("the agent wants no backend {b}"));
        }
        Self {
            lines,
            steps: step_docs,
            backend,
            route,
            disagreements,
        }
    }

    fn matched(
        request: &Request,
        step: &Step,
        f: &Found,
        patterns: &[String],
        lines: &mut Vec<String>,
    ) -> (Option<BackendName>, Value) {
        let Some(t) = RouteTarget::parse(&f.value) else {
            lines.push(format!(
                "the entry's value {:?} is not one the agent writes",
                f.value
            ));
            return (
                None,
                json!({"map": step.map, "key": f.key, "value": f.value}),
            );
        };
        let mut backend = t.backend.clone();
        lines.push(format!("backend {}", t.backend));
        if step.map == "regex" && f.value.contains('\\') {
            lines.push("  (\\N in the value are the regex's groups, filled in by HAProxy)".into());
        }
        let notes = policy_notes(&t);
        for n in &notes {
            lines.push(format!("  policy: {n}"));
        }
        let mut canary = Value::Null;
        if let Some(c) = &t.canary {
            let (to_canary, why) = canary_choice(&c.rule, request, patterns);
            let line = match (to_canary, &why) {
                (true, Some(w)) => format!("  canary: {w}, so backend {}", c.backend),
                (false, Some(w)) => format!("  canary: {w}, so backend {}", t.backend),
                _ => format!(
                    "  canary: no header or cookie decides; {} in {} requests go to {}",
                    c.rule.weight, c.rule.total, c.backend
                ),
            };
            lines.push(line);
            if to_canary {
                backend = c.backend.clone();
            }
            canary = json!({"backend": c.backend.as_str(), "chosen": to_canary, "why": why});
        }
        let doc = json!({
            "map": step.map, "key": f.key, "value": f.value,
            "backend": backend.as_str(), "policies": notes, "canary": canary,
        });
        (Some(backend), doc)
    }

    fn text(&self) -> String {
        let mut s = self.lines.join("\n");
        s.push('\n');
        s
    }

    fn json(&self) -> Value {
        json!({
            "steps": self.steps,
            "route": self.route,
            "backend": self.backend.as_ref().map(BackendName::as_str),
            "disagreements": self.disagreements,
        })
    }
}

/// Where the agent's desired maps differ from what the live lookup found: the matched
/// entry's value, and exact or prefix entries the desired maps have for a step tried before
/// the hit (which would have matched first). Regex entries are compared by key only.
fn check_desired(desired: &Value, steps: &[Step], f: &Found) -> Vec<String> {
    let mut out = Vec::new();
    for s in &steps[..f.step] {
        let map = &desired["maps"][s.map.as_str()];
        let hit = match s.map.as_str() {
            "exact" => map.get(&s.key).map(|_| s.key.clone()),
            "prefix" => map
                .as_object()
                .and_then(|m| {
                    m.keys()
                        .filter(|k| s.key.starts_with(k.as_str()))
                        .max_by_key(|k| k.len())
                })
                .cloned(),
            _ => None,
        };
        if let Some(k) = hit {
            out.push(format!(
                "the agent's {} map has {k:?}, which {:?} would match before the live entry",
                s.map, s.key
            ));
        }
    }
    let step = &steps[f.step];
    match desired["maps"][step.map.as_str()][&f.key].as_str() {
        None => out.push(format!(
            "the agent's {} map has no entry {:?} (live: {})",
            step.map, f.key, f.value
        )),
        Some(v) if v != f.value => out.push(format!(
            "the agent's {} map has {:?} -> {v}, live -> {}",
            step.map, f.key, f.value
        )),
        Some(_) => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(host: &str, path: &str) -> Request {
        Request::new(host, path, "get", &[]).unwrap()
    }

    #[test]
    fn lookups_go_regex_exact_prefix_for_each_key() {
        let files: BTreeMap<String, FilePath> = ["exact", "prefix", "regex"]
            .iter()
            .map(|k| (k.to_string(), FilePath::new(format!("/m/{k}.map")).unwrap()))
            .collect();
        let order: Vec<(String, String)> = steps(&req("a.b", "/"), &files)
            .into_iter()
            .map(|s| (s.key, s.map))
            .collect();
        let want = [
            ("a.b/", "regex"),
            ("a.b/", "exact"),
            ("a.b/", "prefix"),
            ("*.b/", "regex"),
            ("*.b/", "exact"),
            ("*.b/", "prefix"),
            ("/", "regex"),
            ("/", "exact"),
            ("/", "prefix"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(k, m)| (k.to_string(), m.to_string()))
            .collect();
        assert_eq!(order, want);
    }

    #[test]
    fn desired_maps_that_would_match_first_are_flagged() {
        let files: BTreeMap<String, FilePath> = ["exact", "prefix"]
            .iter()
            .map(|k| (k.to_string(), FilePath::new(format!("/m/{k}.map")).unwrap()))
            .collect();
        let steps = steps(&req("a.b", "/x"), &files);
        // Live: the path-only prefix entry "/" matched (step 6).
        let f = Found {
            step: 5,
            key: "/".into(),
            value: "ns_def_80".into(),
        };
        let agrees = json!({"maps": {"exact": {}, "prefix": {"/": "ns_def_80"}}});
        assert!(check_desired(&agrees, &steps, &f).is_empty());
        let earlier =
            json!({"maps": {"exact": {}, "prefix": {"/": "ns_def_80", "a.b/": "ns_a_80"}}});
        let d = check_desired(&earlier, &steps, &f);
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].contains("\"a.b/\""), "{d:?}");
        let other = json!({"maps": {"exact": {}, "prefix": {"/": "ns_other_80"}}});
        assert!(check_desired(&other, &steps, &f)[0].contains("ns_other_80"));
    }
}
