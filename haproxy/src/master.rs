//! The master CLI: `show proc`, commands routed to a worker (`@1`, `@!pid`), and `reload`
//! with completion detection, never fire-and-forget.
//!
//! Each call is a one-shot exchange (write, half-close, read to EOF): the 2.6 master keeps a
//! connection open until the client half-closes, and its replies have no prompt framing.

use std::time::Duration;

use thiserror::Error;
use tokio::time::Instant;

use crate::endpoint::Endpoint;
pub use crate::proto::proc::{MasterCommand, Worker};
use crate::proto::proc::{ProcList, reload_status, show_proc};
use crate::proto::{Command, EncodeError, Reply, ReplyError, normalize, parse_reply};

/// Errors of the master CLI.
#[derive(Debug, Error)]
pub enum MasterError {
    /// The socket could not be reached or failed.
    #[error("master socket {endpoint}: {source}")]
    Io {
        /// Which socket.
        endpoint: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The reply was not what the command gives.
    #[error("master socket {endpoint}: unexpected reply to `{command}`: {raw:?}")]
    Unexpected {
        /// Which socket.
        endpoint: String,
        /// The command.
        command: String,
        /// The raw reply.
        raw: String,
    },
    /// A worker refused a routed command.
    #[error(transparent)]
    Reply(#[from] ReplyError),
    /// A routed command could not be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

/// Why a reload did not complete.
#[derive(Debug, Error)]
pub enum ReloadError {
    /// The master reported a failed load (bad config, bind error…); the old worker serves.
    #[error("reload failed: the master kept worker {worker:?} ({failed} failed reloads)")]
    Failed {
        /// The worker that keeps serving.
        worker: Option<u32>,
        /// The master's failed-reload count.
        failed: u32,
    },
    /// No new worker appeared in time.
    #[error("reload not confirmed within {0:?}")]
    Timeout(Duration),
    /// The master CLI failed.
    #[error(transparent)]
    Master(#[from] MasterError),
}

/// A confirmed reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloaded {
    /// The worker before the reload.
    pub old_worker: Option<u32>,
    /// The new worker, observed in `show proc`: runtime commands go to it from now on.
    pub new_worker: u32,
    /// The process list after the reload.
    pub procs: ProcList,
    /// How long the reload took to confirm.
    pub took: Duration,
}

/// A client for the master CLI.
#[derive(Debug, Clone)]
pub struct MasterClient {
    endpoint: Endpoint,
    timeout: Duration,
    max_reply: usize,
}

impl MasterClient {
    /// A client with a per-exchange timeout.
    pub fn new(endpoint: Endpoint, timeout: Duration) -> Self {
        Self {
            endpoint,
            timeout,
            max_reply: 64 << 20,
        }
    }

    /// The socket.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Sends one line verbatim and returns the reply as HAProxy sent it: for `ctl raw`,
    /// whose user types the line; the agent sends [`MasterCommand`]s.
    pub async fn raw(&self, line: &str) -> Result<String, MasterError> {
        let bytes = self
            .endpoint
            .oneshot(line, self.timeout, self.max_reply)
            .await
            .map_err(|source| MasterError::Io {
                endpoint: self.endpoint.to_string(),
                source,
            })?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    async fn send(&self, command: &MasterCommand<'_>) -> Result<String, MasterError> {
        self.raw(&command.to_text()?).await
    }

    fn unexpected(&self, command: &str, raw: &str) -> MasterError {
        MasterError::Unexpected {
            endpoint: self.endpoint.to_string(),
            command: command.to_string(),
            raw: raw.to_string(),
        }
    }

    /// `show proc`
    pub async fn show_proc(&self) -> Result<ProcList, MasterError> {
        let raw = self.send(&MasterCommand::ShowProc).await?;
        let text = String::from_utf8_lossy(normalize(raw.as_bytes())).into_owned();
        show_proc(&text).ok_or_else(|| self.unexpected("show proc", &raw))
    }

    /// Sends a typed runtime command to a worker through the master and parses its reply.
    pub async fn worker_command(
        &self,
        worker: Worker,
        command: &Command,
    ) -> Result<Reply, MasterError> {
        let routed = MasterCommand::Routed(worker, command);
        let raw = self.send(&routed).await?;
        if raw.starts_with("Can't find the target PID") {
            return Err(self.unexpected(&routed.to_text()?, &raw));
        }
        // A one-shot reply is the body plus the LF that ends each command's output.
        Ok(parse_reply(command, normalize(normalize(raw.as_bytes())))?)
    }

    /// Reloads and waits until the master shows a new worker (success) or a higher failed
    /// count (failure), polling `show proc`. On 2.7+ the `Success=` line is read as well.
    pub async fn reload(&self, within: Duration) -> Result<Reloaded, ReloadError> {
        let started = Instant::now();
        let before = self.show_proc().await?;
        let reply = self.send(&MasterCommand::Reload).await?;
        if reload_status(&reply) == Some(false) {
            let after = self.show_proc().await.ok();
            return Err(ReloadError::Failed {
                worker: before.current_worker(),
                failed: after.map_or(before.failed_reloads + 1, |a| a.failed_reloads),
            });
        }
        let deadline = started + within;
        let mut pause = Duration::from_millis(5);
        loop {
            // The master re-executes itself during a reload: its socket may refuse for a
            // moment. That is not a failure; keep polling until the deadline.
            match self.show_proc().await {
                Ok(now) if now.master.reloads > before.master.reloads => {
                    if now.failed_reloads > before.failed_reloads
                        || (now.failed_reloads > 0
                            && now.current_worker() == before.current_worker())
                    {
                        return Err(ReloadError::Failed {
                            worker: now.current_worker(),
                            failed: now.failed_reloads,
                        });
                    }
                    if let Some(new_worker) = now.current_worker()
                        && now.current_worker() != before.current_worker()
                    {
                        return Ok(Reloaded {
                            old_worker: before.current_worker(),
                            new_worker,
                            procs: now,
                            took: started.elapsed(),
                        });
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::debug!(error = %e, "show proc during reload"),
            }
            if Instant::now() >= deadline {
                return Err(ReloadError::Timeout(within));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }
}

#[cfg(test)]
#[path = "master_tests.rs"]
mod tests;
