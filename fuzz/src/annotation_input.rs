//! The annotations target's input: records separated by `\x1e` (ASCII record separator),
//! each `key=value` (value to the end of the record). A key `%<n>` is the catalog's
//! `n mod len`-th name under prefix `(n / len) mod 3`; `@<p>/<name>` is any name under
//! prefix `p mod 3`; any other key is taken as it is. Invalid UTF-8 is replaced.

use std::collections::BTreeMap;

use haproxy_agent::translate::annotations::catalog::{CATALOG, PREFIXES};

/// The record separator.
pub const SEP: char = '\x1e';

/// The annotations an input stands for.
pub fn parse(data: &[u8]) -> BTreeMap<String, String> {
    let text = String::from_utf8_lossy(data);
    let mut out = BTreeMap::new();
    for record in text.split(SEP) {
        let (key, value) = record.split_once('=').unwrap_or((record, ""));
        out.insert(expand(key), value.to_string());
    }
    out
}

fn expand(key: &str) -> String {
    if let Some(n) = key.strip_prefix('%').and_then(|n| n.parse::<usize>().ok()) {
        let entry = &CATALOG[n % CATALOG.len()];
        return format!("{}{}", PREFIXES[(n / CATALOG.len()) % 3], entry.name);
    }
    if let Some((p, name)) = key.strip_prefix('@').and_then(|k| k.split_once('/'))
        && let Ok(p) = p.parse::<usize>()
    {
        return format!("{}{name}", PREFIXES[p % 3]);
    }
    key.to_string()
}

/// Writes annotations in this format (the seeds).
pub fn unparse(annotations: &BTreeMap<String, String>) -> Vec<u8> {
    let records: Vec<String> = annotations
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    records.join(&SEP.to_string()).into_bytes()
}
