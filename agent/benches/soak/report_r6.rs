//! The R6 (disk faults) rows and section of reliability.md, from `r6.json`.

use std::fmt::Write as _;

use serde_json::Value;

use crate::report::{at, failures, int, ms, num, row, secs, text, verdict};

/// Each fault: its key in `r6.json`, its name, and how the soak made it.
const FAULTS: [(&str, &str, &str); 4] = [
    (
        "full",
        "config directory full",
        "a file fills the tmpfs until a write fails with `ENOSPC`",
    ),
    (
        "read_only",
        "config directory read-only",
        "the tmpfs remounted read-only (`mount -o remount,ro`): writes fail with `EROFS`",
    ),
    (
        "map_deleted",
        "a map file deleted",
        "`maps/prefix.map` removed behind the agent's back",
    ),
    (
        "config_edited",
        "haproxy.cfg edited by hand",
        "a backend appended to haproxy.cfg behind the agent's back",
    ),
];

/// The summary table's rows.
pub fn rows(md: &mut String, v: &Value) {
    for (key, name, _) in FAULTS {
        row(md, &format!("R6 {name}"), at(v, &format!("faults/{key}")));
    }
}

fn yes(v: &Value, path: &str) -> &'static str {
    match at(v, path).as_bool() {
        Some(true) => "yes",
        Some(false) => "**no**",
        None => "n/a",
    }
}

/// The section.
pub fn section(md: &mut String, v: &Value) {
    let _ = writeln!(
        md,
        "\n## R6: disk faults in the config directory\n\n\
         `haproxy-agent run --manifests DIR --spawn-haproxy` with {} Services, R1's churn (one \
         change every {} ms) and a Service served by a real HTTP backend on loopback \
         (`web.soak`), requested through HAProxy every {} ms for the whole scenario. The \
         agent's `--config-dir` is a tmpfs of {} that the soak mounts (it runs as root), so \
         the faults are the kernel's own errors, not simulated. For each fault: churn 0.5 s, \
         the fault, churn on for {} from the fault, then the churn stops and the fault \
         clears. During the full fault the Ingress's `proxy-connect-timeout` is changed \
         too, a change that needs a reload, which needs the disk. Pass: the fault \
         is named within {} (`/healthz` answers 503 with `disk: \"config directory not \
         writable: …\"` until a write succeeds, for the first two; the agent's \
         `config_drift_total` rises, for the others; and a log line each time); no request \
         through HAProxy fails; HAProxy holds the desired servers while the fault lasts \
         (runtime API), within the deadline after the churn stops, except during the full \
         fault: there the pending reload holds back the runtime changes made after it until \
         it can be installed (the agent plans a reload before runtime changes), so the \
         servers still differing at that deadline are counted, not required to be 0; after \
         it clears HAProxy converges (R1's oracle, which includes \
         `/healthz` 200), the reload asked for happens, and the files on disk are current \
         (each route map's entries and each backend's servers in haproxy.cfg as the objects \
         ask).\n",
        text(v, "services"),
        text(v, "churn_interval_ms"),
        text(v, "traffic_every_ms"),
        text(v, "tmpfs_size"),
        secs(v, "during_ms"),
        secs(v, "deadline_ms"),
    );
    md.push_str(
        "| fault | how | named after | requests OK / failed | servers differing during | converged after it cleared | files current | reload after | result |\n\
         |---|---|---:|---:|---:|---:|---|---|---|\n",
    );
    for (key, name, how) in FAULTS {
        let f = at(v, &format!("faults/{key}"));
        let _ = writeln!(
            md,
            "| {name} | {how} | {} | {} / {} | {} | {} | {} | {} | {} |",
            ms(num(f, "named_ms")),
            int(f, "requests_ok"),
            int(f, "requests_failed"),
            int(f, "servers_differing_during_fault"),
            ms(num(f, "converged_ms/p50_ms")),
            yes(f, "disk_current_after"),
            yes(f, "reload_after_clear"),
            verdict(at(f, "passed").as_bool() == Some(true)),
        );
    }
    let _ = writeln!(
        md,
        "\nThe agent counted {} files found changed or deleted behind its back \
         (`config_drift_total`) and {} failed writes (`config_write_failures_total`); changes \
         written: {}.",
        int(v, "config_drift_total"),
        int(v, "config_write_failures_total"),
        int(v, "changes_written"),
    );
    for (key, _, _) in FAULTS {
        let f = at(v, &format!("faults/{key}"));
        failures(md, f);
        if let Some(p) = at(f, "problems").as_array().filter(|p| !p.is_empty()) {
            md.push_str("\nProblems:\n\n");
            for x in p {
                let _ = writeln!(md, "- `{}`", x.as_str().unwrap_or_default());
            }
        }
    }
}
