//! Parsers for `show map`, `show acl` (lists and entries) and `prepare map`.

use nom::Parser;
use nom::bytes::complete::{is_not, tag, take_while1};
use nom::character::complete::{char, i64 as nom_i64, u32 as nom_u32};
use nom::combinator::{all_consuming, map, opt, rest};
use nom::sequence::preceded;

use super::{run, word};

/// One map of `show map`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MapInfo {
    /// The map's numeric id (`#id`).
    pub id: i64,
    /// The file it was loaded from (empty for inline patterns).
    pub file: String,
    /// HAProxy's description.
    pub description: String,
    /// `entry_cnt=`, when printed.
    pub entries: Option<u64>,
}

fn map_info_line(line: &str) -> Option<MapInfo> {
    let (_, (id, file, description)) = run(
        all_consuming((
            nom_i64,
            preceded(
                tag(" ("),
                map(opt(is_not(")\n")), Option::unwrap_or_default),
            ),
            preceded(char(')'), rest),
        )),
        line,
    )?;
    let description = description.trim_start().to_string();
    let entries = description
        .split(' ')
        .find_map(|w| w.strip_prefix("entry_cnt="))
        .and_then(|n| n.parse().ok());
    Some(MapInfo {
        id,
        file: file.to_string(),
        description,
        entries,
    })
}

/// `show map` (the list).
pub fn map_list(text: &str) -> Option<Vec<MapInfo>> {
    let body = text.strip_prefix("# id (file) description")?;
    match body.strip_prefix('\n') {
        Some(b) => b.split('\n').map(map_info_line).collect(),
        None if body.is_empty() => Some(Vec::new()),
        None => None,
    }
}

/// One entry of `show map <file>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MapEntry {
    /// HAProxy's reference (`0x…`), usable as `#<ref>`.
    pub reference: String,
    /// The key.
    pub key: String,
    /// The value (runs to the end of the line).
    pub value: String,
}

fn map_entry_line(line: &str) -> Option<MapEntry> {
    let (_, (reference, _, key, _, value)) = all_consuming((
        preceded(tag("0x"), take_while1(|c: char| c.is_ascii_hexdigit())),
        char(' '),
        word,
        char(' '),
        rest,
    ))
    .parse(line)
    .ok()?;
    Some(MapEntry {
        reference: format!("0x{reference}"),
        key: key.to_string(),
        value: value.to_string(),
    })
}

/// `show map <file>`: `<ref> <key> <value>` lines; an empty map prints nothing.
pub fn map_entries(text: &str) -> Option<Vec<MapEntry>> {
    if text.is_empty() {
        return Some(Vec::new());
    }
    text.split('\n').map(map_entry_line).collect()
}

/// One pattern of `show acl <file>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AclEntry {
    /// HAProxy's reference (`0x…`), usable as `#<ref>`.
    pub reference: String,
    /// The pattern.
    pub pattern: String,
}

fn acl_entry_line(line: &str) -> Option<AclEntry> {
    let (_, (reference, _, pattern)) = run(
        all_consuming((
            preceded(tag("0x"), take_while1(|c: char| c.is_ascii_hexdigit())),
            char(' '),
            rest,
        )),
        line,
    )?;
    if pattern.is_empty() {
        return None;
    }
    Some(AclEntry {
        reference: format!("0x{reference}"),
        pattern: pattern.to_string(),
    })
}

/// `show acl <file>`: `<ref> <pattern>` lines; an empty file prints nothing.
pub fn acl_entries(text: &str) -> Option<Vec<AclEntry>> {
    if text.is_empty() {
        return Some(Vec::new());
    }
    text.split('\n').map(acl_entry_line).collect()
}

/// `prepare map`: `New version created: N`.
pub fn map_version(text: &str) -> Option<u32> {
    run(
        all_consuming(preceded(tag("New version created: "), nom_u32)),
        text,
    )
    .map(|(_, v)| v)
}
