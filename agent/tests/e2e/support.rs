//! Support for the end-to-end tests: [`Agent`], one `haproxy-agent run` process of this
//! build (`integration::AgentProcess`: with the HAProxy it spawns or attaches to, in its own
//! temp dir, on loopback ports, stopped by pid); echo backends sharing a port on several
//! loopback addresses; and the manifest builders (`integration::fixtures::manifest`).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use integration::{AgentOptions, AgentProcess, EchoServer, free_port};

pub use integration::agent_proc::{is_live_haproxy, signal};
pub use integration::fixtures::manifest::{
    Ep, IngressPath, NS, backend, ingress, quote, route, secret, server, service, slice, tls_secret,
};

/// Time allowed for a change (a manifest edit, a restart) to show in HAProxy.
pub const CONVERGE: Duration = Duration::from_secs(10);

/// How to run the agent (`--hard-stop-after 3s` keeps soft stops short).
pub type Options = AgentOptions;

/// One `haproxy-agent run` process of this build, started from manifest files
/// ([`AgentProcess::start`]).
pub type Agent = AgentProcess;

/// Polls `f` until it returns true, failing with `what` after `within` (a condition with a
/// deadline, no sleeping and hoping).
pub async fn eventually<F>(what: &str, within: Duration, f: F) -> anyhow::Result<()>
where
    F: AsyncFnMut() -> bool,
{
    integration::wait_until(what, within, f).await
}

// ---- echo backends ----

/// Echo servers named `names[i]` on `127.0.0.<i+1>`, all on one port (an EndpointSlice port
/// applies to all its endpoints), each with its response delay. The port is found free on
/// 127.0.0.1 and reused on the other addresses; another is tried if one is taken.
pub fn echo_group(servers: &[(&str, Duration)]) -> anyhow::Result<(u16, Vec<EchoServer>)> {
    let mut last = None;
    for _ in 0..20 {
        let port = free_port();
        let started: anyhow::Result<Vec<EchoServer>> = servers
            .iter()
            .enumerate()
            .map(|(i, (name, delay))| EchoServer::start_on(name, loopback(i, port), *delay))
            .collect();
        match started {
            Ok(group) => return Ok((port, group)),
            Err(e) => last = Some(e),
        }
    }
    Err(last
        .expect("twenty attempts")
        .context("no port free on every address"))
}

/// `127.0.0.<i+1>:port`.
pub fn loopback(i: usize, port: u16) -> SocketAddr {
    let last = u8::try_from(i + 1).expect("fewer than 255 servers");
    SocketAddr::new(IpAddr::from([127, 0, 0, last]), port)
}
