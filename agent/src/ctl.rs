//! `haproxy-agent ctl`: debugging commands that read HAProxy's sockets directly.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use haproxy::Endpoint;

use crate::cli::{CtlArgs, CtlCommand};

/// The largest reply `ctl raw` prints.
const MAX_RAW_REPLY: usize = 256 << 20;

/// Runs a ctl command.
pub async fn run(args: CtlArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        CtlCommand::Raw { command } => {
            let (kind, addr) = match &args.sockets.master_socket {
                Some(m) => ("master socket", m.as_str()),
                None => ("runtime socket", args.sockets.runtime_socket.as_str()),
            };
            let endpoint: Endpoint = addr.parse().expect("endpoint parsing is infallible");
            let reply = endpoint
                .oneshot(&command, args.sockets.socket_timeout, MAX_RAW_REPLY)
                .await
                .with_context(|| format!("cannot talk to HAProxy's {kind} {endpoint}"))?;
            let mut out = std::io::stdout().lock();
            out.write_all(&reply)?;
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
