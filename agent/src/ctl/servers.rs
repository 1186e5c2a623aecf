//! `ctl servers`: HAProxy's servers with their states, weights and sessions, and the
//! typed reading of them that `ctl route` and `ctl watch` share.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::{Context, bail};
use haproxy::proto::parse::{OpState, ServerAdmin};
use haproxy::proto::{Command, Reply};
use haproxy::{BackendName, RuntimeClient};
use serde::Serialize;
use serde_json::Value;

use super::{print, table};
use crate::cli::OutputFormat;

/// One server as HAProxy has it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerRow {
    /// Its backend.
    pub backend: String,
    /// Its name.
    pub server: String,
    /// `ip:port` (`-:port` before an address is set).
    pub address: String,
    /// Admin state: ready, drain or maint.
    pub admin: &'static str,
    /// Operational state: UP, DOWN, …
    pub state: &'static str,
    /// Current weight.
    pub weight: u32,
    /// Current sessions.
    pub sessions: i64,
}

impl ServerRow {
    /// The table cells, in [`HEADER`] order.
    pub fn cells(&self) -> Vec<String> {
        vec![
            self.backend.clone(),
            self.server.clone(),
            self.address.clone(),
            self.admin.to_string(),
            self.state.to_string(),
            self.weight.to_string(),
            self.sessions.to_string(),
        ]
    }
}

/// The column names of a servers table.
pub const HEADER: [&str; 7] = [
    "BACKEND", "SERVER", "ADDRESS", "ADMIN", "STATE", "WEIGHT", "SESSIONS",
];

/// An admin state for people.
pub fn admin_label(admin: ServerAdmin) -> &'static str {
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

/// The servers of `backend` (all backends when `None`), from `show servers state` and the
/// sessions of `show stat`.
pub async fn server_rows(
    client: &RuntimeClient,
    backend: Option<&BackendName>,
) -> anyhow::Result<Vec<ServerRow>> {
    let replies = client
        .batch(&[
            Command::ShowServersState(backend.cloned()),
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
    Ok(rows
        .iter()
        .map(|r| ServerRow {
            address: match r.addr {
                Some(ip) => std::net::SocketAddr::new(ip, r.port).to_string(),
                None => format!("-:{}", r.port),
            },
            sessions: sessions
                .get(&(r.backend.clone(), r.server.clone()))
                .copied()
                .unwrap_or(0),
            backend: r.backend.clone(),
            server: r.server.clone(),
            admin: admin_label(r.admin),
            state: op_label(r.op_state),
            weight: r.weight,
        })
        .collect())
}

pub(super) async fn servers(
    client: &RuntimeClient,
    backend: Option<&str>,
    out: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let backend = backend.map(BackendName::new).transpose()?;
    let rows = server_rows(client, backend.as_ref()).await?;
    let cells: Vec<Vec<String>> = rows.iter().map(ServerRow::cells).collect();
    print(
        out,
        &serde_json::to_value(&rows).unwrap_or(Value::Null),
        &table(&HEADER, &cells),
    );
    Ok(ExitCode::SUCCESS)
}
