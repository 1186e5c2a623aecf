//! `soak report DIR OUT_DIR`: `reliability.md` (the page) and `reliability.json` (every
//! figure) in OUT_DIR, from the JSON one `scripts/soak` run left in DIR: `meta.json` (the
//! run: date, command, machine, HAProxy version) and `r1.json`, `r2.json`, `r3.json`,
//! `r4.json`, `r5.json`, `r6.json`, `r7.json` (R4's parts in `report_r4.rs`, R5 and R7's in
//! `report_r5_r7.rs`, R6's in `report_r6.rs`; a scenario that failed before writing its
//! figures is reported as such), and the last long run beside the page (see
//! `report_r4.rs`). Nothing on the
//! page is typed in: every figure comes from those files.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;
use serde_json::{Value, json};

use crate::{report_r4, report_r6};

fn load(dir: &Path, name: &str) -> Option<Value> {
    let text = std::fs::read_to_string(dir.join(format!("{name}.json"))).ok()?;
    serde_json::from_str(&text).ok()
}

/// The value at a `/`-separated path, `Null` when absent.
pub(crate) fn at<'a>(v: &'a Value, path: &str) -> &'a Value {
    let mut cur = v;
    for part in path.split('/').filter(|p| !p.is_empty()) {
        cur = match cur {
            Value::Object(m) => m.get(part).unwrap_or(&Value::Null),
            _ => &Value::Null,
        };
    }
    cur
}

pub(crate) fn num(v: &Value, path: &str) -> f64 {
    at(v, path).as_f64().unwrap_or(f64::NAN)
}

/// A count: whole numbers without decimals.
pub(crate) fn int(v: &Value, path: &str) -> String {
    match at(v, path) {
        Value::Number(n) => match n.as_f64() {
            Some(x) if x.fract() == 0.0 => format!("{}", x as i64),
            _ => n.to_string(),
        },
        Value::Null => "?".into(),
        x => x.to_string(),
    }
}

/// Milliseconds as seconds, `10 s`.
pub(crate) fn secs(v: &Value, path: &str) -> String {
    let x = num(v, path) / 1000.0;
    if x.is_nan() {
        "?".into()
    } else {
        format!("{x} s")
    }
}

/// A list of milliseconds, `45.9 ms, 47.0 ms`.
fn ms_list(v: &Value, path: &str) -> String {
    at(v, path)
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| ms(x.as_f64().unwrap_or(f64::NAN)))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_else(|| "?".into())
}

pub(crate) fn text(v: &Value, path: &str) -> String {
    match at(v, path) {
        Value::String(s) => s.clone(),
        Value::Null => "?".into(),
        x => x.to_string(),
    }
}

/// Milliseconds, with fewer decimals as they grow.
pub(crate) fn ms(x: f64) -> String {
    if x.is_nan() {
        "?".into()
    } else if x < 10.0 {
        format!("{x:.2} ms")
    } else if x < 100.0 {
        format!("{x:.1} ms")
    } else {
        format!("{x:.0} ms")
    }
}

pub(crate) fn verdict(passed: bool) -> &'static str {
    if passed { "pass" } else { "**LOSS**" }
}

/// One row of the summary table for a tally (see `Tally::json`).
pub(crate) fn row(out: &mut String, name: &str, t: &Value) {
    let losses = |k: &str| int(t, &format!("losses/{k}"));
    let _ = writeln!(
        out,
        "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        int(t, "faults"),
        ms(num(t, "converged_ms/p50_ms")),
        ms(num(t, "converged_ms/p99_ms")),
        ms(num(t, "converged_ms/max_ms")),
        int(t, "not_converged"),
        losses("stale"),
        losses("missing"),
        losses("wrong"),
        losses("duplicate"),
        losses("orphan_processes"),
        losses("routes"),
        losses("structure"),
        losses("canary"),
        losses("certs"),
        verdict(at(t, "passed").as_bool().unwrap_or(false)),
    );
}

pub(crate) fn failures(out: &mut String, t: &Value) {
    if let Some(list) = at(t, "failures").as_array()
        && !list.is_empty()
    {
        out.push_str("\nFailures:\n\n");
        for f in list {
            let _ = writeln!(out, "- `{}`", f.as_str().unwrap_or_default());
        }
    }
}

pub(crate) fn reloads(v: &Value) -> String {
    match at(v, "agent/reloads_by_reason").as_object() {
        Some(m) if !m.is_empty() => m
            .iter()
            .map(|(k, n)| format!("{} `{k}`", int(n, "")))
            .collect::<Vec<_>>()
            .join(", "),
        Some(_) => "none".into(),
        None => "?".into(),
    }
}

/// Writes the page and the JSON; returns whether every scenario passed.
pub fn write(dir: &Path, out_dir: &Path) -> anyhow::Result<bool> {
    let meta = load(dir, "meta").context("no meta.json in the results")?;
    let r1 = load(dir, "r1");
    let r2 = load(dir, "r2");
    let r3 = load(dir, "r3");
    let r4 = load(dir, "r4");
    let r5 = load(dir, "r5");
    let r6 = load(dir, "r6");
    let r7 = load(dir, "r7");
    let r4_long = report_r4::load_long(out_dir);
    let passed = |v: &Option<Value>| {
        v.as_ref()
            .is_some_and(|v| at(v, "passed").as_bool() == Some(true))
    };
    let all_passed = passed(&r1)
        && passed(&r2)
        && passed(&r3)
        && passed(&r4)
        && passed(&r5)
        && passed(&r6)
        && passed(&r7)
        && r4_long
            .as_ref()
            .is_none_or(|l| report_r4::passed(at(l, "r4")));
    let mut md = String::new();
    let _ = writeln!(md, "# Reliability: the fault suite\n");
    md.push_str(
        "<!-- generated by scripts/soak: do not edit by hand, run scripts/soak again -->\n",
    );
    let _ = writeln!(
        md,
        "**This page is generated by `scripts/soak`**, from one run on {} (commit `{}`): every \
         figure below was measured in that run (the raw figures, with every sample, are in \
         [reliability.json](reliability.json)). To change the page, change the script or the \
         scenarios (`agent/benches/soak.rs`, `agent/benches/soak/`) and run it again.\n",
        text(&meta, "date"),
        text(&meta, "commit"),
    );
    let _ = writeln!(
        md,
        "Command: `{}`. Machine: {} CPUs ({}), Linux {}; load average {} at the start and {} \
         at the end of the run, which took {} s. HAProxy {} at `{}`, `{}`. Seed {}.\n",
        text(&meta, "command"),
        text(&meta, "cpus"),
        text(&meta, "cpu_model"),
        text(&meta, "kernel"),
        text(&meta, "loadavg_start"),
        text(&meta, "loadavg_end"),
        text(&meta, "duration_s"),
        text(&meta, "haproxy_version"),
        text(&meta, "haproxy_bin"),
        text(&meta, "rustc"),
        text(&meta, "seed"),
    );
    let _ = writeln!(
        md,
        "Result: **{}**.\n",
        if all_passed {
            "no loss in any scenario"
        } else {
            "LOSS: at least one scenario lost servers or did not converge (see below)"
        }
    );

    md.push_str("## Summary\n\n");
    md.push_str(
        "Time to converge is counted from the fault (R1, R3 drop and compaction), from the \
         restart of the agent (R2) or from the API server's resume (R3 pause); after R1's \
         kills and R3's drops the churn goes on for 300 ms, which the time includes (their \
         sections also give it from the last change); R5 and R7 count from the moments \
         their sections name. Converged also means the agent's \
         `/healthz` answers 200. The loss columns count what differed at the deadline of \
         faults that did not converge and at the rechecks; all must be 0.\n\n",
    );
    md.push_str(
        "| scenario | faults | converged p50 | p99 | max | not converged | stale | missing | wrong | duplicate | orphan HAProxy | routes | structure | canary | certs | result |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    let missing_row = |md: &mut String, name: &str| {
        let _ = writeln!(
            md,
            "| {name} | did not complete (see the script's output) | | | | | | | | | | | | | | **LOSS** |"
        );
    };
    match &r1 {
        Some(v) => {
            row(&mut md, "R1 HAProxy worker SIGKILLed", at(v, "worker"));
            row(&mut md, "R1 HAProxy master SIGKILLed", at(v, "master"));
        }
        None => missing_row(&mut md, "R1 HAProxy killed"),
    }
    match &r2 {
        Some(v) => {
            row(
                &mut md,
                "R2 agent SIGKILLed, restarted attached",
                at(v, "attach"),
            );
            row(
                &mut md,
                "R2 agent SIGKILLed, restarted with `--spawn-haproxy`",
                at(v, "spawn"),
            );
        }
        None => missing_row(&mut md, "R2 agent killed mid-batch"),
    }
    match &r3 {
        Some(v) => {
            row(&mut md, "R3 every watch dropped", at(v, "drop"));
            row(
                &mut md,
                "R3 410 Expired after compaction",
                at(v, "compaction"),
            );
            row(&mut md, "R3 API server paused", at(v, "pause"));
        }
        None => missing_row(&mut md, "R3 watch faults"),
    }
    report_r4::rows(&mut md, r4.as_ref(), r4_long.as_ref());
    if r4.is_none() {
        missing_row(&mut md, "R4 long run");
    }
    crate::report_r5_r7::rows(&mut md, r5.as_ref(), r7.as_ref(), missing_row);
    match &r6 {
        Some(v) => report_r6::rows(&mut md, v),
        None => missing_row(&mut md, "R6 disk faults"),
    }

    md.push_str(
        "\n## How \"converged\" is checked\n\n\
         The soak computes what HAProxy must hold from the objects it wrote itself (not \
         through the agent's translation; `agent/benches/soak/world.rs` and \
         `integration::soak_oracle`): one backend per Service, `bench_svc-NN_80`, with a \
         server `<pod ip>:8080` per endpoint, weight 1, ready or draining (a terminating \
         endpoint); the canary backend holding both Services' endpoints; the route map \
         entries as docs/architecture.md lays keys out (`/svc-NN` in `exact.map`, `/svc-NN/`, \
         `canary.soak/` and `tls.soak/` in `prefix.map`, nothing in `regex.map`); the \
         backends and binds (HTTP, and HTTPS for the TLS Ingress); and the certificate \
         `tls.soak` must be served: the one in the TLS Secret, which the churn renews one \
         step in 50. Every 10 ms it opens a new session on HAProxy's runtime socket (so no \
         look is answered by an old worker), reads `show servers state`, `show map` for each \
         route map and `show backend`, reads the haproxy.cfg the agent wrote, makes a TLS \
         handshake with SNI `tls.soak` on the HTTPS bind, and compares:\n\n\
         - **stale**: a server HAProxy has that no object asks for (an orphan server);\n\
         - **missing**: a server the objects ask for that HAProxy lacks;\n\
         - **wrong**: a server on both sides whose address, state (ready/drain) or weight differs;\n\
         - **duplicate**: two servers of one backend with the same address and port;\n\
         - **orphan HAProxy**: a live HAProxy process started on the agent's master socket \
         (found by its command line in `/proc`) that the answering master's `show proc` \
         does not list: a HAProxy nobody keeps in step, perhaps still taking connections;\n\
         - **routes**: a route map entry missing, stale, or whose value names another backend;\n\
         - **structure**: a backend in haproxy.cfg or in the running HAProxy (`show backend`) \
         that no object asks for, or one missing (the agent's fixed `_…` backends aside), or \
         a TCP bind in haproxy.cfg missing or not asked for;\n\
         - **canary**: the canary backend's weights (one per side) do not give the canary \
         side the annotation's share of requests as closely as HAProxy's integer weights \
         1-256 allow (within 0.05 points of the best pair, found by trying every pair), or \
         0 % / 100 % / a side without ready servers are not honoured exactly. The oracle \
         judges the weights by this rule, it does not recompute the agent's;\n\
         - **certs**: an SNI host served another certificate (SHA-1 fingerprint of the leaf) \
         than its Secret's, or no handshake.\n\n\
         Converged means all nine are 0 at one look and the agent's `/healthz` answers 200 \
         (it has synced and sees HAProxy up). A fault that does not converge within \
         its deadline is a loss, and so is a difference at the recheck a little later \
         (nothing changed in between, so nothing may move). The churn stops a little after \
         each fault, so there is a fixed target to converge to; health checks are off (the \
         default), so the pod addresses need not answer.\n",
    );

    if let Some(v) = &r1 {
        let _ = writeln!(
            md,
            "\n## R1: HAProxy SIGKILLed during endpoint churn\n\n\
             `haproxy-agent run --manifests DIR --spawn-haproxy` with {} Services of {} \
             endpoints at the start (each growing to at most {}), an Ingress routing to every \
             one, a canary Ingress and a TLS Ingress with its Secret, as manifest files. A churn \
             task makes one random change every {} ms: an endpoint added, removed, turned \
             terminating or back to ready, a slice deleted or created again, the canary weight \
             changed, or (one step in 50) the TLS Secret's certificate renewed. {} times, after 0.8-1.5 s \
             of churn, HAProxy is SIGKILLed: the worker and the master in turn (pids from the \
             master CLI's `show proc`); on 2.6 a master whose worker died exits too. The \
             churn goes on for {} ms after the kill (longer if HAProxy is not back by then), \
             while HAProxy is down and the agent's supervisor starts it again (100 ms after it \
             exited), then stops; the deadline to converge is {} from the kill.\n",
            text(v, "services"),
            text(v, "endpoints_per_service"),
            text(v, "max_endpoints"),
            text(v, "churn_interval_ms"),
            text(v, "kills"),
            text(v, "churn_after_kill_ms"),
            secs(v, "deadline_ms"),
        );
        md.push_str(
            "| killed | kills | new worker answering, p50 | max | converged, p50 | p99 | max | converged after the last change, p50 | max |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for (name, key) in [("worker", "worker"), ("master", "master")] {
            let t = at(v, key);
            let _ = writeln!(
                md,
                "| {name} | {} | {} | {} | {} | {} | {} | {} | {} |",
                int(t, "faults"),
                ms(num(t, "back_ms/p50_ms")),
                ms(num(t, "back_ms/max_ms")),
                ms(num(t, "converged_ms/p50_ms")),
                ms(num(t, "converged_ms/p99_ms")),
                ms(num(t, "converged_ms/max_ms")),
                ms(num(t, "after_last_change_ms/p50_ms")),
                ms(num(t, "after_last_change_ms/max_ms")),
            );
        }
        let _ = writeln!(
            md,
            "\nChanges written in all: {}; written after a kill, before the churn stopped: \
             median {} (max {}). The agent's reloads over the run: {} (a HAProxy restarted \
             after a kill runs the config on disk, which the agent keeps current, so it is \
             resynced at runtime); desyncs it counted (restarts it noticed): {}.",
            int(v, "changes_written"),
            int(v, "changes_after_kill/median"),
            int(v, "changes_after_kill/max"),
            reloads(v),
            int(v, "agent/desync_total"),
        );
        failures(&mut md, at(v, "worker"));
        failures(&mut md, at(v, "master"));
    }

    if let Some(v) = &r2 {
        let _ = writeln!(
            md,
            "\n## R2: the agent SIGKILLed mid-batch and restarted\n\n\
             {} Services of {} endpoints ({} servers, plus the canary backend's), as manifest \
             files. A batch replaces about half of every Service's endpoints at once (median \
             {} servers added, removed or changed per batch). Five batches without a fault \
             measured when HAProxy shows the first change of a batch ({} after the write) \
             and when it holds all of it ({}). Then {} times: a batch is written and the \
             agent SIGKILLed at a random moment {} to {} after the write (5 ms before the \
             earliest first change to the earliest completion); what HAProxy holds just \
             after the agent died is recorded; the agent is restarted on the same manifests \
             and config directories, and the deadline to converge is {} from the restart. \
             Restarts alternate: **attached** (no `--spawn-haproxy`, as a sidecar restarts \
             next to a HAProxy container: the new agent adopts the HAProxy that runs on) and \
             **with `--spawn-haproxy`** (the new agent starts its own HAProxy while the one the \
             killed agent started still runs; the old one must be gone by convergence).\n",
            text(v, "services"),
            text(v, "endpoints"),
            text(v, "servers"),
            int(v, "servers_changed_per_batch/median"),
            ms_list(v, "warm_up_first_change_ms"),
            ms_list(v, "warm_up_done_ms"),
            text(v, "kills"),
            ms(at(v, "kill_after_write_ms")
                .get(0)
                .and_then(Value::as_f64)
                .unwrap_or(f64::NAN)),
            ms(at(v, "kill_after_write_ms")
                .get(1)
                .and_then(Value::as_f64)
                .unwrap_or(f64::NAN)),
            secs(v, "deadline_ms"),
        );
        let _ = writeln!(
            md,
            "What HAProxy held just after the agent died (runtime commands the agent had sent \
             still run): the batch not started {}, **part of it {}**, all of it {}, HAProxy \
             unreadable {}.\n",
            int(v, "batch_at_kill/not_started"),
            int(v, "batch_at_kill/partial"),
            int(v, "batch_at_kill/done"),
            int(v, "batch_at_kill/haproxy_unreadable"),
        );
        md.push_str(
            "| restarted | kills | converged from the restart, p50 | p99 | max |\n\
             |---|---:|---:|---:|---:|\n",
        );
        for (name, key) in [("attached", "attach"), ("with `--spawn-haproxy`", "spawn")] {
            let t = at(v, key);
            let _ = writeln!(
                md,
                "| {name} | {} | {} | {} | {} |",
                int(t, "faults"),
                ms(num(t, "converged_ms/p50_ms")),
                ms(num(t, "converged_ms/p99_ms")),
                ms(num(t, "converged_ms/max_ms")),
            );
        }
        let _ = writeln!(
            md,
            "\nThe last agent's reloads: {}.",
            reloads(&json!({"agent": at(v, "agent_last")}))
        );
        failures(&mut md, at(v, "attach"));
        failures(&mut md, at(v, "spawn"));
    }

    if let Some(v) = &r3 {
        let drop = at(v, "drop");
        let compaction = at(v, "compaction");
        let pause = at(v, "pause");
        let list = |t: &Value, k: &str| {
            at(t, k)
                .as_array()
                .map(|a| {
                    let mut n: Vec<i64> = a.iter().filter_map(Value::as_i64).collect();
                    n.sort_unstable();
                    match (n.first(), n.last()) {
                        (Some(lo), Some(hi)) if lo == hi => format!("{lo}"),
                        (Some(lo), Some(hi)) => format!("{lo}-{hi}"),
                        _ => "?".into(),
                    }
                })
                .unwrap_or_else(|| "?".into())
        };
        let _ = writeln!(
            md,
            "\n## R3: watch faults through the test Kubernetes API server\n\n\
             `haproxy-agent run --kubeconfig FILE --spawn-haproxy` against the test API server \
             of `integration/` (real list and watch over TCP to the agent's `kube::Client`), \
             which the soak runs in its own process to use its test controls. The objects are \
             R1's ({} Services), written to the API server, with the same churn (one change \
             every {} ms). Each fault's deadline is {}.\n\n\
             - **Every watch dropped** ({} times): after 0.3-0.8 s of churn, every open watch \
             stream is cut mid-body; the churn goes on for {} ms. kube's watcher resumes each \
             watch from the last resourceVersion it saw. Watch requests after each drop: {} \
             (the agent watches {} kinds). Converged {} after the last change (median; max \
             {}).\n\
             - **410 Expired after a compaction** ({} times): with the server paused, {} changes \
             are written (no watch can deliver them), the history is compacted and every watch \
             cut; on the resume each watch restarts from a resourceVersion older than the \
             compaction, gets `410 Expired` and the watcher lists again, which alone brings \
             the changes. Kinds listed again after each: {}. Most of the time to converge \
             is kube's watcher backoff after an error (`default_backoff()`: 800 ms with \
             jitter, in kube-runtime 5.0) before that list.\n\
             - **API server paused** for {}: requests wait unanswered and watches hold \
             their events; one change is written every 500 ms ({} in all). HAProxy was \
             looked at {} times during the pause and changed {} times (it must keep what it \
             had); `/healthz` answered 200 at the end of the pause: {}. After the resume it \
             converged in {}.\n",
            text(v, "services"),
            text(v, "churn_interval_ms"),
            secs(v, "deadline_ms"),
            int(drop, "faults"),
            text(v, "churn_after_fault_ms"),
            list(drop, "watch_requests_after_each"),
            text(v, "kinds_watched"),
            ms(num(drop, "after_last_change_ms/p50_ms")),
            ms(num(drop, "after_last_change_ms/max_ms")),
            int(compaction, "faults"),
            text(compaction, "changes_behind_each"),
            list(compaction, "kinds_relisted_after_each"),
            secs(pause, "pause_ms"),
            text(pause, "changes_queued"),
            text(pause, "looks_during_pause"),
            text(pause, "haproxy_changed_during_pause"),
            text(pause, "healthz_200_at_end_of_pause"),
            ms(num(pause, "converged_after_resume_ms")),
        );
        let _ = writeln!(
            md,
            "Changes written in all: {}. The agent's reloads over the run: {}.",
            int(v, "changes_written"),
            reloads(v),
        );
        failures(&mut md, drop);
        failures(&mut md, compaction);
        failures(&mut md, pause);
    }

    report_r4::section(&mut md, r4.as_ref(), r4_long.as_ref());
    if let Some(v) = &r5 {
        crate::report_r5_r7::r5_section(&mut md, v);
    }
    if let Some(v) = &r6 {
        report_r6::section(&mut md, v);
    }
    if let Some(v) = &r7 {
        crate::report_r5_r7::r7_section(&mut md, v);
    }

    std::fs::create_dir_all(out_dir)?;
    std::fs::write(out_dir.join("reliability.md"), md)?;
    let all = json!({
        "meta": meta,
        "r1": r1,
        "r2": r2,
        "r3": r3,
        "r4": r4,
        "r4_long": r4_long.as_ref().map(|l| json!({
            "file": report_r4::LONG_FILE,
            "date": at(l, "meta/date"),
            "commit": at(l, "meta/commit"),
            "passed": report_r4::passed(at(l, "r4")),
        })),
        "r5": r5,
        "r6": r6,
        "r7": r7,
        "passed": all_passed,
    });
    std::fs::write(
        out_dir.join("reliability.json"),
        serde_json::to_string_pretty(&all)? + "\n",
    )?;
    Ok(all_passed)
}
