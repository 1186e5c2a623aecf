//! Parsers for `show info`, `show stat` (CSV) and `show backend`.

use std::collections::BTreeMap;

use nom::Parser;
use nom::branch::alt;
use nom::bytes::complete::{escaped_transform, is_not, tag, take_till};
use nom::character::complete::char;
use nom::combinator::{all_consuming, map, opt, rest, value};
use nom::multi::separated_list1;
use nom::sequence::{delimited, preceded, separated_pair};

use super::{Res, run, word};

/// One `Key: value` line of `show info`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InfoField {
    /// The key (may hold spaces, e.g. `Unstoppable Jobs`).
    pub key: String,
    /// The value.
    pub value: String,
}

fn info_line(line: &str) -> Option<InfoField> {
    let (_, (key, value)) = run(
        all_consuming(separated_pair(
            is_not(":\n"),
            alt((tag(": "), tag(":"))),
            rest,
        )),
        line,
    )?;
    Some(InfoField {
        key: key.to_string(),
        value: value.to_string(),
    })
}

/// `show info`.
pub fn info(text: &str) -> Option<Vec<InfoField>> {
    if text.is_empty() {
        return None;
    }
    text.split('\n').map(info_line).collect()
}

/// One row of `show stat`, fields by column name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatRow {
    /// Every column with its value (empty values omitted).
    pub fields: BTreeMap<String, String>,
}

impl StatRow {
    /// A field by column name.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    /// `pxname`
    pub fn proxy(&self) -> &str {
        self.get("pxname").unwrap_or("")
    }

    /// `svname` (`FRONTEND`, `BACKEND` or the server name).
    pub fn service(&self) -> &str {
        self.get("svname").unwrap_or("")
    }

    /// A numeric field.
    pub fn number(&self, name: &str) -> Option<i64> {
        self.get(name)?.parse().ok()
    }
}

fn csv_field(i: &str) -> Res<'_, String> {
    alt((
        delimited(
            char('"'),
            map(
                opt(escaped_transform(
                    is_not("\"\n"),
                    '"',
                    value("\"", char('"')),
                )),
                Option::unwrap_or_default,
            ),
            char('"'),
        ),
        map(take_till(|c| c == ',' || c == '\n'), str::to_string),
    ))
    .parse(i)
}

fn csv_line(i: &str) -> Res<'_, Vec<String>> {
    separated_list1(char(','), csv_field).parse(i)
}

/// `show stat`: CSV with a `# ` header; columns mapped by name, so fields added by later
/// versions do not shift anything.
pub fn stat_csv(text: &str) -> Option<Vec<StatRow>> {
    let (body, header) = preceded(tag("# "), csv_line).parse(text).ok()?;
    let mut rows = Vec::new();
    let mut rest = body;
    while let Some(r) = rest.strip_prefix('\n') {
        let (r, values) = csv_line(r).ok()?;
        rest = r;
        if values.len() > header.len() {
            return None;
        }
        let fields = header
            .iter()
            .zip(values)
            .filter(|(k, v)| !k.is_empty() && !v.is_empty())
            .map(|(k, v)| (k.clone(), v))
            .collect::<BTreeMap<_, _>>();
        if !fields.contains_key("pxname") {
            return None;
        }
        rows.push(StatRow { fields });
    }
    rest.is_empty().then_some(rows)
}

/// `show backend`: `# name`, then one name per line.
pub fn backends(text: &str) -> Option<Vec<String>> {
    let body = text.strip_prefix("# name")?;
    match body.strip_prefix('\n') {
        Some(b) => b
            .split('\n')
            .map(|l| {
                all_consuming(word)
                    .parse(l)
                    .ok()
                    .map(|(_, w)| w.to_string())
            })
            .collect(),
        None if body.is_empty() => Some(Vec::new()),
        None => None,
    }
}
