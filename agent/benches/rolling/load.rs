//! The load generator of the rolling replacement: a `load-loop --mixed` process.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use serde_json::Value;
use tokio::io::AsyncReadExt;

/// The `load-loop` process, stopped by closing its stdin.
pub struct Load {
    child: tokio::process::Child,
}

impl Load {
    /// Starts sending `rate` requests a second to `http`.
    pub fn start(bin: &Path, http: SocketAddr, rate: usize) -> anyhow::Result<Load> {
        let child = tokio::process::Command::new(bin)
            .arg("--mixed")
            .arg(http.to_string())
            .arg("web.bench")
            .arg("/")
            .arg(rate.to_string())
            .arg("600")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("spawn {}", bin.display()))?;
        Ok(Load { child })
    }

    /// Closes its stdin and reads its JSON report (SIGKILL by pid after 15 s).
    pub async fn stop(mut self) -> anyhow::Result<Value> {
        drop(self.child.stdin.take());
        let mut stdout = self.child.stdout.take().context("load-loop stdout")?;
        let mut text = String::new();
        let read = async {
            stdout.read_to_string(&mut text).await?;
            self.child.wait().await
        };
        match tokio::time::timeout(Duration::from_secs(15), read).await {
            Ok(status) => ensure!(status?.success(), "load-loop failed"),
            Err(_) => {
                self.child.start_kill()?;
                self.child.wait().await?;
                bail!("load-loop did not stop within 15 s of its stdin closing");
            }
        }
        serde_json::from_str(&text).with_context(|| format!("load-loop printed {text:?}"))
    }
}
