//! The master CLI's `show proc` and `reload` replies.

use nom::Parser;
use nom::bytes::complete::{tag, take_till1};
use nom::character::complete::{space0, space1, u32 as nom_u32};
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
    /// Uptime as printed (`0d00h02m18s`).
    pub uptime: String,
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

type Res<'a, T> = nom::IResult<&'a str, T>;

fn col(i: &str) -> Res<'_, &str> {
    take_till1(|c: char| c == ' ' || c == '\n').parse(i)
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
        preceded(space1, col),
        terminated(preceded(space1, col), space0),
    )
        .parse(i)?;
    Ok((
        i,
        (
            ProcEntry {
                pid,
                reloads,
                uptime: uptime.to_string(),
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
        preceded(space1, col),
        terminated(preceded(space1, col), space0),
    )
        .parse(i)?;
    Ok((
        i,
        ProcEntry {
            pid,
            reloads,
            uptime: uptime.to_string(),
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
