//! TLS passthrough (ingress-nginx's `ssl-passthrough`): a `mode tcp` frontend owns the public
//! HTTPS port, sends a connection whose SNI is in the passthrough map to that host's `mode
//! tcp` backend (the pods terminate TLS), and every other one to the HTTPS termination bind
//! over an internal unix socket, with the PROXY protocol so the client address stays right.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;

use crate::names::BackendName;

use super::route_maps::RouteMaps;
use super::settings::GlobalSettings;
use super::tcp::TCP_LOG_FORMAT;
use super::value::{ConfigPath, InvalidValue};

/// The passthrough frontend's name.
pub const PASSTHROUGH_FRONTEND: &str = "_passthrough";

/// The backend that hands terminated hosts' connections to the HTTPS bind.
pub const TERMINATE_BACKEND: &str = "_https";

/// The section prefix of the passthrough frontend (for the section fingerprints).
pub(super) const FRONTEND_HEADER: &str = "frontend _passthrough";

/// The file name, in the config directory, of the unix socket the HTTPS bind listens on.
pub const HTTPS_SOCKET_FILE: &str = "https.sock";

/// How long the frontend waits for the TLS ClientHello (its SNI).
const INSPECT_DELAY: &str = "5s";

/// The passthrough set-up: the public HTTPS addresses and the internal socket.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Passthrough {
    /// The public HTTPS addresses (`--https-bind`).
    pub binds: Vec<SocketAddr>,
    /// The unix socket of the HTTPS termination bind (`<dir>/https.sock`).
    pub socket: ConfigPath,
}

impl Passthrough {
    /// Passthrough on `binds`, the HTTPS bind on `<dir>/https.sock`; an error when the path
    /// does not fit a unix socket address (107 bytes).
    pub fn in_dir(dir: &Path, binds: Vec<SocketAddr>) -> Result<Self, InvalidValue> {
        let socket = ConfigPath::from_path(&dir.join(HTTPS_SOCKET_FILE))?;
        if socket.as_str().len() > 107 {
            return Err(InvalidValue::new(
                "HTTPS socket path",
                socket.as_str(),
                "a unix socket path holds at most 107 bytes",
            ));
        }
        Ok(Self { binds, socket })
    }

    /// The HTTPS termination bind's address: the internal socket, only the agent's user
    /// may open (mode 600); the bind accepts the PROXY protocol the passthrough frontend
    /// sends.
    pub(super) fn tls_bind(&self) -> String {
        format!("unix@{} mode 600", self.socket)
    }
}

/// The `mode tcp` backend of the pods of a passthrough host: the Service port's backend
/// name with `_passthrough` (a Service name holds no `_`, so it meets no other name).
pub fn passthrough_backend_name(service_backend: &BackendName) -> BackendName {
    BackendName::new(format!("{}_passthrough", service_backend.as_str()))
        .expect("a backend name and a suffix make a valid name")
}

/// The passthrough frontend and the termination backend (its server only when the HTTPS
/// bind exists: without it, connections of other hosts are closed). With the access log,
/// passthrough connections get the TCP line; the others are logged by the HTTPS frontend.
pub(super) fn render_passthrough(
    out: &mut String,
    p: &Passthrough,
    maps: &RouteMaps,
    settings: &GlobalSettings,
    terminates: bool,
) {
    let _ = writeln!(out, "\n{FRONTEND_HEADER}");
    out.push_str("    mode tcp\n");
    let mut binds = p.binds.clone();
    binds.sort();
    binds.dedup();
    let proxy = if settings.accept_proxy {
        " accept-proxy"
    } else {
        ""
    };
    for b in &binds {
        let _ = writeln!(out, "    bind {b}{proxy}");
    }
    let lookup = format!("req.ssl_sni,lower,map_str({})", maps.passthrough);
    out.push_str(
        "    # The SNI of the ClientHello: a passthrough host goes to its pods, which terminate\n\
         \x20   # TLS; any other connection to the HTTPS bind, with its client address.\n",
    );
    let _ = writeln!(out, "    tcp-request inspect-delay {INSPECT_DELAY}");
    out.push_str("    tcp-request content accept if { req.ssl_hello_type 1 }\n");
    if settings.access_log.is_some() {
        let _ = writeln!(out, "    log-format \"{TCP_LOG_FORMAT}\"");
        let _ = writeln!(
            out,
            "    tcp-request content set-log-level silent unless {{ {lookup} -m found }}"
        );
    }
    let _ = writeln!(
        out,
        "    use_backend %[{lookup}] if {{ {lookup} -m found }}"
    );
    let _ = writeln!(out, "    default_backend {TERMINATE_BACKEND}");
    let _ = writeln!(out, "\nbackend {TERMINATE_BACKEND}\n    mode tcp");
    if terminates {
        let _ = writeln!(out, "    server https unix@{} send-proxy-v2", p.socket);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_path_too_long_for_a_unix_address_is_refused() {
        let long = Path::new("/").join("d".repeat(100));
        assert!(Passthrough::in_dir(&long, vec![]).is_err());
        let p = Passthrough::in_dir(Path::new("/etc/haproxy"), vec![]).unwrap();
        assert_eq!(p.socket.as_str(), "/etc/haproxy/https.sock");
    }

    #[test]
    fn the_frontend_routes_by_sni_and_hands_the_rest_to_the_https_bind() {
        let p = Passthrough::in_dir(
            Path::new("/etc/haproxy"),
            vec!["0.0.0.0:443".parse().unwrap()],
        )
        .unwrap();
        let maps = RouteMaps::in_dir(Path::new("/etc/haproxy")).unwrap();
        let mut out = String::new();
        let settings = GlobalSettings {
            accept_proxy: true,
            ..Default::default()
        };
        render_passthrough(&mut out, &p, &maps, &settings, true);
        let map = "req.ssl_sni,lower,map_str(/etc/haproxy/maps/sni.map)";
        for want in [
            "frontend _passthrough".to_string(),
            "    bind 0.0.0.0:443 accept-proxy".into(),
            "    tcp-request content accept if { req.ssl_hello_type 1 }".into(),
            format!("    use_backend %[{map}] if {{ {map} -m found }}"),
            "    default_backend _https".into(),
            "    server https unix@/etc/haproxy/https.sock send-proxy-v2".into(),
        ] {
            assert!(out.lines().any(|l| l == want), "{want:?} in\n{out}");
        }
        let mut without = String::new();
        render_passthrough(&mut without, &p, &maps, &GlobalSettings::default(), false);
        assert!(!without.contains("server "), "{without}");
        assert!(without.contains("    bind 0.0.0.0:443\n"), "{without}");
    }
}
