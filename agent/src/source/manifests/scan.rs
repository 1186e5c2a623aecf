//! One synchronous pass over the manifests directory: read, re-parse what changed, merge,
//! write the store, publish problems.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::{fs, io};

use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::parse::parse_manifests;
use crate::problem::{Problem, ProblemKind};
use crate::store::{Kind, Object, ObjectKey, Store};

/// The manifests source: the directory, what each of its files last said, and the store it
/// fills. Drive it with [`ManifestsSource::scan`] or [`ManifestsSource::run`].
#[derive(Debug)]
pub struct ManifestsSource {
    pub(super) dir: PathBuf,
    store: Store,
    /// By file name; a `BTreeMap`, so iteration is in name order.
    files: BTreeMap<String, FileState>,
    /// The union last written to the store; `None` before the first write.
    published: Option<Union>,
    problems: watch::Sender<Vec<Problem>>,
}

/// Objects by kind and key.
type Union = BTreeMap<(Kind, ObjectKey), Object>;

/// What one file last said.
#[derive(Debug, Default)]
struct FileState {
    /// The content last parsed, `None` when the file could never be read.
    bytes: Option<Vec<u8>>,
    /// The objects of the last content that parsed.
    objects: Vec<Object>,
    /// Why the current content is not in force.
    problem: Option<Problem>,
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
            published: None,
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
    /// directly in it, hidden names excepted. Re-parses files whose content changed; a file
    /// that fails keeps its previous objects; deleted files lose theirs. Writes the store
    /// when the union of objects changed, and always on the first scan (which marks it
    /// synced). An object defined by several files comes from the one whose name sorts
    /// last, and is a problem. A directory that cannot be read is a problem and leaves
    /// the objects as they were. New problems are logged once, when they appear.
    pub fn scan(&mut self) -> ScanOutcome {
        let mut problems = Vec::new();
        let mut parsed = 0;
        match list(&self.dir) {
            Ok(names) => {
                self.files.retain(|name, _| names.contains(name));
                for name in names {
                    if self.refresh(&name) {
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
        problems.extend(self.files.values().filter_map(|f| f.problem.clone()));

        let (objects, duplicates) = self.union();
        problems.extend(duplicates);
        problems.sort();
        problems.dedup();

        let store_updated = self.published.as_ref() != Some(&objects);
        let count = objects.len();
        if store_updated {
            info!(dir = %self.dir.display(), objects = count, "manifests loaded");
            self.store.replace_all(objects.values().cloned());
            self.published = Some(objects);
        }
        self.publish(&problems);
        ScanOutcome {
            files: self.files.len(),
            parsed,
            store_updated,
            objects: count,
            problems,
        }
    }

    /// Reads one file and re-parses it if its content changed; true when parsed.
    fn refresh(&mut self, name: &str) -> bool {
        let path = self.dir.join(name);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                // Deleted since the listing: the next event rescans anyway.
                self.files.remove(name);
                return false;
            }
            Err(err) => {
                // Forget the content, so that the file is parsed again once readable.
                let state = self.files.entry(name.to_string()).or_default();
                state.bytes = None;
                state.problem = Some(Problem::new(
                    ProblemKind::ManifestFile,
                    path.display().to_string(),
                    format!("cannot read: {err}"),
                ));
                return false;
            }
        };
        let state = self.files.entry(name.to_string()).or_default();
        if state.bytes.as_ref() == Some(&bytes) {
            return false;
        }
        debug!(file = %path.display(), "parsing manifest file");
        let result = match std::str::from_utf8(&bytes) {
            Ok(text) => parse_manifests(&path, text),
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
        };
        match result {
            Ok(objects) => {
                state.objects = objects;
                state.problem = None;
            }
            Err(mut problem) => {
                if !state.objects.is_empty() {
                    problem
                        .message
                        .push_str(" (its previous objects stay in force)");
                }
                state.problem = Some(problem);
            }
        }
        state.bytes = Some(bytes);
        true
    }

    /// Every file's objects, later file names winning, and a problem per object defined
    /// more than once.
    fn union(&self) -> (Union, Vec<Problem>) {
        let mut objects = BTreeMap::new();
        let mut sources: BTreeMap<(Kind, ObjectKey), Vec<&str>> = BTreeMap::new();
        for (name, state) in &self.files {
            for object in &state.objects {
                let key = (object.kind(), object.key());
                sources.entry(key.clone()).or_default().push(name);
                objects.insert(key, object.clone());
            }
        }
        let duplicates = sources
            .into_iter()
            .filter(|(_, files)| files.len() > 1)
            .map(|((kind, key), mut files)| {
                let winner = self.dir.join(files[files.len() - 1]).display().to_string();
                files.dedup();
                let message = if files.len() == 1 {
                    format!("{kind} {key} is defined more than once in {winner}; the last one wins")
                } else {
                    let all: Vec<String> = files
                        .iter()
                        .map(|f| self.dir.join(f).display().to_string())
                        .collect();
                    format!(
                        "{kind} {key} is defined in {}; {winner} wins (the last file name)",
                        all.join(" and ")
                    )
                };
                Problem::new(problem_kind(kind), key.to_string(), message)
            })
            .collect();
        (objects, duplicates)
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

/// `*.yaml` or `*.yml`, not hidden.
fn is_manifest_name(name: &str) -> bool {
    !name.starts_with('.') && (name.ends_with(".yaml") || name.ends_with(".yml"))
}

fn problem_kind(kind: Kind) -> ProblemKind {
    match kind {
        Kind::Ingress => ProblemKind::Ingress,
        Kind::IngressClass => ProblemKind::IngressClass,
        Kind::Service => ProblemKind::Service,
        Kind::EndpointSlice => ProblemKind::EndpointSlice,
        Kind::Secret => ProblemKind::Secret,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Service;

    fn service(name: &str, port: i32) -> String {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  ports:\n  - port: {port}\n"
        )
    }

    fn port(store: &Store, name: &str) -> Option<i32> {
        let snap = store.snapshot();
        let svc: &Service = snap.services.get(&ObjectKey::new("default", name))?;
        Some(svc.spec.as_ref()?.ports.as_ref()?[0].port)
    }

    fn names(store: &Store) -> Vec<String> {
        let snap = store.snapshot();
        snap.services.keys().map(|k| k.name.clone()).collect()
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
}
