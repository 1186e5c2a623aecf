//! Why a reload is needed: the reasons, their metric labels and how logs show them.

use haproxy::BackendName;

/// Why a reload is needed. The metric label is [`ReloadReason::label`], one of a fixed set;
/// the backend a reason names is for logs and `ctl plan`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadReason {
    /// What the running worker loaded is unknown (start-up, a worker the agent did not see
    /// load a config it wrote).
    Startup,
    /// The structural config text differs (the text comparison of [`plan`]).
    Structure,
    /// Global, defaults, a frontend, a bind or the TLS set-up changed.
    Frontends,
    /// A global setting changed (the ConfigMap's timeouts, TLS versions and ciphers,
    /// access log, forwarded headers, PROXY protocol, maxconn; TLS session resumption
    /// turned off or on as the hosts' client CAs come to differ or stop differing): `global`,
    /// `defaults` or the binds, which HAProxy 2.6 reads only at start.
    GlobalSettings,
    /// A basic-authentication user list or realm changed (an auth Secret's users or
    /// passwords, auth-realm, or a list's first use): HAProxy 2.6 has no runtime command for
    /// them.
    Userlists,
    /// The first route with custom-http-errors, or the last one gone: the Lua action, its
    /// rules and the internal error frontend are rendered only while some route uses them
    /// (HAProxy 2.6 cannot load Lua or add a frontend at runtime).
    CustomErrors,
    /// A TCP service's port was added, removed or changed (its bind, or accepting the
    /// PROXY protocol): a frontend, which HAProxy 2.6 cannot add or remove at runtime.
    TcpServices,
    /// The first Gateway API route, or the last one gone: the Lua action, its frontend
    /// rules and the backends' timeout rule are rendered only while some route exists
    /// (HAProxy 2.6 cannot load Lua at runtime). Route changes in between are map updates.
    GatewayApi,
    /// A bind of Gateway listeners alone was added or removed (a Gateway's own address, or
    /// a listener port the agent's binds do not have): HAProxy 2.6 cannot add a bind at
    /// runtime. Routes on it are map entries, as on the shared binds.
    GatewayListeners,
    /// A backend that must exist does not.
    NewBackend(BackendName),
    /// A backend's options (balance, health check, stickiness, timeouts) changed.
    BackendOptions(BackendName),
    /// How a backend speaks to its servers changed (backend-protocol, appProtocol, the
    /// proxy-ssl settings, a renewed proxy-ssl CA): every server takes the new
    /// `default-server` keywords, and HAProxy 2.6 servers keep the CA they were created with.
    BackendProtocol(BackendName),
    /// Runtime commands kept being refused after observing again: rebuild from a full config.
    Diverged,
}

impl ReloadReason {
    /// Every label, for metrics.
    pub const LABELS: [&'static str; 13] = [
        "startup",
        "structure",
        "frontends",
        "global_settings",
        "userlists",
        "custom_errors",
        "tcp_services",
        "gateway_api",
        "gateway_listeners",
        "new_backend",
        "backend_options",
        "backend_protocol",
        "diverged",
    ];

    /// The metric label.
    pub fn label(&self) -> &'static str {
        match self {
            ReloadReason::Startup => "startup",
            ReloadReason::Structure => "structure",
            ReloadReason::Frontends => "frontends",
            ReloadReason::GlobalSettings => "global_settings",
            ReloadReason::Userlists => "userlists",
            ReloadReason::CustomErrors => "custom_errors",
            ReloadReason::TcpServices => "tcp_services",
            ReloadReason::GatewayApi => "gateway_api",
            ReloadReason::GatewayListeners => "gateway_listeners",
            ReloadReason::NewBackend(_) => "new_backend",
            ReloadReason::BackendOptions(_) => "backend_options",
            ReloadReason::BackendProtocol(_) => "backend_protocol",
            ReloadReason::Diverged => "diverged",
        }
    }
}

impl std::fmt::Display for ReloadReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReloadReason::NewBackend(b) => write!(f, "new_backend {b}"),
            ReloadReason::BackendOptions(b) => write!(f, "backend_options {b}"),
            ReloadReason::BackendProtocol(b) => write!(f, "backend_protocol {b}"),
            other => f.write_str(other.label()),
        }
    }
}

impl serde::Serialize for ReloadReason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
