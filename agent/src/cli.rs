//! The command line: subcommands and flags, each flag also read from `HAPROXY_AGENT_…`.

use clap::{Args, Parser, Subcommand};

mod ctl;
mod model;
mod parse;
mod run;

pub use ctl::{CtlArgs, CtlCommand, SocketArgs};
pub use model::{ModelArgs, SourceArgs};
pub use parse::{parse_cidr, parse_duration, parse_object_key};
pub use run::{DebugListen, RunArgs, StatusArgs, parse_debug_listen};

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

/// How ctl and check print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns for people.
    Text,
    /// JSON for scripts.
    Json,
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
