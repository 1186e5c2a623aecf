//! What the benchmarks and the soak share about figures: their command line ([`Args`]:
//! positional numbers, `--name value` options, JSON out), milliseconds rounded for JSON, and
//! nearest-rank percentiles ([`Summary`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::{Value, json};

/// The command line of a benchmark: positional numbers, `--name value` options, and the
/// `--bench` flag cargo adds (ignored).
#[derive(Debug, Default)]
pub struct Args {
    positional: Vec<String>,
    named: BTreeMap<String, String>,
}

impl Args {
    /// Parses `std::env::args()`.
    pub fn parse() -> anyhow::Result<Args> {
        let mut out = Args::default();
        let mut it = std::env::args().skip(1);
        while let Some(a) = it.next() {
            if a == "--bench" {
                continue;
            }
            if let Some(name) = a.strip_prefix("--") {
                let value = it
                    .next()
                    .with_context(|| format!("option --{name} needs a value"))?;
                out.named.insert(name.to_string(), value);
            } else {
                out.positional.push(a);
            }
        }
        Ok(out)
    }

    /// Positional argument `n` as a number, or `default`.
    pub fn number(&self, n: usize, default: usize) -> anyhow::Result<usize> {
        match self.positional.get(n) {
            Some(s) => s
                .parse()
                .with_context(|| format!("argument {s:?} is not a number")),
            None => Ok(default),
        }
    }

    /// Positional argument `n` as given.
    pub fn positional(&self, n: usize) -> Option<String> {
        self.positional.get(n).cloned()
    }

    /// The value of `--name`.
    pub fn named(&self, name: &str) -> Option<&str> {
        self.named.get(name).map(String::as_str)
    }

    /// `--name`'s path, else `default_name` beside the benchmark's own target directory
    /// (`target/release/deps/<bench>` -> `target/release/<default_name>`).
    pub fn binary(&self, name: &str, default_name: &str) -> anyhow::Result<PathBuf> {
        if let Some(p) = self.named(name) {
            return Ok(PathBuf::from(p));
        }
        crate::agent_proc::built_binary(default_name)
            .with_context(|| format!("cargo build --release, or pass --{name} PATH"))
    }

    /// Writes `value` to `--json PATH`, or prints it on stdout without the option.
    pub fn write_json(&self, value: &Value) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(value)?;
        match self.named("json") {
            Some(path) => {
                std::fs::write(path, text + "\n").with_context(|| format!("write {path}"))
            }
            None => {
                println!("{text}");
                Ok(())
            }
        }
    }
}

/// Milliseconds of a duration.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Rounds to three decimals (for JSON).
pub fn r3(x: f64) -> f64 {
    round(x, 3)
}

/// Rounds to `decimals` decimals (for JSON: the result prints as its shortest form).
pub fn round(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale
}

/// Nearest-rank percentiles of samples in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    /// Number of samples.
    pub n: usize,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

impl Summary {
    /// Summarizes `samples` (milliseconds); all zero when empty.
    pub fn of(samples: &[f64]) -> Summary {
        let mut v = samples.to_vec();
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            return Summary {
                n: 0,
                p50: 0.0,
                p90: 0.0,
                p99: 0.0,
                max: 0.0,
            };
        }
        let q = |p: f64| v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1];
        Summary {
            n: v.len(),
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            max: v[v.len() - 1],
        }
    }

    /// One line for people.
    pub fn line(&self, name: &str) -> String {
        format!(
            "{name:<34} n={:<5} p50={:>9.2} ms  p90={:>9.2} ms  p99={:>9.2} ms  max={:>9.2} ms",
            self.n, self.p50, self.p90, self.p99, self.max
        )
    }

    /// `{"n", "p50_ms", "p90_ms", "p99_ms", "max_ms"}`.
    pub fn json(&self) -> Value {
        json!({
            "n": self.n,
            "p50_ms": r3(self.p50),
            "p90_ms": r3(self.p90),
            "p99_ms": r3(self.p99),
            "max_ms": r3(self.max),
        })
    }
}

/// The summary's JSON plus the samples themselves (rounded to microseconds).
pub fn summary_with_samples(samples: &[f64]) -> Value {
    let mut v = Summary::of(samples).json();
    v["samples_ms"] = samples.iter().map(|s| r3(*s)).collect();
    v
}

/// The median of `v` (0 when empty).
pub fn median(v: &[f64]) -> f64 {
    Summary::of(v).p50
}
