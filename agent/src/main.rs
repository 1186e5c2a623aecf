//! `haproxy-agent`: keeps HAProxy in step with Kubernetes Ingress objects. This file only
//! parses the command line, starts logging and hands over to the subcommand.

use std::process::ExitCode;

use clap::Parser;
use haproxy_agent::cli::{Cli, Command, LogFormat};
use haproxy_agent::{check, ctl, run};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cli.log_level));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(70);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run::run_command(args).await,
            Command::Render(args) => run::render_command(args).await,
            Command::Init(args) => run::init_command(args).await,
            Command::Ctl(args) => ctl::run(args).await,
            Command::Check(args) => check::check_command(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
