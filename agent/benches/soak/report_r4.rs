//! The R4 (long run) rows and section of reliability.md, from `r4.json` of this run and,
//! when present, `reliability-r4-long.json` beside the page (the last `scripts/soak --long`,
//! a run of its own with its own date, commit and machine).

use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

use crate::report::{at, failures, int, ms, num, reloads, row, text, verdict};

/// The file `scripts/soak --long` writes beside the page.
pub const LONG_FILE: &str = "reliability-r4-long.json";

/// The last long run (`{"meta", "r4"}`) in `out_dir`, if any.
pub fn load_long(out_dir: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(out_dir.join(LONG_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Whether an R4 result passed.
pub fn passed(v: &Value) -> bool {
    at(v, "passed").as_bool() == Some(true)
}

/// The summary table's rows.
pub fn rows(md: &mut String, short: Option<&Value>, long: Option<&Value>) {
    if let Some(v) = short {
        row(
            md,
            &format!(
                "R4 churn for {} s, converged at the end",
                int(v, "duration_s")
            ),
            at(v, "end"),
        );
    }
    if let Some(l) = long {
        let v = at(l, "r4");
        row(
            md,
            &format!(
                "R4 long run ({} s, `scripts/soak --long`), converged at the end",
                int(v, "duration_s")
            ),
            at(v, "end"),
        );
    }
}

fn mib(kib: f64) -> String {
    if kib.is_nan() {
        "?".into()
    } else {
        format!("{:.1} MiB", kib / 1024.0)
    }
}

fn growth_row(md: &mut String, name: &str, g: &Value, limit: &str, fmt: fn(f64) -> String) {
    let _ = writeln!(
        md,
        "| {name} | {} | {} | {:+.2} % | ≤ {limit} % | {} |",
        fmt(num(g, "baseline_median")),
        fmt(num(g, "end_median")),
        num(g, "growth_percent"),
        verdict(at(g, "passed").as_bool() == Some(true)),
    );
}

/// One R4 result, under `heading`.
fn result(md: &mut String, heading: &str, v: &Value) {
    let _ = writeln!(
        md,
        "\n### {heading}\n\n\
         `haproxy-agent run --manifests DIR --spawn-haproxy --hard-stop-after 5s` with R1's \
         objects ({} Services) and R1's churn (one change every {} ms) for {} s: {} changes. \
         Every {} s the Ingress's `proxy-connect-timeout` annotation is toggled, a backend \
         option, so the agent reloads HAProxy ({} times); just before each, {} connections \
         are opened on HAProxy's HTTP bind with a request whose headers never end, so the \
         worker the reload retires has streams to wait for and lives until `hard-stop-after` \
         ends it (`timeout http-request` is longer). Every {} s the soak counts the HAProxy \
         processes whose parent is the master and reads the old workers the master's `show \
         proc` lists; every {} s it also reads the agent's `VmRSS` (`/proc/PID/status`) and \
         counts its open descriptors (`/proc/PID/fd`). An old worker's age is counted from \
         the start of the worker that replaced it (its `show proc` uptime, less a second for \
         the uptime's resolution). Warm-up: the first {} s; the baseline is the median of \
         the {} s after it, compared with the median of the last {} s.\n",
        text(v, "services"),
        text(v, "churn_interval_ms"),
        int(v, "duration_s"),
        int(v, "changes_written"),
        text(v, "reload_every_s"),
        int(v, "reloads_triggered"),
        text(v, "held_connections_per_reload"),
        text(v, "poll_every_s"),
        text(v, "sample_every_s"),
        text(v, "warm_up_s"),
        text(v, "window_s"),
        text(v, "window_s"),
    );
    md.push_str(
        "| measure | baseline (after warm-up) | end | growth | limit | result |\n\
         |---|---:|---:|---:|---:|---|\n",
    );
    let limit = text(v, "max_growth_percent");
    growth_row(md, "agent resident memory", at(v, "rss"), &limit, mib);
    growth_row(md, "agent open descriptors", at(v, "fds"), &limit, |x| {
        format!("{x:.0}")
    });
    let lingering = at(v, "lingering_old_workers")
        .as_array()
        .map_or(0, Vec::len);
    let _ = writeln!(
        md,
        "\nOld workers seen: {} (at most {} HAProxy workers at once); the longest seen alive \
         {} s after its successor started; `hard-stop-after` in the haproxy.cfg the agent \
         wrote: {} s (allowed: that plus {} s for the uptime's resolution, the polling and the \
         time from the new worker's start to the old one's soft stop; without a hard stop an \
         old worker would live until `timeout http-request`, which is longer, closes the \
         held connections); lingering \
         beyond it: **{lingering}** ({}). At the end, the churn stopped, HAProxy held what the \
         objects ask for after {} ({}). The agent's reloads: {}.\n",
        int(v, "old_workers_seen"),
        int(v, "max_workers"),
        text(v, "longest_old_worker_s"),
        text(v, "hard_stop_after_s"),
        text(v, "stop_slack_s"),
        verdict(lingering == 0),
        ms(num(v, "end/converged_ms/p50_ms")),
        verdict(at(v, "end/passed").as_bool() == Some(true)),
        reloads(v),
    );
    samples_table(md, v);
    failures(md, at(v, "end"));
}

/// Seven samples spread over the run, for people (every sample is in the JSON).
fn samples_table(md: &mut String, v: &Value) {
    let Some(all) = at(v, "samples").as_array().filter(|a| !a.is_empty()) else {
        return;
    };
    md.push_str(
        "| at | agent memory | agent descriptors | HAProxy workers | old workers |\n\
         |---:|---:|---:|---:|---:|\n",
    );
    let last = all.len() - 1;
    let mut picked: Vec<usize> = (0..=6).map(|k| k * last / 6).collect();
    picked.dedup();
    for i in picked {
        let s = &all[i];
        let _ = writeln!(
            md,
            "| {} s | {} | {} | {} | {} |",
            text(s, "t_s"),
            mib(num(s, "rss_kib")),
            int(s, "fds"),
            int(s, "workers"),
            int(s, "old_workers"),
        );
    }
}

/// The section: the last long run, then this run's short one.
pub fn section(md: &mut String, short: Option<&Value>, long: Option<&Value>) {
    md.push_str(
        "\n## R4: a long run, memory, descriptors and old workers\n\n\
         Pass: after the warm-up, the agent's resident memory and open descriptors grow by at \
         most the limit below; no old HAProxy worker outlives `hard-stop-after`; HAProxy \
         converged at the end. Memory and descriptors do not depend on the machine's load \
         (the times do).\n",
    );
    match long {
        Some(l) => {
            let meta = at(l, "meta");
            let _ = writeln!(
                md,
                "\nThe last long run ({} s) is a run of its own (`{}`, kept in [{LONG_FILE}]({LONG_FILE}) \
                 with every sample): {} at commit `{}`, {} CPUs ({}), load average {} at the \
                 start and {} at the end (the machine may have been shared), HAProxy {}. \
                 Result: **{}**.",
                int(at(l, "r4"), "duration_s"),
                text(meta, "command"),
                text(meta, "date"),
                text(meta, "commit"),
                text(meta, "cpus"),
                text(meta, "cpu_model"),
                text(meta, "loadavg_start"),
                text(meta, "loadavg_end"),
                text(meta, "haproxy_version"),
                verdict(passed(at(l, "r4"))),
            );
            let heading = format!(
                "The long run (`scripts/soak --long`, {} s)",
                int(at(l, "r4"), "duration_s")
            );
            result(md, &heading, at(l, "r4"));
        }
        None => {
            let _ = writeln!(
                md,
                "\nNo long run is recorded ({LONG_FILE} is absent beside this page): \
                 `scripts/soak --long` runs it and writes it."
            );
        }
    }
    if let Some(v) = short {
        result(md, &format!("In this run ({} s)", int(v, "duration_s")), v);
    }
}
