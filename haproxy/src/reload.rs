//! A verified reload from a rendered config: install it (validated by `haproxy -c`), reload
//! through the master CLI, wait for the new worker, and only then let runtime commands flow
//! again, to the new worker. A refused or failed reload leaves HAProxy on its last good
//! config, on disk as well as in memory.

use std::time::Duration;

use thiserror::Error;

use crate::client::RuntimeClient;
use crate::config::{ConfigWriter, Rendered, WriteError};
use crate::master::{MasterClient, ReloadError, Reloaded};

/// Why a reload did not happen or did not take.
#[derive(Debug, Error)]
pub enum ReloadFailure {
    /// `haproxy -c` refused the config (or it could not be written): nothing was reloaded,
    /// haproxy.cfg is unchanged.
    #[error("new config not installed: {0}")]
    NotInstalled(#[from] WriteError),
    /// The master could not load the new config (or did not confirm in time); the last
    /// good config was put back on disk.
    #[error("reload failed, last good config restored: {0}")]
    Failed(#[source] ReloadError),
}

impl ReloadFailure {
    /// True when HAProxy judged the config invalid (retrying the same config is pointless).
    pub fn is_invalid_config(&self) -> bool {
        match self {
            ReloadFailure::NotInstalled(e) => e.is_invalid(),
            ReloadFailure::Failed(ReloadError::Failed { .. }) => true,
            ReloadFailure::Failed(_) => false,
        }
    }
}

/// Performs verified reloads for one HAProxy.
#[derive(Debug, Clone)]
pub struct Reloader {
    writer: ConfigWriter,
    master: MasterClient,
    runtime: RuntimeClient,
    timeout: Duration,
}

impl Reloader {
    /// A reloader writing through `writer`, reloading through `master`; `runtime` is
    /// disconnected after each reload so its next session reaches the new worker.
    pub fn new(
        writer: ConfigWriter,
        master: MasterClient,
        runtime: RuntimeClient,
        timeout: Duration,
    ) -> Self {
        Self {
            writer,
            master,
            runtime,
            timeout,
        }
    }

    /// The config directory writer.
    pub fn writer(&self) -> &ConfigWriter {
        &self.writer
    }

    /// Installs `rendered` and reloads; returns the new worker once it is observed.
    pub async fn reload(&self, rendered: &Rendered) -> Result<Reloaded, ReloadFailure> {
        self.writer.install(rendered).await?;
        match self.master.reload(self.timeout).await {
            Ok(done) => {
                // Sessions opened before the reload talk to the old worker.
                self.runtime.disconnect().await;
                if let Err(e) = self.writer.mark_good().await {
                    tracing::warn!(error = %e, "cannot record the last good config");
                }
                Ok(done)
            }
            Err(e) => {
                self.runtime.disconnect().await;
                match self.writer.restore_last_good().await {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!("reload failed and there is no last good config"),
                    Err(w) => tracing::error!(error = %w, "cannot restore the last good config"),
                }
                Err(ReloadFailure::Failed(e))
            }
        }
    }
}
