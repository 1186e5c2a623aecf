//! The command line: subcommands and flags, each flag also read from `HAPROXY_AGENT_…`.

use clap::{Args, Parser, Subcommand};

/// Keeps HAProxy in step with Kubernetes Ingress objects: endpoints and routes over the
/// runtime API without reloads, structural changes through verified reloads.
#[derive(Debug, Parser)]
#[command(name = "haproxy-agent", version, about)]
pub struct Cli {
    /// Log filter (tracing's EnvFilter syntax; RUST_LOG wins when set). `ctl` logs at `warn`
    /// unless this is given.
    #[arg(
        long,
        global = true,
        env = "HAPROXY_AGENT_LOG_LEVEL",
        default_value = "info"
    )]
    pub log_level: String,
    /// Log format: `text` for people, `json` (one object per line) for log pipelines.
    #[arg(
        long,
        global = true,
        env = "HAPROXY_AGENT_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// How logs are written (to stderr).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Subcommands.
// Parsed once at start-up and moved into its command: boxing the largest buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Keep HAProxy in step with the objects, until SIGINT/SIGTERM.
    Run(RunArgs),
    /// Print the haproxy.cfg and maps the agent would write, and the problems; change nothing.
    Render(RenderArgs),
    /// Render the first haproxy.cfg and maps from the current objects into --config-dir and
    /// exit (an initContainer, so HAProxy starts with the current servers).
    Init(RenderArgs),
    /// Before moving off ingress-nginx: how every Ingress's annotations would be taken (of
    /// any class), what each becomes in HAProxy and whether changing it reloads.
    Check(CheckArgs),
    /// Debugging: talk to HAProxy's sockets.
    Ctl(CtlArgs),
}

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

/// `run` arguments.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Where the objects come from.
    #[command(flatten)]
    pub source: SourceArgs,
    /// The rendered configuration.
    #[command(flatten)]
    pub model: ModelArgs,
    /// HAProxy's master CLI socket.
    #[arg(
        long,
        env = "HAPROXY_AGENT_MASTER_SOCKET",
        default_value = "/var/run/haproxy/master.sock"
    )]
    pub master_socket: std::path::PathBuf,
    /// The agent's health and metrics address.
    #[arg(long, env = "HAPROXY_AGENT_LISTEN", default_value = "0.0.0.0:10254")]
    pub listen: std::net::SocketAddr,
    /// Serve `/debug/state` and `/metrics` on this address instead of `--listen` (which
    /// then answers `/healthz` only), or `off` to serve them nowhere.
    #[arg(long, env = "HAPROXY_AGENT_DEBUG_LISTEN", value_parser = parse_debug_listen)]
    pub debug_listen: Option<DebugListen>,
    /// How long a removed endpoint may drain before its sessions are cut.
    #[arg(long, env = "HAPROXY_AGENT_DRAIN_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub drain_timeout: std::time::Duration,
    /// Start and supervise HAProxy (optionally the binary to run) instead of attaching to a
    /// running one through its sockets.
    #[arg(long, env = "HAPROXY_AGENT_SPAWN_HAPROXY", num_args = 0..=1, require_equals = true, default_missing_value = "haproxy")]
    pub spawn_haproxy: Option<std::path::PathBuf>,
    /// The haproxy binary used for `haproxy -c` validation.
    #[arg(long, env = "HAPROXY_AGENT_HAPROXY_BIN", default_value = "haproxy")]
    pub haproxy_bin: std::path::PathBuf,
    /// Resync with HAProxy at least this often, even without changes.
    #[arg(long, env = "HAPROXY_AGENT_RESYNC_PERIOD", default_value = "30s", value_parser = parse_duration)]
    pub resync_period: std::time::Duration,
    /// After a change, wait until no further change came for this long before syncing, so a
    /// burst (a relist, a rollout's slices) becomes one sync.
    #[arg(long, env = "HAPROXY_AGENT_SYNC_HOLDOFF", default_value = "2ms", value_parser = parse_duration)]
    pub sync_holdoff: std::time::Duration,
    /// The longest a change waits for a burst to end (bounds --sync-holdoff).
    #[arg(long, env = "HAPROXY_AGENT_SYNC_MAX_DELAY", default_value = "100ms", value_parser = parse_duration)]
    pub sync_max_delay: std::time::Duration,
    /// Ingress status publishing (cluster mode only).
    #[command(flatten)]
    pub status: StatusArgs,
}

/// Where our Ingresses are reachable, written to their `status.loadBalancer` by the replica
/// holding the election Lease. Without `--publish-service` or `--publish-address` the agent
/// writes no status and takes no part in the election.
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// Publish the addresses of this Service (`namespace/name`): its load balancer's
    /// ingress points, else its external IPs, else its cluster IP.
    #[arg(
        long,
        env = "HAPROXY_AGENT_PUBLISH_SERVICE",
        value_parser = parse_object_key,
        conflicts_with_all = ["publish_address", "manifests"]
    )]
    pub publish_service: Option<crate::store::ObjectKey>,
    /// Publish these addresses: `ADDR[,ADDR...]`, each an IP address or a DNS name.
    #[arg(
        long,
        env = "HAPROXY_AGENT_PUBLISH_ADDRESS",
        value_parser = crate::status::parse_publish_address,
        conflicts_with = "manifests"
    )]
    pub publish_address: Option<crate::status::Publish>,
    /// The namespace of the election Lease (default: the client's namespace, which is the
    /// pod's own in a cluster).
    #[arg(long, env = "HAPROXY_AGENT_ELECTION_NAMESPACE")]
    pub election_namespace: Option<String>,
    /// The name of the election Lease; replicas with the same Lease elect one writer.
    #[arg(
        long,
        env = "HAPROXY_AGENT_ELECTION_ID",
        default_value = "haproxy-agent-leader"
    )]
    pub election_id: String,
    /// The Lease's duration: how long the other replicas wait, after the last renewal they
    /// saw, before they take the Lease over (and so take over status writing) from a leader
    /// that died. The leader stops writing two thirds of it after its last renewal.
    #[arg(long, env = "HAPROXY_AGENT_ELECTION_LEASE_DURATION", default_value = "15s", value_parser = parse_lease_duration)]
    pub election_lease_duration: std::time::Duration,
    /// How often the leader renews the Lease and the others try to take it (at most a third
    /// of the lease duration is used).
    #[arg(long, env = "HAPROXY_AGENT_ELECTION_RENEW_PERIOD", default_value = "2s", value_parser = parse_duration)]
    pub election_renew_period: std::time::Duration,
    /// This replica's `holderIdentity` on the Lease; each replica needs its own (default:
    /// `POD_NAME`, else `HOSTNAME`, else the host name, else `haproxy-agent-<pid>`). Set it
    /// when replicas share a host name, e.g. two agents on one machine.
    #[arg(long, env = "HAPROXY_AGENT_ELECTION_IDENTITY", value_parser = parse_election_identity)]
    pub election_identity: Option<String>,
}

/// Parses `--election-identity`: 1 to 253 printable ASCII characters, no spaces (it is
/// logged and written to the Lease as given).
fn parse_election_identity(s: &str) -> Result<String, String> {
    if s.is_empty() || s.len() > 253 {
        return Err(format!("{s:?} must be 1 to 253 characters long"));
    }
    if let Some(c) = s.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(format!(
            "{s:?} holds {c:?}: only printable ASCII without spaces"
        ));
    }
    Ok(s.to_string())
}

/// Parses `--election-lease-duration`: whole seconds on the Lease, so at least `1s`.
fn parse_lease_duration(s: &str) -> Result<std::time::Duration, String> {
    let d = parse_duration(s)?;
    if d < std::time::Duration::from_secs(1) {
        return Err(format!(
            "{s:?} is shorter than 1s (a Lease counts whole seconds)"
        ));
    }
    Ok(d)
}

impl StatusArgs {
    /// What to publish, if anything.
    pub fn publish(&self) -> Option<crate::status::Publish> {
        match (&self.publish_service, &self.publish_address) {
            (Some(key), _) => Some(crate::status::Publish::Service(key.clone())),
            (None, Some(addresses)) => Some(addresses.clone()),
            (None, None) => None,
        }
    }
}

/// `render` and `init` arguments.
#[derive(Debug, Clone, Args)]
pub struct RenderArgs {
    /// Where the objects come from.
    #[command(flatten)]
    pub source: SourceArgs,
    /// The rendered configuration.
    #[command(flatten)]
    pub model: ModelArgs,
    /// The haproxy binary used to validate what `init` writes (skipped when absent).
    #[arg(long, env = "HAPROXY_AGENT_HAPROXY_BIN", default_value = "haproxy")]
    pub haproxy_bin: std::path::PathBuf,
}

/// `check` arguments.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// Where the Ingresses come from, and the class this agent serves.
    #[command(flatten)]
    pub render: RenderArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub output: OutputFormat,
    /// Exit 1 when any annotation is not honoured (invalid, shadowed, unsupported, refused).
    #[arg(long)]
    pub strict: bool,
}

/// Parses a network (`10.0.0.0/8`, `2001:db8::/32`, or an address).
pub fn parse_cidr(s: &str) -> Result<haproxy::config::Cidr, String> {
    haproxy::config::Cidr::parse(s.trim()).map_err(|_| format!("{s:?} is not an IP network"))
}

/// Parses `namespace/name`.
pub fn parse_object_key(s: &str) -> Result<crate::store::ObjectKey, String> {
    match s.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok(crate::store::ObjectKey::new(ns, name))
        }
        _ => Err(format!("{s:?} is not namespace/name")),
    }
}

/// Where HAProxy's sockets are.
#[derive(Debug, Clone, Args)]
pub struct SocketArgs {
    /// HAProxy's runtime API (stats) socket: a unix socket path or ip:port.
    #[arg(
        long,
        env = "HAPROXY_AGENT_RUNTIME_SOCKET",
        default_value = "/var/run/haproxy/admin.sock"
    )]
    pub runtime_socket: String,
    /// HAProxy's master CLI socket (`haproxy -W -S …`).
    #[arg(long, env = "HAPROXY_AGENT_MASTER_SOCKET")]
    pub master_socket: Option<String>,
    /// Time allowed for one exchange with a socket (e.g. `500ms`, `5s`).
    #[arg(long, env = "HAPROXY_AGENT_SOCKET_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub socket_timeout: std::time::Duration,
}

/// `ctl` arguments.
#[derive(Debug, Args)]
pub struct CtlArgs {
    /// The sockets.
    #[command(flatten)]
    pub sockets: SocketArgs,
    /// The agent's HTTP address (its `/debug/*`), for `diff`, `route`, `history`, `gateway` (default
    /// http://127.0.0.1:10254); `plan` takes the agent's settings from it when given.
    #[arg(long, global = true, env = "HAPROXY_AGENT_URL")]
    pub agent: Option<String>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub output: OutputFormat,
    /// The ctl command.
    #[command(subcommand)]
    pub command: CtlCommand,
}

/// How ctl and check print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns for people.
    Text,
    /// JSON for scripts.
    Json,
}

/// `ctl` subcommands.
// Parsed once per process: the size of the `plan` variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum CtlCommand {
    /// Send one command line verbatim and print HAProxy's reply as it came. Goes to the
    /// master CLI when `--master-socket` is given, else to the runtime socket.
    Raw {
        /// The command line, e.g. 'show servers state'.
        command: String,
    },
    /// HAProxy's servers: backend, server, address, admin and operational state, weight,
    /// current sessions.
    Servers {
        /// Only this backend.
        backend: Option<String>,
    },
    /// HAProxy's routing map entries: host+path -> backend.
    Maps,
    /// The Gateway API statuses the agent computed (its /debug/state): a row per condition
    /// of each GatewayClass, Gateway (and listener) and HTTPRoute parent of ours.
    Gateway,
    /// What the agent wants (its /debug/state) against what HAProxy has: missing, extra and
    /// different servers and map entries. Exit 0 when equal, 1 when they differ.
    Diff,
    /// What the agent would do now (runtime commands grouped by backend and map, or a reload,
    /// why, and the structural lines of haproxy.cfg that differ), without doing it. With
    /// `--agent`, the settings (and, without a source of its own, the objects' source) are
    /// the running agent's; settings given here that differ from the agent's are warned of.
    Plan {
        /// Where the objects come from.
        #[command(flatten)]
        source: SourceArgs,
        /// The rendered configuration.
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Where a request would go, asked of the live HAProxy map by map (`get map`), with the
    /// policies of the entry it matches, the backend's servers, and what the agent's desired
    /// state says.
    Route {
        /// The request's Host (a port is ignored, as the frontend does).
        host: String,
        /// The request's path; a query string is read by Gateway API query matches only.
        path: String,
        /// The request's method (shown with the policies that look at it).
        #[arg(long, default_value = "GET")]
        method: String,
        /// A request header `Name:Value` (repeatable), for canary rules and Gateway API
        /// header matches.
        #[arg(long = "header", value_name = "NAME:VALUE")]
        headers: Vec<String>,
        /// The bind the request arrives on, by its name in haproxy.cfg (what Gateway API
        /// routes are looked up by): `http`, `https`, or a Gateway's own bind
        /// `http@ADDR:PORT` / `https@ADDR:PORT`.
        #[arg(long, default_value = "http")]
        bind: String,
    },
    /// The agent's recent syncs (its `/debug/history`): what changed, the commands sent and
    /// their outcome, reloads with reasons and durations, problems.
    History {
        /// Only syncs of the last DURATION (e.g. `10m`).
        #[arg(long, value_parser = parse_duration)]
        since: Option<std::time::Duration>,
        /// Only syncs naming this object (`namespace/name`).
        #[arg(long)]
        object: Option<String>,
    },
    /// A refreshing table of servers (all, or one backend's): state, weight, sessions, with
    /// changes marked, until Ctrl-C. Appends plain tables when stdout is not a terminal.
    Watch {
        /// Only this backend.
        backend: Option<String>,
        /// Time between refreshes.
        #[arg(long, default_value = "1s", value_parser = parse_duration)]
        interval: std::time::Duration,
        /// Stop after this many tables.
        #[arg(long)]
        count: Option<u64>,
    },
}

/// Where `/debug/state` and `/metrics` are served when not on `--listen`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DebugListen {
    /// Nowhere.
    Off,
    /// On their own address.
    Addr(std::net::SocketAddr),
}

/// Parses `--debug-listen`: `off` or an address.
pub fn parse_debug_listen(s: &str) -> Result<DebugListen, String> {
    if s.trim() == "off" {
        return Ok(DebugListen::Off);
    }
    s.trim().parse().map(DebugListen::Addr).map_err(|_| {
        format!("--debug-listen {s:?} is neither `off` nor an address like 127.0.0.1:10255")
    })
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

/// Parses durations written like `500ms`, `30s`, `2m`, `1h`.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("duration {s:?} needs a unit (ms, s, m, h)"))?;
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("duration {s:?} does not start with a number"))?;
    let ms = match unit {
        "ms" => n,
        "s" => n.saturating_mul(1000),
        "m" => n.saturating_mul(60_000),
        "h" => n.saturating_mul(3_600_000),
        _ => {
            return Err(format!(
                "duration {s:?} has unknown unit {unit:?} (ms, s, m, h)"
            ));
        }
    };
    Ok(std::time::Duration::from_millis(ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn debug_listen_is_off_or_an_address() {
        assert_eq!(parse_debug_listen("off"), Ok(DebugListen::Off));
        assert_eq!(
            parse_debug_listen("127.0.0.1:10255"),
            Ok(DebugListen::Addr("127.0.0.1:10255".parse().unwrap()))
        );
        assert!(
            parse_debug_listen("localhost")
                .unwrap_err()
                .contains("--debug-listen")
        );
    }

    #[test]
    fn durations() {
        let table: &[(&str, Option<Duration>)] = &[
            ("500ms", Some(Duration::from_millis(500))),
            ("30s", Some(Duration::from_secs(30))),
            ("2m", Some(Duration::from_secs(120))),
            ("1h", Some(Duration::from_secs(3600))),
            ("10", None),
            ("s", None),
            ("5x", None),
            ("", None),
        ];
        for (input, want) in table {
            assert_eq!(parse_duration(input).ok(), *want, "{input:?}");
        }
    }

    #[test]
    fn election_durations() {
        let parse = |extra: &[&str]| {
            let mut args = vec!["haproxy-agent", "run", "--kubeconfig", "k"];
            args.extend_from_slice(extra);
            Cli::try_parse_from(args)
        };
        let cli = parse(&[
            "--election-lease-duration=2s",
            "--election-renew-period=250ms",
        ])
        .unwrap();
        let Command::Run(run) = cli.command else {
            panic!("not run")
        };
        assert_eq!(run.status.election_lease_duration, Duration::from_secs(2));
        assert_eq!(run.status.election_renew_period, Duration::from_millis(250));
        let Command::Run(run) = parse(&[]).unwrap().command else {
            panic!("not run")
        };
        assert_eq!(run.status.election_lease_duration, Duration::from_secs(15));
        assert_eq!(run.status.election_renew_period, Duration::from_secs(2));
        let err = parse(&["--election-lease-duration=500ms"]).unwrap_err();
        assert!(err.to_string().contains("shorter than 1s"), "{err}");
    }

    #[test]
    fn election_identity_is_checked_and_optional() {
        let identity = |extra: &[&str]| {
            let mut args = vec!["haproxy-agent", "run", "--kubeconfig", "k"];
            args.extend_from_slice(extra);
            Cli::try_parse_from(args).map(|cli| match cli.command {
                Command::Run(run) => run.status.election_identity,
                _ => panic!("not run"),
            })
        };
        assert_eq!(identity(&[]).unwrap(), None);
        assert_eq!(
            identity(&["--election-identity=replica-b"])
                .unwrap()
                .as_deref(),
            Some("replica-b")
        );
        for bad in ["", "two words", "tab\there", "é"] {
            let arg = format!("--election-identity={bad}");
            assert!(identity(&[&arg]).is_err(), "{bad:?} accepted");
        }
        let long = format!("--election-identity={}", "a".repeat(254));
        assert!(identity(&[&long]).is_err(), "254 characters accepted");
    }

    #[test]
    fn run_flags_and_env() {
        let cli = Cli::try_parse_from([
            "haproxy-agent",
            "run",
            "--manifests",
            "/m",
            "--spawn-haproxy",
            "--drain-timeout",
            "500ms",
            "--default-backend-service",
            "kube-system/default-http-backend",
        ])
        .unwrap();
        let Command::Run(args) = cli.command else {
            panic!("not run")
        };
        assert_eq!(
            args.spawn_haproxy.as_deref(),
            Some(std::path::Path::new("haproxy"))
        );
        assert_eq!(args.drain_timeout, std::time::Duration::from_millis(500));
        assert_eq!(args.listen.port(), 10254);
        assert_eq!(
            args.model.default_backend_service,
            Some(crate::store::ObjectKey::new(
                "kube-system",
                "default-http-backend"
            ))
        );
        let cli =
            Cli::try_parse_from(["haproxy-agent", "run", "--spawn-haproxy=/usr/sbin/haproxy"])
                .unwrap();
        let Command::Run(args) = cli.command else {
            panic!("not run")
        };
        assert_eq!(
            args.spawn_haproxy.as_deref(),
            Some(std::path::Path::new("/usr/sbin/haproxy"))
        );
        assert!(
            Cli::try_parse_from(["haproxy-agent", "run", "--default-backend-service", "nope"])
                .is_err()
        );
    }

    #[test]
    fn gateway_address_pool_takes_bindable_addresses() {
        let parse = |args: &[&str]| {
            let cli = Cli::try_parse_from([&["haproxy-agent", "run"], args].concat())?;
            let Command::Run(args) = cli.command else {
                panic!("not run")
            };
            Ok::<_, clap::Error>(args.model.gateway_address_pool)
        };
        assert!(parse(&[]).unwrap().is_empty());
        let pool = parse(&["--gateway-address-pool", "127.0.1.1,::1"]).unwrap();
        assert_eq!(
            pool,
            [
                "127.0.1.1".parse::<std::net::IpAddr>().unwrap(),
                "::1".parse().unwrap()
            ]
        );
        for bad in ["0.0.0.0", "224.0.0.1", "10.0.0.1:80", "host.example"] {
            assert!(parse(&["--gateway-address-pool", bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn gateway_controller_name_flag_env_and_default() {
        use clap::CommandFactory;
        let parse = |args: &[&str]| {
            let cli = Cli::try_parse_from([&["haproxy-agent", "run"], args].concat()).unwrap();
            let Command::Run(args) = cli.command else {
                panic!("not run")
            };
            args.model.gateway_controller_name
        };
        assert_eq!(parse(&[]), "haproxy-agent.io/gateway-controller");
        assert_eq!(
            parse(&["--gateway-controller-name", "example.com/gw"]),
            "example.com/gw"
        );
        let cmd = Cli::command();
        let run = cmd.find_subcommand("run").unwrap();
        let arg = run
            .get_arguments()
            .find(|a| a.get_id() == "gateway_controller_name")
            .unwrap();
        assert_eq!(
            arg.get_env().and_then(|e| e.to_str()),
            Some("HAPROXY_AGENT_GATEWAY_CONTROLLER_NAME")
        );
        let ctl = Cli::try_parse_from(["haproxy-agent", "ctl", "gateway"]).unwrap();
        let Command::Ctl(args) = ctl.command else {
            panic!("not ctl")
        };
        assert!(matches!(args.command, CtlCommand::Gateway));
    }

    #[test]
    fn ctl_raw_parses() {
        let cli = Cli::try_parse_from([
            "haproxy-agent",
            "ctl",
            "--runtime-socket",
            "/tmp/a.sock",
            "raw",
            "show version",
        ])
        .unwrap();
        let Command::Ctl(args) = cli.command else {
            panic!("not ctl")
        };
        assert_eq!(args.sockets.runtime_socket, "/tmp/a.sock");
        assert!(matches!(args.command, CtlCommand::Raw { command } if command == "show version"));
    }
}
