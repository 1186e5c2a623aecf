//! `ctl diff`: the agent's desired state (its `/debug/state`) against what HAProxy has.

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;

use anyhow::Context;
use haproxy::proto::{Command, Reply};
use haproxy::{FilePath, RuntimeClient};
use serde_json::{Value, json};

use super::servers::admin_label;
use super::{get_json, print};
use crate::cli::OutputFormat;

pub(super) async fn diff(
    client: &RuntimeClient,
    agent: &str,
    out: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let state = get_json(agent, "/debug/state").await?;
    let desired = &state["desired"];
    let live_servers = client
        .servers_state(None)
        .await
        .context("cannot read HAProxy's servers")?;
    let mut live: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
    for r in &live_servers {
        let addr = r
            .addr
            .map(|ip| std::net::SocketAddr::new(ip, r.port).to_string());
        live.entry(r.backend.clone()).or_default().insert(
            r.server.clone(),
            json!({ "address": addr, "weight": r.weight, "state": admin_label(r.admin) }),
        );
    }
    let mut differences: Vec<Value> = Vec::new();
    let empty = serde_json::Map::new();
    for (backend, b) in desired["backends"].as_object().unwrap_or(&empty) {
        let have = live.get(backend);
        let mut wanted = BTreeSet::new();
        for s in b["servers"].as_array().into_iter().flatten() {
            let name = s["name"].as_str().unwrap_or_default().to_string();
            wanted.insert(name.clone());
            let want =
                json!({ "address": s["address"], "weight": s["weight"], "state": s["state"] });
            match have.and_then(|h| h.get(&name)) {
                None => differences.push(json!({"kind": "missing server", "backend": backend, "server": name, "desired": want})),
                Some(h) if *h != want => differences.push(json!({"kind": "different server", "backend": backend, "server": name, "desired": want, "live": h})),
                Some(_) => {}
            }
        }
        for (name, h) in have.into_iter().flatten() {
            if !wanted.contains(name) {
                differences.push(
                    json!({"kind": "extra server", "backend": backend, "server": name, "live": h}),
                );
            }
        }
    }
    let files = &desired["map_files"];
    for kind in ["exact", "prefix", "regex"] {
        let Some(file) = files[kind].as_str() else {
            continue;
        };
        let entries = client
            .map_entries(FilePath::new(file)?)
            .await
            .unwrap_or_default();
        let have: BTreeMap<String, String> =
            entries.into_iter().map(|e| (e.key, e.value)).collect();
        let want = desired["maps"][kind]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for (k, v) in &want {
            match have.get(k) {
                None => differences.push(json!({"kind": "missing map entry", "map": kind, "key": k, "desired": v})),
                Some(h) if Some(h.as_str()) != v.as_str() => differences.push(json!({"kind": "different map entry", "map": kind, "key": k, "desired": v, "live": h})),
                Some(_) => {}
            }
        }
        for (k, h) in &have {
            if !want.contains_key(k) {
                differences
                    .push(json!({"kind": "extra map entry", "map": kind, "key": k, "live": h}));
            }
        }
    }
    for kind in ["allow", "deny", "canary"] {
        let Some(file) = files[kind].as_str() else {
            continue;
        };
        let have: BTreeSet<String> = match client.send(Command::ShowAcl(FilePath::new(file)?)).await
        {
            Ok(Reply::AclEntries(entries)) => entries.into_iter().map(|e| e.pattern).collect(),
            _ => BTreeSet::new(),
        };
        let want: BTreeSet<String> = desired["acl_files"][kind]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p.as_str().map(str::to_string))
            .collect();
        for p in want.difference(&have) {
            differences.push(json!({"kind": "missing acl pattern", "map": kind, "key": p}));
        }
        for p in have.difference(&want) {
            differences.push(json!({"kind": "extra acl pattern", "map": kind, "key": p}));
        }
    }
    diff_tls(client, &desired["tls"], &mut differences).await;
    let mut text = String::new();
    for d in &differences {
        let what = d["kind"].as_str().unwrap_or_default();
        let target = match (d.get("backend"), d.get("map"), d.get("file")) {
            (Some(b), _, _) => format!(
                "{}/{}",
                b.as_str().unwrap_or_default(),
                d["server"].as_str().unwrap_or_default()
            ),
            (_, Some(m), _) => format!(
                "{} {}",
                m.as_str().unwrap_or_default(),
                d["key"].as_str().unwrap_or_default()
            ),
            (_, _, Some(f)) => f.as_str().unwrap_or_default().to_string(),
            _ => String::new(),
        };
        let detail = match (d.get("desired"), d.get("live")) {
            (Some(w), Some(h)) => format!(": desired {w}, live {h}"),
            (Some(w), None) => format!(": desired {w}"),
            (None, Some(h)) => format!(": live {h}"),
            _ => String::new(),
        };
        text.push_str(&format!("{what} {target}{detail}\n"));
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

/// Certificates (by the SHA-1 fingerprint HAProxy reports) and crt-list lines, desired
/// (`desired.tls` of `/debug/state`) against live.
async fn diff_tls(client: &RuntimeClient, want: &Value, differences: &mut Vec<Value>) {
    let Some(certs) = want["certs"].as_object() else {
        return;
    };
    for (file, c) in certs {
        let Ok(path) = FilePath::new(file.as_str()) else {
            continue;
        };
        let live = match client.send(Command::ShowSslCert(Some(path))).await {
            Ok(Reply::SslCert(info)) => info.sha1,
            _ => None,
        };
        match live {
            None => differences.push(json!({"kind": "missing certificate", "file": file, "desired": c["sha1"]})),
            Some(h) if Some(h.as_str()) != c["sha1"].as_str() => differences.push(
                json!({"kind": "different certificate", "file": file, "desired": c["sha1"], "live": h}),
            ),
            Some(_) => {}
        }
    }
    let Some(list) = want["crt_list_file"]
        .as_str()
        .and_then(|f| FilePath::new(f).ok())
    else {
        return;
    };
    // A line is its certificate and options (a certificate has one line per client-certificate
    // setting); `[options]` follows the file in the reports.
    let line_key = |cert: &str, options: Option<&str>| match options {
        Some(o) => format!("{cert} [{o}]"),
        None => cert.to_string(),
    };
    let live: BTreeMap<String, Vec<String>> = match client.send(Command::ShowSslCrtList(list)).await
    {
        Ok(Reply::CrtList(lines)) => lines
            .into_iter()
            .map(|l| {
                let mut sni = l.sni;
                sni.sort();
                (line_key(&l.cert, l.options.as_deref()), sni)
            })
            .collect(),
        _ => BTreeMap::new(),
    };
    let mut wanted = BTreeSet::new();
    for e in want["crt_list"].as_array().into_iter().flatten() {
        let cert = line_key(
            e["cert"].as_str().unwrap_or_default(),
            e["options"].as_str(),
        );
        let mut sni: Vec<String> = e["sni"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect();
        sni.sort();
        wanted.insert(cert.clone());
        match live.get(&cert) {
            None => differences
                .push(json!({"kind": "missing crt-list line", "file": cert, "desired": sni})),
            Some(h) if *h != sni => differences.push(
                json!({"kind": "different crt-list line", "file": cert, "desired": sni, "live": h}),
            ),
            Some(_) => {}
        }
    }
    for (cert, sni) in &live {
        if !wanted.contains(cert) {
            differences.push(json!({"kind": "extra crt-list line", "file": cert, "live": sni}));
        }
    }
}
