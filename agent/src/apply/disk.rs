//! The config directory after runtime changes: haproxy.cfg, the maps and the certificates
//! brought up to date (so a cold start of HAProxy is already right), off the path to
//! HAProxy's acknowledgement, and only the files whose contents changed.

use std::time::Instant;

use haproxy::ConfigWriter;
use haproxy::config::{Config, FileDigests, Rendered, render};

use crate::metrics::Metrics;

/// What was last written, and whether runtime changes are waiting to be written.
#[derive(Debug, Default)]
pub(super) struct DiskState {
    written: FileDigests,
    /// Since when runtime changes wait to be written.
    dirty_since: Option<Instant>,
}

impl DiskState {
    /// Runtime changes were applied: the files are behind.
    pub(super) fn mark_dirty(&mut self) {
        self.dirty_since.get_or_insert_with(Instant::now);
    }

    /// Since when the files are behind, if they are.
    pub(super) fn dirty_since(&self) -> Option<Instant> {
        self.dirty_since
    }

    /// A reload installed `rendered` whole.
    pub(super) fn installed(&mut self, writer: &ConfigWriter, rendered: &Rendered) {
        writer.record_installed(rendered, &mut self.written);
        self.dirty_since = None;
    }

    /// Forgets what was written (the files may have been changed behind the agent's back).
    pub(super) fn forget(&mut self) {
        self.written.clear();
    }

    /// Writes the files of `desired` whose contents changed, if runtime changes are waiting.
    /// Call it only while `desired`'s structure is the one installed (see
    /// [`ConfigWriter::write_runtime_state`]).
    pub(super) async fn flush(
        &mut self,
        writer: &ConfigWriter,
        desired: &Config,
        metrics: &Metrics,
    ) {
        if self.dirty_since.is_none() {
            return;
        }
        let rendered = render(desired);
        match writer.write_changed(&rendered, &mut self.written).await {
            Ok(n) => {
                metrics.file_writes.inc_by(n as u64);
                self.dirty_since = None;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot write the current config to disk");
                self.written.clear();
                // Tried again after the loop's maximum delay, not at once.
                self.dirty_since = Some(Instant::now());
            }
        }
    }
}
