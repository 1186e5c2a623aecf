//! The soak's page: `reliability.md` and `reliability.json` (every figure) from the JSON one
//! `scripts/soak` run left in a directory, filled into the page's Markdown template
//! (`integration/templates/reliability.md`, where all of the prose is).
//!
//! The run's files: `meta.json` (the run: date, command, machine, HAProxy version) and
//! `r1.json` … `r7.json` (a scenario that failed before writing its figures is reported as
//! such); beside the page, the last long run (`reliability-r4-long.json`, written by
//! `scripts/soak --long`). Nothing on the page is typed in.

mod figures;
mod scenarios;

use std::path::Path;

use anyhow::Context as _;
use serde_json::{Value, json};

use crate::template::{Vals, fill, put, put_list, when};
use figures::{at, text};

/// The page's template.
const TEMPLATE: &str = include_str!("../templates/reliability.md");

/// The file `scripts/soak --long` writes beside the page.
pub const LONG_FILE: &str = "reliability-r4-long.json";

/// The scenarios, by their file name in the run's directory.
const SCENARIOS: [&str; 7] = ["r1", "r2", "r3", "r4", "r5", "r6", "r7"];

/// One run's figures.
#[derive(Debug, Clone)]
pub struct Results {
    /// `meta.json`.
    pub meta: Value,
    /// Each scenario's figures (`r1` … `r7`), `None` when it wrote none.
    pub scenarios: Vec<(&'static str, Option<Value>)>,
    /// The last long run (`{"meta", "r4"}`), if one is recorded.
    pub r4_long: Option<Value>,
}

fn load(path: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

impl Results {
    /// The run in `dir` and the long run beside the page in `out_dir`.
    pub fn load(dir: &Path, out_dir: &Path) -> anyhow::Result<Results> {
        Ok(Results {
            meta: load(&dir.join("meta.json")).context("no meta.json in the results")?,
            scenarios: SCENARIOS
                .iter()
                .map(|name| (*name, load(&dir.join(format!("{name}.json")))))
                .collect(),
            r4_long: load(&out_dir.join(LONG_FILE)),
        })
    }

    /// Scenario `name`'s figures.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.scenarios
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| v.as_ref())
    }

    /// Every scenario wrote its figures and passed, and so did the long run, if any.
    pub fn passed(&self) -> bool {
        self.scenarios
            .iter()
            .all(|(_, v)| v.as_ref().is_some_and(passed))
            && self.r4_long.as_ref().is_none_or(|l| passed(at(l, "r4")))
    }
}

/// Whether a scenario's (or a tally's) figures say it passed.
pub(crate) fn passed(v: &Value) -> bool {
    at(v, "passed").as_bool() == Some(true)
}

/// The page for a run.
pub fn page(r: &Results) -> anyhow::Result<String> {
    let mut v = Vals::new();
    for key in [
        "date",
        "commit",
        "command",
        "cpus",
        "cpu_model",
        "kernel",
        "loadavg_start",
        "loadavg_end",
        "duration_s",
        "haproxy_version",
        "haproxy_bin",
        "rustc",
        "seed",
    ] {
        put(&mut v, key, text(&r.meta, key));
    }
    let all_passed = r.passed();
    put_list(&mut v, "all_passed", when(all_passed));
    put_list(&mut v, "some_loss", when(!all_passed));
    for (name, figures) in &r.scenarios {
        let build = match *name {
            "r1" => scenarios::r1,
            "r2" => scenarios::r2,
            "r3" => scenarios::r3,
            "r4" => scenarios::r4,
            "r5" => scenarios::r5,
            "r6" => scenarios::r6,
            _ => scenarios::r7,
        };
        put_list(&mut v, name, figures.iter().map(build).collect());
        put_list(&mut v, &format!("no_{name}"), when(figures.is_none()));
    }
    scenarios::r4_runs(&mut v, r.get("r4"), r.r4_long.as_ref());
    fill(TEMPLATE, &v)
}

/// Writes the page and the JSON into `out_dir`; returns whether every scenario passed.
pub fn write(dir: &Path, out_dir: &Path) -> anyhow::Result<bool> {
    let r = Results::load(dir, out_dir)?;
    let md = page(&r)?;
    std::fs::create_dir_all(out_dir)?;
    std::fs::write(out_dir.join("reliability.md"), md)?;
    let mut all = serde_json::Map::new();
    all.insert("meta".into(), r.meta.clone());
    for (name, figures) in &r.scenarios {
        all.insert((*name).into(), figures.clone().unwrap_or(Value::Null));
    }
    all.insert(
        "r4_long".into(),
        r.r4_long.as_ref().map_or(Value::Null, |l| {
            json!({
                "file": LONG_FILE,
                "date": at(l, "meta/date"),
                "commit": at(l, "meta/commit"),
                "passed": passed(at(l, "r4")),
            })
        }),
    );
    all.insert("passed".into(), r.passed().into());
    std::fs::write(
        out_dir.join("reliability.json"),
        serde_json::to_string_pretty(&Value::Object(all))? + "\n",
    )?;
    Ok(r.passed())
}

#[cfg(test)]
mod tests;
