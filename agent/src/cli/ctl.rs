//! `ctl`'s flags and subcommands: the sockets to talk to and what to ask.

use clap::{Args, Subcommand};

use super::OutputFormat;
use super::model::{ModelArgs, SourceArgs};
use super::parse::parse_duration;

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
