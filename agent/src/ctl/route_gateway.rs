//! `ctl route`'s Gateway API part: asks the live HAProxy for the host-map entries the Lua
//! action would look up and the candidates' rule entries (`get map`), and judges them with
//! [`super::gateway_match`], which follows the Lua's order. The Lua action runs before the
//! Ingress lookups, so this part comes first; it either decides (a route, a redirect or
//! 404) or passes the request on to the Ingress trace.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::{Context, bail};
use haproxy::config::gateway::{Candidate, HOSTS_MAP, HostEntry, RULES_MAP};
use haproxy::proto::parse::MapInfo;
use haproxy::proto::{Command, Reply};
use haproxy::{BackendName, FilePath, MapKey, RuntimeClient};
use serde_json::{Value, json};

use super::gateway_match::{action_lines, entry_text, host_choice, host_steps, mismatch};
use super::request::Request;
use super::servers::{HEADER, ServerRow, server_rows};
use super::{print, table};
use crate::cli::OutputFormat;

/// The Gateway API maps HAProxy has loaded.
pub(super) struct Files {
    hosts: FilePath,
    rules: FilePath,
}

/// The Gateway API maps among HAProxy's maps (`None` while no Gateway API route is served).
pub(super) fn files(list: &[MapInfo]) -> Option<Files> {
    let find = |name: &str| {
        list.iter()
            .find(|m| m.file.rsplit('/').next() == Some(name))
            .and_then(|m| FilePath::new(m.file.clone()).ok())
    };
    Some(Files {
        hosts: find(HOSTS_MAP)?,
        rules: find(RULES_MAP)?,
    })
}

/// What the Lua action does with the request.
pub(super) struct Trace {
    /// For people, one line each.
    pub lines: Vec<String>,
    /// For scripts.
    pub doc: Value,
    /// `None`: passed on to the Ingress lookups. `Some`: decided here, with the backends
    /// a forward may choose (empty for a redirect or a 404).
    pub decided: Option<Vec<BackendName>>,
}

/// The values of `keys` in map `file` (`None` where there is no entry).
async fn lookup(
    client: &RuntimeClient,
    file: &FilePath,
    keys: &[String],
) -> anyhow::Result<Vec<Option<String>>> {
    let cmds: Vec<Command> = keys
        .iter()
        .map(|k| {
            let key = MapKey::new(k.clone()).with_context(|| format!("cannot look {k:?} up"))?;
            Ok(Command::GetMap(file.clone(), key))
        })
        .collect::<anyhow::Result<_>>()?;
    let replies = client
        .batch(&cmds)
        .await
        .with_context(|| format!("cannot look the request up in {file}"))?;
    replies
        .into_iter()
        .map(|r| match r {
            Ok(Reply::MapLookup(l)) => Ok(l.found.map(|m| m.value)),
            Ok(other) => bail!("unexpected reply to get map: {other:?}"),
            Err(e) => bail!("HAProxy refused get map on {file}: {e}"),
        })
        .collect()
}

/// Traces `request` arriving on the bind named `listen` (`tls`: a TLS bind).
pub(super) async fn trace(
    client: &RuntimeClient,
    files: &Files,
    listen: &str,
    tls: bool,
    request: &Request,
) -> anyhow::Result<Trace> {
    let own = listen.contains('@');
    let steps = host_steps(listen, &request.host);
    let keys: Vec<String> = steps.iter().map(|s| s.key.clone()).collect();
    let found = lookup(client, &files.hosts, &keys).await?;
    let (taken, notes) = host_choice(&steps, &found);
    let mut lines = vec![format!(
        "Gateway API routes first (the Lua action runs before the Ingress lookups), bind {listen}:"
    )];
    let upto = taken.map_or(steps.len(), |(i, _)| i + 1);
    let mut lookups = Vec::new();
    for (i, (s, v)) in steps.iter().zip(&found).take(upto).enumerate() {
        let what = v.as_deref().map_or("no entry".into(), entry_text);
        lines.push(format!("  {}. host map {:?}: {what}", i + 1, s.key));
        lookups.push(json!({"key": s.key, "value": v}));
    }
    lines.extend(notes.iter().map(|n| format!("  ({n})")));
    let mut doc = json!({"bind": listen, "host_lookups": lookups, "entry": Value::Null,
        "candidates": [], "route": Value::Null, "answer": Value::Null});
    let entry = taken.map(|(i, v)| (&steps[i].key, HostEntry::decode(v)));
    let (key, port, ids) = match entry {
        Some((
            key,
            Some(HostEntry::Rules {
                listener_port,
                candidates,
            }),
        )) => (key, listener_port, candidates),
        // Even on a Gateway's own bind, as the Lua does.
        Some((_, None)) => {
            lines.push("  the entry is not <port>|<ids>: the Lua passes the request on".into());
            return Ok(passed_on(lines, doc));
        }
        _ if own => {
            lines.push("  no Gateway API route for this host on a Gateway's own bind: HAProxy answers 404 (never an Ingress route)".into());
            doc["answer"] = json!(404);
            return Ok(decided(lines, doc, Vec::new()));
        }
        _ => return Ok(passed_on(lines, doc)),
    };
    doc["entry"] = json!(key);
    let ids: Vec<String> = ids.into_iter().map(|c| c.0).collect();
    let rules = lookup(client, &files.rules, &ids).await?;
    let (winner, judged) = judge(&ids, &rules, request, &mut lines);
    doc["candidates"] = Value::Array(judged);
    let Some((id, c)) = winner else {
        lines.push("no candidate matches: HAProxy answers 404".into());
        doc["answer"] = json!(404);
        return Ok(decided(lines, doc, Vec::new()));
    };
    let mut parts = id.split('/');
    let mut part = || parts.next().unwrap_or("");
    let (ns, name, rule, m) = (part(), part(), part(), part());
    lines.push(format!("HTTPRoute {ns}/{name}, rule {rule}, match {m}:"));
    let actions = action_lines(&c, request, tls, port);
    lines.extend(actions.iter().map(|a| format!("  {a}")));
    let backends: Vec<BackendName> = match &c.action.kind {
        haproxy::config::gateway::ActionKind::Forward(f) => f
            .backends
            .iter()
            .filter(|b| b.weight > 0)
            .filter_map(|b| b.backend.clone())
            .collect(),
        haproxy::config::gateway::ActionKind::Redirect(_) => Vec::new(),
    };
    doc["route"] = json!({"id": id, "httproute": format!("{ns}/{name}"), "rule": rule,
        "match": m, "actions": actions});
    Ok(decided(lines, doc, backends))
}

/// Tries the candidates in order, as the Lua does: the winner, and one document each.
fn judge(
    ids: &[String],
    rules: &[Option<String>],
    request: &Request,
    lines: &mut Vec<String>,
) -> (Option<(String, Candidate)>, Vec<Value>) {
    lines.push(format!(
        "  candidates, in precedence order ({}):",
        ids.len()
    ));
    let mut judged = Vec::new();
    for (i, (id, raw)) in ids.iter().zip(rules).enumerate() {
        let (verdict, why, c) = match raw.as_deref().map(|r| (r, Candidate::decode(r))) {
            None => ("skipped", "it has no rule entry".to_string(), None),
            Some((r, None)) => (
                "skipped",
                format!("its rule entry {r:?} is not one the agent writes"),
                None,
            ),
            Some((_, Some(c))) => match mismatch(&c, request) {
                Some(why) => ("no", why, None),
                None => ("MATCHES", String::new(), Some(c)),
            },
        };
        let sep = if why.is_empty() { "" } else { ": " };
        lines.push(format!("    {}. {id}: {verdict}{sep}{why}", i + 1));
        judged.push(json!({"id": id, "matched": c.is_some(), "why": why}));
        if let Some(c) = c {
            if i + 1 < ids.len() {
                lines.push(format!(
                    "    ({} later candidates not tried)",
                    ids.len() - i - 1
                ));
            }
            return (Some((id.clone(), c)), judged);
        }
    }
    (None, judged)
}

fn passed_on(mut lines: Vec<String>, mut doc: Value) -> Trace {
    lines.push("  no Gateway API route for this host: on to the Ingress lookups".into());
    doc["passed_on"] = json!(true);
    Trace {
        lines,
        doc,
        decided: None,
    }
}

fn decided(lines: Vec<String>, mut doc: Value, backends: Vec<BackendName>) -> Trace {
    doc["passed_on"] = json!(false);
    Trace {
        lines,
        doc,
        decided: Some(backends),
    }
}

/// Prints the trace of a request the Gateway API routes decided, with the servers of the
/// backends it may go to.
pub(super) async fn print_decided(
    client: &RuntimeClient,
    request: &Request,
    t: &Trace,
    backends: &[BackendName],
    out: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let mut text = format!(
        "{} {}{}{}\n{}\n",
        request.method,
        request.host,
        request.path,
        if request.query.is_empty() {
            String::new()
        } else {
            format!("?{}", request.query)
        },
        t.lines.join("\n")
    );
    let mut servers = Vec::new();
    for b in backends {
        servers.extend(server_rows(client, Some(b)).await?);
    }
    if !servers.is_empty() {
        let cells: Vec<Vec<String>> = servers.iter().map(ServerRow::cells).collect();
        text.push('\n');
        text.push_str(&table(&HEADER, &cells));
    }
    for b in backends
        .iter()
        .filter(|b| !servers.iter().any(|s| s.backend == b.as_str()))
    {
        let _ = writeln!(text, "backend {b} has no servers: HAProxy answers 503");
    }
    text.push_str(
        "\n(the agent's /debug/state does not carry the Gateway API maps: not compared)\n",
    );
    let doc = json!({
        "gateway": t.doc,
        "backend": (backends.len() == 1).then(|| backends[0].as_str()),
        "servers": serde_json::to_value(&servers).unwrap_or_default(),
        "disagreements": [],
    });
    print(out, &doc, &text);
    Ok(ExitCode::SUCCESS)
}
