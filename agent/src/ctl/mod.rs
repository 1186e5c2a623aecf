//! `haproxy-agent ctl`: debugging commands that read HAProxy's sockets and the agent's
//! `/debug/*`, printing tables for people or JSON for scripts. One file per command.

mod diff;
mod gateway;
mod gateway_match;
mod history;
mod maps;
mod plan;
mod request;
mod route;
mod route_gateway;
mod servers;
mod watch;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use haproxy::{Endpoint, RuntimeClient, RuntimeConfig};
use serde_json::Value;

use crate::cli::{CtlArgs, CtlCommand, OutputFormat};

/// The largest reply `ctl raw` prints.
const MAX_RAW_REPLY: usize = 256 << 20;

/// Where the agent answers when `--agent` is not given.
pub const DEFAULT_AGENT: &str = "http://127.0.0.1:10254";

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
    let agent = args.agent.as_deref().unwrap_or(DEFAULT_AGENT);
    match &args.command {
        CtlCommand::Raw { command } => raw(&args, command).await,
        CtlCommand::Servers { backend } => {
            servers::servers(&runtime(), backend.as_deref(), out).await
        }
        CtlCommand::Maps => maps::maps(&runtime(), out).await,
        CtlCommand::Diff => diff::diff(&runtime(), agent, out).await,
        CtlCommand::Gateway => gateway::gateway(agent, out).await,
        CtlCommand::Plan { source, model } => {
            let own = plan::OwnArgs {
                source: source.clone(),
                model: model.clone(),
            };
            plan::plan(&runtime(), own, args.agent.as_deref(), out).await
        }
        CtlCommand::Route {
            host,
            path,
            method,
            headers,
            bind,
        } => {
            let request = request::Request::new(host, path, method, headers)?;
            let Some(listen) = haproxy::config::gateway::Listen::decode(bind) else {
                bail!("--bind {bind:?} must be http, https, http@ADDR:PORT or https@ADDR:PORT");
            };
            route::route(&runtime(), agent, &request, listen, out).await
        }
        CtlCommand::History { since, object } => {
            history::history(agent, *since, object.clone(), out).await
        }
        CtlCommand::Watch {
            backend,
            interval,
            count,
        } => watch::watch(&runtime(), backend.as_deref(), *interval, *count).await,
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

/// GETs a document from the agent over plain HTTP.
async fn get_body(url: &str) -> anyhow::Result<hyper::body::Bytes> {
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
    let resp = tokio::time::timeout(Duration::from_secs(15), sender.send_request(req))
        .await
        .context("the agent did not answer in time")?
        .with_context(|| {
            format!("{url} did not answer HTTP (is it the agent's --listen address?)")
        })?;
    if !resp.status().is_success() {
        bail!("{url} answered {}", resp.status());
    }
    Ok(resp.into_body().collect().await?.to_bytes())
}

/// GETs the agent's JSON document at `path` (`/debug/state`, …).
async fn get_json(agent: &str, path: &str) -> anyhow::Result<Value> {
    let url = format!("{}{path}", agent.trim_end_matches('/'));
    let body = get_body(&url).await?;
    serde_json::from_slice(&body).with_context(|| {
        let start = String::from_utf8_lossy(&body[..body.len().min(60)]).into_owned();
        format!("{url} did not answer JSON (is it the agent's --listen address?): {start:?}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align() {
        let t = table(&["A", "BB"], &[vec!["xxx".into(), "y".into()]]);
        assert_eq!(t, "A    BB\nxxx  y\n");
    }
}
