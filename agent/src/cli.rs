//! The command line: subcommands and flags, each flag also read from `HAPROXY_AGENT_…`.

use clap::{Args, Parser, Subcommand};

/// Keeps HAProxy in step with Kubernetes Ingress objects: endpoints and routes over the
/// runtime API without reloads, structural changes through verified reloads.
#[derive(Debug, Parser)]
#[command(name = "haproxy-agent", version, about)]
pub struct Cli {
    /// Log filter (tracing's EnvFilter syntax; RUST_LOG wins when set).
    #[arg(
        long,
        global = true,
        env = "HAPROXY_AGENT_LOG_LEVEL",
        default_value = "info"
    )]
    pub log_level: String,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Debugging: talk to HAProxy's sockets.
    Ctl(CtlArgs),
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
    /// The ctl command.
    #[command(subcommand)]
    pub command: CtlCommand,
}

/// `ctl` subcommands.
#[derive(Debug, Subcommand)]
pub enum CtlCommand {
    /// Send one command line verbatim and print HAProxy's reply as it came. Goes to the
    /// master CLI when `--master-socket` is given, else to the runtime socket.
    Raw {
        /// The command line, e.g. 'show servers state'.
        command: String,
    },
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
        let Command::Ctl(args) = cli.command;
        assert_eq!(args.sockets.runtime_socket, "/tmp/a.sock");
        assert!(matches!(args.command, CtlCommand::Raw { command } if command == "show version"));
    }
}
