//! The config directory on disk: atomic writes of map files and a candidate haproxy.cfg,
//! `haproxy -c` before the candidate replaces the live file, and a last-good copy to fall
//! back to.
//!
//! Layout of `<dir>`: `haproxy.cfg` (live), `haproxy.cfg.new` (the last candidate; left
//! there when invalid, for inspection), `haproxy.cfg.last-good` (the last config HAProxy was
//! seen running), `maps/` (route maps). One writer owns a directory; its methods are not
//! meant to run concurrently.

use std::collections::BTreeMap;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use thiserror::Error;
use tokio::io::AsyncWriteExt;

use crate::names::FilePath;

use super::render::Rendered;
use super::route_maps::RouteMaps;
use super::validate::{CHECK_TIMEOUT, ValidationError, check_config_within};
use super::value::InvalidValue;

/// Why writing the config directory failed.
#[derive(Debug, Error)]
pub enum WriteError {
    /// A file operation failed.
    #[error("cannot {op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// A map file path lies outside the config directory; nothing was written.
    #[error("map file {path} is not inside the config directory {dir}")]
    OutsideDir {
        /// The map file.
        path: FilePath,
        /// The directory.
        dir: PathBuf,
    },
    /// `haproxy -c` refused the candidate: haproxy.cfg and the map files are as before.
    #[error("candidate {candidate} was refused, haproxy.cfg is unchanged: {source}")]
    Invalid {
        /// Where the refused candidate was left.
        candidate: PathBuf,
        /// HAProxy's verdict.
        #[source]
        source: ValidationError,
    },
}

impl WriteError {
    /// True when HAProxy refused the candidate (as opposed to an IO failure).
    pub fn is_invalid(&self) -> bool {
        matches!(self, WriteError::Invalid { .. })
    }
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> WriteError + use<> {
    let path = path.to_path_buf();
    move |source| WriteError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Writes a config directory; see the module docs for its layout.
#[derive(Debug, Clone)]
pub struct ConfigWriter {
    dir: PathBuf,
    haproxy_bin: PathBuf,
    check_timeout: Duration,
}

/// Who checks a config before HAProxy runs it.
#[derive(Debug, Clone, Copy)]
enum Check {
    /// `haproxy -c`, before it is put in place.
    First,
    /// The HAProxy that starts on it.
    ByStarting,
}

impl ConfigWriter {
    /// A writer for `dir` (absolute, as the config names its map files by absolute path)
    /// that validates with `haproxy_bin`.
    pub fn new(dir: impl Into<PathBuf>, haproxy_bin: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            haproxy_bin: haproxy_bin.into(),
            check_timeout: CHECK_TIMEOUT,
        }
    }

    /// Sets how long `haproxy -c` may take.
    pub fn with_check_timeout(mut self, timeout: Duration) -> Self {
        self.check_timeout = timeout;
        self
    }

    /// The config directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `<dir>/haproxy.cfg`, the file HAProxy loads.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("haproxy.cfg")
    }

    /// `<dir>/haproxy.cfg.new`, the candidate under validation.
    pub fn candidate_path(&self) -> PathBuf {
        self.dir.join("haproxy.cfg.new")
    }

    /// `<dir>/haproxy.cfg.last-good`, the last config HAProxy was seen running.
    pub fn last_good_path(&self) -> PathBuf {
        self.dir.join("haproxy.cfg.last-good")
    }

    /// The route map files this directory holds: `<dir>/maps/exact.map` and
    /// `<dir>/maps/prefix.map`.
    pub fn route_maps(&self) -> Result<RouteMaps, InvalidValue> {
        RouteMaps::in_dir(&self.dir)
    }

    /// Installs a rendered config: writes the map files (they must exist before
    /// `haproxy -c`), writes the candidate, validates it, and only then renames it over
    /// haproxy.cfg. When HAProxy refuses it, the map files get their previous contents back,
    /// haproxy.cfg is untouched and the candidate stays at [`Self::candidate_path`].
    pub async fn install(&self, rendered: &Rendered) -> Result<(), WriteError> {
        self.install_as(rendered, Check::First).await
    }

    /// Installs a rendered config for a HAProxy about to start on it, without running
    /// `haproxy -c` first: starting, HAProxy parses the same file the same way, and a config
    /// it refuses starts no worker, where no HAProxy ran to keep serving. At 10,000
    /// Services the check took ~0.25 s of a ~2 s cold start. Not for a reload: there the
    /// running config is what [`Self::install`]'s check protects.
    pub async fn install_for_start(&self, rendered: &Rendered) -> Result<(), WriteError> {
        self.install_as(rendered, Check::ByStarting).await
    }

    async fn install_as(&self, rendered: &Rendered, check: Check) -> Result<(), WriteError> {
        let targets = self.map_targets(&rendered.maps)?;
        let secrets = self.map_targets(&rendered.tls)?;
        mkdir(&self.dir).await?;
        let mut previous = Vec::new();
        for (path, text, mode) in with_modes(&targets, &secrets) {
            let old = read_optional(path).await?;
            write_atomic_mode(path, text.as_bytes(), mode).await?;
            previous.push((path, old, mode));
        }
        let candidate = self.candidate_path();
        write_config(&candidate, rendered.haproxy_cfg.as_bytes()).await?;
        let checked = match check {
            Check::First => {
                check_config_within(&self.haproxy_bin, &candidate, self.check_timeout).await
            }
            Check::ByStarting => Ok(()),
        };
        if let Err(source) = checked {
            for (path, old, mode) in previous {
                let Some(old) = old else { continue };
                if let Err(e) = write_atomic_mode(path, &old, mode).await {
                    tracing::warn!(error = %e, "cannot restore a map or certificate file after a refused config");
                }
            }
            return Err(WriteError::Invalid { candidate, source });
        }
        let live = self.config_path();
        tokio::fs::rename(&candidate, &live)
            .await
            .map_err(io_err("rename into place", &live))?;
        sync_dir(&self.dir).await?;
        self.prune_certs(&rendered.tls).await
    }

    /// Removes certificate files under `<dir>/certs/` that the config no longer names (a
    /// deleted Secret's key does not stay on disk).
    async fn prune_certs(&self, keep: &BTreeMap<FilePath, String>) -> Result<(), WriteError> {
        let certs = self.dir.join(super::tls::CERTS_DIR);
        let mut entries = match tokio::fs::read_dir(&certs).await {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_err("list", &certs)(e)),
        };
        while let Some(entry) = entries.next_entry().await.map_err(io_err("list", &certs))? {
            let path = entry.path();
            let named = path
                .to_str()
                .is_some_and(|p| keep.keys().any(|k| k.as_str() == p));
            let is_pem = path.extension().is_some_and(|e| e == "pem");
            if is_pem && !named {
                tokio::fs::remove_file(&path)
                    .await
                    .map_err(io_err("remove", &path))?;
            }
        }
        Ok(())
    }

    /// Rewrites map files after runtime map updates, so a restart starts current. No
    /// validation: map files hold data only.
    pub async fn write_maps(&self, maps: &BTreeMap<FilePath, String>) -> Result<(), WriteError> {
        for (path, text) in self.map_targets(maps)? {
            write_atomic(&path, text.as_bytes()).await?;
        }
        Ok(())
    }

    /// Brings haproxy.cfg and the maps on disk up to date after runtime changes (servers,
    /// weights, map entries), so a cold start of HAProxy is already right. No `haproxy -c`:
    /// call it only when the rendered structure equals the installed one, so the file differs
    /// from a validated one in server lines and map data only, all built from validated
    /// types.
    pub async fn write_runtime_state(&self, rendered: &Rendered) -> Result<(), WriteError> {
        self.write_maps(&rendered.maps).await?;
        for (path, text) in self.map_targets(&rendered.tls)? {
            write_atomic_mode(&path, text.as_bytes(), SECRET_MODE).await?;
        }
        write_config(&self.config_path(), rendered.haproxy_cfg.as_bytes()).await?;
        self.prune_certs(&rendered.tls).await
    }

    /// [`Self::write_runtime_state`] for the files whose contents differ from what
    /// `written` says was last written (haproxy.cfg, maps, certificates); `written` is
    /// updated. Returns how many files were written. Pass an empty [`FileDigests`] to write
    /// everything.
    pub async fn write_changed(
        &self,
        rendered: &Rendered,
        written: &mut FileDigests,
    ) -> Result<usize, WriteError> {
        let maps = self.map_targets(&rendered.maps)?;
        let tls = self.map_targets(&rendered.tls)?;
        let config = self.config_path();
        let cfg = [(config, &rendered.haproxy_cfg)];
        let mut count = 0;
        let files = with_modes(&maps, &tls).chain(cfg.iter().map(|(p, t)| (p, *t, CONFIG_MODE)));
        let mut tls_written = false;
        for (path, text, mode) in files {
            let digest = FileDigests::digest(text);
            if written.0.get(path) == Some(&digest) {
                continue;
            }
            write_atomic_mode(path, text.as_bytes(), mode).await?;
            written.0.insert(path.clone(), digest);
            tls_written |= mode == SECRET_MODE && *path != cfg[0].0;
            count += 1;
        }
        let tls_paths: Vec<&PathBuf> = tls.iter().map(|(p, _)| p).collect();
        let before = written.0.len();
        written.0.retain(|p, _| {
            !p.starts_with(self.dir.join(super::tls::CERTS_DIR)) || tls_paths.contains(&p)
        });
        if tls_written || written.0.len() != before {
            self.prune_certs(&rendered.tls).await?;
        }
        Ok(count)
    }

    /// Records what [`Self::install`] wrote, so that [`Self::write_changed`] skips it.
    pub fn record_installed(&self, rendered: &Rendered, written: &mut FileDigests) {
        written.0.clear();
        let files = rendered.maps.iter().chain(&rendered.tls);
        for (file, text) in files {
            written
                .0
                .insert(PathBuf::from(file.as_str()), FileDigests::digest(text));
        }
        written.0.insert(
            self.config_path(),
            FileDigests::digest(&rendered.haproxy_cfg),
        );
    }

    /// Records the live haproxy.cfg as last-good; call it once a reload (or start) with it
    /// is verified.
    pub async fn mark_good(&self) -> Result<(), WriteError> {
        let live = self.config_path();
        let text = tokio::fs::read(&live)
            .await
            .map_err(io_err("read", &live))?;
        write_config(&self.last_good_path(), &text).await
    }

    /// Puts the last-good config back as haproxy.cfg (after a reload with a valid but
    /// unloadable config, e.g. a port in use). Map files are left as they are: they are
    /// current, and a route to a backend the old config lacks falls to the default backend.
    /// Returns false, changing nothing, when there is no last-good config.
    pub async fn restore_last_good(&self) -> Result<bool, WriteError> {
        let Some(text) = read_optional(&self.last_good_path()).await? else {
            return Ok(false);
        };
        write_config(&self.config_path(), &text).await?;
        Ok(true)
    }

    /// The live haproxy.cfg, if there is one.
    pub async fn current(&self) -> Result<Option<String>, WriteError> {
        let path = self.config_path();
        match read_optional(&path).await? {
            Some(bytes) => String::from_utf8(bytes)
                .map(Some)
                .map_err(|e| WriteError::Io {
                    op: "read",
                    path,
                    source: io::Error::new(io::ErrorKind::InvalidData, e),
                }),
            None => Ok(None),
        }
    }

    /// Checks every map path against the directory before anything is written.
    fn map_targets<'a>(
        &self,
        maps: &'a BTreeMap<FilePath, String>,
    ) -> Result<Vec<(PathBuf, &'a String)>, WriteError> {
        maps.iter()
            .map(|(file, text)| {
                let path = Path::new(file.as_str());
                let inside = path.is_absolute()
                    && path.starts_with(&self.dir)
                    && path
                        .components()
                        .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
                if inside {
                    Ok((path.to_path_buf(), text))
                } else {
                    Err(WriteError::OutsideDir {
                        path: file.clone(),
                        dir: self.dir.clone(),
                    })
                }
            })
            .collect()
    }
}

/// What was last written to each file of the directory, as digests of the contents.
#[derive(Debug, Clone, Default)]
pub struct FileDigests(std::collections::HashMap<PathBuf, (u64, u64)>);

/// A 128-bit digest of some content (two independent 64-bit hashes), to tell whether a
/// file changed without keeping its text.
pub fn content_digest(bytes: &[u8]) -> (u64, u64) {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let (mut a, mut b) = (DefaultHasher::new(), DefaultHasher::new());
    0u8.hash(&mut a);
    1u8.hash(&mut b);
    bytes.hash(&mut a);
    bytes.hash(&mut b);
    (a.finish(), b.finish())
}

impl FileDigests {
    fn digest(text: &str) -> (u64, u64) {
        content_digest(text.as_bytes())
    }

    /// Forgets everything: the next write writes every file.
    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// Forgets one file: the next write writes it.
    pub fn forget(&mut self, path: &Path) {
        self.0.remove(path);
    }

    /// The files written (in no particular order).
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.0.keys().map(PathBuf::as_path)
    }

    /// True when `bytes` are what was last written to `path`.
    pub fn matches(&self, path: &Path, bytes: &[u8]) -> bool {
        self.0.get(path) == Some(&content_digest(bytes))
    }
}

async fn mkdir(dir: &Path) -> Result<(), WriteError> {
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(io_err("create directory", dir))
}

async fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, WriteError> {
    match tokio::fs::read(path).await {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("read", path)(e)),
    }
}

async fn sync_dir(dir: &Path) -> Result<(), WriteError> {
    let d = tokio::fs::File::open(dir)
        .await
        .map_err(io_err("open directory", dir))?;
    d.sync_all().await.map_err(io_err("sync directory", dir))
}

/// The mode of map and ACL files: owner only too (they name every host, path and backend,
/// and the source-address lists; nobody but HAProxy, running as the agent's user, reads them).
const PUBLIC_MODE: u32 = 0o600;
/// The mode of haproxy.cfg (and its candidate and last-good copies): it holds the password
/// hashes of basic-auth user lists. HAProxy reads the certificate files at 0600 already, so
/// it runs as the agent's user.
const CONFIG_MODE: u32 = 0o600;
/// The mode of certificate files (they hold private keys) and crt-lists.
const SECRET_MODE: u32 = 0o600;

/// Map files then TLS files, each with its mode.
fn with_modes<'a>(
    maps: &'a [(PathBuf, &'a String)],
    tls: &'a [(PathBuf, &'a String)],
) -> impl Iterator<Item = (&'a PathBuf, &'a String, u32)> {
    let maps = maps.iter().map(|(p, t)| (p, *t, PUBLIC_MODE));
    maps.chain(tls.iter().map(|(p, t)| (p, *t, SECRET_MODE)))
}

/// [`write_atomic_mode`] with [`CONFIG_MODE`].
async fn write_config(path: &Path, contents: &[u8]) -> Result<(), WriteError> {
    write_atomic_mode(path, contents, CONFIG_MODE).await
}

/// [`write_atomic_mode`] with [`PUBLIC_MODE`].
async fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), WriteError> {
    write_atomic_mode(path, contents, PUBLIC_MODE).await
}

/// Writes `path` so that readers see the old or the new contents, never a mix: a temporary
/// file in the same directory (created with `mode`, so a key is never readable by others,
/// not even briefly), fsync, rename, fsync of the directory.
async fn write_atomic_mode(path: &Path, contents: &[u8], mode: u32) -> Result<(), WriteError> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    mkdir(dir).await?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{}",
        name.unwrap_or_default(),
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let result = async {
        let mut f = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .await
            .map_err(io_err("create", &tmp))?;
        f.write_all(contents).await.map_err(io_err("write", &tmp))?;
        // tokio writes in the background and reports a failed write (a full disk) on the
        // next flush; `sync_all` alone drops that error and the truncated file would be
        // renamed into place.
        f.flush().await.map_err(io_err("write", &tmp))?;
        f.sync_all().await.map_err(io_err("sync", &tmp))?;
        drop(f);
        tokio::fs::rename(&tmp, path)
            .await
            .map_err(io_err("rename into place", path))
    }
    .await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(&tmp).await;
    }
    result?;
    sync_dir(dir).await
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;
    use crate::config::model::{Config, ConfigPath, DefaultBackend, Frontend, Global};
    use crate::config::render::render;
    use crate::config::routes::{PathKind, Route, RouteHost, RoutePath};
    use crate::config::{Backend, Server, ServerAddr, ServerMode};
    use crate::names::{BackendName, FrontendName, ServerName};
    use crate::proto::Weight;

    fn writer(dir: &Path) -> ConfigWriter {
        let bin = std::env::var_os("HAPROXY_BIN")
            .map_or_else(|| PathBuf::from("/usr/sbin/haproxy"), PathBuf::from);
        assert!(
            bin.exists(),
            "{} is missing: install the haproxy package (scripts/test does)",
            bin.display()
        );
        ConfigWriter::new(dir, bin)
    }

    fn config(w: &ConfigWriter, path: &str) -> Config {
        let sock = ConfigPath::from_path(&w.dir().join("admin.sock")).unwrap();
        let mut cfg = Config::new(Global::new(sock));
        let name = BackendName::new("ns_web_80").unwrap();
        let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
        cfg.insert_backend(Backend::new(name.clone()).with_server(Server {
            name: ServerName::new("s1").unwrap(),
            addr: ServerAddr::new(addr).unwrap(),
            weight: Weight::new(1).unwrap(),
            state: ServerMode::Ready,
            backup: false,
        }));
        cfg.frontends.push(Frontend {
            canary_names: Default::default(),
            name: FrontendName::new("http").unwrap(),
            binds: vec!["127.0.0.1:1".parse().unwrap()],
            maps: w.route_maps().unwrap(),
            default_backend: DefaultBackend::Builtin404,
            tls: None,
            trusted_proxies: Vec::new(),
        });
        cfg.routes.push(Route {
            canary: None,
            host: RouteHost::Any,
            path: RoutePath::new(path).unwrap(),
            kind: PathKind::Prefix,
            backend: name,
            https_redirect: false,
            policy: Default::default(),
        });
        cfg
    }

    fn read(p: &Path) -> String {
        std::fs::read_to_string(p).unwrap()
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        let mut names = Vec::new();
        for sub in [dir.to_path_buf(), dir.join("maps")] {
            for e in std::fs::read_dir(sub).unwrap() {
                let n = e.unwrap().file_name().to_string_lossy().into_owned();
                if n.starts_with('.') {
                    names.push(n);
                }
            }
        }
        names
    }

    /// For a HAProxy about to start, the config is put in place without `haproxy -c`: even
    /// with no HAProxy to run it, it is installed, where `install` refuses it.
    #[tokio::test]
    async fn install_for_start_leaves_the_check_to_haproxy() {
        let tmp = tempfile::tempdir().unwrap();
        let no_haproxy = ConfigWriter::new(tmp.path(), tmp.path().join("no-haproxy"));
        let first = render(&config(&no_haproxy, "/one"));
        assert!(no_haproxy.install(&first).await.is_err());
        no_haproxy.install_for_start(&first).await.unwrap();
        assert_eq!(
            no_haproxy.current().await.unwrap().as_deref(),
            Some(&*first.haproxy_cfg)
        );
        assert!(!no_haproxy.candidate_path().exists());
        let maps = no_haproxy.route_maps().unwrap();
        assert_eq!(read(Path::new(maps.exact.as_str())), "/one ns_web_80\n");
    }

    #[tokio::test]
    async fn install_validate_mark_and_restore() {
        let tmp = tempfile::tempdir().unwrap();
        let w = writer(tmp.path());
        assert_eq!(w.current().await.unwrap(), None);
        assert!(!w.restore_last_good().await.unwrap());

        let first = render(&config(&w, "/one"));
        w.install(&first).await.unwrap();
        assert_eq!(
            w.current().await.unwrap().as_deref(),
            Some(&*first.haproxy_cfg)
        );
        assert!(!w.candidate_path().exists());
        let maps = w.route_maps().unwrap();
        assert_eq!(read(Path::new(maps.exact.as_str())), "/one ns_web_80\n");
        assert_eq!(read(Path::new(maps.prefix.as_str())), "/one/ ns_web_80\n");
        w.mark_good().await.unwrap();
        assert_eq!(read(&w.last_good_path()), first.haproxy_cfg);
        // haproxy.cfg holds user list hashes: owner only; the maps are data for anyone.
        let mode = |p: &Path| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(p).unwrap().permissions().mode() & 0o777
        };
        assert_eq!(mode(&w.config_path()), 0o600);
        assert_eq!(mode(&w.last_good_path()), 0o600);
        assert_eq!(mode(Path::new(maps.exact.as_str())), 0o600);

        // A refused candidate changes neither haproxy.cfg nor the maps.
        let mut bad = render(&config(&w, "/two"));
        bad.haproxy_cfg.push_str("    no-such-keyword\n");
        let err = w.install(&bad).await.unwrap_err();
        assert!(err.is_invalid(), "{err}");
        let WriteError::Invalid { source, .. } = &err else {
            unreachable!()
        };
        assert!(
            source
                .alerts()
                .iter()
                .any(|a| a.contains("no-such-keyword")),
            "{source}"
        );
        assert_eq!(read(&w.config_path()), first.haproxy_cfg);
        assert_eq!(read(Path::new(maps.exact.as_str())), "/one ns_web_80\n");
        assert_eq!(read(&w.candidate_path()), bad.haproxy_cfg);

        // A valid second config, then back to the last good one.
        let mut second = render(&config(&w, "/two"));
        second.haproxy_cfg.push_str("# second\n");
        w.install(&second).await.unwrap();
        assert_eq!(read(&w.config_path()), second.haproxy_cfg);
        assert!(w.restore_last_good().await.unwrap());
        assert_eq!(read(&w.config_path()), first.haproxy_cfg);
        assert_eq!(read(Path::new(maps.exact.as_str())), "/two ns_web_80\n");

        w.write_maps(&render(&config(&w, "/three")).maps)
            .await
            .unwrap();
        assert_eq!(read(Path::new(maps.prefix.as_str())), "/three/ ns_web_80\n");
        assert_eq!(leftovers(tmp.path()), Vec::<String>::new());
    }

    fn mtime(p: &Path) -> std::time::SystemTime {
        std::fs::metadata(p).unwrap().modified().unwrap()
    }

    #[tokio::test]
    async fn only_changed_files_are_written() {
        let tmp = tempfile::tempdir().unwrap();
        let w = writer(tmp.path());
        let first = render(&config(&w, "/one"));
        w.install(&first).await.unwrap();
        let mut written = FileDigests::default();
        w.record_installed(&first, &mut written);
        // The same contents: nothing written.
        assert_eq!(w.write_changed(&first, &mut written).await.unwrap(), 0);
        // Another route: the maps change, haproxy.cfg does not.
        let maps = w.route_maps().unwrap();
        let cfg_before = mtime(&w.config_path());
        let second = render(&config(&w, "/two"));
        assert_eq!(second.haproxy_cfg, first.haproxy_cfg);
        assert_eq!(w.write_changed(&second, &mut written).await.unwrap(), 2);
        assert_eq!(read(Path::new(maps.exact.as_str())), "/two ns_web_80\n");
        assert_eq!(mtime(&w.config_path()), cfg_before);
        // A file changed behind the writer's back is written again once digests are cleared.
        std::fs::write(w.config_path(), "edited").unwrap();
        assert_eq!(w.write_changed(&second, &mut written).await.unwrap(), 0);
        written.clear();
        // haproxy.cfg, three maps, the settings map and three ACL files.
        assert_eq!(w.write_changed(&second, &mut written).await.unwrap(), 8);
        assert_eq!(read(&w.config_path()), second.haproxy_cfg);
        assert_eq!(leftovers(tmp.path()), Vec::<String>::new());
    }

    #[tokio::test]
    async fn map_files_must_be_inside_the_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let w = writer(&tmp.path().join("cfg"));
        let outside = [
            "/etc/passwd".to_string(),
            format!("{}/cfg/../x.map", tmp.path().display()),
            "maps/relative.map".to_string(),
        ];
        for path in outside {
            let mut maps = BTreeMap::new();
            maps.insert(FilePath::new(path.as_str()).unwrap(), String::new());
            let rendered = Rendered {
                haproxy_cfg: String::new(),
                maps: maps.clone(),
                tls: BTreeMap::new(),
            };
            let err = w.install(&rendered).await.unwrap_err();
            assert!(
                matches!(err, WriteError::OutsideDir { .. }),
                "{path}: {err}"
            );
            let err = w.write_maps(&maps).await.unwrap_err();
            assert!(
                matches!(err, WriteError::OutsideDir { .. }),
                "{path}: {err}"
            );
        }
        assert!(!w.dir().exists(), "nothing was written");
    }
}
