//! `ctl diff`: what the agent wants against what HAProxy has, as the planner sees it: the
//! objects translated with the running agent's settings, HAProxy observed, and every step
//! of the plan named as a difference (one planner: the agent's own).

use std::process::ExitCode;

use haproxy::RuntimeClient;
use haproxy::config::{AclKind, MapKind};
use haproxy::proto::{AdminState, Command};
use serde_json::{Value, json};

use super::plan::{Planned, planned};
use super::print;
use super::servers::admin_label;
use crate::cli::OutputFormat;
use crate::reconcile::{Observed, Plan};

pub(super) async fn diff(
    client: &RuntimeClient,
    agent: &str,
    out: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let p = planned(client, None, Some(agent)).await?;
    let differences = differences(&p);
    let mut text = String::new();
    for d in &differences {
        text.push_str(&line(d));
        text.push('\n');
    }
    if differences.is_empty() {
        text.push_str("HAProxy matches the agent's desired state\n");
    }
    print(
        out,
        &json!({ "equal": differences.is_empty(), "differences": differences }),
        &text,
    );
    Ok(if differences.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// One difference as a line: what, where, and the desired and live values.
fn line(d: &Value) -> String {
    let what = d["kind"].as_str().unwrap_or_default();
    let target = d["target"].as_str().unwrap_or_default();
    let detail = match (d.get("desired"), d.get("live")) {
        (Some(w), Some(h)) => format!(": desired {w}, live {h}"),
        (Some(w), None) => format!(": desired {w}"),
        (None, Some(h)) => format!(": live {h}"),
        _ => String::new(),
    };
    format!("{what} {target}{detail}")
}

/// The plan's steps as differences (kind, target, desired, live). Payloads (certificates,
/// keys) are never shown: a certificate is named by its file.
fn differences(p: &Planned) -> Vec<Value> {
    let r = match &p.plan {
        Plan::Reload(reason) => {
            return vec![json!({
                "kind": "different structure",
                "target": p.cfg_path.display().to_string(),
                "desired": format!("a reload: {reason}"),
            })];
        }
        Plan::Runtime(r) => r,
    };
    let mut out: Vec<Value> = r
        .swaps
        .iter()
        .map(|k| json!({"kind": "map to swap whole", "target": map_name(*k)}))
        .collect();
    let maps = p.t.config.frontends.first().map(|f| &f.maps);
    out.extend(
        r.commands
            .iter()
            .filter_map(|c| difference(c, &p.observed, maps)),
    );
    out
}

/// A runtime command as the difference it mends; `None` for the second half of a step
/// named by its first (commit, a new empty store, health).
fn difference(
    c: &Command,
    o: &Observed,
    maps: Option<&haproxy::config::RouteMaps>,
) -> Option<Value> {
    Some(match c {
        Command::AddServer(a) => json!({
            "kind": "missing server", "target": a.server.to_string(),
            "desired": {"address": a.addr.to_string()},
        }),
        Command::DelServer(s) | Command::SetServerState(s, AdminState::Drain) => {
            json!({"kind": "extra server", "target": s.to_string(), "live": live_server(o, s)})
        }
        Command::SetServerState(s, state) => json!({
            "kind": "different server", "target": s.to_string(),
            "desired": {"state": format!("{state:?}").to_lowercase()}, "live": live_server(o, s),
        }),
        Command::SetServerAddr(s, addr) => json!({
            "kind": "different server", "target": s.to_string(),
            "desired": {"address": addr.to_string()}, "live": live_server(o, s),
        }),
        Command::SetServerWeight(s, w) => json!({
            "kind": "different server", "target": s.to_string(),
            "desired": {"weight": w.get()}, "live": live_server(o, s),
        }),
        Command::AddMap(t, k, v) => json!({
            "kind": "missing map entry", "target": format!("{} {k}", file_name(t.file.as_str())),
            "desired": v.as_str(),
        }),
        Command::AddMapBulk(t, entries) => json!({
            "kind": "missing map entries", "target": file_name(t.file.as_str()),
            "desired": entries.len(),
        }),
        Command::SetMap(f, k, v) => json!({
            "kind": "different map entry", "target": format!("{} {k}", file_name(f.as_str())),
            "desired": v.as_str(), "live": live_map_value(o, maps, f.as_str(), k),
        }),
        Command::DelMap(f, k) => json!({
            "kind": "extra map entry", "target": format!("{} {k}", file_name(f.as_str())),
            "live": live_map_value(o, maps, f.as_str(), k),
        }),
        Command::AddAcl(f, pat) => json!({
            "kind": "missing acl pattern", "target": format!("{} {pat}", acl_name(maps, f)),
        }),
        Command::DelAcl(f, pat) => json!({
            "kind": "extra acl pattern", "target": format!("{} {pat}", acl_name(maps, f)),
        }),
        Command::ClearAcl(f) => json!({
            "kind": "acl file with foreign patterns", "target": acl_name(maps, f),
        }),
        Command::SetSslCert(f, _) => {
            let live = o.tls.as_ref().and_then(|t| t.certs.get(f));
            let kind = match live {
                Some(_) => "different certificate",
                None => "missing certificate",
            };
            let sha1 = live.and_then(|fp| fp.as_ref().map(|fp| fp.as_str().to_string()));
            json!({"kind": kind, "target": f.as_str(), "live": {"sha1": sha1}})
        }
        Command::DelSslCert(f) => json!({"kind": "extra certificate", "target": f.as_str()}),
        Command::AddSslCrtList(_, e) => {
            json!({"kind": "missing crt-list line", "target": e.line()})
        }
        Command::DelSslCrtList(_, cert) | Command::DelSslCrtListLine(_, cert, _) => {
            json!({"kind": "extra crt-list line", "target": cert.as_str()})
        }
        Command::SetSslCa(_, f, _) => {
            json!({"kind": "different ca-file", "target": f.as_str()})
        }
        Command::DelSslCa(_, f) => json!({"kind": "extra ca-file", "target": f.as_str()}),
        _ => return None,
    })
}

fn live_server(o: &Observed, s: &haproxy::ServerRef) -> Value {
    match o.servers.get(&s.backend).and_then(|b| b.get(&s.server)) {
        None => Value::Null,
        Some(l) => json!({
            "address": l.addr.map(|a| a.to_string()),
            "weight": l.weight,
            "state": admin_label(l.admin),
        }),
    }
}

fn live_map_value(
    o: &Observed,
    maps: Option<&haproxy::config::RouteMaps>,
    file: &str,
    key: &haproxy::MapKey,
) -> Value {
    let kind = maps.and_then(|m| {
        MapKind::ALL
            .into_iter()
            .find(|k| k.file(m).to_file_path().as_str() == file)
    });
    kind.and_then(|k| o.maps.entries.entries(k).get(key))
        .map_or(Value::Null, |t| Value::String(t.to_string()))
}

fn acl_name(maps: Option<&haproxy::config::RouteMaps>, f: &haproxy::FilePath) -> String {
    maps.and_then(|m| AclKind::of_file(m, f))
        .map_or_else(|| f.to_string(), |k| k.name().to_string())
}

fn map_name(k: MapKind) -> &'static str {
    match k {
        MapKind::Exact => "exact",
        MapKind::Prefix => "prefix",
        MapKind::Regex => "regex",
        MapKind::Passthrough => "sni",
    }
}

/// `exact`, `prefix` or `regex` for a route map file, else the file.
fn file_name(file: &str) -> String {
    let base = file.rsplit('/').next().unwrap_or(file);
    base.strip_suffix(".map").unwrap_or(file).to_string()
}
