//! TCP services: a `mode tcp` frontend per port, each sending to its own `mode tcp` backend
//! (ingress-nginx's `--tcp-services-configmap`).

use std::fmt::Write as _;
use std::net::SocketAddr;

use crate::names::{BackendName, FrontendName};

use super::settings::GlobalSettings;

/// The access log line of a TCP connection, one JSON object (the HTTP format's fields that
/// exist in TCP mode; HAProxy 2.6 refuses the HTTP ones, `%Tq` and the like, in a `mode tcp`
/// frontend, measured).
pub const TCP_LOG_FORMAT: &str = concat!(
    r#"{\"time\":\"%[date,utime(%Y-%m-%dT%H:%M:%SZ)]\",\"accept_ms\":%Ts%ms,"#,
    r#"\"client\":\"%ci\",\"client_port\":%cp,\"bytes_in\":%U,\"bytes_out\":%B,"#,
    r#"\"tw\":%Tw,\"tc\":%Tc,\"tt\":%Tt,"#,
    r#"\"frontend\":\"%f\",\"backend\":\"%b\",\"server\":\"%s\",\"termination\":\"%ts\"}"#,
);

/// One TCP service: a bind and the backend every connection goes to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TcpService {
    /// The address and port it listens on.
    pub bind: SocketAddr,
    /// Accept the PROXY protocol (v1 or v2) from clients on this port (`accept-proxy`).
    pub accept_proxy: bool,
    /// Its backend (a `mode tcp` one, [`tcp_backend_name`]).
    pub backend: BackendName,
}

impl TcpService {
    /// A service on `bind` whose backend is [`tcp_backend_name`] of its port.
    pub fn new(bind: SocketAddr, accept_proxy: bool) -> Self {
        Self {
            bind,
            accept_proxy,
            backend: tcp_backend_name(bind.port()),
        }
    }

    /// Its frontend's name, `tcp_<port>`.
    pub fn frontend_name(&self) -> FrontendName {
        FrontendName::new(format!("tcp_{}", self.bind.port())).expect("tcp_<port> is a valid name")
    }
}

/// The backend of the TCP service on `port`: `tcp_<port>`. A Service's backend is
/// `<namespace>_<service>_<port>` (three parts), so the two never share a name.
pub fn tcp_backend_name(port: u16) -> BackendName {
    BackendName::new(format!("tcp_{port}")).expect("tcp_<port> is a valid name")
}

/// The section prefix of TCP service frontends (for the section fingerprints).
pub(super) const FRONTEND_PREFIX: &str = "frontend tcp_";

/// The TCP services' frontends, by port.
pub(super) fn render_tcp_frontends<'a>(
    out: &mut String,
    services: impl IntoIterator<Item = &'a TcpService>,
    settings: &GlobalSettings,
) {
    for s in services {
        let _ = writeln!(out, "\nfrontend {}", s.frontend_name());
        out.push_str("    mode tcp\n");
        if settings.access_log.is_some() {
            let _ = writeln!(out, "    log-format \"{TCP_LOG_FORMAT}\"");
        }
        let proxy = if s.accept_proxy { " accept-proxy" } else { "" };
        let _ = writeln!(out, "    bind {}{proxy}", s.bind);
        let _ = writeln!(out, "    default_backend {}", s.backend);
    }
}
