//! The setting of R6 (`r6.rs`): the tmpfs the config directory lives on, the filler
//! that makes it full, the real backend (`web.soak`) and the requests to it through HAProxy,
//! and what the files on disk must hold.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use haproxy_agent::store::Object;
use integration::soak_oracle::{self, MAPS};

use crate::objects::{EpState, NS, Rule, ingress, service, slice};
use crate::world::{Desired, Want};

/// Requests to `web.soak` are this far apart.
pub const TRAFFIC_EVERY: Duration = Duration::from_millis(50);
/// The size of the config directory's tmpfs.
pub const TMPFS_SIZE: &str = "4m";
const WEB_HOST: &str = "web.soak";

/// A tmpfs mounted on a directory, unmounted (lazily) when dropped.
pub struct Tmpfs(PathBuf);

fn mount(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("mount")
        .args(args)
        .output()
        .context("run mount")?;
    if !out.status.success() {
        bail!(
            "mount {}: {} (R6 needs root or CAP_SYS_ADMIN to give the config directory a tmpfs of its own)",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

impl Tmpfs {
    pub fn mount(dir: &Path) -> anyhow::Result<Tmpfs> {
        std::fs::create_dir_all(dir)?;
        let path = dir.to_str().context("config dir path")?;
        mount(&[
            "-t",
            "tmpfs",
            "-o",
            &format!("size={TMPFS_SIZE},mode=0755"),
            "tmpfs",
            path,
        ])?;
        Ok(Tmpfs(dir.to_path_buf()))
    }

    pub fn remount(&self, how: &str) -> anyhow::Result<()> {
        let path = self.0.to_str().context("config dir path")?;
        mount(&["-o", &format!("remount,{how}"), path])
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system of `dir` with `dir/filler` until a write fails with ENOSPC.
pub fn fill(dir: &Path) -> anyhow::Result<u64> {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path)?;
    let chunk = vec![0u8; 64 * 1024];
    let mut written = 0u64;
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) if e.raw_os_error() == Some(nix::libc::ENOSPC) => break,
            Err(e) => return Err(e).context("fill the config directory"),
        }
    }
    let _ = f.sync_all();
    Ok(written)
}

/// Requests to `web.soak` through HAProxy every 50 ms, counted.
pub struct Traffic {
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Vec<String>>,
}

impl Traffic {
    pub fn start(http: SocketAddr) -> Traffic {
        let ok = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (o, f, s) = (ok.clone(), failed.clone(), stop.clone());
        let task = tokio::spawn(async move {
            let mut examples = Vec::new();
            while !s.load(Ordering::Relaxed) {
                match integration::get(http, WEB_HOST, "/").await {
                    Ok(r) if r.status == 200 => {
                        o.fetch_add(1, Ordering::Relaxed);
                    }
                    other => {
                        f.fetch_add(1, Ordering::Relaxed);
                        if examples.len() < 5 {
                            examples.push(match other {
                                Ok(r) => format!("status {}", r.status),
                                Err(e) => format!("{e:#}"),
                            });
                        }
                    }
                }
                tokio::time::sleep(TRAFFIC_EVERY).await;
            }
            examples
        });
        Traffic {
            ok,
            failed,
            stop,
            task,
        }
    }

    pub fn counts(&self) -> (u64, u64) {
        (
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }

    pub async fn stop(self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap_or_default()
    }
}

/// The real backend's objects: Service `web`, its slice at `echo`, an Ingress for `web.soak`.
pub fn web_objects(echo: SocketAddr) -> Vec<Object> {
    vec![
        service("web", 80, i32::from(echo.port())),
        slice(
            "web-1",
            "web",
            i32::from(echo.port()),
            &[(echo.ip(), EpState::Ready)],
        ),
        ingress(
            "soak-web",
            Some(WEB_HOST),
            &[Rule {
                path: "/",
                service: "web",
                port: 80,
            }],
        ),
    ]
}

/// `desired` with the real backend added.
pub fn with_web(mut desired: Desired, echo: SocketAddr) -> Desired {
    let backend = format!("{NS}_web_80");
    let server = Want {
        addr: echo,
        ready: true,
        weight: Some(1),
    };
    desired
        .servers
        .insert(backend.clone(), [(echo.to_string(), server)].into());
    desired.backends.insert(backend.clone());
    desired
        .routes
        .insert(("prefix.map".into(), format!("{WEB_HOST}/")), backend);
    desired
}

/// What differs between the config directory's files and `desired`: each route map's
/// entries (as the oracle compares HAProxy's), and each backend's server addresses in
/// haproxy.cfg.
pub fn disk_problems(config_dir: &Path, desired: &Desired) -> Vec<String> {
    let mut maps = BTreeMap::new();
    for name in MAPS {
        let text = std::fs::read_to_string(config_dir.join("maps").join(name)).unwrap_or_default();
        let entries = text
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        maps.insert(name.to_string(), entries);
    }
    let mut out = soak_oracle::route_problems(&desired.routes, &maps);
    let cfg = std::fs::read_to_string(config_dir.join("haproxy.cfg")).unwrap_or_default();
    let mut have: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut backend = None;
    for line in cfg.lines() {
        if let Some(name) = line.strip_prefix("backend ") {
            backend = Some(name.trim().to_string());
        } else if !line.starts_with(' ') {
            backend = None;
        } else if let (Some(b), Some(rest)) = (&backend, line.trim().strip_prefix("server ")) {
            let addr = rest.split_whitespace().nth(1).unwrap_or_default();
            have.entry(b.clone()).or_default().insert(addr.to_string());
        }
    }
    for (b, servers) in &desired.servers {
        let want: BTreeSet<String> = servers.values().map(|w| w.addr.to_string()).collect();
        let got = have.get(b).cloned().unwrap_or_default();
        if want != got {
            out.push(format!(
                "haproxy.cfg backend {b}: servers {got:?}, want {want:?}"
            ));
        }
    }
    out
}
