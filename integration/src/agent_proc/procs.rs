//! Processes by pid for [`super::AgentProcess`]: signals, stopping the agent and the HAProxy
//! processes it leaves, finding them in `/proc`, `show proc` without a runtime.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use haproxy::proto::ProcList;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Time allowed for the agent to exit after SIGTERM (it soft-stops the HAProxy it spawned,
/// bounded by `--hard-stop-after` + 5 s) before it gets SIGKILL.
pub const STOP_DEADLINE: Duration = Duration::from_secs(15);
/// Time allowed for a HAProxy left behind to exit after SIGTERM before it gets SIGKILL.
pub const HAPROXY_STOP_DEADLINE: Duration = Duration::from_secs(5);

/// SIGTERM, wait up to [`STOP_DEADLINE`], SIGKILL; reaps in every case. False when it
/// took SIGKILL.
pub(super) fn terminate(child: &mut Child) -> bool {
    if !matches!(child.try_wait(), Ok(None)) {
        return true;
    }
    if signal(child.id(), Signal::SIGTERM).is_ok() {
        let until = Instant::now() + STOP_DEADLINE;
        while Instant::now() < until {
            match child.try_wait() {
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                _ => return true,
            }
        }
        eprintln!(
            "haproxy-agent {} did not exit within {STOP_DEADLINE:?} of SIGTERM; sending SIGKILL",
            child.id()
        );
    }
    let _ = child.kill();
    let _ = child.wait();
    false
}

/// Stops the HAProxy processes among `pids` that still run: SIGTERM (masters stop their
/// workers), then SIGKILL after [`HAPROXY_STOP_DEADLINE`]. A pid is signalled only while it
/// names a live `haproxy` process, so a pid reused by something else is left alone.
pub(super) fn stop_haproxy(pids: &BTreeSet<u32>) {
    let alive = || -> Vec<u32> {
        pids.iter()
            .copied()
            .filter(|p| is_live_haproxy(*p))
            .collect()
    };
    let running = alive();
    if running.is_empty() {
        return;
    }
    for pid in &running {
        let _ = signal(*pid, Signal::SIGTERM);
    }
    let until = Instant::now() + HAPROXY_STOP_DEADLINE;
    while Instant::now() < until {
        if alive().is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    for pid in alive() {
        eprintln!("haproxy {pid} did not exit within {HAPROXY_STOP_DEADLINE:?}; sending SIGKILL");
        let _ = signal(pid, Signal::SIGKILL);
    }
}

/// The executable `name` of the build the running test, benchmark or binary belongs to:
/// `target/<profile>/deps/<exe>` or `target/<profile>/<exe>` -> `target/<profile>/<name>`
/// (cargo builds a package's binaries before its tests and benchmarks).
pub fn built_binary(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().context("the executable has no directory")?;
    let profile_dir = if dir.file_name().is_some_and(|n| n == "deps") {
        dir.parent()
            .context("the executable is not in target/<profile>/deps")?
    } else {
        dir
    };
    let path = profile_dir.join(name);
    if !path.is_file() {
        bail!("{} is missing: build it", path.display());
    }
    Ok(path)
}

/// Live (not zombie) HAProxy processes whose command line names `master_socket` (`-S`).
pub fn haproxy_processes_with(master_socket: &Path) -> Vec<u32> {
    let want = master_socket.as_os_str().as_encoded_bytes();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out: Vec<u32> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.split(|b| *b == 0).any(|arg| arg == want))
        })
        .filter(|pid| is_live_haproxy(*pid))
        .collect();
    out.sort_unstable();
    out
}

/// True while `pid` is a running (not zombie) process named `haproxy`.
pub fn is_live_haproxy(pid: u32) -> bool {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    comm.trim_end() == "haproxy" && process_state(pid).is_some_and(|s| s != 'Z' && s != 'X')
}

/// The state letter of `/proc/<pid>/stat` (`R`, `S`, `Z`, …), if the process exists.
fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    after.trim_start().chars().next()
}

/// Sends `sig` to `pid`.
pub fn signal(pid: u32, sig: Signal) -> anyhow::Result<()> {
    let raw = i32::try_from(pid).map_err(|_| anyhow!("pid {pid} out of range"))?;
    kill(Pid::from_raw(raw), sig).with_context(|| format!("{sig} to pid {pid}"))
}

/// The KiB fields of `/proc/<pid>/status` (`VmHWM`, `VmRSS`, …), read at once.
pub fn proc_status_kib(pid: u32) -> anyhow::Result<BTreeMap<String, u64>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("read /proc/{pid}/status"))?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let (name, value) = l.split_once(':')?;
            let kib = value.trim().strip_suffix("kB")?.trim().parse().ok()?;
            Some((name.to_string(), kib))
        })
        .collect())
}

/// A duration as a flag value: whole seconds as `5s`, else milliseconds.
pub(super) fn duration_flag(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// `show proc` over a blocking connection (for drop, outside async code).
pub(super) fn show_proc_blocking(socket: &Path) -> Option<ProcList> {
    let mut stream = UnixStream::connect(socket).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream
        .set_write_timeout(Some(Duration::from_secs(2)))
        .ok()?;
    stream.write_all(b"show proc\n").ok()?;
    // The master CLI answers once the request side is closed.
    stream.shutdown(std::net::Shutdown::Write).ok()?;
    let mut out = Vec::new();
    stream.read_to_end(&mut out).ok()?;
    let text = String::from_utf8(haproxy::proto::normalize(&out).to_vec()).ok()?;
    haproxy::proto::proc::show_proc(&text)
}
