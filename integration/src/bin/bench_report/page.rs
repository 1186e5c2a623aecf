//! docs/benchmarks.md: the figures of one run, named and formatted, filled into the page's
//! Markdown template (`integration/templates/benchmarks.md`, where all of the prose is).

use anyhow::Context as _;
use serde_json::Value;

use super::{Results, at, ms, num, samples, text, thousands};
use integration::template::{Vals, fill, put, put_list, when};

/// The page's template.
const TEMPLATE: &str = include_str!("../../../templates/benchmarks.md");

/// How a headline figure is written in the summary table.
#[derive(Clone, Copy)]
enum Unit {
    Rate,
    Ms,
    Seconds3,
    Seconds2,
    Percent,
    Count,
    Mib,
}

/// The summary table's figures, by their key in benchmarks.json.
const SUMMARY: &[(&str, Unit)] = &[
    ("runtime_one_connection_per_command_rate", Unit::Rate),
    ("p1_store_p50_ms", Unit::Ms),
    ("p1_store_p99_ms", Unit::Ms),
    ("p1_file_p99_ms", Unit::Ms),
    ("p1_policies_store_p50_ms", Unit::Ms),
    ("p1_policies_store_p99_ms", Unit::Ms),
    ("p2_wall_s", Unit::Seconds3),
    ("p2_policies_wall_s", Unit::Seconds3),
    ("p2_ratio_to_raw", Unit::Percent),
    ("p3_failed_agent", Unit::Count),
    ("p3_failed_reload_baseline", Unit::Count),
    ("p3_p99_ms_agent", Unit::Ms),
    ("p3_p99_ms_reload_baseline", Unit::Ms),
    ("p3_policies_failed_agent", Unit::Count),
    ("p3_policies_p99_ms_agent", Unit::Ms),
    ("p3_policies_p99_ms_reload_baseline", Unit::Ms),
    ("p4_reloads_churn", Unit::Count),
    ("p4_reloads_new_service", Unit::Count),
    ("p5_rss_mib", Unit::Mib),
    ("p6_full_ms", Unit::Ms),
    ("p6_incremental_ms", Unit::Ms),
    ("p6_policies_full_ms", Unit::Ms),
    ("p6_policies_incremental_ms", Unit::Ms),
    ("p8_cold_start_s_10000", Unit::Seconds2),
    ("p8_rss_mib_10000", Unit::Mib),
];

/// The page for a run and its headline figures.
pub(crate) fn page(r: &Results, fields: &[(String, Value)]) -> anyhow::Result<String> {
    let mut v = Vals::new();
    meta(&mut v, &r.meta)?;
    summary(&mut v, fields)?;
    runtime(&mut v, &r.runtime)?;
    p1(&mut v, &r.p1)?;
    p2(&mut v, &r.p2, &r.p2p)?;
    p3(&mut v, &r.p3, &r.p3p)?;
    p5(&mut v, &r.p5)?;
    p6(&mut v, &r.p6)?;
    p7(&mut v, &r.p7)?;
    p8(&mut v, &r.p8)?;
    fill(TEMPLATE, &v)
}

fn items(v: &Value, path: &str) -> anyhow::Result<Vec<Value>> {
    Ok(at(v, path)?
        .as_array()
        .with_context(|| format!("{path} is not a list"))?
        .clone())
}

/// In [`numbered`]'s fields: the value as the run wrote it, not a number with decimals.
const TEXT: usize = usize::MAX;

/// One item per run, `run` numbered from 1, each field `(name, key, decimals)` read from the
/// run's `key` and written with that many decimals (or as text, [`TEXT`]).
fn numbered(runs: &[Value], fields: &[(&str, &str, usize)]) -> anyhow::Result<Vec<Vals>> {
    let mut rows = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        let mut item = Vals::new();
        put(&mut item, "run", (i + 1).to_string());
        for &(name, key, decimals) in fields {
            let shown = match decimals {
                TEXT => text(run, key)?,
                d => format!("{:.*}", d, num(run, key)?),
            };
            put(&mut item, name, shown);
        }
        rows.push(item);
    }
    Ok(rows)
}

/// `n | p50 | p90 | p99 | max` of a latency summary, as table cells.
fn stats(v: &Value) -> anyhow::Result<String> {
    Ok(format!(
        "{} | {} | {} | {} | {}",
        thousands(num(v, "n")?),
        ms(num(v, "p50_ms")?),
        ms(num(v, "p90_ms")?),
        ms(num(v, "p99_ms")?),
        ms(num(v, "max_ms")?)
    ))
}

fn meta(v: &mut Vals, m: &Value) -> anyhow::Result<()> {
    for key in [
        "date",
        "commit",
        "cpus",
        "cpus_online",
        "cpu_model",
        "mem_total",
        "kernel",
        "loadavg_start",
        "loadavg_end",
        "duration_s",
        "haproxy_v",
        "haproxy_bin",
        "rustc",
    ] {
        put(v, key, text(m, key)?);
    }
    put_list(v, "dirty", when(at(m, "dirty")?.as_bool() == Some(true)));
    let package = text(m, "haproxy_package")?.trim().to_string();
    put(v, "package_name", package.as_str());
    put_list(v, "package", when(!package.is_empty()));
    put_list(v, "no_package", when(package.is_empty()));
    Ok(())
}

fn summary(v: &mut Vals, fields: &[(String, Value)]) -> anyhow::Result<()> {
    for (key, unit) in SUMMARY {
        let x = fields
            .iter()
            .find(|(n, _)| n == key)
            .and_then(|(_, v)| v.as_f64())
            .with_context(|| format!("no headline figure {key}"))?;
        let shown = match unit {
            Unit::Rate => format!("{} cmd/s", thousands(x)),
            Unit::Ms => ms(x),
            Unit::Seconds3 => format!("{x:.3} s"),
            Unit::Seconds2 => format!("{x:.2} s"),
            Unit::Percent => format!("{:.1} %", 100.0 * x),
            Unit::Count => thousands(x),
            Unit::Mib => format!("{x:.1} MiB"),
        };
        put(v, key, shown);
    }
    Ok(())
}

/// Samples as `a, b, c`, formatted by `f`.
fn list(v: &Value, path: &str, f: impl Fn(f64) -> String) -> anyhow::Result<String> {
    Ok(samples(v, path)?
        .into_iter()
        .map(f)
        .collect::<Vec<_>>()
        .join(", "))
}

fn runtime(v: &mut Vals, rt: &Value) -> anyhow::Result<()> {
    put(v, "rt_args", text(rt, "args")?);
    put(v, "rt_servers", thousands(num(rt, "runs/0/servers")?));
    put(
        v,
        "rt_one_connection_commands",
        thousands(num(rt, "runs/0/one_connection_commands")?),
    );
    let pct = |x: f64| format!("{:.1} %", 100.0 * x);
    let mut runs = Vec::new();
    for (i, run) in items(rt, "runs")?.iter().enumerate() {
        let mut item = Vals::new();
        put(&mut item, "run", (i + 1).to_string());
        put(&mut item, "raw", thousands(num(run, "raw")?));
        put(&mut item, "client", thousands(num(run, "client")?));
        put(&mut item, "ratio", format!("{:.1}", num(run, "ratio_pct")?));
        put(
            &mut item,
            "ratio_min",
            format!("{:.1}", 100.0 * num(run, "pair_ratio_spread/min")?),
        );
        put(
            &mut item,
            "ratio_max",
            format!("{:.1}", 100.0 * num(run, "pair_ratio_spread/max")?),
        );
        put(
            &mut item,
            "one_connection",
            thousands(num(run, "one_connection")?),
        );
        put(&mut item, "verdict", text(run, "verdict")?);
        put(&mut item, "pair_ratios", list(run, "pair_ratios", pct)?);
        put(
            &mut item,
            "one_connection_rates",
            list(run, "one_connection_rates", thousands)?,
        );
        runs.push(item);
    }
    put_list(v, "rt_runs", runs);
    Ok(())
}

fn p1(v: &mut Vals, p1: &Value) -> anyhow::Result<()> {
    put(v, "p1_changes", text(p1, "changes")?);
    put(v, "p1_baseline_n", text(p1, "baseline/n")?);
    for path in ["store", "file", "baseline"] {
        put(v, &format!("p1_{path}"), stats(at(p1, path)?)?);
    }
    put(v, "p1_reloads_agent", text(p1, "reloads_agent")?);
    put(
        v,
        "p1_agent_changes",
        thousands(num(p1, "store/n")? + num(p1, "file/n")?),
    );
    put(v, "p1_reloads_baseline", text(p1, "reloads_baseline")?);
    let speedup = num(p1, "baseline/p50_ms")? / num(p1, "store/p50_ms")?;
    put(v, "p1_speedup", format!("{speedup:.0}"));
    Ok(())
}

fn p2(v: &mut Vals, p2: &Value, p2p: &Value) -> anyhow::Result<()> {
    let endpoints = num(p2, "endpoints")?;
    let commands = num(p2, "commands")?;
    put(v, "p2_endpoints", thousands(endpoints));
    put(v, "p2_backends", text(p2, "backends")?);
    put(
        v,
        "p2_per_backend",
        (endpoints / num(p2, "backends")?).to_string(),
    );
    put(v, "p2_trials", text(p2, "trials")?);
    put(v, "p2_commands", thousands(commands));
    for (name, key) in [
        ("p2_agent_rates", "agent_wall_s"),
        ("p2_raw_rates", "raw_wall_s"),
    ] {
        let wall = num(p2, key)?;
        let cells = format!(
            "{wall:.3} s | {} | {}",
            thousands(endpoints / wall),
            thousands(commands / wall)
        );
        put(v, name, cells);
    }
    let (agent, raw, ratios) = (
        samples(p2, "agent_s")?,
        samples(p2, "raw_s")?,
        samples(p2, "pair_ratios")?,
    );
    let mut pairs = Vec::new();
    for (i, ((a, b), q)) in agent.iter().zip(&raw).zip(&ratios).enumerate() {
        let mut item = Vals::new();
        put(&mut item, "pair", (i + 1).to_string());
        put(&mut item, "first", text(p2, &format!("first_in_pair/{i}"))?);
        put(&mut item, "agent", format!("{a:.3}"));
        put(&mut item, "raw", format!("{b:.3}"));
        put(&mut item, "ratio", format!("{:.1}", 100.0 * q));
        pairs.push(item);
    }
    put_list(v, "p2_pairs", pairs);
    put(v, "p2_verdict", text(p2, "verdict")?);
    put(
        v,
        "p2_ratio_of_medians",
        format!("{:.1}", 100.0 * num(p2, "ratio_of_medians")?),
    );
    put(v, "p2p_verdict", text(p2p, "verdict")?);
    put(
        v,
        "p2_removal_wall",
        format!("{:.3}", num(p2, "removal_wall_s")?),
    );
    put(
        v,
        "p2_removal_n",
        samples(p2, "removal_s")?.len().to_string(),
    );
    put(
        v,
        "p2_translate_ms",
        format!("{:.1}", num(p2, "translate_ms")?),
    );
    put(v, "p2_reloads", text(p2, "reloads")?);
    Ok(())
}

/// `requests | failed | p50 | p90 | p99 | p99.9 | max` of a load's requests, as table cells.
fn load_cells(l: &Value) -> anyhow::Result<String> {
    Ok(format!(
        "{} | {} | {} | {} | {} | {} | {}",
        thousands(num(l, "sent")?),
        thousands(num(l, "failed")?),
        ms(num(l, "latency_ms/p50")?),
        ms(num(l, "latency_ms/p90")?),
        ms(num(l, "latency_ms/p99")?),
        ms(num(l, "latency_ms/p999")?),
        ms(num(l, "latency_ms/max")?)
    ))
}

/// P3 and P4: the rolling replacement with and without policies, its steps and failures,
/// and the new Service.
fn p3(v: &mut Vals, p3: &Value, p3p: &Value) -> anyhow::Result<()> {
    put(v, "p3_rate", text(p3, "rate")?);
    put(v, "p3_rate_per_s", thousands(num(p3, "rate")?));
    put(v, "p3_pods", text(p3, "pods")?);
    put(v, "p3_echo_delay_ms", text(p3, "echo_delay_ms")?);
    put(v, "p3_slot_ms", thousands(num(p3, "slot_ms")?));
    put(
        v,
        "p3_failure_counted_at_ms",
        text(p3, "agent/load/failure_counted_at_ms")?,
    );
    p3_loads(v, p3, p3p)?;
    for step in ["new_ready", "old_terminating", "drained", "old_gone"] {
        let a = at(p3, &format!("agent/steps/{step}"))?;
        let b = at(p3, &format!("baseline/steps/{step}"))?;
        let cells = format!(
            "{} / {} | {} / {}",
            ms(num(a, "p50_ms")?),
            ms(num(a, "max_ms")?),
            ms(num(b, "p50_ms")?),
            ms(num(b, "max_ms")?)
        );
        put(v, &format!("p3_step_{step}"), cells);
    }
    put_list(v, "p3_failures", p3_failures(p3)?);
    put(v, "p3_agent_reloads", text(p3, "agent/reloads")?);
    put(
        v,
        "p4_agent_reloads_total",
        thousands(num(p3, "new_service/agent_reloads_total")?),
    );
    put(
        v,
        "p4_serving_after",
        ms(num(p3, "new_service/serving_after_ms")?),
    );
    Ok(())
}

/// Each P3 run's load figures, for the agent and the baseline: all requests, by client,
/// the reloads and the successful requests' latency.
fn p3_loads(v: &mut Vals, p3: &Value, p3p: &Value) -> anyhow::Result<()> {
    for (prefix, run) in [("p3", p3), ("p3p", p3p)] {
        for key in ["agent", "baseline"] {
            let name = format!("{prefix}_{key}");
            put(
                v,
                &format!("{name}_all"),
                load_cells(at(run, &format!("{key}/load"))?)?,
            );
            for (client, path) in [("new", "new_connection"), ("keep_alive", "keep_alive")] {
                let l = at(run, &format!("{key}/load/by_client/{path}"))?;
                put(v, &format!("{name}_{client}"), load_cells(l)?);
            }
            put(
                v,
                &format!("{name}_reloads"),
                text(run, &format!("{key}/reloads"))?,
            );
            let ok = format!(
                "{} / {}",
                ms(num(run, &format!("{key}/load/latency_ok_ms/p99"))?),
                ms(num(run, &format!("{key}/load/latency_ok_ms/max"))?)
            );
            put(v, &format!("{name}_ok"), ok);
        }
    }
    Ok(())
}

/// The failed requests of P3 (without policies), by side: when, and the errors.
fn p3_failures(p3: &Value) -> anyhow::Result<Vec<Vals>> {
    let mut failures = Vec::new();
    for (name, key) in [("agent", "agent"), ("reload per change", "baseline")] {
        let errors = items(p3, &format!("{key}/load/errors"))?;
        if errors.is_empty() {
            continue;
        }
        let times: Vec<String> = items(p3, &format!("{key}/load/failed_at_s"))?
            .iter()
            .map(|t| format!("{t} s"))
            .collect();
        let mut item = Vals::new();
        put(&mut item, "name", name);
        put(&mut item, "times", times.join(", "));
        let errors = errors
            .iter()
            .map(|e| {
                let mut line = Vals::new();
                put(
                    &mut line,
                    "error",
                    e.as_str().unwrap_or_default().replace('`', "'"),
                );
                line
            })
            .collect();
        put_list(&mut item, "errors", errors);
        failures.push(item);
    }
    Ok(failures)
}

fn p5(v: &mut Vals, p5: &Value) -> anyhow::Result<()> {
    let per = num(p5, "endpoints")? / num(p5, "services")?;
    let runs = items(p5, "runs")?;
    put(v, "p5_services_arg", text(p5, "services")?);
    put(v, "p5_services", thousands(num(p5, "services")?));
    put(v, "p5_per_service", per.to_string());
    put(v, "p5_runs_n", runs.len().to_string());
    put(v, "p5_endpoints", thousands(num(p5, "endpoints")?));
    put(
        v,
        "p5_peak_mib",
        format!("{:.1}", num(p5, "agent_peak_mib")?),
    );
    let rows = numbered(
        &runs,
        &[
            ("vmhwm", "agent_vmhwm_mib", 1),
            ("vmrss", "agent_vmrss_mib", 1),
            ("haproxy_vmhwm", "haproxy_worker_vmhwm_mib", 1),
            ("healthy", "healthy_after_s", 3),
            ("converged", "converged_after_s", 3),
            ("reloads", "reloads", TEXT),
        ],
    )?;
    put_list(v, "p5_runs", rows);
    Ok(())
}

fn p6(v: &mut Vals, p6: &Value) -> anyhow::Result<()> {
    put(v, "p6_ingresses_arg", text(p6, "ingresses")?);
    put(v, "p6_services_arg", text(p6, "services")?);
    put(v, "p6_repeats", text(p6, "incremental/n")?);
    for key in ["ingresses", "services", "routes", "backends"] {
        put(v, &format!("p6_{key}"), thousands(num(p6, key)?));
    }
    put(v, "p6_cfg_bytes", thousands(num(p6, "haproxy_cfg_bytes")?));
    put(v, "p6_map_bytes", thousands(num(p6, "map_bytes")?));
    put(v, "p6_commands", text(p6, "incremental_commands")?);
    for path in ["full", "translate", "render", "incremental"] {
        put(v, &format!("p6_{path}"), stats(at(p6, path)?)?);
    }
    put(v, "p6_reloads", text(p6, "reloads")?);
    Ok(())
}

fn p7(v: &mut Vals, p7: &Value) -> anyhow::Result<()> {
    let sizes = items(p7, "sizes")?;
    let names: Vec<String> = sizes
        .iter()
        .map(|s| text(s, "services"))
        .collect::<Result<_, _>>()?;
    put(v, "p7_changes", text(p7, "changes")?);
    put(v, "p7_sizes", names.join(" "));
    let mut rows = Vec::new();
    for size in &sizes {
        for path in ["store", "file"] {
            let mut item = Vals::new();
            put(&mut item, "services", thousands(num(size, "services")?));
            put(&mut item, "servers", thousands(num(size, "servers")?));
            put(&mut item, "path", path);
            put(&mut item, "stats", stats(at(size, path)?)?);
            rows.push(item);
        }
    }
    put_list(v, "p7_rows", rows);
    Ok(())
}

fn p8(v: &mut Vals, p8: &Value) -> anyhow::Result<()> {
    let runs = items(p8, "runs")?;
    let per = num(p8, "endpoints")? as u64 / num(p8, "services")?.max(1.0) as u64;
    put(v, "p8_services_arg", text(p8, "services")?);
    put(v, "p8_per_service", per.to_string());
    put(v, "p8_runs_n", runs.len().to_string());
    put(v, "p8_services", thousands(num(p8, "services")?));
    put(v, "p8_endpoints", thousands(num(p8, "endpoints")?));
    let rows = numbered(
        &runs,
        &[
            ("healthy", "healthy_after_s", 2),
            ("converged", "converged_after_s", 2),
            ("vmhwm", "agent_vmhwm_mib", 1),
            ("reloads", "reloads", TEXT),
            ("full_observations", "idle_10s_full_observations", TEXT),
            ("file_writes", "idle_10s_file_writes", TEXT),
        ],
    )?;
    put_list(v, "p8_runs", rows);
    Ok(())
}
