//! Each scenario's figures as the page's template names them (`r1` … `r7`, and R4's runs:
//! this run's and the last long one).

use serde_json::{Value, json};

use super::figures::{
    at, failures, int, joined, lines, ms, ms_at, num, range, reloads, secs, tally, text, verdict,
    yes,
};
use super::passed;
use crate::template::{Vals, put, put_list, when};

/// Puts each `key` of `v` as the run wrote it.
fn texts(out: &mut Vals, v: &Value, keys: &[&str]) {
    for key in keys {
        put(out, key, text(v, key));
    }
}

/// Puts each `key` of `v` as a count.
fn ints(out: &mut Vals, v: &Value, keys: &[&str]) {
    for key in keys {
        put(out, key, int(v, key));
    }
}

/// Puts each tally `key` of `v` as a one-item list (see [`tally`]).
fn tallies(out: &mut Vals, v: &Value, keys: &[&str]) {
    for key in keys {
        put_list(out, key, tally(at(v, key)));
    }
}

/// R1: HAProxy SIGKILLed.
pub(super) fn r1(v: &Value) -> Vals {
    let mut out = Vals::new();
    texts(
        &mut out,
        v,
        &[
            "services",
            "endpoints_per_service",
            "max_endpoints",
            "churn_interval_ms",
            "kills",
            "churn_after_kill_ms",
        ],
    );
    ints(&mut out, v, &["changes_written"]);
    put(&mut out, "deadline", secs(v, "deadline_ms"));
    put(
        &mut out,
        "changes_after_kill_median",
        int(v, "changes_after_kill/median"),
    );
    put(
        &mut out,
        "changes_after_kill_max",
        int(v, "changes_after_kill/max"),
    );
    put(&mut out, "reloads", reloads(v));
    put(&mut out, "desyncs", int(v, "agent/desync_total"));
    tallies(&mut out, v, &["worker", "master"]);
    put_list(
        &mut out,
        "failures",
        failures(&[at(v, "worker"), at(v, "master")]),
    );
    out
}

/// R2: the agent SIGKILLed mid-batch.
pub(super) fn r2(v: &Value) -> Vals {
    let mut out = Vals::new();
    texts(&mut out, v, &["services", "endpoints", "servers", "kills"]);
    put(
        &mut out,
        "servers_changed_median",
        int(v, "servers_changed_per_batch/median"),
    );
    let ms_of = |x: &Value| ms(x.as_f64().unwrap_or(f64::NAN));
    put(
        &mut out,
        "warm_up_first_change",
        joined(v, "warm_up_first_change_ms", ms_of),
    );
    put(
        &mut out,
        "warm_up_done",
        joined(v, "warm_up_done_ms", ms_of),
    );
    let kill_at = |i: usize| ms_of(at(v, "kill_after_write_ms").get(i).unwrap_or(&Value::Null));
    put(&mut out, "kill_from", kill_at(0));
    put(&mut out, "kill_to", kill_at(1));
    put(&mut out, "deadline", secs(v, "deadline_ms"));
    for (name, key) in [
        ("not_started", "not_started"),
        ("partial", "partial"),
        ("done", "done"),
        ("unreadable", "haproxy_unreadable"),
    ] {
        put(&mut out, name, int(v, &format!("batch_at_kill/{key}")));
    }
    put(
        &mut out,
        "reloads",
        reloads(&json!({"agent": at(v, "agent_last")})),
    );
    tallies(&mut out, v, &["attach", "spawn"]);
    put_list(
        &mut out,
        "failures",
        failures(&[at(v, "attach"), at(v, "spawn")]),
    );
    out
}

/// R3: watch faults.
pub(super) fn r3(v: &Value) -> Vals {
    let (drop, compaction, pause) = (at(v, "drop"), at(v, "compaction"), at(v, "pause"));
    let mut out = Vals::new();
    texts(
        &mut out,
        v,
        &[
            "services",
            "churn_interval_ms",
            "churn_after_fault_ms",
            "kinds_watched",
        ],
    );
    put(&mut out, "deadline", secs(v, "deadline_ms"));
    put(&mut out, "drop_faults", int(drop, "faults"));
    put(
        &mut out,
        "watch_requests_after_each",
        range(drop, "watch_requests_after_each"),
    );
    put(
        &mut out,
        "drop_last_p50",
        ms_at(drop, "after_last_change_ms/p50_ms"),
    );
    put(
        &mut out,
        "drop_last_max",
        ms_at(drop, "after_last_change_ms/max_ms"),
    );
    put(&mut out, "compaction_faults", int(compaction, "faults"));
    put(
        &mut out,
        "changes_behind_each",
        text(compaction, "changes_behind_each"),
    );
    put(
        &mut out,
        "kinds_relisted_after_each",
        range(compaction, "kinds_relisted_after_each"),
    );
    put(&mut out, "pause_for", secs(pause, "pause_ms"));
    texts(
        &mut out,
        pause,
        &[
            "changes_queued",
            "looks_during_pause",
            "haproxy_changed_during_pause",
            "healthz_200_at_end_of_pause",
        ],
    );
    put(
        &mut out,
        "converged_after_resume",
        ms_at(pause, "converged_after_resume_ms"),
    );
    ints(&mut out, v, &["changes_written"]);
    put(&mut out, "reloads", reloads(v));
    tallies(&mut out, v, &["drop", "compaction", "pause"]);
    put_list(&mut out, "failures", failures(&[drop, compaction, pause]));
    out
}

/// R4, this run's: its summary row (see [`r4_runs`] for its section).
pub(super) fn r4(v: &Value) -> Vals {
    r4_run(v)
}

/// R4's section: the last long run's header (`r4_long`, or `no_r4_long`) and the runs
/// (`r4_runs`: the long one, then this run's).
pub(super) fn r4_runs(out: &mut Vals, short: Option<&Value>, long: Option<&Value>) {
    let mut runs = Vec::new();
    let mut long_item = Vec::new();
    if let Some(l) = long {
        let mut run = r4_run(at(l, "r4"));
        let meta = at(l, "meta");
        for key in [
            "command",
            "date",
            "commit",
            "cpus",
            "cpu_model",
            "loadavg_start",
            "loadavg_end",
            "haproxy_version",
        ] {
            put(&mut run, &format!("long_{key}"), text(meta, key));
        }
        put_list(&mut run, "long_passed", when(passed(at(l, "r4"))));
        put_list(&mut run, "long_loss", when(!passed(at(l, "r4"))));
        put_list(&mut run, "long", when(true));
        put_list(&mut run, "short", when(false));
        long_item.push(run.clone());
        runs.push(run);
    }
    if let Some(v) = short {
        let mut run = r4_run(v);
        put_list(&mut run, "long", when(false));
        put_list(&mut run, "short", when(true));
        runs.push(run);
    }
    put_list(out, "r4_long", long_item);
    put_list(out, "no_r4_long", when(long.is_none()));
    put_list(out, "r4_runs", runs);
}

fn mib(kib: f64) -> String {
    if kib.is_nan() {
        "?".into()
    } else {
        format!("{:.1} MiB", kib / 1024.0)
    }
}

/// One R4 result: memory and descriptors against the limit, old workers, samples.
fn r4_run(v: &Value) -> Vals {
    let mut out = Vals::new();
    texts(
        &mut out,
        v,
        &[
            "services",
            "churn_interval_ms",
            "reload_every_s",
            "held_connections_per_reload",
            "poll_every_s",
            "sample_every_s",
            "warm_up_s",
            "window_s",
            "longest_old_worker_s",
            "hard_stop_after_s",
            "stop_slack_s",
        ],
    );
    ints(
        &mut out,
        v,
        &[
            "duration_s",
            "changes_written",
            "reloads_triggered",
            "old_workers_seen",
            "max_workers",
        ],
    );
    let limit = text(v, "max_growth_percent");
    let growth = |g: &Value, fmt: fn(f64) -> String| {
        let mut row = Vals::new();
        put(&mut row, "from", fmt(num(g, "baseline_median")));
        put(&mut row, "to", fmt(num(g, "end_median")));
        put(
            &mut row,
            "growth",
            format!("{:+.2} %", num(g, "growth_percent")),
        );
        put(&mut row, "limit", limit.clone());
        put(&mut row, "result", verdict(passed(g)));
        vec![row]
    };
    put_list(&mut out, "rss", growth(at(v, "rss"), mib));
    put_list(&mut out, "fds", growth(at(v, "fds"), |x| format!("{x:.0}")));
    let lingering = at(v, "lingering_old_workers")
        .as_array()
        .map_or(0, Vec::len);
    put(&mut out, "lingering", lingering.to_string());
    put(&mut out, "lingering_result", verdict(lingering == 0));
    put(&mut out, "end_p50", ms_at(v, "end/converged_ms/p50_ms"));
    put(&mut out, "end_result", verdict(passed(at(v, "end"))));
    put(&mut out, "reloads", reloads(v));
    let samples = samples(v);
    put_list(&mut out, "sampled", when(!samples.is_empty()));
    put_list(&mut out, "samples", samples);
    tallies(&mut out, v, &["end"]);
    put_list(&mut out, "failures", failures(&[at(v, "end")]));
    out
}

/// Seven samples spread over the run, for people (every sample is in the JSON).
fn samples(v: &Value) -> Vec<Vals> {
    let Some(all) = at(v, "samples").as_array().filter(|a| !a.is_empty()) else {
        return Vec::new();
    };
    let last = all.len() - 1;
    let mut picked: Vec<usize> = (0..=6).map(|k| k * last / 6).collect();
    picked.dedup();
    picked
        .into_iter()
        .map(|i| {
            let s = &all[i];
            let mut row = Vals::new();
            put(&mut row, "t_s", text(s, "t_s"));
            put(&mut row, "rss_mib", mib(num(s, "rss_kib")));
            ints(&mut row, s, &["fds", "workers", "old_workers"]);
            row
        })
        .collect()
}

/// R5: two replicas, the leader killed.
pub(super) fn r5(v: &Value) -> Vals {
    let mut out = Vals::new();
    texts(
        &mut out,
        v,
        &["services", "churn_interval_ms", "renew_period_ms"],
    );
    ints(&mut out, v, &["kills", "changes_written"]);
    put(&mut out, "lease_duration", secs(v, "lease_duration_ms"));
    put(&mut out, "deadline", secs(v, "deadline_ms"));
    for (name, path) in [
        ("lease_p50", "takeover_lease_ms/p50_ms"),
        ("lease_p99", "takeover_lease_ms/p99_ms"),
        ("lease_max", "takeover_lease_ms/max_ms"),
        ("status_p50", "takeover_status_ms/p50_ms"),
        ("status_max", "takeover_status_ms/max_ms"),
        ("bound", "takeover_bound_ms"),
    ] {
        put(&mut out, name, ms_at(v, path));
    }
    for (name, path) in [
        ("within_lease", "takeovers_within_lease_duration"),
        ("takeovers", "takeover_lease_ms/n"),
        ("within_bound", "takeovers_within_bound"),
        ("taken_back", "lease_taken_back"),
    ] {
        put(&mut out, name, int(v, path));
    }
    let replicas: Vec<String> = at(v, "replicas")
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| format!("{} {}", text(r, "identity"), reloads(r)))
        .collect();
    put(&mut out, "replica_reloads", replicas.join("; "));
    put_list(&mut out, "takeover_failures", lines(v, "takeover_failures"));
    tallies(&mut out, v, &["survivor", "restarted"]);
    put_list(
        &mut out,
        "failures",
        failures(&[at(v, "survivor"), at(v, "restarted")]),
    );
    out
}

/// R6's faults, by their key in `r6.json` (their names and how each is made are the
/// template's).
const R6_FAULTS: [&str; 4] = ["full", "read_only", "map_deleted", "config_edited"];

/// R6: disk faults.
pub(super) fn r6(v: &Value) -> Vals {
    let mut out = Vals::new();
    texts(
        &mut out,
        v,
        &[
            "services",
            "churn_interval_ms",
            "traffic_every_ms",
            "tmpfs_size",
        ],
    );
    ints(
        &mut out,
        v,
        &[
            "config_drift_total",
            "config_write_failures_total",
            "changes_written",
        ],
    );
    put(&mut out, "during", secs(v, "during_ms"));
    put(&mut out, "deadline", secs(v, "deadline_ms"));
    let mut notes = Vec::new();
    for key in R6_FAULTS {
        let f = at(v, &format!("faults/{key}"));
        let mut fault = tally(f);
        let row = &mut fault[0];
        put(row, "named", ms_at(f, "named_ms"));
        ints(row, f, &["requests_ok", "requests_failed"]);
        put(row, "differing", int(f, "servers_differing_during_fault"));
        put(row, "files_current", yes(f, "disk_current_after", "n/a"));
        put(row, "reload_after", yes(f, "reload_after_clear", "n/a"));
        put_list(&mut out, key, fault);
        let mut note = Vals::new();
        put_list(&mut note, "failures", failures(&[f]));
        put_list(&mut note, "problems", lines(f, "problems"));
        notes.push(note);
    }
    put_list(&mut out, "notes", notes);
    out
}

/// R7: API server faults.
pub(super) fn r7(v: &Value) -> Vals {
    let mut out = Vals::new();
    texts(
        &mut out,
        v,
        &[
            "services",
            "rounds",
            "next_failures",
            "churn_after_fault_ms",
            "changes_behind_compaction",
        ],
    );
    ints(
        &mut out,
        v,
        &[
            "errors_named",
            "errors_healthz_200",
            "errors_haproxy_moved",
            "errors_resolved",
            "changes_written",
        ],
    );
    put(&mut out, "fault", secs(v, "fault_ms"));
    put(&mut out, "slow", secs(v, "slow_ms"));
    put(
        &mut out,
        "next_slice_requests_each",
        joined(v, "next_slice_requests_each", Value::to_string),
    );
    for key in [
        "malformed_named_in_watch",
        "malformed_named_after_relist",
        "malformed_resolved_when_fixed",
    ] {
        put(&mut out, key, yes(v, key, "?"));
    }
    put(&mut out, "reloads", reloads(v));
    tallies(
        &mut out,
        v,
        &["errors", "next", "malformed_watch", "malformed_list"],
    );
    put_list(&mut out, "slow_faults", tally(at(v, "slow")));
    let keys = [
        "baseline",
        "errors",
        "next",
        "slow",
        "malformed_watch",
        "malformed_list",
    ];
    let all: Vec<&Value> = keys.iter().map(|k| at(v, k)).collect();
    put_list(&mut out, "failures", failures(&all));
    out
}
