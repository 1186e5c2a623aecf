//! `ctl history`: the agent's recent syncs from its `/debug/history`, filtered by time and
//! object.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::Context;

use super::{get_json, print};
use crate::cli::OutputFormat;
use crate::history::{Filter, Outcome, SyncRecord, unix_ms};

pub(super) async fn history(
    agent: &str,
    since: Option<Duration>,
    object: Option<String>,
    out: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let doc = get_json(agent, "/debug/history").await?;
    let records: Vec<SyncRecord> = serde_json::from_value(doc)
        .context("the agent's /debug/history is not a list of syncs (another version?)")?;
    let filter = Filter {
        since_ms: since.map(|d| unix_ms(SystemTime::now()).saturating_sub(d.as_millis() as u64)),
        object,
    };
    let shown: Vec<&SyncRecord> = records.iter().filter(|r| filter.admits(r)).collect();
    let mut text = String::new();
    for r in &shown {
        describe(r, &mut text);
    }
    if shown.is_empty() {
        text.push_str("no sync recorded matches\n");
    }
    print(
        out,
        &serde_json::to_value(&shown).unwrap_or_default(),
        &text,
    );
    Ok(ExitCode::SUCCESS)
}

/// One sync for people: a heading line, then one indented line per thing done.
fn describe(r: &SyncRecord, s: &mut String) {
    let mut what = r.objects.join(", ");
    if r.objects_omitted > 0 {
        let _ = write!(what, " (+{} more)", r.objects_omitted);
    }
    if what.is_empty() {
        what = if r.everything {
            "everything looked at".into()
        } else {
            "no object changed".into()
        };
    }
    let _ = writeln!(s, "{}  generation {}  {what}", utc(r.at_ms), r.generation);
    for c in &r.commands {
        let outcome = match c.outcome {
            Outcome::Ok => "ok",
            Outcome::Refused => "REFUSED",
            Outcome::Unexpected => "UNEXPECTED REPLY",
            Outcome::Failed => "NO REPLY",
        };
        let _ = write!(s, "    {}  {outcome}", c.line);
        if let Some(reply) = &c.reply {
            let _ = write!(s, ": {}", reply.trim_end());
        }
        s.push('\n');
    }
    if r.commands_omitted > 0 {
        let _ = writeln!(s, "    … and {} more commands", r.commands_omitted);
    }
    match (
        r.commands.is_empty(),
        r.reloads.is_empty() && r.error.is_none(),
    ) {
        (true, true) => s.push_str("    no command, no reload\n"),
        (false, true) => s.push_str("    no reload\n"),
        _ => {}
    }
    for l in &r.reloads {
        let how = if l.ok { "reload" } else { "FAILED reload" };
        let _ = writeln!(s, "    {how} {} in {} ms", l.detail, l.took_ms);
    }
    for p in &r.problems_appeared {
        let _ = writeln!(s, "    problem: {p}");
    }
    for p in &r.problems_resolved {
        let _ = writeln!(s, "    resolved: {p}");
    }
    if let Some(e) = &r.error {
        let _ = writeln!(s, "    sync failed: {e}");
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` from milliseconds since the epoch.
pub(super) fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Days to a civil date (proleptic Gregorian), after Howard Hinnant's algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{ReloadRecord, SentCommand};

    #[test]
    fn times_print_as_utc() {
        assert_eq!(utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(utc(1_796_420_432_123), "2026-12-04T21:40:32.123Z");
    }

    #[test]
    fn a_sync_reads_as_lines() {
        let r = SyncRecord {
            at_ms: 0,
            generation: 7,
            objects: vec!["EndpointSlice ns/web-1".into()],
            objects_omitted: 2,
            commands: vec![SentCommand {
                name: "del server".into(),
                line: "del server ns_web_80/s2".into(),
                outcome: Outcome::Refused,
                reply: Some("No such server.\n".into()),
            }],
            reloads: vec![ReloadRecord {
                reason: "new_backend".into(),
                detail: "new_backend ns_api_80".into(),
                took_ms: 120,
                ok: true,
            }],
            ..SyncRecord::default()
        };
        let mut s = String::new();
        describe(&r, &mut s);
        assert_eq!(
            s,
            "1970-01-01T00:00:00.000Z  generation 7  EndpointSlice ns/web-1 (+2 more)\n\
             \x20   del server ns_web_80/s2  REFUSED: No such server.\n\
             \x20   reload new_backend ns_api_80 in 120 ms\n"
        );
    }
}
