//! The soak page's figures as they are written: milliseconds, counts, seconds, lists, a
//! tally's table cells and failures (see the soak's `Tally::json`).

use serde_json::Value;

use crate::template::{Vals, put, put_list};

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

/// A number, NaN when absent.
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

/// A value as the run wrote it (a string without its quotes).
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

/// Milliseconds at a path.
pub(crate) fn ms_at(v: &Value, path: &str) -> String {
    ms(num(v, path))
}

/// The items of a list at a path, each written by `f` and joined with `, `.
pub(crate) fn joined(v: &Value, path: &str, f: impl Fn(&Value) -> String) -> String {
    at(v, path)
        .as_array()
        .map(|a| a.iter().map(f).collect::<Vec<_>>().join(", "))
        .unwrap_or_else(|| "?".into())
}

/// The smallest and largest of a list of counts, `5-9` (or `10` when they are one).
pub(crate) fn range(v: &Value, path: &str) -> String {
    at(v, path)
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
}

/// `pass`, or a bold `LOSS`.
pub(crate) fn verdict(passed: bool) -> &'static str {
    if passed { "pass" } else { "**LOSS**" }
}

/// A yes/no figure: `yes`, a bold `no`, or `none` when absent.
pub(crate) fn yes(v: &Value, path: &str, none: &'static str) -> &'static str {
    match at(v, path).as_bool() {
        Some(true) => "yes",
        Some(false) => "**no**",
        None => none,
    }
}

/// The agent's reloads by reason, `3 \`new_backend\`, 0 \`startup\``.
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

/// A tally as a one-item list: its summary table cells (`cells`), its count and times
/// (`faults`, `p50`, `p99`, `max`; R1's `back_*` and `last_*`) and `result`.
pub(crate) fn tally(t: &Value) -> Vec<Vals> {
    let mut v = Vals::new();
    let mut cells = vec![
        int(t, "faults"),
        ms_at(t, "converged_ms/p50_ms"),
        ms_at(t, "converged_ms/p99_ms"),
        ms_at(t, "converged_ms/max_ms"),
        int(t, "not_converged"),
    ];
    for loss in [
        "stale",
        "missing",
        "wrong",
        "duplicate",
        "orphan_processes",
        "routes",
        "structure",
        "canary",
        "certs",
    ] {
        cells.push(int(t, &format!("losses/{loss}")));
    }
    let result = verdict(at(t, "passed").as_bool().unwrap_or(false));
    cells.push(result.to_string());
    put(&mut v, "cells", cells.join(" | "));
    put(&mut v, "result", result);
    put(&mut v, "faults", int(t, "faults"));
    for (name, path) in [
        ("p50", "converged_ms/p50_ms"),
        ("p99", "converged_ms/p99_ms"),
        ("max", "converged_ms/max_ms"),
        ("back_p50", "back_ms/p50_ms"),
        ("back_max", "back_ms/max_ms"),
        ("last_p50", "after_last_change_ms/p50_ms"),
        ("last_max", "after_last_change_ms/max_ms"),
    ] {
        put(&mut v, name, ms_at(t, path));
    }
    vec![v]
}

/// A list of strings at a path as a one-item list holding `lines` (each a `line`), or an
/// empty list when there are none.
pub(crate) fn lines(v: &Value, path: &str) -> Vec<Vals> {
    let Some(list) = at(v, path).as_array().filter(|l| !l.is_empty()) else {
        return Vec::new();
    };
    let mut item = Vals::new();
    let lines = list
        .iter()
        .map(|f| {
            let mut line = Vals::new();
            put(&mut line, "line", f.as_str().unwrap_or_default());
            line
        })
        .collect();
    put_list(&mut item, "lines", lines);
    vec![item]
}

/// The failures of `tallies`, in order: one item (with its `lines`) per tally with any.
pub(crate) fn failures(tallies: &[&Value]) -> Vec<Vals> {
    tallies.iter().flat_map(|t| lines(t, "failures")).collect()
}
