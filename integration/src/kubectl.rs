//! The real `kubectl`, run against a test API server through the kubeconfig it writes
//! ([`KubeApi::write_kubeconfig`]).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::KubeApi;

const NOT_INSTALLED: &str = "kubectl is not installed (no `kubectl` on PATH and KUBECTL unset): run scripts/test, which installs it with apt-get install kubectl";

/// The kubectl binary: `KUBECTL` if set, else `kubectl` on `PATH` or in `/usr/bin`.
///
/// # Panics
/// When there is none: tests that need kubectl fail, they never skip.
pub fn kubectl_binary() -> PathBuf {
    crate::haproxy_proc::system_binary("KUBECTL", "kubectl", &["/usr/bin"], NOT_INSTALLED)
}

/// kubectl bound to one server's kubeconfig.
#[derive(Debug, Clone)]
pub struct Kubectl {
    bin: PathBuf,
    kubeconfig: PathBuf,
}

impl Kubectl {
    /// kubectl for `api`, its kubeconfig written to `dir/kubeconfig`.
    ///
    /// # Panics
    /// When kubectl is not installed (see [`kubectl_binary`]).
    pub fn for_api(api: &KubeApi, dir: &Path) -> anyhow::Result<Kubectl> {
        let kubeconfig = dir.join("kubeconfig");
        api.write_kubeconfig(&kubeconfig)?;
        Ok(Kubectl {
            bin: kubectl_binary(),
            kubeconfig,
        })
    }

    /// The kubeconfig it uses.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// Runs `kubectl ARGS`; its stdout when it succeeds, an error with its stderr otherwise.
    pub async fn run(&self, args: &[&str]) -> anyhow::Result<String> {
        let output = tokio::process::Command::from(self.command(args))
            .output()
            .await
            .with_context(|| format!("running {}", self.bin.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() {
            bail!(
                "kubectl {} failed ({}): {}{stdout}",
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(stdout)
    }

    /// Starts `kubectl ARGS` (a `--watch`) with its stdout piped; dropping the child kills
    /// it (by its pid).
    pub fn spawn(&self, args: &[&str]) -> anyhow::Result<tokio::process::Child> {
        tokio::process::Command::from(self.command(args))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", self.bin.display()))
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.bin);
        command
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .env_remove("KUBECONFIG");
        command
    }
}

/// The rows of kubectl's table output, each split on runs of spaces (cells must hold none),
/// header first.
pub fn rows(output: &str) -> Vec<Vec<String>> {
    output
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}
