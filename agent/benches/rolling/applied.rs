//! How the rolling replacement's changes reach HAProxy: a real agent process, or the
//! reload-per-change baseline.

use std::net::SocketAddr;
use std::path::PathBuf;

use haproxy::MasterClient;
use haproxy::config::render;
use haproxy_agent::translate::translate;

use crate::common::{AgentProcess, Harness, to_yaml, write_atomic};
use crate::pods::{PODS, Progress, web, web_slice};

/// How changes reach HAProxy.
pub enum Applied {
    /// A real agent process following a manifests directory.
    Agent(Box<AgentProcess>),
    /// Render + `haproxy -c` + reload for every change (of the objects with the
    /// policy-heavy annotation set when `true`).
    Baseline(Box<Harness>, bool),
}

impl Applied {
    /// The runtime API's socket.
    pub fn runtime_socket(&self) -> PathBuf {
        match self {
            Applied::Agent(a) => a.runtime_socket.clone(),
            Applied::Baseline(h, _) => h.settings.runtime_socket.clone(),
        }
    }

    /// A client of the master CLI.
    pub fn master(&self) -> MasterClient {
        match self {
            Applied::Agent(a) => a.master_client(),
            Applied::Baseline(h, _) => h.master.clone(),
        }
    }

    /// The HTTP frontend's address.
    pub fn http(&self) -> SocketAddr {
        match self {
            Applied::Agent(a) => a.http,
            Applied::Baseline(h, _) => h.settings.http_bind,
        }
    }

    /// Hands the EndpointSlice's new state over: a manifest write for the agent (it applies
    /// it asynchronously), a verified reload for the baseline.
    pub async fn change(&mut self, port: u16, progress: &[Progress; PODS]) -> anyhow::Result<()> {
        match self {
            Applied::Agent(a) => {
                let text = to_yaml(&[web_slice(port, progress)])?;
                write_atomic(&a.manifests.join("slice.yaml"), &text)
            }
            Applied::Baseline(h, policies) => {
                let mut objects = web(port, *policies);
                objects.push(web_slice(port, progress));
                h.store.replace_all(objects);
                let t = translate(&h.store.snapshot(), &h.settings).map_err(anyhow::Error::msg)?;
                h.reloader.reload(&render(&t.config)).await?;
                Ok(())
            }
        }
    }
}
