//! One synchronous pass over the manifests directory: read, re-parse what changed, merge,
//! write the store, publish problems.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::{fs, io};

use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::parse::parse_manifests;
use crate::problem::{Problem, ProblemKind};
use crate::store::{Kind, Object, ObjectKey, Shared, Store};

/// The manifests source: the directory, what each of its files last said, and the store it
/// fills. Drive it with [`ManifestsSource::scan`] or [`ManifestsSource::run`].
///
/// A scan reads only the files that changed (by their metadata on a full scan, or those a
/// change event names), and writes to the store only the objects those files define: one
/// file change costs the same whatever the number of files.
#[derive(Debug)]
pub struct ManifestsSource {
    pub(super) dir: PathBuf,
    store: Store,
    /// By file name; a `BTreeMap`, so iteration is in name order.
    files: BTreeMap<String, FileState>,
    /// The files defining each object, sorted by name, each once (the last name wins). A
    /// vector: almost always one file, where a set's smallest node holds eleven.
    owners: BTreeMap<(Kind, ObjectKey), Vec<String>>,
    /// Objects defined more than once, with the problem that says so.
    duplicates: BTreeMap<(Kind, ObjectKey), Problem>,
    /// True once the store was written (the first scan marks it synced).
    published: bool,
    /// The objects of the files parsed during the current scan, by file name. Emptied when
    /// the scan is over: the store holds the only lasting copy of each object.
    fresh: BTreeMap<String, Vec<Shared>>,
    problems: watch::Sender<Vec<Problem>>,
}

/// The metadata that tells a file changed without reading it: modification and change
/// times (nanoseconds), size, inode.
type FileMeta = (i64, i64, i64, i64, u64, u64);

/// What one file last said.
#[derive(Debug, Default)]
struct FileState {
    /// The metadata when last read.
    meta: Option<FileMeta>,
    /// A digest of the content last parsed, `None` when the file could never be read.
    digest: Option<(u64, u64)>,
    /// The kinds and keys of the objects of the last content that parsed, in file order.
    keys: Vec<(Kind, ObjectKey)>,
    /// Why the current content is not in force.
    problem: Option<Problem>,
}

/// Where an object comes from.
enum Winner {
    /// This object.
    Object(Shared),
    /// No file defines it any more.
    None,
    /// Its file could not be read or parsed again: leave it as it is.
    Unreadable,
}

/// What one scan found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScanOutcome {
    /// Manifest files in the directory.
    pub files: usize,
    /// Files parsed by this scan: new or changed content (unchanged files are not).
    pub parsed: usize,
    /// True when this scan wrote the store (first scan, or the objects changed).
    pub store_updated: bool,
    /// Objects in force after the scan.
    pub objects: usize,
    /// The current problems, sorted and deduplicated.
    pub problems: Vec<Problem>,
}

impl ManifestsSource {
    /// A source reading `dir` into `store`. Nothing is read before the first scan.
    pub fn new(dir: PathBuf, store: Store) -> Self {
        Self {
            dir,
            store,
            files: BTreeMap::new(),
            owners: BTreeMap::new(),
            duplicates: BTreeMap::new(),
            published: false,
            fresh: BTreeMap::new(),
            problems: watch::Sender::new(Vec::new()),
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The current problems (sorted, deduplicated), updated after every scan that changes
    /// them; the receiver keeps the last list after the source stops.
    pub fn problems(&self) -> watch::Receiver<Vec<Problem>> {
        self.problems.subscribe()
    }

    /// Reads the directory once: every `*.yaml`/`*.yml` regular file (or symlink to one)
    /// directly in it, hidden names excepted. Reads the files whose metadata changed and
    /// re-parses those whose content changed; a file that fails keeps its previous objects;
    /// deleted files lose theirs. Writes the store when objects changed, and always on the
    /// first scan (which marks it synced). An object defined by several files comes from the
    /// one whose name sorts last, and is a problem. A directory that cannot be read is a
    /// problem and leaves the objects as they were. New problems are logged once, when they
    /// appear.
    pub fn scan(&mut self) -> ScanOutcome {
        let mut problems = Vec::new();
        let mut touched = BTreeSet::new();
        let mut parsed = 0;
        match list(&self.dir) {
            Ok(names) => {
                let gone: Vec<String> = self
                    .files
                    .keys()
                    .filter(|n| !names.contains(*n))
                    .cloned()
                    .collect();
                for name in gone {
                    self.forget(&name, &mut touched);
                }
                for name in names {
                    if self.refresh(&name, false, &mut touched) {
                        parsed += 1;
                    }
                }
            }
            // Keep every file's objects: a directory that vanishes for a moment (a volume
            // being remounted) must not empty HAProxy.
            Err(err) => problems.push(Problem::new(
                ProblemKind::ManifestFile,
                self.dir.display().to_string(),
                format!("cannot read the manifests directory: {err}"),
            )),
        }
        self.finish(touched, parsed, problems)
    }

    /// Reads the files `names` of the directory (named by change events) and nothing else:
    /// re-parses those whose content changed, drops those that are gone. Names that are not
    /// manifest names are passed over.
    pub fn scan_files<'a>(&mut self, names: impl IntoIterator<Item = &'a str>) -> ScanOutcome {
        let mut touched = BTreeSet::new();
        let mut parsed = 0;
        for name in names.into_iter().filter(|n| is_manifest_name(n)) {
            let is_file = fs::metadata(self.dir.join(name)).is_ok_and(|m| m.is_file());
            if !is_file {
                self.forget(name, &mut touched);
            } else if self.refresh(name, true, &mut touched) {
                parsed += 1;
            }
        }
        self.finish(touched, parsed, Vec::new())
    }

    /// Writes the objects `touched` names to the store (each from the file that wins it, or
    /// deleted when no file defines it any more) and publishes the problems.
    fn finish(
        &mut self,
        touched: BTreeSet<(Kind, ObjectKey)>,
        parsed: usize,
        mut problems: Vec<Problem>,
    ) -> ScanOutcome {
        let mut upserts = Vec::new();
        let mut deletes = Vec::new();
        for key in &touched {
            self.duplicates.remove(key);
            match self.winner(key) {
                Winner::Object(object) => upserts.push(object),
                Winner::None => deletes.push(key.clone()),
                // Its file no longer parses: the object stays as the store has it.
                Winner::Unreadable => {}
            }
            if let Some(p) = self.duplicate_problem(key) {
                self.duplicates.insert(key.clone(), p);
            }
        }
        let store_updated = if self.published {
            self.store.apply_shared(upserts, deletes)
        } else {
            // Every key the files define was touched by this first scan.
            self.store.replace_all_shared(upserts);
            self.published = true;
            true
        };
        self.fresh.clear();
        let count = self.owners.len();
        if store_updated {
            info!(dir = %self.dir.display(), objects = count, changed = touched.len(), "manifests loaded");
        }
        problems.extend(self.files.values().filter_map(|f| f.problem.clone()));
        problems.extend(self.duplicates.values().cloned());
        problems.sort();
        problems.dedup();
        self.publish(&problems);
        ScanOutcome {
            files: self.files.len(),
            parsed,
            store_updated,
            objects: count,
            problems,
        }
    }

    /// Drops a file that is gone: its objects are touched.
    fn forget(&mut self, name: &str, touched: &mut BTreeSet<(Kind, ObjectKey)>) {
        if let Some(state) = self.files.remove(name) {
            self.set_objects(name, &state.keys, &[], touched);
        }
    }

    /// Reads one file (unless `force` is false and its metadata is as last read) and
    /// re-parses it if its content changed; true when parsed.
    fn refresh(
        &mut self,
        name: &str,
        force: bool,
        touched: &mut BTreeSet<(Kind, ObjectKey)>,
    ) -> bool {
        let path = self.dir.join(name);
        let meta = fs::metadata(&path).ok().map(|m| file_meta(&m));
        if !force
            && meta.is_some()
            && let Some(state) = self.files.get(name)
            && state.meta == meta
            && state.digest.is_some()
        {
            return false;
        }
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                // Deleted since the listing: its objects go.
                self.forget(name, touched);
                return false;
            }
            Err(err) => {
                // Forget the content, so that the file is parsed again once readable.
                let state = self.files.entry(name.to_string()).or_default();
                state.digest = None;
                state.meta = None;
                state.problem = Some(Problem::new(
                    ProblemKind::ManifestFile,
                    path.display().to_string(),
                    format!("cannot read: {err}"),
                ));
                return false;
            }
        };
        let digest = haproxy::config::content_digest(&bytes);
        let state = self.files.entry(name.to_string()).or_default();
        state.meta = meta;
        if state.digest == Some(digest) {
            return false;
        }
        state.digest = Some(digest);
        debug!(file = %path.display(), "parsing manifest file");
        let result = parse_bytes(&path, &bytes);
        match result {
            Ok(objects) => {
                let keys: Vec<(Kind, ObjectKey)> =
                    objects.iter().map(|o| (o.kind(), o.key())).collect();
                let old = std::mem::replace(&mut state.keys, keys.clone());
                state.problem = None;
                self.set_objects(name, &old, &keys, touched);
                // Held until the scan is over: only what the store will keep, in the form
                // it keeps it.
                self.fresh.insert(
                    name.to_string(),
                    objects.into_iter().map(Shared::from).collect(),
                );
            }
            Err(mut problem) => {
                if !state.keys.is_empty() {
                    problem
                        .message
                        .push_str(" (its previous objects stay in force)");
                }
                state.problem = Some(problem);
            }
        }
        true
    }

    /// Moves file `name`'s ownership from the keys `old` to the keys `new`; every key of
    /// either is touched.
    fn set_objects(
        &mut self,
        name: &str,
        old: &[(Kind, ObjectKey)],
        new: &[(Kind, ObjectKey)],
        touched: &mut BTreeSet<(Kind, ObjectKey)>,
    ) {
        for key in old {
            if let Some(files) = self.owners.get_mut(key) {
                files.retain(|f| f != name);
                if files.is_empty() {
                    self.owners.remove(key);
                }
            }
            touched.insert(key.clone());
        }
        for key in new {
            // Room for exactly the files that define it (almost always one), where `Vec`'s
            // first growth makes room for four.
            let files = self
                .owners
                .entry(key.clone())
                .or_insert_with(|| Vec::with_capacity(1));
            if let Err(i) = files.binary_search_by(|f| f.as_str().cmp(name)) {
                files.reserve_exact(1);
                files.insert(i, name.to_string());
            }
            touched.insert(key.clone());
        }
    }

    /// The object `key` as the files define it: from the last file name, and its last
    /// definition there. That file's objects come from this scan, or from reading it again
    /// (it won the key when another file let go of it). Ask once per key and scan: the
    /// object is moved out.
    fn winner(&mut self, key: &(Kind, ObjectKey)) -> Winner {
        let Some(file) = self.owners.get(key).and_then(|f| f.last()).cloned() else {
            return Winner::None;
        };
        if !self.fresh.contains_key(&file) {
            let path = self.dir.join(&file);
            let parsed = fs::read_to_string(&path)
                .ok()
                .and_then(|text| parse_manifests(&path, &text).ok());
            match parsed {
                Some(objects) => {
                    let objects = objects.into_iter().map(Shared::from).collect();
                    self.fresh.insert(file.clone(), objects);
                }
                None => return Winner::Unreadable,
            }
        }
        // Moved out: each key is asked for once per scan.
        let Some(objects) = self.fresh.get_mut(&file) else {
            return Winner::Unreadable;
        };
        match objects.iter().rposition(|o| o.is(key.0, &key.1)) {
            Some(i) => Winner::Object(objects.swap_remove(i)),
            None => Winner::Unreadable,
        }
    }

    /// The problem of an object defined more than once, if it is.
    fn duplicate_problem(&self, key: &(Kind, ObjectKey)) -> Option<Problem> {
        let files = self.owners.get(key)?;
        let (kind, object) = key;
        let count = |f: &String| {
            self.files
                .get(f)
                .map_or(0, |s| s.keys.iter().filter(|k| *k == key).count())
        };
        let winner = self.dir.join(files.last()?).display().to_string();
        let message = if files.len() == 1 {
            if files.iter().map(count).sum::<usize>() < 2 {
                return None;
            }
            format!("{kind} {object} is defined more than once in {winner}; the last one wins")
        } else {
            let all: Vec<String> = files
                .iter()
                .map(|f| self.dir.join(f).display().to_string())
                .collect();
            format!(
                "{kind} {object} is defined in {}; {winner} wins (the last file name)",
                all.join(" and ")
            )
        };
        Some(Problem::new(
            ProblemKind::of(*kind),
            object.to_string(),
            message,
        ))
    }

    /// Publishes the problems; logs those that appeared and those that went away.
    fn publish(&self, problems: &[Problem]) {
        self.problems.send_if_modified(|current| {
            if current.as_slice() == problems {
                return false;
            }
            let old: BTreeSet<&Problem> = current.iter().collect();
            let new: BTreeSet<&Problem> = problems.iter().collect();
            for p in new.difference(&old) {
                warn!(
                    kind = p.kind.label(),
                    object = %p.object,
                    message = %p.message,
                    "manifests problem"
                );
            }
            for p in old.difference(&new) {
                info!(kind = p.kind.label(), object = %p.object, "manifests problem resolved");
            }
            *current = problems.to_vec();
            true
        });
    }
}

/// The objects of a manifest file's bytes at `path`, or why there are none (not UTF-8, or
/// not manifests).
fn parse_bytes(path: &Path, bytes: &[u8]) -> Result<Vec<Object>, Problem> {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse_manifests(path, text),
        Err(err) => {
            let line = 1 + bytes[..err.valid_up_to()]
                .iter()
                .filter(|b| **b == b'\n')
                .count();
            Err(Problem::new(
                ProblemKind::ManifestFile,
                format!("{}:{line}", path.display()),
                format!("not UTF-8 text: {err}"),
            ))
        }
    }
}

/// The names of the manifest files in `dir`.
fn list(dir: &Path) -> io::Result<BTreeSet<String>> {
    let mut names = BTreeSet::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            debug!(name = ?entry.file_name(), "skipping a file name that is not UTF-8");
            continue;
        };
        if !is_manifest_name(&name) {
            continue;
        }
        // `fs::metadata` follows symlinks: ConfigMap volumes link every key through `..data`.
        match fs::metadata(entry.path()) {
            Ok(meta) if meta.is_file() => {
                names.insert(name);
            }
            Ok(_) => debug!(name, "skipping a manifest name that is not a regular file"),
            Err(err) => debug!(name, %err, "skipping a manifest file that cannot be followed"),
        }
    }
    Ok(names)
}

/// A file's metadata as [`FileMeta`].
fn file_meta(m: &fs::Metadata) -> FileMeta {
    use std::os::unix::fs::MetadataExt;
    (
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec(),
        m.size(),
        m.ino(),
    )
}

/// `*.yaml` or `*.yml`, not hidden.
pub(super) fn is_manifest_name(name: &str) -> bool {
    !name.starts_with('.') && (name.ends_with(".yaml") || name.ends_with(".yml"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoredService;

    fn service(name: &str, port: i32) -> String {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  ports:\n  - port: {port}\n"
        )
    }

    fn port(store: &Store, name: &str) -> Option<i32> {
        let snap = store.snapshot();
        let svc: &StoredService = snap.services.get(&ObjectKey::new("default", name))?;
        Some(svc.spec.as_ref()?.ports.as_ref()?[0].port)
    }

    fn names(store: &Store) -> Vec<String> {
        let snap = store.snapshot();
        snap.services.keys().map(|k| k.name.to_string()).collect()
    }

    fn setup() -> (tempfile::TempDir, Store, ManifestsSource) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new();
        let source = ManifestsSource::new(dir.path().to_path_buf(), store.clone());
        (dir, store, source)
    }

    #[test]
    fn first_scan_syncs_even_when_empty() {
        let (_dir, store, mut source) = setup();
        let out = source.scan();
        assert!(out.store_updated);
        assert!(store.snapshot().synced);
        assert!(store.snapshot().is_empty());
        let generation = store.snapshot().generation;
        assert!(!source.scan().store_updated);
        assert_eq!(store.snapshot().generation, generation);
    }

    #[test]
    fn a_bad_file_keeps_its_objects_while_others_update() {
        let (dir, store, mut source) = setup();
        let problems = source.problems();
        fs::write(dir.path().join("a.yaml"), service("a", 1)).unwrap();
        fs::write(dir.path().join("b.yaml"), service("b", 1)).unwrap();
        source.scan();
        assert_eq!(names(&store), ["a", "b"]);

        fs::write(dir.path().join("a.yaml"), "apiVersion: v1\nkind: [\n").unwrap();
        fs::write(dir.path().join("b.yaml"), service("b", 2)).unwrap();
        let out = source.scan();
        assert_eq!(out.parsed, 2);
        assert_eq!(port(&store, "a"), Some(1));
        assert_eq!(port(&store, "b"), Some(2));
        assert_eq!(out.problems.len(), 1, "{:?}", out.problems);
        let a = dir.path().join("a.yaml").display().to_string();
        assert!(out.problems[0].object.starts_with(&format!("{a}:")));
        assert!(out.problems[0].message.contains("previous objects stay"));
        assert_eq!(*problems.borrow(), out.problems);

        fs::write(dir.path().join("a.yaml"), service("a", 3)).unwrap();
        let out = source.scan();
        assert!(out.problems.is_empty());
        assert!(problems.borrow().is_empty());
        assert_eq!(port(&store, "a"), Some(3));
    }

    #[test]
    fn deleted_and_renamed_files_lose_their_objects() {
        let (dir, store, mut source) = setup();
        fs::write(dir.path().join("a.yaml"), service("a", 1)).unwrap();
        fs::write(dir.path().join("b.yml"), service("b", 1)).unwrap();
        source.scan();
        assert_eq!(names(&store), ["a", "b"]);
        fs::remove_file(dir.path().join("a.yaml")).unwrap();
        fs::rename(dir.path().join("b.yml"), dir.path().join("b.txt")).unwrap();
        let out = source.scan();
        assert!(out.store_updated);
        assert_eq!(out.files, 0);
        assert!(names(&store).is_empty());
    }

    #[test]
    fn a_duplicate_comes_from_the_last_file_and_is_a_problem() {
        let (dir, store, mut source) = setup();
        fs::write(dir.path().join("a.yaml"), service("web", 1)).unwrap();
        fs::write(dir.path().join("b.yaml"), service("web", 2)).unwrap();
        let out = source.scan();
        assert_eq!(port(&store, "web"), Some(2));
        assert_eq!(out.problems.len(), 1);
        let p = &out.problems[0];
        assert_eq!(
            (p.kind, p.object.as_str()),
            (ProblemKind::Service, "default/web")
        );
        assert!(p.message.contains("a.yaml and "), "{p}");
        assert!(p.message.contains("b.yaml wins"), "{p}");
    }

    #[test]
    fn hidden_and_other_files_are_ignored_symlinks_followed() {
        let (dir, store, mut source) = setup();
        let d = dir.path();
        // A ConfigMap volume: `key -> ..data/key`, `..data -> ..2024_01_01`.
        fs::create_dir(d.join("..2024_01_01")).unwrap();
        fs::write(d.join("..2024_01_01/mounted.yaml"), service("mounted", 1)).unwrap();
        fs::write(d.join("..2024_01_01/hidden.yaml"), service("inner", 1)).unwrap();
        std::os::unix::fs::symlink("..2024_01_01", d.join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/mounted.yaml", d.join("mounted.yaml")).unwrap();
        std::os::unix::fs::symlink("missing.yaml", d.join("dangling.yaml")).unwrap();
        fs::create_dir(d.join("dir.yaml")).unwrap();
        fs::write(d.join(".hidden.yaml"), service("hidden", 1)).unwrap();
        fs::write(d.join("notes.txt"), service("notes", 1)).unwrap();
        fs::write(d.join("plain.yml"), service("plain", 1)).unwrap();
        let out = source.scan();
        assert_eq!(names(&store), ["mounted", "plain"]);
        assert_eq!(out.files, 2);
        assert!(out.problems.is_empty(), "{:?}", out.problems);
    }

    #[test]
    fn unchanged_files_are_not_parsed_again() {
        let (dir, store, mut source) = setup();
        fs::write(dir.path().join("a.yaml"), service("a", 1)).unwrap();
        fs::write(dir.path().join("b.yaml"), "kind: [\n").unwrap();
        let cases = [
            // (write before the scan, files parsed, store written)
            (None, 2, true),
            (None, 0, false),
            (Some(("a.yaml", service("a", 1))), 0, false),
            (Some(("a.yaml", service("a", 2))), 1, true),
            (Some(("b.yaml", "# now empty\n".to_string())), 1, false),
        ];
        for (i, (write, parsed, updated)) in cases.into_iter().enumerate() {
            if let Some((name, text)) = write {
                fs::write(dir.path().join(name), text).unwrap();
            }
            let generation = store.snapshot().generation;
            let out = source.scan();
            assert_eq!(
                (out.parsed, out.store_updated),
                (parsed, updated),
                "case {i}"
            );
            assert_eq!(
                store.snapshot().generation > generation,
                updated,
                "case {i}"
            );
        }
        assert!(source.scan().problems.is_empty());
    }

    #[test]
    fn a_missing_directory_is_a_problem_and_keeps_objects() {
        let (dir, store, mut source) = setup();
        fs::write(dir.path().join("a.yaml"), service("a", 1)).unwrap();
        source.scan();
        let path = dir.path().to_path_buf();
        drop(dir);
        let out = source.scan();
        assert_eq!(out.problems.len(), 1);
        assert_eq!(out.problems[0].object, path.display().to_string());
        assert_eq!(names(&store), ["a"]);
    }

    #[test]
    fn named_files_are_read_alone_and_written_as_one_change() {
        let (dir, store, mut source) = setup();
        fs::write(dir.path().join("a.yaml"), service("a", 1)).unwrap();
        fs::write(dir.path().join("b.yaml"), service("b", 1)).unwrap();
        source.scan();
        let generation = store.snapshot().generation;
        // Both change on disk; the event named only a.yaml.
        fs::write(dir.path().join("a.yaml"), service("a", 2)).unwrap();
        fs::write(dir.path().join("b.yaml"), service("b", 2)).unwrap();
        let out = source.scan_files(["a.yaml", ".hidden.yaml", "notes.txt"]);
        assert_eq!((out.parsed, out.store_updated), (1, true));
        assert_eq!(
            store.snapshot().generation,
            generation + 1,
            "one generation"
        );
        assert_eq!((port(&store, "a"), port(&store, "b")), (Some(2), Some(1)));
        let changes = store.snapshot().changes_since(generation);
        assert_eq!(
            changes,
            crate::store::Changes::Some([(Kind::Service, ObjectKey::new("default", "a"))].into())
        );
        // The next full scan finds b by its metadata.
        let out = source.scan();
        assert_eq!((out.parsed, port(&store, "b")), (1, Some(2)));
        // A named file that is gone loses its objects; a duplicate's other file takes over.
        fs::write(dir.path().join("c.yaml"), service("a", 3)).unwrap();
        source.scan_files(["c.yaml"]);
        assert_eq!(port(&store, "a"), Some(3));
        assert_eq!(
            source.scan_files([]).problems.len(),
            1,
            "a is defined twice"
        );
        fs::remove_file(dir.path().join("c.yaml")).unwrap();
        let out = source.scan_files(["c.yaml"]);
        assert_eq!(port(&store, "a"), Some(2));
        assert!(out.problems.is_empty(), "{:?}", out.problems);
    }
}
