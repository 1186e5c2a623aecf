//! docs/benchmarks.md: the figures of one run, named and formatted, filled into the page's
//! Markdown template (`integration/templates/benchmarks.md`, where all of the prose is).

use anyhow::Context as _;
use serde_json::Value;

use super::{Results, at, ms, num, samples, text, thousands};
use integration::template::{Vals, fill, put, put_list, when};

#[path = "page_rolling.rs"]
mod rolling;

use rolling::p3;

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
