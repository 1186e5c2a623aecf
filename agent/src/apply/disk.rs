//! The config directory after runtime changes: haproxy.cfg, the maps and the certificates
//! brought up to date (so a cold start of HAProxy is already right), off the path to
//! HAProxy's acknowledgement, and only the files whose contents changed; files changed or
//! deleted behind the agent's back found and written again; a directory that cannot be
//! written (full, read-only) named until it can.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use haproxy::ConfigWriter;
use haproxy::config::{Config, FileDigests, Rendered, render};

use crate::metrics::Metrics;

/// After a failed write, the next attempt waits this long (a full disk is not retried in a
/// tight loop).
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1);

/// What identifies a file's version without reading it: size, modification time, inode.
type Stamp = (u64, i64, i64, u64);

fn stamp(meta: &std::fs::Metadata) -> Stamp {
    (meta.len(), meta.mtime(), meta.mtime_nsec(), meta.ino())
}

/// Why the config directory is not as the agent wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiskFault {
    /// Writing failed (a full or read-only directory, a permission).
    Unwritable(String),
    /// A file was deleted or changed behind the agent's back; it is written again.
    Drift(String),
}

impl std::fmt::Display for DiskFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DiskFault::Unwritable(e) => write!(f, "config directory not writable: {e}"),
            DiskFault::Drift(what) => write!(
                f,
                "config directory changed behind the agent's back: {what}"
            ),
        }
    }
}

/// What was last written, and whether runtime changes are waiting to be written.
#[derive(Debug, Default)]
pub(super) struct DiskState {
    written: FileDigests,
    /// Since when runtime changes wait to be written.
    dirty_since: Option<Instant>,
    /// Files whose contents were last found to match `written`, by stamp (so a check reads
    /// only files whose stamp moved).
    verified: HashMap<PathBuf, Stamp>,
    /// The current fault, until a write succeeds.
    fault: Option<DiskFault>,
    /// No write before this (after a failure).
    not_before: Option<Instant>,
}

impl DiskState {
    /// Runtime changes were applied: the files are behind.
    pub(super) fn mark_dirty(&mut self) {
        self.dirty_since.get_or_insert_with(crate::clock::now);
    }

    /// When the files should be written, if they are behind: `idle` from now, but at most
    /// `max` after they fell behind; after a failure, not before the retry time.
    pub(super) fn due(&self, now: Instant, idle: Duration, max: Duration) -> Option<Instant> {
        let since = self.dirty_since?;
        let at = (now + idle).min(since + max);
        Some(self.not_before.map_or(at, |nb| at.max(nb)))
    }

    /// The current fault, if any.
    pub(super) fn fault(&self) -> Option<&DiskFault> {
        self.fault.as_ref()
    }

    /// A reload installed `rendered` whole.
    pub(super) fn installed(&mut self, writer: &ConfigWriter, rendered: &Rendered) {
        writer.record_installed(rendered, &mut self.written);
        self.dirty_since = None;
        self.verified.clear();
        self.clear_fault();
    }

    /// Writing the directory failed (`what` says how): named until a write succeeds.
    pub(super) fn failed(&mut self, what: String, metrics: &Metrics) {
        metrics.config_write_failures.inc();
        self.written.clear();
        self.verified.clear();
        self.dirty_since.get_or_insert_with(crate::clock::now);
        self.not_before = Some(crate::clock::now() + RETRY_AFTER_FAILURE);
        let fault = DiskFault::Unwritable(what);
        if self.fault.as_ref() != Some(&fault) {
            tracing::warn!(fault = %fault, "config directory fault; haproxy keeps running on what it has");
            self.fault = Some(fault);
        }
    }

    fn clear_fault(&mut self) {
        self.not_before = None;
        if let Some(f) = self.fault.take() {
            tracing::info!(fault = %f, "config directory fault cleared; every file is written");
        }
    }

    /// Forgets what was written (the files may have been changed behind the agent's back).
    pub(super) fn forget(&mut self) {
        self.written.clear();
        self.verified.clear();
    }

    /// Compares the files last written with the disk (a stat each; a read only for a file
    /// whose stamp moved); a file deleted or changed is named, counted and marked to be
    /// written again. Returns how many were found. When no write is known yet, marks the
    /// files to be written (once) instead.
    pub(super) async fn verify(&mut self, metrics: &Metrics) -> usize {
        let paths: Vec<PathBuf> = self.written.paths().map(Path::to_path_buf).collect();
        if paths.is_empty() {
            // Nothing known of the files (HAProxy started or adopted from them, or a write
            // failed): the next flush writes them all, and they are known from then on.
            self.mark_dirty();
            return 0;
        }
        let mut drifted = Vec::new();
        for path in paths {
            let found = match tokio::fs::metadata(&path).await {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some("deleted"),
                // Unreadable: the next write will say why.
                Err(_) => None,
                Ok(meta) if self.verified.get(&path) == Some(&stamp(&meta)) => None,
                Ok(meta) => match tokio::fs::read(&path).await {
                    Ok(bytes) if self.written.matches(&path, &bytes) => {
                        self.verified.insert(path.clone(), stamp(&meta));
                        None
                    }
                    Ok(_) => Some("changed"),
                    Err(_) => None,
                },
            };
            if let Some(how) = found {
                tracing::warn!(file = %path.display(), how, "config file {how} behind the agent's back; writing it again");
                metrics.config_drift.inc();
                self.written.forget(&path);
                self.verified.remove(&path);
                drifted.push(format!("{} {how}", path.display()));
            }
        }
        if !drifted.is_empty() {
            self.mark_dirty();
            if !matches!(self.fault, Some(DiskFault::Unwritable(_))) {
                self.fault = Some(DiskFault::Drift(drifted.join(", ")));
            }
        }
        drifted.len()
    }

    /// Records the stamps of every file just written or verified, so the next check reads
    /// only files changed since.
    async fn stamp_all(&mut self) {
        let paths: Vec<PathBuf> = self.written.paths().map(Path::to_path_buf).collect();
        for path in paths {
            if let Ok(meta) = tokio::fs::metadata(&path).await {
                self.verified.insert(path, stamp(&meta));
            }
        }
    }

    /// Writes the files of `desired` whose contents changed, if runtime changes are waiting,
    /// after checking the files last written (see [`DiskState::verify`]). Call it only while `desired`'s structure is the one installed (see
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
        // A file changed behind the agent's back is named even when this write replaces it.
        self.verify(metrics).await;
        let rendered = render(desired);
        match writer.write_changed(&rendered, &mut self.written).await {
            Ok(n) => {
                metrics.file_writes.inc_by(n as u64);
                self.dirty_since = None;
                self.clear_fault();
                self.stamp_all().await;
            }
            Err(e) => self.failed(e.to_string(), metrics),
        }
    }
}

#[cfg(test)]
mod tests {
    use haproxy::config::{ConfigPath, Global};

    use super::*;

    /// A writer on a fresh directory and the files of a minimal config written through it.
    async fn written(dir: &Path) -> (ConfigWriter, Config, DiskState, Metrics) {
        let writer = ConfigWriter::new(dir, "haproxy");
        let sock = ConfigPath::from_path(&dir.join("admin.sock")).unwrap();
        let config = Config::new(Global::new(sock));
        let mut disk = DiskState::default();
        let metrics = Metrics::default();
        assert_eq!(disk.verify(&metrics).await, 0, "nothing known yet");
        assert!(disk.dirty_since.is_some(), "so everything is written once");
        disk.flush(&writer, &config, &metrics).await;
        assert!(disk.dirty_since.is_none() && disk.fault().is_none());
        (writer, config, disk, metrics)
    }

    #[tokio::test]
    async fn a_file_deleted_or_edited_behind_the_agents_back_is_named_and_written_again() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, config, mut disk, metrics) = written(dir.path()).await;
        let cfg = dir.path().join("haproxy.cfg");
        let text = std::fs::read_to_string(&cfg).unwrap();
        assert_eq!(disk.verify(&metrics).await, 0);
        // Edited in place, same size: the stamp moved, the contents differ.
        std::fs::write(&cfg, text.replace("global", "GLOBAL")).unwrap();
        assert_eq!(disk.verify(&metrics).await, 1);
        assert!(
            matches!(disk.fault(), Some(DiskFault::Drift(w)) if w.ends_with("haproxy.cfg changed"))
        );
        disk.flush(&writer, &config, &metrics).await;
        assert_eq!(std::fs::read_to_string(&cfg).unwrap(), text);
        assert!(disk.fault().is_none());
        std::fs::remove_file(&cfg).unwrap();
        assert_eq!(disk.verify(&metrics).await, 1);
        assert!(
            matches!(disk.fault(), Some(DiskFault::Drift(w)) if w.ends_with("haproxy.cfg deleted"))
        );
        disk.flush(&writer, &config, &metrics).await;
        assert_eq!(std::fs::read_to_string(&cfg).unwrap(), text);
        assert_eq!(metrics.config_drift.get(), 2);
        // Touched but unchanged: not drift.
        std::fs::write(&cfg, &text).unwrap();
        assert_eq!(disk.verify(&metrics).await, 0);
    }

    #[tokio::test]
    async fn a_failed_write_is_named_retried_after_a_pause_and_cleared_by_a_good_one() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, _, mut disk, metrics) = written(dir.path()).await;
        // A change to write, and the directory replaced by a file: every write fails.
        let sock = ConfigPath::from_path(&dir.path().join("other.sock")).unwrap();
        let config = Config::new(Global::new(sock));
        let aside = dir.path().with_extension("aside");
        std::fs::rename(dir.path(), &aside).unwrap();
        std::fs::write(dir.path(), "").unwrap();
        disk.mark_dirty();
        disk.flush(&writer, &config, &metrics).await;
        assert!(matches!(disk.fault(), Some(DiskFault::Unwritable(_))));
        assert!(
            disk.fault()
                .unwrap()
                .to_string()
                .starts_with("config directory not writable: ")
        );
        assert_eq!(metrics.config_write_failures.get(), 1);
        let now = Instant::now();
        let due = disk
            .due(now, Duration::from_millis(100), Duration::from_secs(1))
            .unwrap();
        assert!(
            due >= now + RETRY_AFTER_FAILURE - Duration::from_millis(50),
            "not retried at once"
        );
        std::fs::remove_file(dir.path()).unwrap();
        std::fs::rename(&aside, dir.path()).unwrap();
        disk.flush(&writer, &config, &metrics).await;
        assert!(disk.fault().is_none());
        assert!(
            disk.due(Instant::now(), Duration::ZERO, Duration::ZERO)
                .is_none()
        );
        let cfg = std::fs::read_to_string(dir.path().join("haproxy.cfg")).unwrap();
        assert!(cfg.contains("other.sock"), "{cfg}");
    }
}
