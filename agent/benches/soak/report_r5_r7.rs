//! The R5 (two replicas, the leader killed) and R7 (API server faults) parts of
//! `reliability.md`: their summary rows and sections, from `r5.json` and `r7.json`. Every
//! figure comes from those files.

use std::fmt::Write as _;

use serde_json::Value;

use crate::report::{at, failures, int, ms, num, reloads, row, secs, text};

/// The summary rows of R5 and R7 (a scenario without figures is a row saying so).
pub fn rows(
    md: &mut String,
    r5: Option<&Value>,
    r7: Option<&Value>,
    missing: impl Fn(&mut String, &str),
) {
    match r5 {
        Some(v) => {
            row(md, "R5 leader SIGKILLed: the survivor", at(v, "survivor"));
            row(
                md,
                "R5 leader SIGKILLed: the restarted replica",
                at(v, "restarted"),
            );
        }
        None => missing(md, "R5 two replicas"),
    }
    match r7 {
        Some(v) => {
            let names = [
                (
                    "R7 EndpointSlice requests answered 500".to_string(),
                    "errors",
                ),
                (
                    format!(
                        "R7 the next {} requests answered 500",
                        text(v, "next_failures")
                    ),
                    "next",
                ),
                (
                    format!("R7 every answer {} late", secs(v, "slow_ms")),
                    "slow",
                ),
                (
                    "R7 objects that do not decode, in a watch".to_string(),
                    "malformed_watch",
                ),
                (
                    "R7 objects that do not decode, in a list".to_string(),
                    "malformed_list",
                ),
            ];
            for (name, key) in names {
                row(md, &name, at(v, key));
            }
        }
        None => missing(md, "R7 API server faults"),
    }
}

fn yes(v: &Value, path: &str) -> &'static str {
    match at(v, path).as_bool() {
        Some(true) => "yes",
        Some(false) => "**no**",
        None => "?",
    }
}

/// The R5 section.
pub fn r5_section(md: &mut String, v: &Value) {
    let _ = writeln!(
        md,
        "\n## R5: two replicas, the status writer killed\n\n\
         Two `haproxy-agent run --kubeconfig FILE --spawn-haproxy` processes, each with its own \
         HAProxy, follow the test API server (R3's {} Services and churn, one change every {} \
         ms) and elect the status writer with a Lease (`--election-lease-duration {}`, \
         `--election-renew-period {} ms`); each publishes its own address \
         (`--publish-address`), so the API server's write log tells which one writes the \
         Ingress status. {} times, after 1-2 s of churn, the Lease holder is SIGKILLed (so it \
         cannot release the Lease). The churn goes on until the other replica holds the \
         Lease, then stops; the survivor's HAProxy must converge within {} of the stop. The \
         killed replica is restarted (with `--spawn-haproxy`, so it also retires the HAProxy \
         it left) and must converge within {} of the restart, without taking the Lease back.\n",
        text(v, "services"),
        text(v, "churn_interval_ms"),
        secs(v, "lease_duration_ms"),
        text(v, "renew_period_ms"),
        int(v, "kills"),
        secs(v, "deadline_ms"),
        secs(v, "deadline_ms"),
    );
    let _ = writeln!(
        md,
        "Takeover, from the kill (times of the API server's write log): the Lease naming the \
         survivor p50 {}, p99 {}, max {}; the survivor's first Ingress status write p50 {}, \
         max {}. Within the lease duration ({}): {} of {}; within the bound the election \
         allows, {} (the lease duration plus two renew periods: the follower first sees the \
         last renewal up to one period late and acquires at its next attempt after the \
         duration): {} of {}. The Lease taken back by a restarted replica: {} times.\n",
        ms(num(v, "takeover_lease_ms/p50_ms")),
        ms(num(v, "takeover_lease_ms/p99_ms")),
        ms(num(v, "takeover_lease_ms/max_ms")),
        ms(num(v, "takeover_status_ms/p50_ms")),
        ms(num(v, "takeover_status_ms/max_ms")),
        secs(v, "lease_duration_ms"),
        int(v, "takeovers_within_lease_duration"),
        int(v, "takeover_lease_ms/n"),
        ms(num(v, "takeover_bound_ms")),
        int(v, "takeovers_within_bound"),
        int(v, "takeover_lease_ms/n"),
        int(v, "lease_taken_back"),
    );
    converged_table(
        md,
        "replica",
        &[
            ("survivor, from the churn's stop", at(v, "survivor")),
            ("restarted, from the restart", at(v, "restarted")),
        ],
    );
    let mut lines = Vec::new();
    for r in at(v, "replicas").as_array().into_iter().flatten() {
        lines.push(format!("{} {}", text(r, "identity"), reloads(r)));
    }
    let _ = writeln!(
        md,
        "\nChanges written in all: {}. Reloads at the end, by replica: {}.",
        int(v, "changes_written"),
        lines.join("; "),
    );
    if let Some(list) = at(v, "takeover_failures").as_array()
        && !list.is_empty()
    {
        md.push_str("\nTakeover failures:\n\n");
        for f in list {
            let _ = writeln!(md, "- `{}`", f.as_str().unwrap_or_default());
        }
    }
    failures(md, at(v, "survivor"));
    failures(md, at(v, "restarted"));
}

/// The R7 section.
pub fn r7_section(md: &mut String, v: &Value) {
    let _ = writeln!(
        md,
        "\n## R7: API server faults\n\n\
         `haproxy-agent run --kubeconfig FILE --spawn-haproxy` on the test API server with R3's \
         {} Services and churn, {} rounds of the first three faults, each from a converged \
         HAProxy (the test server's controls: `fail_requests`, `fail_next`, `delay_requests`, \
         and objects written as any JSON):\n\n\
         - **500s**: every EndpointSlice request answered 500 for {} and the open watches \
         cut, while the churn writes. Named by the agent while it lasted (an `api_server` / \
         `unavailable` problem in `/debug/state`): {} of {} rounds; `/healthz` 200 during it: \
         {} of {}; rounds in which HAProxy's servers moved although no EndpointSlice change could \
         arrive: {}. Converged from the clear (kube's watcher backoff after the errors is \
         most of it); the problem gone afterwards: {} of {}.\n\
         - **the next {} requests 500**: EndpointSlice requests after the watches are cut; \
         {} ms of churn; converged from the fault. EndpointSlice requests it took: {}.\n\
         - **slow**: every answer {} late (a watch's events then flow as usual), the watches \
         cut, {} of churn; converged from the churn's stop, the server still slow.\n\
         - **objects that do not decode, in a watch**: written during 1 s of churn: a new \
         Ingress whose `spec` is a string, the `soak` Ingress updated with its first rule's \
         `paths` a string, a new EndpointSlice of `svc-03` whose `endpoints` is a string. \
         kube's watcher would log a decode error and skip each; the agent decodes each object \
         on its own, keeps the last good version (the `soak` Ingress keeps its routes) and \
         names each at its field (a `malformed` problem): all three named: {}. Converged from \
         the churn's stop.\n\
         - **objects that do not decode, in a list**: with those three in place, the server \
         paused, {} changes written, the history compacted and the watches cut: on the \
         resume every watch lists again, and kube's typed list of Ingresses or EndpointSlices \
         would fail whole on the bad item, for ever. Converged from the resume; still named \
         after the relist: {}; every problem gone once the objects were fixed: {}.\n",
        text(v, "services"),
        text(v, "rounds"),
        secs(v, "fault_ms"),
        int(v, "errors_named"),
        text(v, "rounds"),
        int(v, "errors_healthz_200"),
        text(v, "rounds"),
        int(v, "errors_haproxy_moved"),
        int(v, "errors_resolved"),
        text(v, "rounds"),
        text(v, "next_failures"),
        text(v, "churn_after_fault_ms"),
        ints(v, "next_slice_requests_each"),
        secs(v, "slow_ms"),
        secs(v, "fault_ms"),
        yes(v, "malformed_named_in_watch"),
        text(v, "changes_behind_compaction"),
        yes(v, "malformed_named_after_relist"),
        yes(v, "malformed_resolved_when_fixed"),
    );
    let keys = [
        "errors",
        "next",
        "slow",
        "malformed_watch",
        "malformed_list",
    ];
    let rows: Vec<(&str, &Value)> = keys.iter().map(|k| (*k, at(v, k))).collect();
    converged_table(md, "fault", &rows);
    let _ = writeln!(
        md,
        "\nChanges written in all: {}. The agent's reloads over the run: {}.",
        int(v, "changes_written"),
        reloads(v),
    );
    for key in [
        "baseline",
        "errors",
        "next",
        "slow",
        "malformed_watch",
        "malformed_list",
    ] {
        failures(md, at(v, key));
    }
}

/// A table of rounds and convergence times, one row per tally.
fn converged_table(md: &mut String, first: &str, rows: &[(&str, &Value)]) {
    let _ = writeln!(
        md,
        "| {first} | rounds | converged p50 | p99 | max |\n|---|---:|---:|---:|---:|"
    );
    for (name, t) in rows {
        let _ = writeln!(
            md,
            "| {name} | {} | {} | {} | {} |",
            int(t, "faults"),
            ms(num(t, "converged_ms/p50_ms")),
            ms(num(t, "converged_ms/p99_ms")),
            ms(num(t, "converged_ms/max_ms")),
        );
    }
}

/// A list of counts, `4, 5, 4`.
fn ints(v: &Value, path: &str) -> String {
    at(v, path)
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_else(|| "?".into())
}
