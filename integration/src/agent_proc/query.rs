//! What an [`AgentProcess`] is asked and told: its manifests, HAProxy's sockets and
//! frontend, and the agent's own HTTP (`/healthz`, `/metrics`, `/debug/state`).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use haproxy::proto::ProcList;
use haproxy::proto::parse::ServerState;
use haproxy::{BackendName, FilePath, MasterClient, RuntimeClient};

use super::{AgentProcess, CLIENT_TIMEOUT};
use crate::HttpReply;

impl AgentProcess {
    // ---- manifests ----

    /// Writes (or replaces) a manifest file atomically: a temp file the agent ignores (not
    /// `.yaml`, outside the manifests directory), renamed over the target.
    pub fn write_manifest(&self, name: &str, text: &str) -> anyhow::Result<()> {
        let tmp = self.dir().join(format!("{name}.tmp"));
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, self.manifests.join(name))?;
        Ok(())
    }

    /// Appends to a manifest file, the way `cat >>` does.
    pub fn append_manifest(&self, name: &str, text: &str) -> anyhow::Result<()> {
        let mut f = OpenOptions::new()
            .append(true)
            .open(self.manifests.join(name))?;
        f.write_all(text.as_bytes())?;
        Ok(())
    }

    /// Deletes a manifest file.
    pub fn remove_manifest(&self, name: &str) -> anyhow::Result<()> {
        std::fs::remove_file(self.manifests.join(name))?;
        Ok(())
    }

    /// The path of a manifest file.
    pub fn manifest_path(&self, name: &str) -> PathBuf {
        self.manifests.join(name)
    }

    // ---- HAProxy ----

    /// `GET path` with `Host: host` through HAProxy's frontend.
    pub async fn get(&self, host: &str, path: &str) -> anyhow::Result<HttpReply> {
        crate::get(self.http, host, path).await
    }

    /// A runtime API client on HAProxy's admin socket.
    pub fn runtime_client(&self) -> RuntimeClient {
        crate::haproxy_proc::runtime_client_for(&self.runtime_socket)
    }

    /// A master CLI client on HAProxy's master socket.
    pub fn master_client(&self) -> MasterClient {
        crate::haproxy_proc::master_client_for(&self.master_socket)
    }

    /// The master's `show proc`. Retried for up to [`CLIENT_TIMEOUT`]: while the master
    /// re-executes itself for a reload, its socket refuses connections.
    pub async fn show_proc(&self) -> anyhow::Result<ProcList> {
        let master = self.master_client();
        crate::wait_for(
            "show proc on the master socket",
            CLIENT_TIMEOUT,
            async || Ok(master.show_proc().await?),
        )
        .await
    }

    /// Reloads so far, as the HAProxy master counts them (its `show proc` line).
    pub async fn reloads(&self) -> anyhow::Result<u32> {
        Ok(self.show_proc().await?.master.reloads)
    }

    /// The HAProxy master's pid (and remembers it, so drop stops it).
    pub async fn haproxy_master_pid(&mut self) -> anyhow::Result<u32> {
        let procs = self.show_proc().await?;
        self.note_procs(&procs);
        Ok(procs.master.pid)
    }

    /// Records the HAProxy processes on the master socket, for drop.
    pub(super) async fn remember_haproxy(&mut self) {
        if let Ok(procs) = self.show_proc().await {
            self.note_procs(&procs);
        }
    }

    pub(super) fn note_procs(&mut self, procs: &ProcList) {
        self.haproxy_pids.insert(procs.master.pid);
        for w in procs.workers.iter().chain(&procs.old_workers) {
            self.haproxy_pids.insert(w.pid);
        }
    }

    /// `show servers state` of one backend, by server name.
    pub async fn servers(&self, backend: &str) -> anyhow::Result<BTreeMap<String, ServerState>> {
        let be = BackendName::new(backend)?;
        let rows = self.runtime_client().servers_state(Some(be)).await?;
        Ok(rows.into_iter().map(|r| (r.server.clone(), r)).collect())
    }

    /// `show servers state` of every backend: backend -> server names.
    pub async fn all_servers(&self) -> anyhow::Result<BTreeMap<String, BTreeSet<String>>> {
        let rows = self.runtime_client().servers_state(None).await?;
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for r in rows {
            out.entry(r.backend).or_default().insert(r.server);
        }
        Ok(out)
    }

    /// The live entries of a map file of the config dir (`maps/exact.map`,
    /// `maps/prefix.map`): key -> value.
    pub async fn map(&self, name: &str) -> anyhow::Result<BTreeMap<String, String>> {
        let path = self.config_dir.join("maps").join(name);
        let file = FilePath::new(path.to_string_lossy().into_owned())?;
        let entries = self.runtime_client().map_entries(file).await?;
        Ok(entries.into_iter().map(|e| (e.key, e.value)).collect())
    }

    /// Every regular file under the config dir (not the error pages' socket), with its
    /// content (lossy UTF-8). A file renamed away while listing (an atomic write's temp
    /// file) is left out.
    pub fn config_files(&self) -> anyhow::Result<Vec<(PathBuf, String)>> {
        fn walk(dir: &Path, out: &mut Vec<(PathBuf, String)>) -> anyhow::Result<()> {
            for entry in std::fs::read_dir(dir)? {
                let path = entry?.path();
                if path.is_dir() {
                    walk(&path, out)?;
                } else if path.is_file() {
                    match std::fs::read(&path) {
                        Ok(bytes) => out.push((path, String::from_utf8_lossy(&bytes).into_owned())),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            Ok(())
        }
        let mut out = Vec::new();
        walk(&self.config_dir, &mut out)?;
        Ok(out)
    }

    // ---- the agent's HTTP ----

    async fn agent_get(&self, path: &str) -> anyhow::Result<HttpReply> {
        crate::get(self.listen, "localhost", path).await
    }

    /// `/healthz`'s status code.
    pub async fn healthz(&self) -> anyhow::Result<u16> {
        Ok(self.agent_get("/healthz").await?.status)
    }

    /// `/healthz`'s status code and body.
    pub async fn healthz_reply(&self) -> anyhow::Result<HttpReply> {
        self.agent_get("/healthz").await
    }

    /// `/debug/state`, parsed.
    pub async fn debug_state(&self) -> anyhow::Result<serde_json::Value> {
        let reply = self.agent_get("/debug/state").await?;
        if reply.status != 200 {
            bail!("/debug/state: status {}", reply.status);
        }
        serde_json::from_str(&reply.body).context("/debug/state is not JSON")
    }

    /// The value of one sample of `/metrics` (`name` with its labels, as exposed, e.g.
    /// `haproxy_agent_observations_total{scope="full"}`); 0 when absent.
    pub async fn metric(&self, sample: &str) -> anyhow::Result<f64> {
        let text = self.metrics().await?;
        Ok(text
            .lines()
            .filter_map(|l| {
                l.strip_prefix(sample)?
                    .strip_prefix(' ')?
                    .parse::<f64>()
                    .ok()
            })
            .sum())
    }

    /// `/metrics`, as text.
    pub async fn metrics(&self) -> anyhow::Result<String> {
        let reply = self.agent_get("/metrics").await?;
        if reply.status != 200 {
            bail!("/metrics: status {}", reply.status);
        }
        Ok(reply.body)
    }
}
