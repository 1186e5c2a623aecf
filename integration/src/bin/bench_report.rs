//! bench-report: turns the JSON the benchmarks of one `scripts/bench` run wrote into
//! `docs/benchmarks.json` (the headline figures), `docs/benchmarks-samples.json` (every
//! input whole: every trial of every figure, the commit, HAProxy and the machine),
//! `docs/benchmarks.svg` (a chart, written by hand, no plotting library) and
//! `docs/benchmarks.md` (the page, every figure from the run).
//!
//! Usage: `bench-report RESULTS_DIR DOCS_DIR`, where RESULTS_DIR holds `meta.json`,
//! `runtime.json`, `p1.json`, `p2.json`, `p3.json`, `p3p.json`, `p5.json`, `p6.json`, `p7.json` and
//! `p8.json`.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, bail};
use serde_json::Value;

#[path = "bench_report/sections.rs"]
mod sections;
use sections::{machine, p2_section, provenance, runtime_section};

/// The inputs, parsed.
struct Results {
    meta: Value,
    runtime: Value,
    p1: Value,
    /// P1 with the policy-heavy annotation set.
    p1p: Value,
    p2: Value,
    /// P2 with the policy-heavy annotation set.
    p2p: Value,
    p3: Value,
    p3p: Value,
    p5: Value,
    p6: Value,
    /// P6 with the policy-heavy annotation set.
    p6p: Value,
    p7: Value,
    p8: Value,
}

fn load(dir: &Path, name: &str) -> anyhow::Result<Value> {
    let path = dir.join(format!("{name}.json"));
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parse {}", path.display()))
}

/// The value at a `/`-separated path.
fn at<'a>(v: &'a Value, path: &str) -> anyhow::Result<&'a Value> {
    let mut cur = v;
    for part in path.split('/') {
        cur = match cur {
            Value::Object(m) => m.get(part),
            Value::Array(a) => part.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        }
        .with_context(|| format!("no {path} in the results"))?;
    }
    Ok(cur)
}

fn num(v: &Value, path: &str) -> anyhow::Result<f64> {
    at(v, path)?
        .as_f64()
        .with_context(|| format!("{path} is not a number"))
}

fn text(v: &Value, path: &str) -> anyhow::Result<String> {
    Ok(match at(v, path)? {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

fn samples(v: &Value, path: &str) -> anyhow::Result<Vec<f64>> {
    at(v, path)?
        .as_array()
        .with_context(|| format!("{path} is not a list"))?
        .iter()
        .map(|x| {
            x.as_f64()
                .with_context(|| format!("{path} holds a non-number"))
        })
        .collect()
}

/// `12,345` (rounded).
fn thousands(x: f64) -> String {
    let n = x.round() as i64;
    let digits = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

fn ms(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0} ms")
    } else {
        format!("{x:.2} ms")
    }
}

/// The headline figures, in the order of the issue that asked for them.
fn headline(r: &Results) -> anyhow::Result<Vec<(String, Value)>> {
    let n = |v: &Value, p: &str| -> anyhow::Result<Value> { Ok(Value::from(num(v, p)?)) };
    // Counts stay integers.
    let count = |v: &Value, p: &str| -> anyhow::Result<Value> {
        let x = num(v, p)?;
        if x < 0.0 || x.fract() != 0.0 {
            bail!("{p} is not a count: {x}");
        }
        Ok(Value::from(x as u64))
    };
    let churn = num(&r.p1, "reloads_agent")?
        + num(&r.p1p, "reloads_agent")?
        + num(&r.p2, "reloads")?
        + num(&r.p2p, "reloads")?
        + num(&r.p3, "agent/reloads")?
        + num(&r.p3p, "agent/reloads")?;
    Ok([
        ("p1_store_p50_ms", n(&r.p1, "store/p50_ms")?),
        ("p1_store_p99_ms", n(&r.p1, "store/p99_ms")?),
        ("p1_file_p99_ms", n(&r.p1, "file/p99_ms")?),
        ("p1_policies_store_p50_ms", n(&r.p1p, "store/p50_ms")?),
        ("p1_policies_store_p99_ms", n(&r.p1p, "store/p99_ms")?),
        ("p2_wall_s", n(&r.p2, "agent_wall_s")?),
        ("p2_policies_wall_s", n(&r.p2p, "agent_wall_s")?),
        ("p2_ratio_to_raw", n(&r.p2, "ratio")?),
        ("p2_ratio_min", n(&r.p2, "pair_ratio_spread/min")?),
        ("p2_ratio_max", n(&r.p2, "pair_ratio_spread/max")?),
        ("p2_pairs", count(&r.p2, "pair_ratio_spread/n")?),
        ("p2_policies_ratio_to_raw", n(&r.p2p, "ratio")?),
        ("p3_failed_agent", count(&r.p3, "agent/load/failed")?),
        (
            "p3_failed_reload_baseline",
            count(&r.p3, "baseline/load/failed")?,
        ),
        ("p3_p99_ms_agent", n(&r.p3, "agent/load/latency_ms/p99")?),
        (
            "p3_p99_ms_reload_baseline",
            n(&r.p3, "baseline/load/latency_ms/p99")?,
        ),
        ("p3_max_ms_agent", n(&r.p3, "agent/load/latency_ms/max")?),
        (
            "p3_max_ms_reload_baseline",
            n(&r.p3, "baseline/load/latency_ms/max")?,
        ),
        (
            "p3_failure_counted_at_ms",
            n(&r.p3, "agent/load/failure_counted_at_ms")?,
        ),
        (
            "p3_policies_failed_agent",
            count(&r.p3p, "agent/load/failed")?,
        ),
        (
            "p3_policies_p99_ms_agent",
            n(&r.p3p, "agent/load/latency_ms/p99")?,
        ),
        (
            "p3_policies_p99_ms_reload_baseline",
            n(&r.p3p, "baseline/load/latency_ms/p99")?,
        ),
        ("p4_reloads_churn", Value::from(churn as u64)),
        (
            "p4_reloads_new_service",
            count(&r.p3, "new_service/reloads")?,
        ),
        ("p5_rss_mib", n(&r.p5, "agent_peak_mib")?),
        ("p6_full_ms", n(&r.p6, "full/p50_ms")?),
        ("p6_incremental_ms", n(&r.p6, "incremental/p50_ms")?),
        ("p6_policies_full_ms", n(&r.p6p, "full/p50_ms")?),
        (
            "p6_policies_incremental_ms",
            n(&r.p6p, "incremental/p50_ms")?,
        ),
        (
            "p8_cold_start_s_10000",
            n(&r.p8, "runs/0/converged_after_s")?,
        ),
        ("p8_rss_mib_10000", n(&r.p8, "agent_peak_mib")?),
        ("haproxy_version", at(&r.p1, "haproxy_version")?.clone()),
        ("date", at(&r.meta, "date")?.clone()),
        ("commit", at(&r.meta, "commit")?.clone()),
        ("haproxy_v", at(&r.meta, "haproxy_v")?.clone()),
        ("cpus", at(&r.meta, "cpus")?.clone()),
        ("cpu_model", at(&r.meta, "cpu_model")?.clone()),
        (
            "runtime_one_connection_per_command_rate",
            n(&r.runtime, "runs/0/one_connection")?,
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .chain(growth_keys(&r.p7)?)
    .collect())
}

/// `p7_store_p50_ms_<services>`, `p7_store_p99_ms_<services>` and the same for `file`, for
/// every size P7 ran.
fn growth_keys(p7: &Value) -> anyhow::Result<Vec<(String, Value)>> {
    let mut out = Vec::new();
    for size in at(p7, "sizes")?.as_array().context("P7 sizes")? {
        let n = num(size, "services")? as u64;
        for path in ["store", "file"] {
            for q in ["p50", "p99"] {
                let key = format!("p7_{path}_{q}_ms_{n}");
                out.push((key, Value::from(num(size, &format!("{path}/{q}_ms"))?)));
            }
        }
    }
    Ok(out)
}

/// Every input of the run whole, under its file's name: every trial of every figure, with
/// `meta` (the commit, `haproxy -v`, the machine).
fn samples_text(r: &Results) -> anyhow::Result<String> {
    let values = [
        &r.meta, &r.runtime, &r.p1, &r.p1p, &r.p2, &r.p2p, &r.p3, &r.p3p, &r.p5, &r.p6, &r.p6p,
        &r.p7, &r.p8,
    ];
    let all: serde_json::Map<String, Value> = INPUTS
        .iter()
        .zip(values)
        .map(|(name, v)| (name.to_string(), v.clone()))
        .collect();
    Ok(serde_json::to_string_pretty(&all)? + "\n")
}

fn json_text(fields: &[(String, Value)]) -> anyhow::Result<String> {
    let mut out = String::from("{\n");
    for (i, (k, v)) in fields.iter().enumerate() {
        let comma = if i + 1 < fields.len() { "," } else { "" };
        writeln!(
            out,
            "  {}: {}{comma}",
            serde_json::to_string(k)?,
            serde_json::to_string(v)?
        )?;
    }
    out.push_str("}\n");
    Ok(out)
}

// ---- the chart ----

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Two panels: the CDF of P1's change -> acknowledgement latencies (log scale), and P3's
/// request latency percentiles under the rolling replacement.
fn svg(r: &Results) -> anyhow::Result<String> {
    let (w, h) = (960.0, 760.0);
    let mut s = String::new();
    writeln!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"##
    )?;
    writeln!(s, r##"<rect width="{w}" height="{h}" fill="#ffffff"/>"##)?;
    writeln!(
        s,
        r##"<text x="{}" y="22" text-anchor="middle" font-size="14" font-weight="bold">haproxy-agent benchmarks, {} (generated by scripts/bench)</text>"##,
        w / 2.0,
        esc(&text(&r.meta, "date")?)
    )?;

    // Panel 1: CDF, x log10(ms).
    let series = [
        (
            "store -> ack",
            samples(&r.p1, "store/samples_ms")?,
            "#1f77b4",
        ),
        ("file -> ack", samples(&r.p1, "file/samples_ms")?, "#2ca02c"),
        (
            "reload per change",
            samples(&r.p1, "baseline/samples_ms")?,
            "#d62728",
        ),
    ];
    let (px, py, pw, ph) = (60.0, 62.0, 470.0, 280.0);
    let all: Vec<f64> = series
        .iter()
        .flat_map(|(_, v, _)| v.iter().copied())
        .filter(|x| *x > 0.0)
        .collect();
    if all.is_empty() {
        bail!("P1 has no samples");
    }
    let lo = all
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min)
        .log10()
        .floor();
    let hi = all
        .iter()
        .copied()
        .fold(0.0, f64::max)
        .log10()
        .ceil()
        .max(lo + 1.0);
    let xof = |ms: f64| px + (ms.max(10f64.powf(lo)).log10() - lo) / (hi - lo) * pw;
    let yof = |f: f64| py + ph - f * ph;
    writeln!(
        s,
        r##"<text x="{}" y="{}" text-anchor="middle" font-weight="bold">P1: change -> HAProxy acknowledgement (CDF)</text>"##,
        px + pw / 2.0,
        py - 8.0
    )?;
    writeln!(
        s,
        r##"<rect x="{px}" y="{py}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>"##
    )?;
    let mut e = lo;
    while e <= hi {
        let x = xof(10f64.powf(e));
        let label = if e >= 0.0 {
            format!("{}", 10f64.powf(e))
        } else {
            format!("{:.*}", (-e) as usize, 10f64.powf(e))
        };
        writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{py}" x2="{x:.1}" y2="{}" stroke="#ddd"/><text x="{x:.1}" y="{}" text-anchor="middle">{label}</text>"##,
            py + ph,
            py + ph + 16.0
        )?;
        e += 1.0;
    }
    for f in [0.0, 0.25, 0.5, 0.75, 0.9, 1.0] {
        let y = yof(f);
        writeln!(
            s,
            r##"<line x1="{px}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#eee"/><text x="{}" y="{:.1}" text-anchor="end">{f}</text>"##,
            px + pw,
            px - 6.0,
            y + 4.0
        )?;
    }
    writeln!(
        s,
        r##"<text x="{}" y="{}" text-anchor="middle">milliseconds (log scale)</text>"##,
        px + pw / 2.0,
        py + ph + 34.0
    )?;
    for (i, (name, v, color)) in series.iter().enumerate() {
        let mut sorted = v.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len() as f64;
        let mut d = String::new();
        for (k, x) in sorted.iter().enumerate() {
            let (x0, y0, y1) = (xof(*x), yof(k as f64 / n), yof((k + 1) as f64 / n));
            let cmd = if k == 0 { 'M' } else { 'L' };
            write!(d, "{cmd}{x0:.1},{y0:.1} L{x0:.1},{y1:.1} ")?;
        }
        writeln!(
            s,
            r##"<path d="{}" fill="none" stroke="{color}" stroke-width="2"/>"##,
            d.trim_end()
        )?;
        // Legends below the axis title, one per line: they never cover a curve.
        let ly = py + ph + 54.0 + 16.0 * i as f64;
        writeln!(
            s,
            r##"<line x1="{}" y1="{ly}" x2="{}" y2="{ly}" stroke="{color}" stroke-width="3"/><text x="{}" y="{}">{} (n={})</text>"##,
            px,
            px + 24.0,
            px + 30.0,
            ly + 4.0,
            esc(name),
            v.len()
        )?;
    }

    // Panel 2: P3 latency percentiles over every request, agent vs baseline (not the max:
    // one failure, counted at its 5 s timeout, would flatten every other bar).
    let (qx, qy, qw, qh) = (620.0, 62.0, 300.0, 280.0);
    let pcts = ["p50", "p90", "p99", "p999"];
    let sides = [
        ("agent", "agent", "#1f77b4"),
        ("reload per change", "baseline", "#d62728"),
    ];
    let mut top: f64 = 1.0;
    for (_, key, _) in &sides {
        for p in pcts {
            top = top.max(num(&r.p3, &format!("{key}/load/latency_ms/{p}"))?);
        }
    }
    let step = [
        1.0, 2.0, 5.0, 10.0, 20.0, 25.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0,
    ]
    .into_iter()
    .find(|st| top / st <= 6.0)
    .unwrap_or(10_000.0);
    let top = (top / step).ceil() * step;
    writeln!(
        s,
        r##"<text x="{}" y="{}" text-anchor="middle" font-weight="bold">P3: request latency during a rolling replacement</text>"##,
        qx + qw / 2.0,
        qy - 8.0
    )?;
    writeln!(
        s,
        r##"<rect x="{qx}" y="{qy}" width="{qw}" height="{qh}" fill="none" stroke="#888"/>"##
    )?;
    let mut t = 0.0;
    while t <= top + 1e-9 {
        let y = qy + qh - t / top * qh;
        writeln!(
            s,
            r##"<line x1="{qx}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#eee"/><text x="{}" y="{:.1}" text-anchor="end">{t}</text>"##,
            qx + qw,
            qx - 6.0,
            y + 4.0
        )?;
        t += step;
    }
    let group = qw / pcts.len() as f64;
    let bar = group / 3.0;
    for (g, p) in pcts.iter().enumerate() {
        let gx = qx + g as f64 * group;
        for (k, (_, key, color)) in sides.iter().enumerate() {
            let v = num(&r.p3, &format!("{key}/load/latency_ms/{p}"))?;
            let bh = v / top * qh;
            let x = gx + bar * 0.5 + k as f64 * bar;
            writeln!(
                s,
                r##"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{bh:.1}" fill="{color}"><title>{key} {p}: {v} ms</title></rect>"##,
                qy + qh - bh,
                bar * 0.9
            )?;
        }
        writeln!(
            s,
            r##"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"##,
            gx + group / 2.0,
            qy + qh + 16.0,
            if *p == "p999" { "p99.9" } else { p }
        )?;
    }
    writeln!(
        s,
        r##"<text x="{}" y="{}" text-anchor="middle">milliseconds, by percentile</text>"##,
        qx + qw / 2.0,
        qy + qh + 34.0
    )?;
    for (i, (name, key, color)) in sides.iter().enumerate() {
        let ly = qy + qh + 54.0 + 16.0 * i as f64;
        writeln!(
            s,
            r##"<rect x="{}" y="{}" width="14" height="10" fill="{color}"/><text x="{}" y="{}">{} ({} failed of {})</text>"##,
            qx,
            ly - 5.0,
            qx + 20.0,
            ly + 4.0,
            esc(name),
            text(&r.p3, &format!("{key}/load/failed"))?,
            thousands(num(&r.p3, &format!("{key}/load/sent"))?)
        )?;
    }
    growth_panel(&mut s, &r.p7)?;
    writeln!(s, "</svg>")?;
    Ok(s)
}

// ---- the page ----

/// Panel 3: P7, one endpoint change's p50 against the number of Services (both axes log).
fn growth_panel(s: &mut String, p7: &Value) -> anyhow::Result<()> {
    let sizes = at(p7, "sizes")?
        .as_array()
        .context("P7 sizes is not a list")?;
    let (px, py, pw, ph) = (60.0, 520.0, 860.0, 170.0);
    // (name, colour, (services, p50 ms) points)
    type Series<'a> = (&'a str, &'a str, Vec<(f64, f64)>);
    let mut points: Vec<Series<'_>> = vec![
        ("store -> ack, p50", "#1f77b4", Vec::new()),
        ("file -> ack, p50", "#2ca02c", Vec::new()),
    ];
    for size in sizes {
        let n = num(size, "services")?;
        points[0].2.push((n, num(size, "store/p50_ms")?));
        points[1].2.push((n, num(size, "file/p50_ms")?));
    }
    let xs: Vec<f64> = points[0].2.iter().map(|(n, _)| *n).collect();
    let ys: Vec<f64> = points
        .iter()
        .flat_map(|p| p.2.iter().map(|(_, y)| *y))
        .collect();
    if xs.is_empty() {
        bail!("P7 has no sizes");
    }
    let (xlo, xhi) = (
        xs.iter()
            .copied()
            .fold(f64::INFINITY, f64::min)
            .log10()
            .floor(),
        xs.iter().copied().fold(0.0, f64::max).log10().ceil(),
    );
    let (ylo, yhi) = (
        ys.iter()
            .copied()
            .fold(f64::INFINITY, f64::min)
            .max(0.01)
            .log10()
            .floor(),
        ys.iter().copied().fold(0.0, f64::max).log10().ceil(),
    );
    let xhi = xhi.max(xlo + 1.0);
    let yhi = yhi.max(ylo + 1.0);
    let xof = |n: f64| px + (n.log10() - xlo) / (xhi - xlo) * pw;
    let yof = |ms: f64| py + ph - (ms.max(10f64.powf(ylo)).log10() - ylo) / (yhi - ylo) * ph;
    writeln!(
        s,
        r##"<text x="{}" y="{}" text-anchor="middle" font-weight="bold">P7: one endpoint change -> HAProxy acknowledgement, by cluster size</text>"##,
        px + pw / 2.0,
        py - 8.0
    )?;
    writeln!(
        s,
        r##"<rect x="{px}" y="{py}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>"##
    )?;
    let mut e = xlo;
    while e <= xhi {
        let x = xof(10f64.powf(e));
        writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{py}" x2="{x:.1}" y2="{}" stroke="#ddd"/><text x="{x:.1}" y="{}" text-anchor="middle">{}</text>"##,
            py + ph,
            py + ph + 16.0,
            thousands(10f64.powf(e))
        )?;
        e += 1.0;
    }
    let mut e = ylo;
    while e <= yhi {
        let y = yof(10f64.powf(e));
        writeln!(
            s,
            r##"<line x1="{px}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#eee"/><text x="{}" y="{:.1}" text-anchor="end">{} ms</text>"##,
            px + pw,
            px - 6.0,
            y + 4.0,
            10f64.powf(e)
        )?;
        e += 1.0;
    }
    writeln!(
        s,
        r##"<text x="{}" y="{}" text-anchor="middle">Services (2 endpoints and an Ingress each; log scale)</text>"##,
        px + pw / 2.0,
        py + ph + 34.0
    )?;
    for (i, (name, color, pts)) in points.iter().enumerate() {
        let d: Vec<String> = pts
            .iter()
            .enumerate()
            .map(|(k, (n, y))| {
                let cmd = if k == 0 { 'M' } else { 'L' };
                format!("{cmd}{:.1},{:.1}", xof(*n), yof(*y))
            })
            .collect();
        writeln!(
            s,
            r##"<path d="{}" fill="none" stroke="{color}" stroke-width="2"/>"##,
            d.join(" ")
        )?;
        for (n, y) in pts {
            writeln!(
                s,
                r##"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{color}"/>"##,
                xof(*n),
                yof(*y)
            )?;
        }
        let lx = px + 300.0 * i as f64;
        let ly = py + ph + 54.0;
        writeln!(
            s,
            r##"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{color}" stroke-width="3"/><text x="{}" y="{}">{}</text>"##,
            lx + 24.0,
            lx + 30.0,
            ly + 4.0,
            esc(name)
        )?;
    }
    Ok(())
}

fn summary_row(out: &mut String, name: &str, v: &Value) -> anyhow::Result<()> {
    writeln!(
        out,
        "| {name} | {} | {} | {} | {} | {} |",
        thousands(num(v, "n")?),
        ms(num(v, "p50_ms")?),
        ms(num(v, "p90_ms")?),
        ms(num(v, "p99_ms")?),
        ms(num(v, "max_ms")?)
    )?;
    Ok(())
}

fn page(r: &Results, fields: &[(String, Value)]) -> anyhow::Result<String> {
    let m = &r.meta;
    let f = |k: &str| -> anyhow::Result<f64> {
        fields
            .iter()
            .find(|(n, _)| *n == k)
            .and_then(|(_, v)| v.as_f64())
            .with_context(|| format!("no headline figure {k}"))
    };
    let mut o = String::new();
    writeln!(o, "# Benchmarks")?;
    writeln!(o)?;
    writeln!(
        o,
        "<!-- generated by scripts/bench: do not edit by hand, run scripts/bench again -->"
    )?;
    writeln!(o, "{}", provenance(m)?)?;
    writeln!(o)?;
    writeln!(o, "{}", machine(m)?)?;
    writeln!(o)?;
    writeln!(
        o,
        "![P1 latency CDF and P3 latency under load](benchmarks.svg)"
    )?;
    writeln!(o)?;

    writeln!(o, "## Summary")?;
    writeln!(o)?;
    writeln!(o, "| | measured | key in benchmarks.json |")?;
    writeln!(o, "|---|---:|---|")?;
    let rows: [(&str, String, &str); 25] = [
        (
            "Runtime API: one connection per command (for comparison)",
            format!(
                "{} cmd/s",
                thousands(f("runtime_one_connection_per_command_rate")?)
            ),
            "runtime_one_connection_per_command_rate",
        ),
        (
            "P1 store update -> HAProxy ack, p50",
            ms(f("p1_store_p50_ms")?),
            "p1_store_p50_ms",
        ),
        (
            "P1 store update -> HAProxy ack, p99",
            ms(f("p1_store_p99_ms")?),
            "p1_store_p99_ms",
        ),
        (
            "P1 file change -> HAProxy ack, p99",
            ms(f("p1_file_p99_ms")?),
            "p1_file_p99_ms",
        ),
        (
            "P1 with a policy-heavy ingress-nginx annotation set: store -> ack, p50",
            ms(f("p1_policies_store_p50_ms")?),
            "p1_policies_store_p50_ms",
        ),
        (
            "P1 with a policy-heavy ingress-nginx annotation set: store -> ack, p99",
            ms(f("p1_policies_store_p99_ms")?),
            "p1_policies_store_p99_ms",
        ),
        (
            "P2 10,000 endpoint changes, wall time",
            format!("{:.3} s", f("p2_wall_s")?),
            "p2_wall_s",
        ),
        (
            "P2 with a policy-heavy ingress-nginx annotation set: wall time",
            format!("{:.3} s", f("p2_policies_wall_s")?),
            "p2_policies_wall_s",
        ),
        (
            "P2 agent rate / raw socket rate, median of the paired trials' ratios (their \
             range in the P2 section)",
            format!("{:.1} %", 100.0 * f("p2_ratio_to_raw")?),
            "p2_ratio_to_raw",
        ),
        (
            "P3 failed requests, agent",
            thousands(f("p3_failed_agent")?),
            "p3_failed_agent",
        ),
        (
            "P3 failed requests, reload per change",
            thousands(f("p3_failed_reload_baseline")?),
            "p3_failed_reload_baseline",
        ),
        (
            "P3 request latency p99 over every request (a failure counted at its timeout), agent",
            ms(f("p3_p99_ms_agent")?),
            "p3_p99_ms_agent",
        ),
        (
            "P3 request latency p99 over every request, reload per change",
            ms(f("p3_p99_ms_reload_baseline")?),
            "p3_p99_ms_reload_baseline",
        ),
        (
            "P3 with the policy-heavy set (load exempt from its limits): failed requests, agent",
            thousands(f("p3_policies_failed_agent")?),
            "p3_policies_failed_agent",
        ),
        (
            "P3 with the policy-heavy set: request latency p99, agent",
            ms(f("p3_policies_p99_ms_agent")?),
            "p3_policies_p99_ms_agent",
        ),
        (
            "P3 with the policy-heavy set: request latency p99, reload per change",
            ms(f("p3_policies_p99_ms_reload_baseline")?),
            "p3_policies_p99_ms_reload_baseline",
        ),
        (
            "P4 reloads over the P1-P3 churn, policy-heavy runs included (expect 0)",
            thousands(f("p4_reloads_churn")?),
            "p4_reloads_churn",
        ),
        (
            "P4 reloads for one new Service (expect 1)",
            thousands(f("p4_reloads_new_service")?),
            "p4_reloads_new_service",
        ),
        (
            "P5 agent peak RSS, 10,000 endpoints in 1,000 backends",
            format!("{:.1} MiB", f("p5_rss_mib")?),
            "p5_rss_mib",
        ),
        (
            "P6 5,000 Ingresses: full translate + render",
            ms(f("p6_full_ms")?),
            "p6_full_ms",
        ),
        (
            "P6 5,000 Ingresses: one incremental change",
            ms(f("p6_incremental_ms")?),
            "p6_incremental_ms",
        ),
        (
            "P6 with a policy-heavy ingress-nginx annotation set: full translate + render",
            ms(f("p6_policies_full_ms")?),
            "p6_policies_full_ms",
        ),
        (
            "P6 with a policy-heavy ingress-nginx annotation set: one incremental change",
            ms(f("p6_policies_incremental_ms")?),
            "p6_policies_incremental_ms",
        ),
        (
            "P8 cold start, 10,000 Services / 20,000 servers: every server in HAProxy",
            format!("{:.2} s", f("p8_cold_start_s_10000")?),
            "p8_cold_start_s_10000",
        ),
        (
            "P8 agent peak RSS, 10,000 Services / 20,000 servers",
            format!("{:.1} MiB", f("p8_rss_mib_10000")?),
            "p8_rss_mib_10000",
        ),
    ];
    for (name, value, key) in rows {
        writeln!(o, "| {name} | {value} | `{key}` |")?;
    }
    writeln!(o)?;

    // Runtime client.
    let rt = &r.runtime;
    writeln!(o, "## Runtime API client vs the raw socket")?;
    writeln!(o)?;
    writeln!(o, "```sh")?;
    writeln!(
        o,
        "target/release/bench-runtime {}   # servers per round, rounds per trial, trials",
        text(rt, "args")?
    )?;
    writeln!(o, "```")?;
    writeln!(o)?;
    runtime_section(&mut o, rt)?;

    // P1.
    writeln!(
        o,
        "## P1: change -> HAProxy acknowledgement, against reload per change"
    )?;
    writeln!(o)?;
    writeln!(o, "```sh")?;
    writeln!(
        o,
        "cargo bench -p haproxy-agent --bench sync -- {} {}   # changes per path, reload-baseline changes",
        text(&r.p1, "changes")?,
        text(&r.p1, "baseline/n")?
    )?;
    writeln!(o, "```")?;
    writeln!(o)?;
    writeln!(
        o,
        "One endpoint change at a time on a real HAProxy started as `run --spawn-haproxy` does \
         (the slice grows one endpoint at a time from 2 to 101 and shrinks back, repeatedly): \
         **store** updates the EndpointSlice in the object store, then translate, observe, plan \
         and apply until HAProxy acknowledged every runtime command; **file** rewrites the \
         EndpointSlice manifest and waits through notify, the manifests source's 30 ms burst \
         holdoff, the store and the same sync; the **baseline** applies each change the classic \
         way (render, `haproxy -c`, reload through the master CLI, wait for the new worker)."
    )?;
    writeln!(o)?;
    writeln!(o, "| path | n | p50 | p90 | p99 | max |")?;
    writeln!(o, "|---|---:|---:|---:|---:|---:|")?;
    summary_row(&mut o, "store -> haproxy ack", at(&r.p1, "store")?)?;
    summary_row(&mut o, "file -> haproxy ack", at(&r.p1, "file")?)?;
    summary_row(
        &mut o,
        "baseline: reload per change",
        at(&r.p1, "baseline")?,
    )?;
    writeln!(o)?;
    writeln!(
        o,
        "Reloads counted by HAProxy's master: {} over the agent's {} changes, {} over the \
         baseline's {}. The median store path was {:.0} times faster than a reload per change.",
        text(&r.p1, "reloads_agent")?,
        thousands(num(&r.p1, "store/n")? + num(&r.p1, "file/n")?),
        text(&r.p1, "reloads_baseline")?,
        text(&r.p1, "baseline/n")?,
        num(&r.p1, "baseline/p50_ms")? / num(&r.p1, "store/p50_ms")?
    )?;
    writeln!(o)?;

    // P2.
    let p2 = &r.p2;
    p2_section(&mut o, p2, &r.p2p)?;

    // P3.
    let p3 = &r.p3;
    writeln!(o, "## P3: rolling replacement under load")?;
    writeln!(o)?;
    writeln!(o, "```sh")?;
    writeln!(
        o,
        "cargo bench -p haproxy-agent --bench rolling -- {}   # requests per second",
        text(p3, "rate")?
    )?;
    writeln!(o, "```")?;
    writeln!(o)?;
    writeln!(
        o,
        "All {} pods of a backend (echo servers on loopback answering after {} ms) are \
         replaced one at a time while `load-loop --mixed`, a separate process, sends {} \
         requests/s through HAProxy, open loop (latency counted from when a request was due), \
         alternately on a new connection and on a pooled keep-alive connection (a careful \
         client: a pooled connection already seen closed is replaced before use; a request \
         the server closes the connection under fails, it is not retried). Each pod gets a {} \
         ms slot of four steps: **new ready** (its endpoint added), **old terminating** \
         (`ready: false, serving: true, terminating: true`: HAProxy must stop sending it new \
         requests), **drained** (no session left on it in any HAProxy worker; then the old pod \
         exits) and **old gone** (the endpoint removed). The **agent** is the real \
         `haproxy-agent run --manifests DIR --spawn-haproxy` following EndpointSlice manifest \
         rewrites; the **baseline** renders the same objects with the same code, checks them \
         with `haproxy -c` and reloads for every change. The percentiles are over every \
         request the load sent (the in-flight ones are waited for at the end): a failed \
         request counts at its timeout, {} ms (or at the time it took, if longer), so a failure \
         shows in p99.9 and max as soon as it is more than 0.1 % or any at all.",
        text(p3, "pods")?,
        text(p3, "echo_delay_ms")?,
        thousands(num(p3, "rate")?),
        thousands(num(p3, "slot_ms")?),
        text(p3, "agent/load/failure_counted_at_ms")?
    )?;
    writeln!(o)?;
    writeln!(
        o,
        "| | client | requests | failed | p50 | p90 | p99 | p99.9 | max | reloads |"
    )?;
    writeln!(o, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")?;
    let p3p = &r.p3p;
    for (name, run, key) in [
        ("agent", p3, "agent"),
        ("reload per change", p3, "baseline"),
        ("agent, policy-heavy set", p3p, "agent"),
        ("reload per change, policy-heavy set", p3p, "baseline"),
    ] {
        for (client, path) in [
            ("all", "load".to_string()),
            (
                "new connection",
                "load/by_client/new_connection".to_string(),
            ),
            ("keep-alive", "load/by_client/keep_alive".to_string()),
        ] {
            let l = at(run, &format!("{key}/{path}"))?;
            let first = client == "all";
            writeln!(
                o,
                "| {} | {client} | {} | {} | {} | {} | {} | {} | {} | {} |",
                if first {
                    format!("**{name}**")
                } else {
                    String::new()
                },
                thousands(num(l, "sent")?),
                thousands(num(l, "failed")?),
                ms(num(l, "latency_ms/p50")?),
                ms(num(l, "latency_ms/p90")?),
                ms(num(l, "latency_ms/p99")?),
                ms(num(l, "latency_ms/p999")?),
                ms(num(l, "latency_ms/max")?),
                if first {
                    text(run, &format!("{key}/reloads"))?
                } else {
                    String::new()
                }
            )?;
        }
    }
    writeln!(o)?;
    writeln!(
        o,
        "Over successful requests only, p99 / max: agent {} / {}, reload per change {} / {}; \
         policy-heavy agent {} / {}, reload per change {} / {}.",
        ms(num(p3, "agent/load/latency_ok_ms/p99")?),
        ms(num(p3, "agent/load/latency_ok_ms/max")?),
        ms(num(p3, "baseline/load/latency_ok_ms/p99")?),
        ms(num(p3, "baseline/load/latency_ok_ms/max")?),
        ms(num(p3p, "agent/load/latency_ok_ms/p99")?),
        ms(num(p3p, "agent/load/latency_ok_ms/max")?),
        ms(num(p3p, "baseline/load/latency_ok_ms/p99")?),
        ms(num(p3p, "baseline/load/latency_ok_ms/max")?)
    )?;
    writeln!(o)?;
    writeln!(
        o,
        "The policy-heavy rows are a second run (`--policies true`) whose Ingress carries \
         `rewrite-target`, `x-forwarded-prefix`, `upstream-vhost`, `proxy-body-size`, \
         `limit-rps`, `limit-connections`, CORS and `proxy-read-timeout`, plus \
         `limit-whitelist: 127.0.0.0/8`: the load comes from one address and would meet \
         `limit-rps: 100` by design, so the limits exempt it while every other policy applies \
         to every request."
    )?;
    writeln!(o)?;
    writeln!(
        o,
        "Time from each change to HAProxy showing it (for the agent this includes the \
         manifests source's 30 ms holdoff; for the baseline, render + `haproxy -c` + reload + \
         the new worker), median / max over the {} pods:",
        text(p3, "pods")?
    )?;
    writeln!(o)?;
    writeln!(o, "| step | agent | reload per change |")?;
    writeln!(o, "|---|---:|---:|")?;
    for (step, name) in [
        ("new_ready", "new ready"),
        ("old_terminating", "old terminating (no new requests)"),
        ("drained", "drained (wait for no sessions)"),
        ("old_gone", "old gone (deleted)"),
    ] {
        let a = at(p3, &format!("agent/steps/{step}"))?;
        let b = at(p3, &format!("baseline/steps/{step}"))?;
        writeln!(
            o,
            "| {name} | {} / {} | {} / {} |",
            ms(num(a, "p50_ms")?),
            ms(num(a, "max_ms")?),
            ms(num(b, "p50_ms")?),
            ms(num(b, "max_ms")?)
        )?;
    }
    writeln!(o)?;
    for (name, key) in [("agent", "agent"), ("reload per change", "baseline")] {
        let errors = at(p3, &format!("{key}/load/errors"))?
            .as_array()
            .context("errors is not a list")?;
        if !errors.is_empty() {
            let times: Vec<String> = at(p3, &format!("{key}/load/failed_at_s"))?
                .as_array()
                .context("failed_at_s is not a list")?
                .iter()
                .map(|t| format!("{} s", t))
                .collect();
            writeln!(
                o,
                "First failures ({name}), at {} into the load:",
                times.join(", ")
            )?;
            writeln!(o)?;
            for e in errors {
                writeln!(
                    o,
                    "- `{}`",
                    e.as_str().unwrap_or_default().replace('`', "'")
                )?;
            }
            writeln!(o)?;
        }
    }
    writeln!(
        o,
        "Both configs are the agent's rendering: `option redispatch` and `retries 3` retry a \
         refused connection on another server, and the admin socket has `expose-fd listeners`, \
         so reloads hand the listening sockets over."
    )?;
    writeln!(o)?;

    // P4.
    writeln!(o, "## P4: reloads")?;
    writeln!(o)?;
    writeln!(
        o,
        "Counted by HAProxy's master (`show proc`), not by the agent: over the agent's P1-P3 \
         churn — {} in P1 ({} endpoint changes), {} in P2 ({} trials of {} changes and their \
         removal), {} in P3 (the rolling replacement) — **{}** in all. Then one manifest file \
         adding a Service, its EndpointSlice and an Ingress for a new host to the P3 agent: \
         **{}** reload (the agent's own `haproxy_agent_reloads_total` counted {} in its whole \
         life), the new backend serving {} after the file was written.",
        text(&r.p1, "reloads_agent")?,
        thousands(num(&r.p1, "store/n")? + num(&r.p1, "file/n")?),
        text(p2, "reloads")?,
        text(p2, "trials")?,
        thousands(num(p2, "endpoints")?),
        text(p3, "agent/reloads")?,
        thousands(f("p4_reloads_churn")?),
        thousands(f("p4_reloads_new_service")?),
        thousands(num(p3, "new_service/agent_reloads_total")?),
        ms(num(p3, "new_service/serving_after_ms")?)
    )?;
    writeln!(o)?;

    // P5.
    let p5 = &r.p5;
    writeln!(o, "## P5: memory with 10,000 endpoints in 1,000 backends")?;
    writeln!(o)?;
    writeln!(o, "```sh")?;
    writeln!(
        o,
        "cargo bench -p haproxy-agent --bench footprint -- {} {} {}   # services, endpoints each, runs",
        text(p5, "services")?,
        num(p5, "endpoints")? / num(p5, "services")?,
        at(p5, "runs")?.as_array().map_or(0, Vec::len)
    )?;
    writeln!(o, "```")?;
    writeln!(o)?;
    writeln!(
        o,
        "{} manifest files, each a Service, its EndpointSlice ({} ready endpoints) and an \
         Ingress for a host of its own; the real `haproxy-agent run --manifests DIR \
         --spawn-haproxy` is started, and once `/healthz` answers 200 and `show servers state` \
         lists all {} servers, the agent's peak resident set (`VmHWM` in `/proc/<pid>/status`) \
         is read. The peak moves from run to run (it depends on how allocations spread over \
         the allocator's per-thread arenas), so the agent is started several times and the \
         largest peak is the figure: **{:.1} MiB**.",
        thousands(num(p5, "services")?),
        num(p5, "endpoints")? / num(p5, "services")?,
        thousands(num(p5, "endpoints")?),
        num(p5, "agent_peak_mib")?
    )?;
    writeln!(o)?;
    writeln!(
        o,
        "| run | agent VmHWM | agent VmRSS | HAProxy worker VmHWM | /healthz 200 after | all servers in HAProxy after | reloads |"
    )?;
    writeln!(o, "|---|---:|---:|---:|---:|---:|---:|")?;
    for (i, run) in at(p5, "runs")?
        .as_array()
        .context("runs")?
        .iter()
        .enumerate()
    {
        writeln!(
            o,
            "| {} | {:.1} MiB | {:.1} MiB | {:.1} MiB | {:.3} s | {:.3} s | {} |",
            i + 1,
            num(run, "agent_vmhwm_mib")?,
            num(run, "agent_vmrss_mib")?,
            num(run, "haproxy_worker_vmhwm_mib")?,
            num(run, "healthy_after_s")?,
            num(run, "converged_after_s")?,
            text(run, "reloads")?
        )?;
    }
    writeln!(o)?;

    // P6.
    let p6 = &r.p6;
    writeln!(o, "## P6: 5,000 Ingresses")?;
    writeln!(o)?;
    writeln!(o, "```sh")?;
    writeln!(
        o,
        "cargo bench -p haproxy-agent --bench scale -- {} {} {}   # ingresses, services, repeats",
        text(p6, "ingresses")?,
        text(p6, "services")?,
        text(p6, "incremental/n")?
    )?;
    writeln!(o, "```")?;
    writeln!(o)?;
    writeln!(
        o,
        "{} Ingresses, each routing a host of its own to one of {} Services (2 endpoints each): \
         {} routes, {} backends, a haproxy.cfg of {} bytes and maps of {} bytes. **full**: \
         `translate` of the whole snapshot and `render` of the config and maps, in-process. \
         **incremental**: one Ingress's path changes in the store; the time until HAProxy \
         acknowledged the map commands ({} per change), on a HAProxy loaded with all of it: \
         the agent's whole sync for that change (incremental translate, observe what it \
         touched, plan, apply); the config files are written afterwards, off this path.",
        thousands(num(p6, "ingresses")?),
        thousands(num(p6, "services")?),
        thousands(num(p6, "routes")?),
        thousands(num(p6, "backends")?),
        thousands(num(p6, "haproxy_cfg_bytes")?),
        thousands(num(p6, "map_bytes")?),
        text(p6, "incremental_commands")?
    )?;
    writeln!(o)?;
    writeln!(o, "| | n | p50 | p90 | p99 | max |")?;
    writeln!(o, "|---|---:|---:|---:|---:|---:|")?;
    summary_row(&mut o, "full translate + render", at(p6, "full")?)?;
    summary_row(&mut o, "of which translate", at(p6, "translate")?)?;
    summary_row(&mut o, "of which render", at(p6, "render")?)?;
    summary_row(
        &mut o,
        "incremental: store -> haproxy ack",
        at(p6, "incremental")?,
    )?;
    writeln!(o)?;
    writeln!(
        o,
        "Reloads during the incremental changes: {}.",
        text(p6, "reloads")?
    )?;
    writeln!(o)?;

    // P7.
    let p7 = &r.p7;
    writeln!(o, "## P7: one endpoint change as the cluster grows")?;
    writeln!(o)?;
    writeln!(o, "```sh")?;
    let sizes: Vec<String> = at(p7, "sizes")?
        .as_array()
        .context("P7 sizes")?
        .iter()
        .map(|v| text(v, "services"))
        .collect::<anyhow::Result<_>>()?;
    writeln!(
        o,
        "cargo bench -p haproxy-agent --bench growth -- {} {}   # changes per path, sizes",
        text(p7, "changes")?,
        sizes.join(" ")
    )?;
    writeln!(o, "```")?;
    writeln!(o)?;
    writeln!(
        o,
        "At each size N: N Services, each with an EndpointSlice of 2 ready endpoints and an \
         Ingress routing a host of its own to it, loaded into HAProxy; then one Service's \
         slice gains or loses its third endpoint, again and again. **store**: the slice \
         updated in the object store, until HAProxy acknowledged the commands (incremental \
         translate, observe the touched backend, plan, apply). **file**: the Service's \
         manifest file rewritten, through notify, the manifests source (its 30 ms burst \
         holdoff included) and the same sync. Each path starts after one untimed sync (the \
         first from a store translates and reads everything, as the agent's start-up does); \
         the periodic full read of HAProxy (once per `--resync-period` in the agent, on a \
         wake-up of its own) is not part of these samples. The config files are written \
         after each change, untimed. Keys `p7_<path>_<p50|p99>_ms_<N>` in benchmarks.json."
    )?;
    writeln!(o)?;
    writeln!(
        o,
        "| Services | servers | path | n | p50 | p90 | p99 | max |"
    )?;
    writeln!(o, "|---:|---:|---|---:|---:|---:|---:|---:|")?;
    for size in at(p7, "sizes")?.as_array().context("P7 sizes")? {
        for path in ["store", "file"] {
            let v = at(size, path)?;
            writeln!(
                o,
                "| {} | {} | {path} | {} | {} | {} | {} | {} |",
                thousands(num(size, "services")?),
                thousands(num(size, "servers")?),
                text(v, "n")?,
                ms(num(v, "p50_ms")?),
                ms(num(v, "p90_ms")?),
                ms(num(v, "p99_ms")?),
                ms(num(v, "max_ms")?),
            )?;
        }
    }
    writeln!(o)?;

    // P8.
    let p8 = &r.p8;
    writeln!(o, "## P8: cold start at 10,000 Services")?;
    writeln!(o)?;
    writeln!(o, "```sh")?;
    writeln!(
        o,
        "cargo bench -p haproxy-agent --bench footprint -- {} {} {} --agent target/release/haproxy-agent",
        text(p8, "services")?,
        num(p8, "endpoints")? as u64 / num(p8, "services")?.max(1.0) as u64,
        at(p8, "runs")?.as_array().map_or(0, Vec::len)
    )?;
    writeln!(o, "```")?;
    writeln!(o)?;
    writeln!(
        o,
        "The P5 procedure at {} Services with {} endpoints: `haproxy-agent run --manifests \
         --spawn-haproxy` on one manifest file per Service, from its start until `/healthz` \
         answers 200 and until HAProxy lists every server; the agent's peak RSS at that point; \
         then, 1.5 s later, what the agent read of HAProxy whole and wrote to disk over 10 \
         seconds with no change (the resync period is 30 s: expect 0 and 0).",
        thousands(num(p8, "services")?),
        thousands(num(p8, "endpoints")?)
    )?;
    writeln!(o)?;
    writeln!(
        o,
        "| run | healthy after | every server in HAProxy after | agent peak RSS | reloads | \
         idle 10 s: full observations | idle 10 s: file writes |"
    )?;
    writeln!(o, "|---:|---:|---:|---:|---:|---:|---:|")?;
    for (i, run) in at(p8, "runs")?
        .as_array()
        .context("P8 runs")?
        .iter()
        .enumerate()
    {
        writeln!(
            o,
            "| {} | {:.2} s | {:.2} s | {:.1} MiB | {} | {} | {} |",
            i + 1,
            num(run, "healthy_after_s")?,
            num(run, "converged_after_s")?,
            num(run, "agent_vmhwm_mib")?,
            text(run, "reloads")?,
            text(run, "idle_10s_full_observations")?,
            text(run, "idle_10s_file_writes")?
        )?;
    }
    writeln!(o)?;

    writeln!(o, "## Running")?;
    writeln!(o)?;
    writeln!(
        o,
        "`scripts/bench` builds the release binaries once (`cargo build --release`), runs \
         `bench-runtime` three times and the benchmarks `sync` (P1), `bulk` (P2), `rolling` \
         (P3, P4), `footprint` (P5, P8), `scale` (P6) and `growth` (P7) directly from `target/release`, then \
         `bench-report` writes this page, benchmarks.json, benchmarks-samples.json and \
         benchmarks.svg. HAProxy is \
         installed from the system packages when missing. Every process a benchmark starts \
         (HAProxy, the agent, `load-loop`) is stopped by its pid."
    )?;
    Ok(o)
}

/// The input names, in the order of `Results`' fields.
const INPUTS: [&str; 13] = [
    "meta", "runtime", "p1", "p1p", "p2", "p2p", "p3", "p3p", "p5", "p6", "p6p", "p7", "p8",
];

impl Results {
    /// From `get(name)` for every name of [`INPUTS`].
    fn from_fn(mut get: impl FnMut(&str) -> anyhow::Result<Value>) -> anyhow::Result<Results> {
        Ok(Results {
            meta: get("meta")?,
            runtime: get("runtime")?,
            p1: get("p1")?,
            p1p: get("p1p")?,
            p2: get("p2")?,
            p2p: get("p2p")?,
            p3: get("p3")?,
            p3p: get("p3p")?,
            p5: get("p5")?,
            p6: get("p6")?,
            p6p: get("p6p")?,
            p7: get("p7")?,
            p8: get("p8")?,
        })
    }

    /// From a benchmarks-samples.json written by an earlier run.
    fn from_samples(all: &Value) -> anyhow::Result<Results> {
        Results::from_fn(|name| Ok(at(all, name)?.clone()))
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (r, docs) = match args.as_slice() {
        [_, flag, file, docs] if flag == "--samples" => {
            let text = std::fs::read_to_string(file).with_context(|| format!("read {file}"))?;
            (Results::from_samples(&serde_json::from_str(&text)?)?, docs)
        }
        [_, dir, docs] => (Results::from_fn(|name| load(Path::new(dir), name))?, docs),
        _ => {
            bail!("usage: bench-report RESULTS_DIR DOCS_DIR | bench-report --samples FILE DOCS_DIR")
        }
    };
    let docs = Path::new(docs);
    let fields = headline(&r)?;
    std::fs::write(docs.join("benchmarks.json"), json_text(&fields)?)?;
    std::fs::write(docs.join("benchmarks-samples.json"), samples_text(&r)?)?;
    std::fs::write(docs.join("benchmarks.svg"), svg(&r)?)?;
    std::fs::write(docs.join("benchmarks.md"), page(&r, &fields)?)?;
    for (k, v) in &fields {
        println!("{k:<28} {v}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The samples of a `scripts/bench --quick`-sized run (debug build, loaded machine):
    /// the shape of every input, not figures to quote.
    fn quick() -> Results {
        let text = include_str!("../../tests/fixtures/bench-samples-quick.json");
        Results::from_samples(&serde_json::from_str(text).unwrap()).unwrap()
    }

    #[test]
    fn the_headline_keeps_the_quoted_keys_and_adds_the_new_ones() {
        let fields = headline(&quick()).unwrap();
        let keys: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
        for k in [
            "p1_store_p50_ms",
            "p2_wall_s",
            "p2_ratio_to_raw",
            "p3_failed_agent",
            "p3_p99_ms_agent",
            "p5_rss_mib",
            "p6_incremental_ms",
            "p8_cold_start_s_10000",
            "haproxy_version",
            "date",
            "p2_ratio_min",
            "p2_ratio_max",
            "commit",
            "haproxy_v",
            "runtime_one_connection_per_command_rate",
            "p3_failure_counted_at_ms",
        ] {
            assert!(keys.contains(&k), "no {k} in {keys:?}");
        }
    }

    #[test]
    fn the_page_says_what_was_measured_and_types_nothing_in() {
        let r = quick();
        let page = page(&r, &headline(&r).unwrap()).unwrap();
        let commit = text(&r.meta, "commit").unwrap();
        assert!(page.contains(&format!("at commit `{commit}`")), "no commit");
        assert!(page.contains(&text(&r.meta, "haproxy_v").unwrap()));
        assert!(page.contains(&text(&r.p2, "verdict").unwrap()));
        assert!(page.contains("a failed request counts at its timeout, 5000 ms"));
        for typed in ["14,000", "the Debian package", "shared with other builds"] {
            assert!(!page.contains(typed), "the page still says {typed:?}");
        }
    }

    #[test]
    fn the_samples_file_holds_every_input_whole() {
        let r = quick();
        let all: Value = serde_json::from_str(&samples_text(&r).unwrap()).unwrap();
        for name in INPUTS {
            assert!(all.get(name).is_some(), "no {name}");
        }
        assert_eq!(all["p2"]["agent_s"], r.p2["agent_s"]);
        assert_eq!(all["runtime"]["runs"], r.runtime["runs"]);
    }
}
