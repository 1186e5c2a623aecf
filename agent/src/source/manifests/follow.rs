//! Following the directory: a `notify` watcher wakes a rescan, bursts are coalesced, and a
//! slow periodic rescan is the safety net for anything the watcher misses.

use std::collections::BTreeSet;
use std::future::Future;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tracing::{debug, trace, warn};

use super::scan::ManifestsSource;
use crate::holdoff::Holdoff;

/// A burst of events is read by one rescan, 30 ms after its last event but at most 300 ms
/// after its first.
pub(crate) const BURST: Holdoff = Holdoff {
    quiet: Duration::from_millis(30),
    max_delay: Duration::from_millis(300),
};
/// Rescan this often even without events.
const PERIODIC: Duration = Duration::from_secs(10);
/// Rescan (and try to watch again) this often while the directory cannot be watched.
const UNWATCHED: Duration = Duration::from_secs(1);

type WatchEvent = notify::Result<notify::Event>;

impl ManifestsSource {
    /// Scans, then follows the directory until `shutdown` completes: every change (edit,
    /// creation, deletion, rename, ConfigMap volume swap) triggers a rescan once the burst
    /// of events is over (30 ms quiet, at most 300 ms after its first event); watcher
    /// errors are logged and followed by a rescan; a rescan also runs every 10 s, or every
    /// second while the directory cannot be watched (missing, say). Scans run on the
    /// blocking thread pool.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let (tx, mut rx) = mpsc::channel(64);
        let mut follower = Follower::new(self.dir.clone(), tx);
        // Watch before the first scan, so that no change falls between the two.
        follower.ensure();
        let mut source = scan_blocking(self).await;

        tokio::pin!(shutdown);
        loop {
            // A new watch misses what changed before it: scan once more behind it.
            if follower.ensure() {
                source = scan_blocking(source).await;
            }
            let period = if follower.watching() {
                PERIODIC
            } else {
                UNWATCHED
            };
            tokio::select! {
                biased;
                () = &mut shutdown => return,
                Some(event) = rx.recv() => {
                    let mut changed = Changed::default();
                    follower.note(event, &mut changed);
                    let mut burst = BURST.begin();
                    loop {
                        tokio::select! {
                            biased;
                            () = &mut shutdown => return,
                            () = sleep_until(burst.deadline()) => break,
                            Some(event) = rx.recv() => {
                                follower.note(event, &mut changed);
                                if !burst.changed() {
                                    break;
                                }
                            }
                        }
                    }
                    if follower.lost.swap(false, std::sync::atomic::Ordering::Relaxed) {
                        changed.full = true;
                    }
                    // Events that name their files: read those only. Anything else (the
                    // directory itself, an error, an overflow): read the directory.
                    source = match changed.files() {
                        // Only reads: nothing to do.
                        Some(names) if names.is_empty() => source,
                        Some(names) => scan_files_blocking(source, names).await,
                        None => scan_blocking(source).await,
                    };
                    continue;
                }
                () = sleep_until(Instant::now() + period) => {
                    trace!("periodic manifests rescan");
                    follower.check_identity();
                }
            }
            source = scan_blocking(source).await;
        }
    }
}

/// The files a burst of events named, or that it needs a full scan.
#[derive(Debug, Default)]
struct Changed {
    names: BTreeSet<String>,
    full: bool,
}

impl Changed {
    fn files(self) -> Option<BTreeSet<String>> {
        (!self.full).then_some(self.names)
    }
}

async fn scan_files_blocking(
    mut source: ManifestsSource,
    names: BTreeSet<String>,
) -> ManifestsSource {
    let task = tokio::task::spawn_blocking(move || {
        source.scan_files(names.iter().map(String::as_str));
        source
    });
    match task.await {
        Ok(source) => source,
        Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
        Err(err) => panic!("manifests scan task cancelled: {err}"),
    }
}

async fn scan_blocking(mut source: ManifestsSource) -> ManifestsSource {
    let task = tokio::task::spawn_blocking(move || {
        source.scan();
        source
    });
    match task.await {
        Ok(source) => source,
        Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
        // Only at runtime shutdown, when this future is being dropped anyway.
        Err(err) => panic!("manifests scan task cancelled: {err}"),
    }
}

/// Owns the watcher; recreates it when the directory it watched went away.
struct Follower {
    dir: PathBuf,
    /// Set when an event did not fit in the channel: the next scan reads everything.
    lost: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Kept so that the channel stays open while there is no watcher.
    tx: mpsc::Sender<WatchEvent>,
    watcher: Option<RecommendedWatcher>,
    /// Device and inode of the watched directory.
    identity: Option<(u64, u64)>,
    /// The last attempt to watch failed (logged once until it works).
    failing: bool,
}

impl Follower {
    fn new(dir: PathBuf, tx: mpsc::Sender<WatchEvent>) -> Self {
        Self {
            dir,
            lost: Default::default(),
            tx,
            watcher: None,
            identity: None,
            failing: false,
        }
    }

    /// Starts watching if not watching; true when a new watch started. On failure, the
    /// periodic rescan still runs and tries again.
    fn ensure(&mut self) -> bool {
        if self.watcher.is_some() {
            return false;
        }
        let tx = self.tx.clone();
        let lost = self.lost.clone();
        // Reads are no change: dropped here, so they never fill the channel. An event that
        // does not fit is lost: the flag makes the wake-up that the full channel already
        // holds read the whole directory instead of the files the events named.
        let handler = move |event: WatchEvent| {
            if let Ok(e) = &event
                && is_read(e)
            {
                return;
            }
            if tx.try_send(event).is_err() {
                lost.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        };
        let watched = notify::recommended_watcher(handler).and_then(|mut watcher| {
            watcher.watch(&self.dir, RecursiveMode::NonRecursive)?;
            Ok(watcher)
        });
        match watched {
            Ok(watcher) => {
                debug!(dir = %self.dir.display(), "watching the manifests directory");
                self.watcher = Some(watcher);
                self.identity = identity(&self.dir);
                self.failing = false;
                true
            }
            Err(error) => {
                if !self.failing {
                    warn!(
                        dir = %self.dir.display(),
                        %error,
                        "cannot watch the manifests directory; rescanning every {}s",
                        UNWATCHED.as_secs()
                    );
                }
                self.failing = true;
                false
            }
        }
    }

    fn watching(&self) -> bool {
        self.watcher.is_some()
    }

    /// Looks at one event, noting the files it names in `changed` (or that the whole
    /// directory must be read); the caller scans after every burst whatever it was.
    fn note(&mut self, event: WatchEvent, changed: &mut Changed) {
        match event {
            Ok(event) => {
                trace!(?event, "manifests directory event");
                let about_dir = event.paths.iter().any(|p| p == &self.dir);
                let gone = matches!(
                    event.kind,
                    EventKind::Remove(_) | EventKind::Modify(notify::event::ModifyKind::Name(_))
                );
                if about_dir && gone {
                    debug!(dir = %self.dir.display(), "the manifests directory moved; watching again");
                    self.watcher = None;
                }
                // Reads change nothing (and the scan's own reads would wake it again).
                if is_read(&event) {
                    return;
                }
                // A file directly in the directory, by a UTF-8 name; anything else (the
                // directory, a ConfigMap volume's `..data` swap, an event with no path)
                // reads the whole directory.
                let names: Option<Vec<String>> = event
                    .paths
                    .iter()
                    .map(|p| {
                        let name = p.file_name()?.to_str()?;
                        (p.parent() == Some(self.dir.as_path()) && !name.starts_with(".."))
                            .then(|| name.to_string())
                    })
                    .collect();
                match names {
                    Some(names) if !names.is_empty() && !event.need_rescan() => {
                        changed.names.extend(names);
                    }
                    _ => changed.full = true,
                }
            }
            Err(error) => {
                warn!(dir = %self.dir.display(), %error, "manifests watcher error; rescanning");
                changed.full = true;
            }
        }
    }

    /// Drops the watcher if the path now names another directory (its watch is dead).
    fn check_identity(&mut self) {
        if self.watcher.is_some() && identity(&self.dir) != self.identity {
            debug!(dir = %self.dir.display(), "the manifests directory was replaced; watching again");
            self.watcher = None;
        }
    }
}

/// An event of a read (open, close after reading): no change.
fn is_read(event: &notify::Event) -> bool {
    let written = AccessKind::Close(AccessMode::Write);
    matches!(event.kind, EventKind::Access(a) if a != written)
}

fn identity(dir: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(dir).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::sync::Arc;

    use tokio::sync::{oneshot, watch};
    use tokio::time::timeout;

    use crate::problem::Problem;
    use crate::store::{ObjectKey, Snapshot, Store};

    use super::*;

    const DEADLINE: Duration = Duration::from_secs(5);

    fn service(name: &str, port: i32) -> String {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  ports:\n  - port: {port}\n"
        )
    }

    fn port(snap: &Snapshot, name: &str) -> Option<i32> {
        let svc = snap.services.get(&ObjectKey::new("default", name))?;
        Some(svc.spec.as_ref()?.ports.as_ref()?[0].port)
    }

    async fn until(
        rx: &mut watch::Receiver<Arc<Snapshot>>,
        what: &str,
        f: impl FnMut(&Arc<Snapshot>) -> bool,
    ) {
        let waited = timeout(DEADLINE, rx.wait_for(f)).await.map(|r| r.is_ok());
        match waited {
            Ok(true) => {}
            Ok(false) => panic!("store closed while waiting for {what}"),
            Err(_) => panic!("{what}: not within {DEADLINE:?}; store: {:?}", *rx.borrow()),
        }
    }

    async fn until_problems(
        rx: &mut watch::Receiver<Vec<Problem>>,
        what: &str,
        f: impl FnMut(&Vec<Problem>) -> bool,
    ) {
        let waited = timeout(DEADLINE, rx.wait_for(f)).await.map(|r| r.is_ok());
        match waited {
            Ok(true) => {}
            Ok(false) => panic!("problems closed while waiting for {what}"),
            Err(_) => panic!(
                "{what}: not within {DEADLINE:?}; problems: {:?}",
                *rx.borrow()
            ),
        }
    }

    #[tokio::test]
    async fn follows_edits_renames_deletions_and_bursts() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let store = Store::new();
        let mut snaps = store.subscribe();
        let source = ManifestsSource::new(d.to_path_buf(), store.clone());
        let mut problems = source.problems();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(source.run(async move {
            let _ = stopped.await;
        }));

        until(&mut snaps, "first sync", |s| s.synced && s.is_empty()).await;

        fs::write(d.join("a.yaml"), service("web", 80)).unwrap();
        until(&mut snaps, "creation", |s| port(s, "web") == Some(80)).await;

        fs::write(d.join("a.yaml"), service("web", 81)).unwrap();
        until(&mut snaps, "edit", |s| port(s, "web") == Some(81)).await;

        // Same objects under a new name: nothing changes; a marker written afterwards shows
        // that a scan saw the rename.
        fs::rename(d.join("a.yaml"), d.join("a.yml")).unwrap();
        fs::write(d.join("marker.yaml"), service("marker", 1)).unwrap();
        until(&mut snaps, "marker", |s| port(s, "marker") == Some(1)).await;
        assert_eq!(port(&snaps.borrow(), "web"), Some(81));

        fs::rename(d.join("a.yml"), d.join("a.yml.bak")).unwrap();
        until(&mut snaps, "rename away", |s| port(s, "web").is_none()).await;

        fs::rename(d.join("a.yml.bak"), d.join("a.yaml")).unwrap();
        until(&mut snaps, "rename back", |s| port(s, "web") == Some(81)).await;

        fs::write(d.join("a.yaml"), "kind: [\n").unwrap();
        until_problems(&mut problems, "bad file", |p| p.len() == 1).await;
        assert_eq!(
            port(&snaps.borrow(), "web"),
            Some(81),
            "previous objects stay"
        );

        fs::remove_file(d.join("a.yaml")).unwrap();
        until(&mut snaps, "deletion", |s| port(s, "web").is_none()).await;
        until_problems(&mut problems, "problem gone", Vec::is_empty).await;

        for i in 1..=50 {
            fs::write(d.join("burst.yaml"), service("burst", i)).unwrap();
        }
        until(&mut snaps, "end of burst", |s| port(s, "burst") == Some(50)).await;

        stop.send(()).unwrap();
        timeout(DEADLINE, task).await.expect("stops").unwrap();
    }

    #[tokio::test]
    async fn a_directory_missing_or_replaced_is_followed_when_it_comes_back() {
        let base = tempfile::tempdir().unwrap();
        let d = base.path().join("manifests");
        let store = Store::new();
        let mut snaps = store.subscribe();
        let source = ManifestsSource::new(d.clone(), store.clone());
        let mut problems = source.problems();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(source.run(async move {
            let _ = stopped.await;
        }));
        until(&mut snaps, "first sync", |s| s.synced).await;
        until_problems(&mut problems, "missing dir", |p| p.len() == 1).await;

        fs::create_dir(&d).unwrap();
        fs::write(d.join("a.yaml"), service("web", 1)).unwrap();
        until(&mut snaps, "dir created", |s| port(s, "web") == Some(1)).await;
        until_problems(&mut problems, "dir problem gone", Vec::is_empty).await;

        fs::remove_dir_all(&d).unwrap();
        until_problems(&mut problems, "dir removed", |p| p.len() == 1).await;
        assert_eq!(port(&snaps.borrow(), "web"), Some(1), "objects stay");
        fs::create_dir(&d).unwrap();
        fs::write(d.join("a.yaml"), service("web", 2)).unwrap();
        until(&mut snaps, "dir recreated", |s| port(s, "web") == Some(2)).await;
        fs::write(d.join("a.yaml"), service("web", 3)).unwrap();
        until(&mut snaps, "edit in the new dir", |s| {
            port(s, "web") == Some(3)
        })
        .await;

        stop.send(()).unwrap();
        timeout(DEADLINE, task).await.expect("stops").unwrap();
    }

    /// More events than the channel holds (each file raises several): the lost ones make
    /// the source read the whole directory, so no file of the burst is missed.
    #[tokio::test]
    async fn a_burst_larger_than_the_event_channel_misses_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let store = Store::new();
        let mut snaps = store.subscribe();
        let source = ManifestsSource::new(d.to_path_buf(), store.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(source.run(async move {
            let _ = stopped.await;
        }));
        until(&mut snaps, "first sync", |s| s.synced && s.is_empty()).await;
        for i in 0..200 {
            fs::write(d.join(format!("s{i}.yaml")), service(&format!("s{i}"), 80)).unwrap();
        }
        until(&mut snaps, "all 200 Services", |s| s.services.len() == 200).await;
        for i in 0..200 {
            fs::write(d.join(format!("s{i}.yaml")), service(&format!("s{i}"), 81)).unwrap();
        }
        until(&mut snaps, "all 200 edits", |s| {
            (0..200).all(|i| port(s, &format!("s{i}")) == Some(81))
        })
        .await;
        let _ = stop.send(());
        task.await.unwrap();
    }

    #[test]
    fn events_name_their_files_and_reads_are_no_change() {
        use notify::event::{AccessKind, AccessMode, CreateKind, DataChange, ModifyKind};
        let dir = PathBuf::from("/manifests");
        let (tx, _rx) = mpsc::channel(1);
        let mut f = Follower::new(dir.clone(), tx);
        let event = |kind, path: &str| Ok(notify::Event::new(kind).add_path(PathBuf::from(path)));
        let mut changed = Changed::default();
        // The scan's own reads (opening the directory and its files) change nothing.
        f.note(
            event(
                EventKind::Access(AccessKind::Open(AccessMode::Any)),
                "/manifests",
            ),
            &mut changed,
        );
        f.note(
            event(
                EventKind::Access(AccessKind::Open(AccessMode::Any)),
                "/manifests/a.yaml",
            ),
            &mut changed,
        );
        assert_eq!(changed.files(), Some(BTreeSet::new()));
        // Writes name their files.
        let mut changed = Changed::default();
        f.note(
            event(
                EventKind::Modify(ModifyKind::Data(DataChange::Any)),
                "/manifests/a.yaml",
            ),
            &mut changed,
        );
        f.note(
            event(
                EventKind::Access(AccessKind::Close(AccessMode::Write)),
                "/manifests/b.yaml",
            ),
            &mut changed,
        );
        f.note(
            event(
                EventKind::Create(CreateKind::File),
                "/manifests/.c.yaml.swp",
            ),
            &mut changed,
        );
        let names: BTreeSet<String> = ["a.yaml", "b.yaml", ".c.yaml.swp"].map(String::from).into();
        assert_eq!(changed.files(), Some(names));
        // A ConfigMap volume's `..data` swap, or the directory itself: read it all.
        for path in ["/manifests/..data", "/manifests", "/elsewhere/a.yaml"] {
            let mut changed = Changed::default();
            f.note(
                event(EventKind::Create(CreateKind::Any), path),
                &mut changed,
            );
            assert_eq!(changed.files(), None, "{path}");
        }
        let mut changed = Changed::default();
        f.note(Err(notify::Error::generic("overflow")), &mut changed);
        assert_eq!(changed.files(), None);
    }
}
