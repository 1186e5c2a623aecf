//! The flags of every rendering command: the objects' source and the rendered configuration.

use clap::Args;

use super::parse::{parse_cidr, parse_duration, parse_object_key};

/// Where the objects come from.
#[derive(Debug, Clone, Args)]
pub struct SourceArgs {
    /// Read Kubernetes objects from the YAML files in this directory (and follow edits)
    /// instead of a cluster.
    #[arg(long, env = "HAPROXY_AGENT_MANIFESTS", conflicts_with = "kubeconfig")]
    pub manifests: Option<std::path::PathBuf>,
    /// A kubeconfig file for the cluster (default: in-cluster config, then the usual
    /// kubeconfig lookup). Ignored with --manifests.
    #[arg(long, env = "HAPROXY_AGENT_KUBECONFIG")]
    pub kubeconfig: Option<std::path::PathBuf>,
}

/// What shapes the rendered configuration.
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// Where haproxy.cfg, the maps and certificates live.
    #[arg(long, env = "HAPROXY_AGENT_CONFIG_DIR", default_value = "/etc/haproxy")]
    pub config_dir: std::path::PathBuf,
    /// HAProxy's HTTP frontend address.
    #[arg(long, env = "HAPROXY_AGENT_HTTP_BIND", default_value = "0.0.0.0:80")]
    pub http_bind: std::net::SocketAddr,
    /// HAProxy's HTTPS address, bound only while some Ingress has `spec.tls`.
    #[arg(long, env = "HAPROXY_AGENT_HTTPS_BIND", default_value = "0.0.0.0:443")]
    pub https_bind: std::net::SocketAddr,
    /// A TLS Secret (`namespace/name`) served to clients whose SNI matches no Ingress,
    /// instead of the generated self-signed certificate.
    #[arg(long, env = "HAPROXY_AGENT_DEFAULT_SSL_CERTIFICATE", value_parser = parse_object_key)]
    pub default_ssl_certificate: Option<crate::store::ObjectKey>,
    /// The IngressClass whose Ingresses are ours.
    #[arg(long, env = "HAPROXY_AGENT_INGRESS_CLASS", default_value = "haproxy")]
    pub ingress_class: String,
    /// Proxies in front of HAProxy whose `X-Forwarded-For` is believed (comma-separated
    /// networks): a connection from one of them takes the header's last address as the
    /// client's, for the address lists and request limits. Default: none, the connection's
    /// source is the client.
    #[arg(long, env = "HAPROXY_AGENT_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_cidr)]
    pub trusted_proxies: Vec<haproxy::config::Cidr>,
    /// Where unmatched requests go when no Ingress has a default backend: `namespace/name`.
    #[arg(long, env = "HAPROXY_AGENT_DEFAULT_BACKEND_SERVICE", value_parser = parse_object_key)]
    pub default_backend_service: Option<crate::store::ObjectKey>,
    /// The GatewayClass `spec.controllerName` whose Gateways (and their routes) are ours.
    #[arg(
        long,
        env = "HAPROXY_AGENT_GATEWAY_CONTROLLER_NAME",
        default_value = "haproxy-agent.io/gateway-controller"
    )]
    pub gateway_controller_name: String,
    /// Addresses to give Gateways, one each, comma-separated (e.g. addresses a load
    /// balancer announces for this node): each Gateway's listeners bind on its own address
    /// (asked for in `spec.addresses`, else one chosen by its name) and `status.addresses`
    /// says which. Without it every Gateway is served on the agent's binds.
    #[arg(
        long,
        env = "HAPROXY_AGENT_GATEWAY_ADDRESS_POOL",
        value_delimiter = ',',
        value_parser = parse_pool_address
    )]
    pub gateway_address_pool: Vec<std::net::IpAddr>,
    /// Only Ingresses of this namespace (default: all).
    #[arg(long, env = "HAPROXY_AGENT_WATCH_NAMESPACE")]
    pub watch_namespace: Option<String>,
    /// How long an old HAProxy worker may finish its connections after a reload.
    #[arg(long, env = "HAPROXY_AGENT_HARD_STOP_AFTER", default_value = "30s", value_parser = parse_duration)]
    pub hard_stop_after: std::time::Duration,
    /// The global ConfigMap (`namespace/name`), read from the cluster or from a ConfigMap
    /// object in --manifests: ingress-nginx's keys for timeouts, HSTS, TLS, forwarded
    /// headers, PROXY protocol, the access log and annotation defaults (docs/configmap.md).
    #[arg(long, env = "HAPROXY_AGENT_CONFIGMAP", value_parser = parse_object_key)]
    pub configmap: Option<crate::store::ObjectKey>,
    /// The TCP services' ConfigMap (`namespace/name`), ingress-nginx's
    /// `--tcp-services-configmap` format: `"<port>": "<namespace>/<service>:<port>[:PROXY][:PROXY]"`,
    /// read from the cluster or from a ConfigMap object in --manifests.
    #[arg(long, env = "HAPROXY_AGENT_TCP_SERVICES_CONFIGMAP", value_parser = parse_object_key)]
    pub tcp_services_configmap: Option<crate::store::ObjectKey>,
    /// The address TCP services listen on (default: --http-bind's address).
    #[arg(long, env = "HAPROXY_AGENT_TCP_BIND_ADDRESS")]
    pub tcp_bind_address: Option<std::net::IpAddr>,
    /// ingress-nginx's `--udp-services-configmap` (`namespace/name`): accepted so a
    /// deployment that passes it starts, but HAProxy 2.6 cannot proxy UDP: every entry is
    /// named as a problem and nothing is served.
    #[arg(long, env = "HAPROXY_AGENT_UDP_SERVICES_CONFIGMAP", value_parser = parse_object_key)]
    pub udp_services_configmap: Option<crate::store::ObjectKey>,
    /// Honour the `ssl-passthrough` annotation (as ingress-nginx's flag of the same name):
    /// the HTTPS port becomes a TCP frontend that sends a passthrough host's connections
    /// to its pods by SNI, and the others to HAProxy's TLS termination over a unix socket
    /// (`<config-dir>/https.sock`, with the PROXY protocol so client addresses stay).
    #[arg(long, env = "HAPROXY_AGENT_ENABLE_SSL_PASSTHROUGH")]
    pub enable_ssl_passthrough: bool,
    /// Accept the PROXY protocol (v1 or v2) on the HTTP and HTTPS binds, so the client
    /// address is the one a load balancer in front reports (the ConfigMap's
    /// `use-proxy-protocol`, when set, wins). Every connection must then start with it.
    #[arg(long, env = "HAPROXY_AGENT_USE_PROXY_PROTOCOL")]
    pub use_proxy_protocol: bool,
    /// HAProxy's access log, one JSON object a request (`--access-log=false`: none; the
    /// ConfigMap's `enable-access-log: "false"` turns it off too).
    #[arg(
        long,
        env = "HAPROXY_AGENT_ACCESS_LOG",
        default_value_t = true,
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub access_log: bool,
    /// Send the access log to this Unix datagram socket instead of HAProxy's stdout.
    #[arg(long, env = "HAPROXY_AGENT_ACCESS_LOG_SOCKET")]
    pub access_log_socket: Option<std::path::PathBuf>,
    /// HAProxy's runtime API (stats) socket, declared in the rendered config.
    #[arg(
        long,
        env = "HAPROXY_AGENT_RUNTIME_SOCKET",
        default_value = "/var/run/haproxy/admin.sock"
    )]
    pub runtime_socket: std::path::PathBuf,
}

/// One `--gateway-address-pool` address: an IP address HAProxy can bind (not unspecified,
/// not multicast).
fn parse_pool_address(s: &str) -> Result<std::net::IpAddr, String> {
    let ip: std::net::IpAddr = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not an IP address"))?;
    if ip.is_unspecified() || ip.is_multicast() {
        return Err(format!("{ip} cannot be a Gateway's address"));
    }
    Ok(ip)
}
