//! `haproxy-agent ctl`: debugging commands that read HAProxy's sockets (and the agent's
//! `/debug/state`), printing tables for people or JSON for scripts.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use haproxy::config::Structure;
use haproxy::proto::parse::OpState;
use haproxy::proto::{Command, Reply};
use haproxy::{BackendName, Endpoint, FilePath, RuntimeClient, RuntimeConfig};
use serde_json::{Value, json};

use crate::cli::{CtlArgs, CtlCommand, OutputFormat, RenderArgs};
use crate::reconcile::{self, Plan, PlanSettings};

/// The largest reply `ctl raw` prints.
const MAX_RAW_REPLY: usize = 256 << 20;

/// Runs a ctl command.
pub async fn run(args: CtlArgs) -> anyhow::Result<ExitCode> {
    let runtime = || -> RuntimeClient {
        let endpoint: Endpoint = args
            .sockets
            .runtime_socket
            .parse()
            .expect("endpoint parsing is infallible");
        RuntimeClient::new(
            endpoint,
            RuntimeConfig {
                timeout: args.sockets.socket_timeout,
                connect_attempts: 1,
                ..RuntimeConfig::default()
            },
        )
    };
    let out = args.output;
    match &args.command {
        CtlCommand::Raw { command } => raw(&args, command).await,
        CtlCommand::Servers { backend } => servers(&runtime(), backend.as_deref(), out).await,
        CtlCommand::Maps => maps(&runtime(), out).await,
        CtlCommand::Diff => diff(&runtime(), &args.agent, out).await,
        CtlCommand::Plan { source, model } => {
            let render_args = RenderArgs {
                source: source.clone(),
                model: model.clone(),
                haproxy_bin: "haproxy".into(),
            };
            plan(&runtime(), &render_args, out).await
        }
    }
}

async fn raw(args: &CtlArgs, command: &str) -> anyhow::Result<ExitCode> {
    let (kind, addr) = match &args.sockets.master_socket {
        Some(m) => ("master socket", m.as_str()),
        None => ("runtime socket", args.sockets.runtime_socket.as_str()),
    };
    let endpoint: Endpoint = addr.parse().expect("endpoint parsing is infallible");
    let reply = endpoint
        .oneshot(command, args.sockets.socket_timeout, MAX_RAW_REPLY)
        .await
        .with_context(|| format!("cannot talk to HAProxy's {kind} {endpoint}"))?;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&reply)?;
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn print(out: OutputFormat, json: &Value, text: &str) {
    match out {
        OutputFormat::Json => {
            println!("{}", serde_json::to_string_pretty(json).unwrap_or_default())
        }
        OutputFormat::Text => print!("{text}"),
    }
}

/// Left-aligned columns.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    let mut s = String::new();
    let line = |cells: Vec<&str>, s: &mut String| {
        let parts: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        s.push_str(parts.join("  ").trim_end());
        s.push('\n');
    };
    line(header.to_vec(), &mut s);
    for r in rows {
        line(r.iter().map(String::as_str).collect(), &mut s);
    }
    s
}

fn admin_label(admin: haproxy::proto::parse::ServerAdmin) -> &'static str {
    if admin.is_maint() {
        "maint"
    } else if admin.is_drain() {
        "drain"
    } else {
        "ready"
    }
}

fn op_label(op: OpState) -> &'static str {
    match op {
        OpState::Stopped => "DOWN",
        OpState::Starting => "STARTING",
        OpState::Running => "UP",
        OpState::Stopping => "STOPPING",
    }
}

async fn servers(
    client: &RuntimeClient,
    backend: Option<&str>,
    out: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let backend = backend.map(BackendName::new).transpose()?;
    let replies = client
        .batch(&[
            Command::ShowServersState(backend.clone()),
            Command::ShowStat,
        ])
        .await
        .context("cannot read HAProxy's servers")?;
    let mut it = replies.into_iter();
    let Some(Ok(Reply::ServersState(rows))) = it.next() else {
        bail!("HAProxy did not list its servers (unknown backend?)");
    };
    let mut sessions: BTreeMap<(String, String), i64> = BTreeMap::new();
    if let Some(Ok(Reply::Stat(stat))) = it.next() {
        for r in stat {
            if let Some(n) = r.number("scur") {
                sessions.insert((r.proxy().to_string(), r.service().to_string()), n);
            }
        }
    }
    let mut table_rows = Vec::new();
    let mut json_rows = Vec::new();
    for r in rows.iter() {
        let addr = match r.addr {
            Some(ip) => std::net::SocketAddr::new(ip, r.port).to_string(),
            None => format!("-:{}", r.port),
        };
        let cur = sessions
            .get(&(r.backend.clone(), r.server.clone()))
            .copied()
            .unwrap_or(0);
        table_rows.push(vec![
            r.backend.clone(),
            r.server.clone(),
            addr.clone(),
            admin_label(r.admin).to_string(),
            op_label(r.op_state).to_string(),
            r.weight.to_string(),
            cur.to_string(),
        ]);
        json_rows.push(json!({
            "backend": r.backend, "server": r.server, "address": addr,
            "admin": admin_label(r.admin), "state": op_label(r.op_state),
            "weight": r.weight, "sessions": cur,
        }));
    }
    let text = table(
        &[
            "BACKEND", "SERVER", "ADDRESS", "ADMIN", "STATE", "WEIGHT", "SESSIONS",
        ],
        &table_rows,
    );
    print(out, &Value::Array(json_rows), &text);
    Ok(ExitCode::SUCCESS)
}

/// Live map entries of every map file HAProxy loaded.
async fn live_maps(
    client: &RuntimeClient,
) -> anyhow::Result<BTreeMap<String, Vec<(String, String)>>> {
    let list = client.maps().await.context("cannot list HAProxy's maps")?;
    let files: BTreeSet<String> = list
        .into_iter()
        .map(|m| m.file)
        .filter(|f| !f.is_empty())
        .collect();
    let mut out = BTreeMap::new();
    for f in files {
        let entries = client.map_entries(FilePath::new(f.clone())?).await?;
        out.insert(f, entries.into_iter().map(|e| (e.key, e.value)).collect());
    }
    Ok(out)
}

fn map_kind(file: &str) -> &str {
    match file.rsplit('/').next() {
        Some("exact.map") => "exact",
        Some("prefix.map") => "prefix",
        Some("regex.map") => "regex",
        _ => file,
    }
}

/// A route map value for people: the backend, then what the route does besides.
fn describe_target(value: &str) -> String {
    let Some(t) = haproxy::config::RouteTarget::parse(value) else {
        return value.to_string();
    };
    let p = &t.policy;
    let mut notes = Vec::new();
    if t.https_redirect {
        notes.push("plain HTTP redirected to HTTPS".to_string());
    }
    if let Some(r) = &p.redirect {
        notes.push(format!("redirect {} to {}", r.code.get(), r.location));
    }
    let texts = [
        ("app root", &p.app_root),
        ("X-Forwarded-Prefix", &p.forwarded_prefix),
        ("path rewritten to", &p.rewrite),
        ("Host", &p.vhost),
    ];
    for (what, v) in texts {
        if let Some(v) = v {
            notes.push(format!("{what} {v}"));
        }
    }
    if let Some(w) = &p.www_redirect {
        notes.push(format!("redirect 308 to host {w}"));
    }
    if let Some(a) = &p.auth {
        notes.push(format!("basic auth {a}"));
    }
    if let Some(e) = &p.custom_errors {
        let codes: Vec<String> = e.codes.codes().iter().map(u16::to_string).collect();
        notes.push(format!(
            "error pages for {} from {}",
            codes.join(","),
            e.backend
        ));
    }
    if let Some(c) = &t.canary {
        let r = &c.rule;
        let mut by = vec![format!("{} in {}", r.weight, r.total)];
        if let Some(h) = &r.header {
            by.push(match &r.header_value {
                Some(v) => format!("header {h}: {v}"),
                None => format!("header {h}"),
            });
        }
        if let Some(k) = &r.cookie {
            by.push(format!("cookie {k}"));
        }
        notes.push(format!("canary {} by {}", c.backend, by.join(", ")));
    }
    if notes.is_empty() {
        t.backend.to_string()
    } else {
        format!("{} ({})", t.backend, notes.join("; "))
    }
}

async fn maps(client: &RuntimeClient, out: OutputFormat) -> anyhow::Result<ExitCode> {
    let live = live_maps(client).await?;
    let mut rows = Vec::new();
    let mut doc = serde_json::Map::new();
    for (file, entries) in &live {
        let mut obj = serde_json::Map::new();
        for (k, v) in entries {
            let shown = describe_target(v);
            rows.push(vec![
                map_kind(file).to_string(),
                k.clone(),
                "->".into(),
                shown,
            ]);
            obj.insert(k.clone(), Value::String(v.clone()));
        }
        doc.insert(file.clone(), Value::Object(obj));
    }
    // The address lists' ACL files sit beside the route maps.
    let dirs: BTreeSet<&str> = live
        .keys()
        .filter(|f| f.ends_with("/exact.map"))
        .filter_map(|f| f.rsplit_once('/').map(|(d, _)| d))
        .collect();
    for dir in dirs {
        for kind in ["allow", "deny"] {
            let file = format!("{dir}/{kind}.acl");
            let Ok(Reply::AclEntries(entries)) = client
                .send(Command::ShowAcl(FilePath::new(file.clone())?))
                .await
            else {
                continue;
            };
            let mut patterns = Vec::new();
            for e in entries {
                rows.push(vec![
                    kind.to_string(),
                    e.pattern.clone(),
                    String::new(),
                    String::new(),
                ]);
                patterns.push(Value::String(e.pattern));
            }
            doc.insert(file, Value::Array(patterns));
        }
    }
    print(
        out,
        &Value::Object(doc),
        &table(&["MAP", "HOST+PATH", "", "BACKEND"], &rows),
    );
    Ok(ExitCode::SUCCESS)
}

/// GETs a JSON document over plain HTTP.
async fn get_json(url: &str) -> anyhow::Result<Value> {
    use http_body_util::{BodyExt, Empty};
    let uri: hyper::Uri = url.parse().with_context(|| format!("{url} is not a URL"))?;
    let authority = uri
        .authority()
        .context("the agent URL has no host")?
        .clone();
    let stream = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::TcpStream::connect(authority.as_str()),
    )
    .await
    .context("the agent did not answer in time")?
    .with_context(|| format!("cannot reach the agent at {authority}"))?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let req = hyper::Request::get(uri.clone())
        .header(hyper::header::HOST, authority.as_str())
        .body(Empty::<hyper::body::Bytes>::new())?;
    let resp = tokio::time::timeout(Duration::from_secs(5), sender.send_request(req))
        .await
        .context("the agent did not answer in time")??;
    if !resp.status().is_success() {
        bail!("{url} answered {}", resp.status());
    }
    let body = resp.into_body().collect().await?.to_bytes();
    Ok(serde_json::from_slice(&body)?)
}

async fn diff(client: &RuntimeClient, agent: &str, out: OutputFormat) -> anyhow::Result<ExitCode> {
    let state = get_json(&format!("{}/debug/state", agent.trim_end_matches('/'))).await?;
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
    for kind in ["allow", "deny"] {
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

async fn plan(
    client: &RuntimeClient,
    args: &RenderArgs,
    out: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let (t, _) = crate::run::translate_for(args).await?;
    let writer_cfg = args.model.config_dir.join("haproxy.cfg");
    let loaded = std::fs::read_to_string(&writer_cfg)
        .ok()
        .map(|text| Structure::of_rendered(&text));
    let observed = crate::apply::observe(client, &t.config, loaded.as_ref()).await?;
    let p = reconcile::plan(
        &t.config,
        haproxy::config::structure(&t.config).as_str(),
        &observed,
        &BTreeMap::new(),
        std::time::Instant::now(),
        PlanSettings {
            drain_timeout: Duration::from_secs(30),
        },
    );
    let (doc, text) = match &p {
        Plan::Reload(reason) => (
            json!({ "reload": reason }),
            format!("reload because {reason}\n"),
        ),
        Plan::Runtime(r) => {
            let cmds: Vec<String> = r
                .commands
                .iter()
                .map(|c| c.to_text().unwrap_or_else(|e| format!("<{e}>")))
                .collect();
            let mut text = String::new();
            for kind in &r.swaps {
                text.push_str(&format!("swap the whole {kind:?} map (prepare + commit)\n"));
            }
            for c in &cmds {
                text.push_str(c);
                text.push('\n');
            }
            if r.is_converged() {
                text.push_str("nothing to do: HAProxy is in step\n");
            }
            (
                json!({ "runtime": cmds, "swaps": r.swaps.iter().map(|k| format!("{k:?}")).collect::<Vec<_>>() }),
                text,
            )
        }
    };
    print(out, &doc, &text);
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align() {
        let t = table(&["A", "BB"], &[vec!["xxx".into(), "y".into()]]);
        assert_eq!(t, "A    BB\nxxx  y\n");
    }

    #[test]
    fn map_values_are_described_for_people() {
        assert_eq!(describe_target("ns_web_80"), "ns_web_80");
        assert_eq!(
            describe_target("ns_web_80|https"),
            "ns_web_80 (plain HTTP redirected to HTTPS)"
        );
        let mut rule = haproxy::config::CanaryRule::new(20, 100).unwrap();
        rule.header = Some(haproxy::config::CanaryName::header("x-canary").unwrap());
        rule.header_value = Some(haproxy::config::PolicyText::new("v", "beta").unwrap());
        rule.cookie = Some(haproxy::config::CanaryName::cookie("c").unwrap());
        let canary = haproxy::config::RouteTarget {
            backend: haproxy::BackendName::new("ns_web_80").unwrap(),
            https_redirect: false,
            policy: Default::default(),
            canary: Some(std::sync::Arc::new(haproxy::config::CanaryTarget {
                backend: haproxy::BackendName::new("ns_v2_80").unwrap(),
                rule: std::sync::Arc::new(rule),
            })),
        }
        .to_string();
        assert_eq!(
            describe_target(&canary),
            "ns_web_80 (canary ns_v2_80 by 20 in 100, header x-canary: beta, cookie c)"
        );
        let errors = haproxy::config::RouteTarget {
            backend: haproxy::BackendName::new("ns_web_80").unwrap(),
            https_redirect: false,
            policy: haproxy::config::RoutePolicy {
                custom_errors: haproxy::config::CustomErrors::parse(
                    "404,503/ns_err_80/ns/web/web/80",
                ),
                ..Default::default()
            }
            .shared(),
            canary: None,
        }
        .to_string();
        assert_eq!(
            describe_target(&errors),
            "ns_web_80 (error pages for 404,503 from ns_err_80)"
        );
        assert_eq!(describe_target("not a value"), "not a value");
    }

    #[test]
    fn map_kinds_from_file_names() {
        assert_eq!(map_kind("/etc/haproxy/maps/exact.map"), "exact");
        assert_eq!(map_kind("/etc/haproxy/maps/prefix.map"), "prefix");
        assert_eq!(map_kind("/etc/haproxy/maps/regex.map"), "regex");
        assert_eq!(map_kind("/x/other.map"), "/x/other.map");
    }
}
