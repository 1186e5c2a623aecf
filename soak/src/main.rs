//! The fault suite (`scripts/soak`): a real `haproxy-agent run` process keeping a real
//! HAProxy in step with objects that keep changing, while faults hit it; after each fault,
//! the time until HAProxy holds exactly the servers the objects ask for, and what differed
//! when it did not.
//!
//! - `r1 COUNT`: HAProxy SIGKILLed COUNT times under `--spawn-haproxy` during endpoint
//!   churn, the worker and the master in turn (see `r1.rs`);
//! - `r2 COUNT`: the agent SIGKILLed COUNT times while it applies a batch of hundreds of
//!   endpoint changes, and restarted, attached to the running HAProxy and with
//!   `--spawn-haproxy` in turn (see `r2.rs`);
//! - `r3 DROPS COMPACTIONS PAUSE_S`: watch faults through the test Kubernetes API server:
//!   dropped watches, 410 Expired after a compaction, the server silent for PAUSE_S seconds
//!   (see `r3.rs`);
//! - `r4 SECONDS`: a long run, churn and a reload every 20 s for SECONDS, with the agent's
//!   memory, its open descriptors and HAProxy's workers sampled (see `r4.rs`);
//! - `r6`: disk faults in the config directory (a tmpfs the soak mounts): full,
//!   read-only, a map file deleted, haproxy.cfg edited by hand (see `r6.rs`);
//! - `r5 KILLS`: two replicas on the test Kubernetes API server electing the status writer
//!   with a Lease; the leader SIGKILLed KILLS times (see `r5.rs`);
//! - `r7 ROUNDS`: API server faults (500s, slow answers, objects that do not decode in a
//!   watch and in a list) through the test Kubernetes API server (see `r7.rs`);
//! - `report DIR OUT_DIR`: reliability.md and reliability.json in OUT_DIR from the figures
//!   in DIR (`r1.json`, `r2.json`, `r3.json`, `meta.json`).
//!
//! "Converged" means: every backend holds exactly the desired servers (no stale one, none
//! missing, each with the desired address, state and weight, no address twice); the canary
//! backend's weights give the canary its share as closely as HAProxy's weights allow; the
//! three route maps hold exactly the entries the routes ask for; the backends in the
//! haproxy.cfg the agent wrote and in the running HAProxy are the ones the objects ask for
//! (with the HTTP and HTTPS binds); `tls.soak` is served its Secret's certificate (a TLS
//! handshake); and every live HAProxy process started on the
//! agent's master socket is one the answering master lists. All of it is computed from
//! the objects as written (`world.rs`, `integration::soak_oracle`), not by the agent.
//!
//! Every scenario opens the same way (`scenario.rs`: the objects of `world.rs` checked
//! against the agent's own translation and written where the agent reads them, the agent
//! started, HAProxy holding them), then injects its faults while `churn.rs` changes the
//! objects, and judges HAProxy with `observe.rs`, one [`tally::Tally`] per kind of fault.
//!
//! Run: `cargo run --release -p soak -- r1 100 [--seed N] [--json PATH]
//!      [--agent target/release/haproxy-agent]` (`scripts/soak` runs them all). A scenario
//! with any loss (a fault after which HAProxy did not converge within its deadline, or
//! changed again after it had) writes its figures and exits with status 2.

mod churn;
#[path = "../../agent/benches/common/objects.rs"]
mod objects;
mod observe;
mod r1;
mod r2;
mod r3;
mod r4;
mod r5;
mod r6;
mod r6_setup;
mod r7;
mod scenario;
mod tally;
mod world;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use integration::figures::Args;

async fn run() -> anyhow::Result<bool> {
    let args = Args::parse()?;
    let Some(cmd) = args.positional(0) else {
        bail!(
            "usage: soak r1 COUNT | r2 COUNT | r3 DROPS COMPACTIONS PAUSE_S | r4 SECONDS | r5 KILLS | r6 | r7 ROUNDS | report DIR OUT_DIR"
        );
    };
    let seed = match args.named("seed") {
        Some(s) => s.parse()?,
        None => 1,
    };
    let agent = || args.binary("agent", "haproxy-agent");
    let figures = match cmd.as_str() {
        "r1" => r1::run(&agent()?, args.number(1, 100)?, seed).await?,
        "r2" => r2::run(&agent()?, args.number(1, 50)?, seed).await?,
        "r3" => {
            let pause = Duration::from_secs(args.number(3, 30)? as u64);
            r3::run(
                &agent()?,
                args.number(1, 20)?,
                args.number(2, 20)?,
                pause,
                seed,
            )
            .await?
        }
        "r4" => {
            let seconds = args.number(1, 1800)? as u64;
            r4::run(&agent()?, Duration::from_secs(seconds), seed).await?
        }
        "r5" => r5::run(&agent()?, args.number(1, 10)?, seed).await?,
        "r7" => r7::run(&agent()?, args.number(1, 5)?, seed).await?,
        "r6" => r6::run(&agent()?, seed).await?,
        "report" => {
            let (Some(dir), Some(out)) = (args.positional(1), args.positional(2)) else {
                bail!("usage: soak report DIR OUT_DIR");
            };
            return integration::soak_report::write(dir.as_ref(), out.as_ref());
        }
        other => bail!("unknown scenario {other:?}"),
    };
    let passed = figures["passed"].as_bool().unwrap_or(false);
    args.write_json(&figures)?;
    Ok(passed)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    match run().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("LOSS: see the failures above");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
