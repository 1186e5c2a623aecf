//! `haproxy -c -f <file>`: HAProxy's own verdict on a config file, its `[ALERT]` lines kept
//! as a typed error.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use thiserror::Error;
use tokio::process::Command;

/// How long `haproxy -c` may take before it is killed.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(30);

/// What `haproxy -c` prints on success.
const VALID: &str = "Configuration file is valid";

/// Why a config file was not accepted.
#[derive(Debug, Error)]
pub enum ValidationError {
    /// HAProxy could not be started.
    #[error("cannot run {bin}: {source}")]
    Spawn {
        /// The binary.
        bin: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// HAProxy did not finish in time (and was killed).
    #[error("haproxy -c did not finish within {0:?}")]
    Timeout(Duration),
    /// HAProxy refused the file.
    #[error("haproxy refused the configuration: {}", summary(.alerts, .output))]
    Invalid {
        /// The exit code (`None` when killed by a signal).
        status: Option<i32>,
        /// The `[ALERT]` messages, without the tag and process id.
        alerts: Vec<String>,
        /// Everything HAProxy printed (stdout then stderr).
        output: String,
    },
}

impl ValidationError {
    /// The `[ALERT]` messages of a refused config (empty for other errors).
    pub fn alerts(&self) -> &[String] {
        match self {
            ValidationError::Invalid { alerts, .. } => alerts,
            _ => &[],
        }
    }
}

fn summary(alerts: &[String], output: &str) -> String {
    if alerts.is_empty() {
        output.trim().to_string()
    } else {
        alerts.join("; ")
    }
}

/// Messages of lines tagged `tag`, e.g. `[ALERT]    (1234) : config : parsing …` →
/// `config : parsing …`.
fn tagged(output: &str, tag: &str) -> Vec<String> {
    output
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix(tag))
        .map(|rest| {
            let rest = rest.trim_start();
            // Drop the `(pid) :` part when present.
            let rest = match rest.strip_prefix('(').and_then(|r| r.split_once(')')) {
                Some((pid, tail)) if pid.bytes().all(|b| b.is_ascii_digit()) => {
                    tail.trim_start().strip_prefix(':').unwrap_or(tail)
                }
                _ => rest,
            };
            rest.trim().to_string()
        })
        .collect()
}

/// Runs `haproxy -c -f <cfg_path>` with [`CHECK_TIMEOUT`].
pub async fn check_config(haproxy_bin: &Path, cfg_path: &Path) -> Result<(), ValidationError> {
    check_config_within(haproxy_bin, cfg_path, CHECK_TIMEOUT).await
}

/// Runs `haproxy -c -f <cfg_path>`, killing it after `timeout`. The file is valid when
/// HAProxy exits 0 and says so; warnings are logged.
pub async fn check_config_within(
    haproxy_bin: &Path,
    cfg_path: &Path,
    timeout: Duration,
) -> Result<(), ValidationError> {
    let child = Command::new(haproxy_bin)
        .arg("-c")
        .arg("-f")
        .arg(cfg_path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| ValidationError::Spawn {
            bin: haproxy_bin.to_path_buf(),
            source,
        })?;
    let out = match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(Ok(out)) => out,
        Ok(Err(source)) => {
            return Err(ValidationError::Spawn {
                bin: haproxy_bin.to_path_buf(),
                source,
            });
        }
        // Dropping the future drops the child, which kills it.
        Err(_) => return Err(ValidationError::Timeout(timeout)),
    };
    let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
    output.push_str(&String::from_utf8_lossy(&out.stderr));
    if out.status.success() && output.contains(VALID) {
        for warning in tagged(&output, "[WARNING]") {
            tracing::warn!(config = %cfg_path.display(), %warning, "haproxy -c warning");
        }
        return Ok(());
    }
    Err(ValidationError::Invalid {
        status: out.status.code(),
        alerts: tagged(&output, "[ALERT]"),
        output,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The real binary: `HAPROXY_BIN` or the Debian package's path.
    fn haproxy() -> PathBuf {
        let bin = std::env::var_os("HAPROXY_BIN")
            .map_or_else(|| PathBuf::from("/usr/sbin/haproxy"), PathBuf::from);
        assert!(
            bin.exists(),
            "{} is missing: install the haproxy package (scripts/test does)",
            bin.display()
        );
        bin
    }

    #[test]
    fn alert_lines_lose_tag_and_pid() {
        let output = "\
[NOTICE]   (22371) : haproxy version is 2.6.12-1+deb12u4
[ALERT]    (22371) : config : parsing [bad.cfg:2] : unknown keyword 'foo' in 'global' section
[WARNING]  (22371) : config : something odd
[ALERT]    (22371) : config : Fatal errors found in configuration.
[ALERT] no pid here
";
        assert_eq!(
            tagged(output, "[ALERT]"),
            [
                "config : parsing [bad.cfg:2] : unknown keyword 'foo' in 'global' section",
                "config : Fatal errors found in configuration.",
                "no pid here",
            ]
        );
        assert_eq!(tagged(output, "[WARNING]"), ["config : something odd"]);
    }

    #[tokio::test]
    async fn valid_and_invalid_files() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.cfg");
        std::fs::write(
            &good,
            "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    \
             timeout server 1s\nfrontend f\n    bind 127.0.0.1:1\n",
        )
        .unwrap();
        check_config(&haproxy(), &good).await.unwrap();

        let bad = dir.path().join("bad.cfg");
        std::fs::write(&bad, "global\n    no-such-keyword 1\n").unwrap();
        let err = check_config(&haproxy(), &bad).await.unwrap_err();
        let ValidationError::Invalid { status, alerts, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(*status, Some(1));
        assert!(
            alerts[0].contains("unknown keyword 'no-such-keyword'"),
            "{alerts:?}"
        );
        assert!(err.to_string().contains("no-such-keyword"), "{err}");

        let missing = dir.path().join("missing.cfg");
        let err = check_config(&haproxy(), &missing).await.unwrap_err();
        assert!(matches!(err, ValidationError::Invalid { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn missing_binary_and_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("x.cfg");
        std::fs::write(&cfg, "").unwrap();
        let err = check_config(&dir.path().join("no-haproxy"), &cfg)
            .await
            .unwrap_err();
        assert!(matches!(err, ValidationError::Spawn { .. }), "{err:?}");

        // A stand-in that never answers.
        let slow = dir.path().join("slow.sh");
        std::fs::write(&slow, "#!/bin/sh\nexec sleep 30\n").unwrap();
        std::fs::set_permissions(&slow, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let started = std::time::Instant::now();
        let mut err = check_config_within(&slow, &cfg, Duration::from_millis(300))
            .await
            .unwrap_err();
        // A fork elsewhere in the test process may briefly hold the script open for writing.
        for _ in 0..20 {
            match &err {
                ValidationError::Spawn { source, .. } if source.raw_os_error() == Some(26) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    err = check_config_within(&slow, &cfg, Duration::from_millis(300))
                        .await
                        .unwrap_err();
                }
                _ => break,
            }
        }
        assert!(matches!(err, ValidationError::Timeout(_)), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
