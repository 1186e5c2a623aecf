//! The master CLI's commands (`show proc`, `reload`, a runtime command routed to a worker)
//! and its `show proc` and `reload` replies.

use std::time::Duration;

use super::{Command, EncodeError};

use nom::Parser;
use nom::bytes::complete::{tag, take_while1};
use nom::character::complete::{char, space0, space1, u32 as nom_u32, u64 as nom_u64};
use nom::combinator::{all_consuming, opt};
use nom::sequence::{delimited, preceded, terminated};

/// A process line of `show proc`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProcEntry {
    /// Process id.
    pub pid: u32,
    /// The reloads column: for the master, reloads so far; for a worker, how many reloads
    /// it has lived through (0 for the current worker).
    pub reloads: u32,
    /// Uptime (printed `0d00h02m18s`: one-second resolution).
    pub uptime: Duration,
    /// Version string.
    pub version: String,
}

/// `show proc`, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProcList {
    /// The master process.
    pub master: ProcEntry,
    /// Reloads that failed since the last successful one (`[failed: N]`).
    pub failed_reloads: u32,
    /// Current workers (one in practice).
    pub workers: Vec<ProcEntry>,
    /// Workers from before a reload that still finish their connections.
    pub old_workers: Vec<ProcEntry>,
}

impl ProcList {
    /// The current worker's pid.
    pub fn current_worker(&self) -> Option<u32> {
        self.workers.first().map(|w| w.pid)
    }
}

/// Which worker a routed command goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Worker {
    /// `@1`: the current worker.
    Current,
    /// `@!<pid>`: a given process.
    Pid(u32),
}

/// A command of the master CLI.
#[derive(Debug, Clone, PartialEq)]
pub enum MasterCommand<'a> {
    /// `show proc`: the master, its workers and old workers.
    ShowProc,
    /// `reload`: re-executes the master, which starts a new worker from the config on disk.
    Reload,
    /// A runtime command routed to a worker (`@1 <command>`, `@!<pid> <command>`); commands
    /// with a payload cannot be routed (the master reads one line).
    Routed(Worker, &'a Command),
}

impl MasterCommand<'_> {
    /// The line to send.
    pub fn to_text(&self) -> Result<String, EncodeError> {
        Ok(match self {
            MasterCommand::ShowProc => "show proc".to_string(),
            MasterCommand::Reload => "reload".to_string(),
            MasterCommand::Routed(worker, command) => {
                if command.has_payload() {
                    return Err(EncodeError::BadPayload);
                }
                let text = command.to_text()?;
                match worker {
                    Worker::Current => format!("@1 {text}"),
                    Worker::Pid(pid) => format!("@!{pid} {text}"),
                }
            }
        })
    }
}

type Res<'a, T> = nom::IResult<&'a str, T>;

/// The longest uptime `show proc` prints: HAProxy formats an `int` of seconds.
pub const MAX_UPTIME: Duration = Duration::from_secs(i32::MAX as u64);

/// `show proc`'s uptime: `<days>d<hours>h<minutes>m<seconds>s` as HAProxy prints it (hours
/// below 24, minutes and seconds below 60, at most [`MAX_UPTIME`]); anything else is not
/// an uptime, so nothing later adds to an absurd one.
fn uptime(i: &str) -> Res<'_, Duration> {
    let (rest, (d, _, h, _, m, _, s, _)) = (
        nom_u64,
        char('d'),
        nom_u64,
        char('h'),
        nom_u64,
        char('m'),
        nom_u64,
        char('s'),
    )
        .parse(i)?;
    let secs = d
        .checked_mul(86_400)
        .and_then(|t| t.checked_add(h.checked_mul(3_600)?))
        .and_then(|t| t.checked_add(m.checked_mul(60)?))
        .and_then(|t| t.checked_add(s))
        .filter(|_| h < 24 && m < 60 && s < 60)
        .map(Duration::from_secs)
        .filter(|t| *t <= MAX_UPTIME);
    match secs {
        Some(t) => Ok((rest, t)),
        None => Err(nom::Err::Error(nom::error::Error::new(
            i,
            nom::error::ErrorKind::TooLarge,
        ))),
    }
}

/// A version column: printable ASCII.
fn col(i: &str) -> Res<'_, &str> {
    take_while1(|c: char| c.is_ascii_graphic()).parse(i)
}

fn master_line(i: &str) -> Res<'_, (ProcEntry, u32)> {
    let (i, (pid, _, _, reloads, failed, uptime, version)) = (
        nom_u32,
        space1,
        tag("master"),
        preceded(space1, nom_u32),
        opt(preceded(
            space1,
            delimited(tag("[failed: "), nom_u32, tag("]")),
        )),
        preceded(space1, uptime),
        terminated(preceded(space1, col), space0),
    )
        .parse(i)?;
    Ok((
        i,
        (
            ProcEntry {
                pid,
                reloads,
                uptime,
                version: version.to_string(),
            },
            failed.unwrap_or(0),
        ),
    ))
}

fn worker_line(i: &str) -> Res<'_, ProcEntry> {
    let (i, (pid, _, _, reloads, uptime, version)) = (
        nom_u32,
        space1,
        tag("worker"),
        preceded(space1, nom_u32),
        preceded(space1, uptime),
        terminated(preceded(space1, col), space0),
    )
        .parse(i)?;
    Ok((
        i,
        ProcEntry {
            pid,
            reloads,
            uptime,
            version: version.to_string(),
        },
    ))
}

/// Parses `show proc` (normalized: without the final LF).
pub fn show_proc(text: &str) -> Option<ProcList> {
    let mut lines = text.split('\n');
    if !lines.next()?.starts_with("#<PID>") {
        return None;
    }
    let (_, (master, failed_reloads)) = all_consuming(master_line).parse(lines.next()?).ok()?;
    let mut list = ProcList {
        master,
        failed_reloads,
        workers: Vec::new(),
        old_workers: Vec::new(),
    };
    #[derive(PartialEq)]
    enum Section {
        Workers,
        OldWorkers,
        Other,
    }
    let mut section = Section::Other;
    for line in lines {
        match line {
            "# workers" => section = Section::Workers,
            "# old workers" => section = Section::OldWorkers,
            l if l.starts_with('#') => section = Section::Other,
            "" => {}
            l => match section {
                Section::Workers => list
                    .workers
                    .push(all_consuming(worker_line).parse(l).ok()?.1),
                Section::OldWorkers => list
                    .old_workers
                    .push(all_consuming(worker_line).parse(l).ok()?.1),
                // Programs and sections of later versions are not ours to judge.
                Section::Other => {}
            },
        }
    }
    Some(list)
}

/// The reply of `reload` on 2.7+: `Success=1` or `Success=0`, possibly followed by `--` and
/// the startup logs. 2.6 replies nothing (`None`).
pub fn reload_status(text: &str) -> Option<bool> {
    match text.lines().next()? {
        "Success=1" => Some(true),
        "Success=0" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AFTER_RELOAD: &str = "#<PID>          <type>          <reloads>       <uptime>        <version>      \n6496            master          1 [failed: 0]   0d00h03m28s     2.6.12-1+deb12u4\n# workers\n11032           worker          0               0d00h00m01s     2.6.12-1+deb12u4\n# old workers\n6521            worker          1               0d00h03m28s     2.6.12-1+deb12u4\n# programs\n";

    #[test]
    fn parses_show_proc_with_old_workers() {
        let p = show_proc(AFTER_RELOAD).unwrap();
        assert_eq!(p.master.pid, 6496);
        assert_eq!(p.master.reloads, 1);
        assert_eq!(p.failed_reloads, 0);
        assert_eq!(p.current_worker(), Some(11032));
        assert_eq!(p.old_workers.len(), 1);
        assert_eq!(p.old_workers[0].pid, 6521);
        assert_eq!(p.old_workers[0].reloads, 1);
        assert_eq!(p.master.uptime, Duration::from_secs(208));
        assert_eq!(p.workers[0].uptime, Duration::from_secs(1));
    }

    #[test]
    fn uptimes() {
        let day = AFTER_RELOAD.replace("0d00h03m28s", "1d01h00m00s");
        assert_eq!(
            show_proc(&day).unwrap().master.uptime,
            Duration::from_secs(90_000)
        );
        // Out of HAProxy's range (an `int` of seconds, each unit below the next), which the
        // replies fuzz target asserts: `u64::MAX` seconds made the agent's `uptime + 2 s`
        // (apply/worker.rs) panic.
        let out_of_range = [
            "99999999999999999d00h00m00s",
            "0d00h00m18446744073709551615s",
            "24856d00h00m00s",
            "0d24h00m00s",
            "0d00h60m00s",
            "0d00h00m60s",
        ];
        let max = AFTER_RELOAD.replace("0d00h03m28s", "24855d03h14m07s");
        assert_eq!(show_proc(&max).unwrap().master.uptime, MAX_UPTIME);
        for bad in ["garbage", "0d00h03m"].into_iter().chain(out_of_range) {
            assert!(
                show_proc(&AFTER_RELOAD.replace("0d00h03m28s", bad)).is_none(),
                "{bad}"
            );
        }
    }

    #[test]
    fn master_commands() {
        let cmd = Command::ShowServersState(None);
        assert_eq!(MasterCommand::ShowProc.to_text().unwrap(), "show proc");
        assert_eq!(MasterCommand::Reload.to_text().unwrap(), "reload");
        let routed = MasterCommand::Routed(Worker::Pid(42), &cmd)
            .to_text()
            .unwrap();
        assert_eq!(routed, format!("@!42 {}", cmd.to_text().unwrap()));
        let current = MasterCommand::Routed(Worker::Current, &cmd)
            .to_text()
            .unwrap();
        assert!(current.starts_with("@1 "));
    }

    #[test]
    fn versions_are_printable() {
        // Found by fuzzing (replies): a vertical tab and NULs were read into the version.
        let t = AFTER_RELOAD.replace("2.6.12-1+deb12u4\n# workers", "2.6.12\u{b}\0u4\n# workers");
        assert!(show_proc(&t).is_none());
    }

    #[test]
    fn parses_failed_count() {
        let t = AFTER_RELOAD.replace("1 [failed: 0]", "3 [failed: 1]");
        let p = show_proc(&t).unwrap();
        assert_eq!((p.master.reloads, p.failed_reloads), (3, 1));
    }

    #[test]
    fn refuses_garbage() {
        assert!(show_proc("").is_none());
        assert!(show_proc("#<PID>\nnot a master line").is_none());
        assert!(show_proc("Unknown command").is_none());
    }

    #[test]
    fn reload_status_lines() {
        assert_eq!(reload_status("Success=1\n--\nlogs"), Some(true));
        assert_eq!(reload_status("Success=0"), Some(false));
        assert_eq!(reload_status(""), None);
    }
}
