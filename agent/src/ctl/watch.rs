//! `ctl watch [BACKEND]`: a refreshing servers table with changes marked, until Ctrl-C (or
//! `--count` tables); plain appended tables when stdout is not a terminal.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use haproxy::{BackendName, RuntimeClient};

use super::servers::{HEADER, ServerRow, server_rows};
use super::table;
use crate::history::unix_ms;

/// The cells of each server, by backend and server name.
type Seen = BTreeMap<(String, String), Vec<String>>;

/// Which cells differ from the previous table (a new server: all of them).
fn changed_cells(prev: Option<&Seen>, rows: &[ServerRow]) -> Vec<Vec<bool>> {
    rows.iter()
        .map(|r| {
            let cells = r.cells();
            match prev.map(|p| p.get(&(r.backend.clone(), r.server.clone()))) {
                None => vec![false; cells.len()],
                Some(None) => vec![true; cells.len()],
                Some(Some(old)) => cells.iter().zip(old).map(|(a, b)| a != b).collect(),
            }
        })
        .collect()
}

/// A table with changed cells marked: reversed video on a terminal, `*` after them in
/// plain output; servers gone since the last table are listed after it.
fn render(rows: &[ServerRow], prev: Option<&Seen>, tty: bool) -> String {
    let changed = changed_cells(prev, rows);
    let cells: Vec<Vec<String>> = rows
        .iter()
        .zip(&changed)
        .map(|(r, ch)| {
            r.cells()
                .into_iter()
                .zip(ch)
                .map(|(c, &ch)| if ch && !tty { format!("{c}*") } else { c })
                .collect()
        })
        .collect();
    let mut text = table(&HEADER, &cells);
    if tty {
        // Reverse video after alignment, so the escape codes do not shift the columns.
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        for (line, ch) in lines.iter_mut().skip(1).zip(&changed) {
            if ch.iter().any(|c| *c) {
                *line = format!("\x1b[7m{line}\x1b[0m");
            }
        }
        text = lines.join("\n") + "\n";
    }
    if let Some(prev) = prev {
        for (b, s) in prev.keys() {
            if !rows.iter().any(|r| r.backend == *b && r.server == *s) {
                text.push_str(&format!("gone: {b}/{s}\n"));
            }
        }
    }
    text
}

pub(super) async fn watch(
    client: &RuntimeClient,
    backend: Option<&str>,
    interval: Duration,
    count: Option<u64>,
) -> anyhow::Result<ExitCode> {
    let backend = backend.map(BackendName::new).transpose()?;
    let tty = std::io::stdout().is_terminal();
    let mut prev: Option<Seen> = None;
    let mut shown = 0u64;
    loop {
        let rows = server_rows(client, backend.as_ref()).await?;
        let body = render(&rows, prev.as_ref(), tty);
        let mut out = std::io::stdout().lock();
        let stamp = super::history::utc(unix_ms(SystemTime::now()));
        if tty {
            write!(
                out,
                "\x1b[H\x1b[2J{stamp}  every {interval:?}, Ctrl-C to stop\n{body}"
            )?;
        } else {
            write!(out, "{stamp}\n{body}\n")?;
        }
        out.flush()?;
        drop(out);
        prev = Some(
            rows.iter()
                .map(|r| ((r.backend.clone(), r.server.clone()), r.cells()))
                .collect(),
        );
        shown += 1;
        if count.is_some_and(|c| shown >= c) {
            return Ok(ExitCode::SUCCESS);
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(server: &str, weight: u32) -> ServerRow {
        ServerRow {
            backend: "ns_web_80".into(),
            server: server.into(),
            address: "127.0.0.1:80".into(),
            admin: "ready",
            state: "UP",
            weight,
            sessions: 0,
        }
    }

    fn seen(rows: &[ServerRow]) -> Seen {
        rows.iter()
            .map(|r| ((r.backend.clone(), r.server.clone()), r.cells()))
            .collect()
    }

    #[test]
    fn changes_are_marked_in_plain_output() {
        let before = [row("s1", 1), row("s2", 1)];
        let after = [row("s1", 5), row("s3", 1)];
        let text = render(&after, Some(&seen(&before)), false);
        assert_eq!(
            text,
            "BACKEND     SERVER  ADDRESS        ADMIN   STATE  WEIGHT  SESSIONS\n\
             ns_web_80   s1      127.0.0.1:80   ready   UP     5*      0\n\
             ns_web_80*  s3*     127.0.0.1:80*  ready*  UP*    1*      0*\n\
             gone: ns_web_80/s2\n"
        );
    }

    #[test]
    fn the_first_table_marks_nothing() {
        let text = render(&[row("s1", 1)], None, false);
        assert!(!text.contains('*'), "{text}");
    }

    #[test]
    fn terminals_get_reverse_video_on_changed_rows() {
        let before = [row("s1", 1)];
        let text = render(&[row("s1", 2)], Some(&seen(&before)), true);
        assert!(
            text.lines().nth(1).unwrap().starts_with("\x1b[7m"),
            "{text:?}"
        );
    }
}
