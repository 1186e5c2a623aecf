//! Support for the end-to-end tests: [`Agent`], one `haproxy-agent run` process of this
//! build (`integration::AgentProcess`: with the HAProxy it spawns or attaches to, in its own
//! temp dir, on loopback ports, stopped by pid); echo backends sharing a port on several
//! loopback addresses; and manifest builders.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use integration::{AgentOptions, AgentProcess, EchoServer, free_port};

pub use integration::agent_proc::{is_live_haproxy, signal};

/// Time allowed for a change (a manifest edit, a restart) to show in HAProxy.
pub const CONVERGE: Duration = Duration::from_secs(10);
/// The namespace every test object lives in.
pub const NS: &str = "default";

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

// ---- manifests ----

/// A YAML scalar: JSON string syntax, which YAML reads the same (escapes included).
pub fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// A Service `name` in [`NS`] with one unnamed port `port` -> `target`.
pub fn service(name: &str, port: u16, target: u16) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: {NS}\n\
         spec:\n  ports:\n    - port: {port}\n      targetPort: {target}\n"
    )
}

/// One endpoint of an EndpointSlice and its conditions.
#[derive(Debug, Clone, Copy)]
pub struct Ep<'a> {
    /// Its IP address.
    pub ip: &'a str,
    /// `conditions.ready`.
    pub ready: bool,
    /// `conditions.serving`.
    pub serving: bool,
    /// `conditions.terminating`.
    pub terminating: bool,
}

impl<'a> Ep<'a> {
    /// A ready endpoint.
    pub fn ready(ip: &'a str) -> Self {
        Self {
            ip,
            ready: true,
            serving: true,
            terminating: false,
        }
    }

    /// A terminating endpoint that still serves.
    pub fn terminating(ip: &'a str) -> Self {
        Self {
            ip,
            ready: false,
            serving: true,
            terminating: true,
        }
    }

    /// The endpoint as an item of `endpoints:` (also what gets appended to a slice file).
    pub fn yaml(&self) -> String {
        format!(
            "  - addresses: [{}]\n    conditions:\n      ready: {}\n      serving: {}\n      terminating: {}\n",
            quote(self.ip),
            self.ready,
            self.serving,
            self.terminating
        )
    }
}

/// An EndpointSlice `name` of Service `service` with one unnamed port; its `endpoints:`
/// list comes last, so endpoints can be appended to the file.
pub fn slice(name: &str, service: &str, port: u16, endpoints: &[Ep<'_>]) -> String {
    let mut out = format!(
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: {name}\n  \
         namespace: {NS}\n  labels:\n    kubernetes.io/service-name: {service}\n\
         addressType: IPv4\nports:\n  - port: {port}\n    protocol: TCP\nendpoints:\n"
    );
    if endpoints.is_empty() {
        out.push_str("  []\n");
    }
    for ep in endpoints {
        out.push_str(&ep.yaml());
    }
    out
}

/// One path of an Ingress rule: `path` (`Prefix`) to `service`:`port`.
#[derive(Debug, Clone, Copy)]
pub struct IngressPath<'a> {
    /// The rule's host (`None`: any host).
    pub host: Option<&'a str>,
    /// The path, any bytes (quoted into the YAML).
    pub path: &'a str,
    /// The Service.
    pub service: &'a str,
    /// The Service port number, any integer.
    pub port: i64,
}

/// `path` to `service`:`port`, on any host.
pub fn route<'a>(path: &'a str, service: &'a str, port: i64) -> IngressPath<'a> {
    IngressPath {
        host: None,
        path,
        service,
        port,
    }
}

/// An Ingress `name` of class `haproxy`, one rule per path (in order), each path `Prefix`.
pub fn ingress(name: &str, annotations: &[(&str, &str)], paths: &[IngressPath<'_>]) -> String {
    let mut out = format!(
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {name}\n  \
         namespace: {NS}\n"
    );
    if !annotations.is_empty() {
        out.push_str("  annotations:\n");
        for (k, v) in annotations {
            out.push_str(&format!("    {}: {}\n", quote(k), quote(v)));
        }
    }
    out.push_str("spec:\n  ingressClassName: haproxy\n  rules:\n");
    for p in paths {
        match p.host {
            Some(h) => out.push_str(&format!("    - host: {}\n      http:\n", quote(h))),
            None => out.push_str("    - http:\n"),
        }
        out.push_str(&format!(
            "        paths:\n          - path: {}\n            pathType: Prefix\n            \
             backend:\n              service:\n                name: {}\n                \
             port:\n                  number: {}\n",
            quote(p.path),
            quote(p.service),
            p.port
        ));
    }
    out
}

/// The backend name the agent gives `service` port `port` in [`NS`].
pub fn backend(service: &str, port: u16) -> String {
    format!("{NS}_{service}_{port}")
}

/// The server name the agent gives an endpoint: `ip:port`.
pub fn server(addr: SocketAddr) -> String {
    addr.to_string()
}
