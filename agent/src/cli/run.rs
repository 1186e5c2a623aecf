//! `run`'s flags: sockets, supervision, sync pacing, debug listener, status publishing.

use clap::Args;

use super::model::{ModelArgs, SourceArgs};
use super::parse::{parse_duration, parse_object_key};

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
