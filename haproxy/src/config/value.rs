//! The leaf values every part of the config model shares: why a value was refused
//! ([`InvalidValue`]), the character-set check behind every validated word, and
//! [`ConfigPath`], a file path haproxy.cfg names unquoted, and [`CanaryPatternId`], the id
//! of a regex in the pattern ACL file that route map values carry.

use std::fmt;

use thiserror::Error;

use crate::names::FilePath;

/// Why a value was refused for the model.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid {what} {value:?}: {reason}")]
pub struct InvalidValue {
    /// What kind of value it was.
    pub what: &'static str,
    /// The value (debug-escaped in the message).
    pub value: String,
    /// Why it was refused.
    pub reason: &'static str,
}

impl InvalidValue {
    pub(crate) fn new(what: &'static str, value: impl Into<String>, reason: &'static str) -> Self {
        Self {
            what,
            value: value.into(),
            reason,
        }
    }
}

/// Checks length bounds and that every byte satisfies `ok`.
pub(super) fn check_chars(
    what: &'static str,
    s: &str,
    max: usize,
    ok: impl Fn(char) -> bool,
    reason: &'static str,
) -> Result<(), InvalidValue> {
    if s.is_empty() {
        return Err(InvalidValue::new(what, s, "it is empty"));
    }
    if s.len() > max {
        return Err(InvalidValue::new(what, s, "it is too long"));
    }
    check_set(what, s, ok, reason)
}

/// Refuses `s` with `reason` unless every character satisfies `ok`.
pub(super) fn check_set(
    what: &'static str,
    s: &str,
    ok: impl Fn(char) -> bool,
    reason: &'static str,
) -> Result<(), InvalidValue> {
    if s.chars().all(ok) {
        Ok(())
    } else {
        Err(InvalidValue::new(what, s, reason))
    }
}

word!(
    /// A file path that is written into haproxy.cfg unquoted, including inside sample
    /// arguments such as `map_str(<path>)`: absolute, made of `[A-Za-z0-9/._-]` only, and
    /// without `..` components.
    ConfigPath
);

impl ConfigPath {
    /// Validates a path.
    pub fn new(s: impl Into<String>) -> Result<Self, InvalidValue> {
        let s = s.into();
        check_chars(
            "config path",
            &s,
            1024,
            |c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-'),
            "only letters, digits and / . _ - are allowed",
        )?;
        if !s.starts_with('/') {
            return Err(InvalidValue::new("config path", s, "it is not absolute"));
        }
        if s.split('/').any(|part| part == "..") {
            return Err(InvalidValue::new("config path", s, "it has a .. component"));
        }
        Ok(Self(s))
    }

    /// Builds a path from a `std::path::Path`.
    pub fn from_path(p: &std::path::Path) -> Result<Self, InvalidValue> {
        match p.to_str() {
            Some(s) => Self::new(s),
            None => Err(InvalidValue::new(
                "config path",
                p.display().to_string(),
                "it is not UTF-8",
            )),
        }
    }

    /// The same path as runtime commands name it.
    pub fn to_file_path(&self) -> FilePath {
        FilePath::new(self.0.as_str()).expect("a config path is a valid file path")
    }
}

/// A header pattern's id, as a route map value carries it: `p` and 16 hex digits (a hash of
/// the regex, so equal patterns share one ACL entry).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CanaryPatternId(String);

impl CanaryPatternId {
    /// Reads an id back; `None` when it is not one [`super::CanaryPattern`] makes.
    pub fn parse(s: &str) -> Option<Self> {
        let hex = s.strip_prefix('p')?;
        (hex.len() == 16 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| Self(s.to_string()))
    }

    /// The id of a pattern whose regex hashes to `hash`.
    pub(super) fn of_hash(hash: u64) -> Self {
        Self(format!("p{hash:016x}"))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
