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

#[path = "bench_report/page.rs"]
mod page;
#[path = "bench_report/svg.rs"]
mod svg;
use page::page;
use svg::svg;

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

/// The headline figures, in the order of the issue that asked for them. It stays long: it
/// is a table, one line per figure.
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
    fn the_page_is_its_template_filled() {
        let r = quick();
        let page = page(&r, &headline(&r).unwrap()).unwrap();
        let template = include_str!("../../templates/benchmarks.md");
        for line in template.lines().filter(|l| !l.contains("{{")) {
            assert!(
                page.contains(line),
                "the page lacks the template's line {line:?}"
            );
        }
        assert!(!page.contains("{{"), "a placeholder was left unfilled");
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
