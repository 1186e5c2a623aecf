//! Reading one Ingress's annotations under every recognised prefix, and recording how each
//! one was taken: honoured, honoured with a difference, invalid, shadowed, unsupported or
//! refused.

use std::collections::BTreeMap;

use serde::Serialize;

use super::catalog::{self, Support};
use crate::problem::ProblemReason;

/// How one annotation was taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "detail", rename_all = "snake_case")]
pub enum Status {
    /// Read and honoured as ingress-nginx means it.
    Honoured,
    /// Honoured, with a difference from ingress-nginx (named).
    Differs(String),
    /// The value is wrong (why); the annotation is ignored and its default used.
    Invalid(String),
    /// Another prefix sets the same name and wins (which).
    Shadowed(String),
    /// Recognised but not done (why).
    Unsupported(String),
    /// Never rendered, on purpose (why).
    Refused(String),
}

impl Status {
    /// The problem this status is, if any.
    pub fn reason(&self) -> Option<ProblemReason> {
        match self {
            Status::Honoured | Status::Differs(_) => None,
            Status::Invalid(_) | Status::Shadowed(_) => Some(ProblemReason::InvalidAnnotation),
            Status::Unsupported(_) => Some(ProblemReason::UnsupportedAnnotation),
            Status::Refused(_) => Some(ProblemReason::RefusedAnnotation),
        }
    }

    /// A short label (`check`'s table).
    pub fn label(&self) -> &'static str {
        match self {
            Status::Honoured => "honoured",
            Status::Differs(_) => "differs",
            Status::Invalid(_) => "invalid",
            Status::Shadowed(_) => "shadowed",
            Status::Unsupported(_) => "unsupported",
            Status::Refused(_) => "refused",
        }
    }

    /// The detail, when there is one.
    pub fn detail(&self) -> Option<&str> {
        match self {
            Status::Honoured => None,
            Status::Differs(s)
            | Status::Invalid(s)
            | Status::Shadowed(s)
            | Status::Unsupported(s)
            | Status::Refused(s) => Some(s),
        }
    }
}

/// One annotation and how it was taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// The whole key (`nginx.ingress.kubernetes.io/rewrite-target`).
    pub key: String,
    /// Its value.
    pub value: String,
    /// How it was taken.
    #[serde(flatten)]
    pub status: Status,
}

/// Reads annotations by name under every prefix; starts with every recognised key's verdict
/// from the catalog and lets the parser refine it.
pub(super) struct Reader<'a> {
    all: &'a BTreeMap<String, String>,
    verdicts: BTreeMap<&'a str, Status>,
    /// The present keys by name: `(key, value)` under each prefix, strongest first.
    by_name: BTreeMap<&'a str, [Option<(&'a str, &'a str)>; 3]>,
}

impl<'a> Reader<'a> {
    pub(super) fn new(all: &'a BTreeMap<String, String>) -> Self {
        let mut verdicts = BTreeMap::new();
        let mut by_name: BTreeMap<&'a str, [Option<(&'a str, &'a str)>; 3]> = BTreeMap::new();
        for (key, value) in all {
            let Some((prefix, name)) = catalog::split(key) else {
                continue;
            };
            let rank = catalog::PREFIXES
                .iter()
                .position(|p| *p == prefix)
                .expect("split returns one of the prefixes");
            by_name.entry(name).or_default()[rank] = Some((key.as_str(), value.as_str()));
            let status = match catalog::entry(name) {
                None => Status::Unsupported(
                    "neither ingress-nginx nor haproxy-agent has an annotation of this name".into(),
                ),
                Some(e) => match (e.support, e.ours_only) {
                    (Support::Unsupported(why), _) => Status::Unsupported(why.into()),
                    (Support::Refused(why), _) => Status::Refused(why.into()),
                    (Support::Values(ok, why), _) => {
                        let v = all[key].trim().to_ascii_lowercase();
                        if ok.contains(&v.as_str()) {
                            Status::Honoured
                        } else {
                            Status::Unsupported(format!("{:?}: {why}", all[key]))
                        }
                    }
                    (Support::Honoured, Some(why)) if prefix != catalog::PREFIXES[0] => {
                        Status::Unsupported(why.into())
                    }
                    (Support::Honoured, _) => Status::Honoured,
                },
            };
            verdicts.insert(key.as_str(), status);
        }
        Self {
            all,
            verdicts,
            by_name,
        }
    }

    /// The value of `name` under the strongest prefix that sets it (and honours it); the
    /// same name under weaker prefixes is shadowed. Names the catalog does not honour under
    /// a prefix are not returned.
    pub(super) fn get(&mut self, name: &str) -> Option<(&'a str, &'a str)> {
        let mut found: Option<(&'a str, &'a str)> = None;
        let present = *self.by_name.get(name)?;
        for (key, value) in present.into_iter().flatten() {
            if self.verdicts.get(key) != Some(&Status::Honoured) {
                continue;
            }
            match found {
                None => found = Some((key, value)),
                Some((_, v)) if v == value => {}
                Some((winner, _)) => {
                    self.verdicts.insert(
                        key,
                        Status::Shadowed(format!("{winner} is also set and wins")),
                    );
                }
            }
        }
        found
    }

    /// A `true`/`false` annotation (any case); anything else is named and `default` used.
    pub(super) fn flag(&mut self, name: &str, default: bool) -> bool {
        let Some((key, v)) = self.get(name) else {
            return default;
        };
        match v.trim().to_ascii_lowercase().as_str() {
            "true" => true,
            "false" => false,
            _ => {
                self.invalid(key, format!("{v:?} is not true or false; using {default}"));
                default
            }
        }
    }

    /// The value of `name` under the strongest prefix that sets it, whatever its verdict.
    pub(super) fn raw(&self, name: &str) -> Option<(&'a str, &'a str)> {
        self.by_name.get(name)?.iter().flatten().next().copied()
    }

    /// Marks an annotation as shadowed by another one that wins.
    pub(super) fn shadowed_by(&mut self, key: &'a str, winner: &str) {
        self.verdicts.insert(
            key,
            Status::Shadowed(format!("{winner} is also set and wins")),
        );
    }

    /// Marks an annotation as invalid.
    pub(super) fn invalid(&mut self, key: &'a str, why: impl std::fmt::Display) {
        self.verdicts.insert(key, Status::Invalid(why.to_string()));
    }

    /// Marks an annotation as honoured with a difference.
    pub(super) fn differs(&mut self, key: &'a str, what: impl Into<String>) {
        self.verdicts.insert(key, Status::Differs(what.into()));
    }

    /// Marks an annotation as unsupported (for this value).
    pub(super) fn unsupported(&mut self, key: &'a str, why: impl Into<String>) {
        self.verdicts.insert(key, Status::Unsupported(why.into()));
    }

    /// The keys that set `name`, with their prefix, strongest first.
    pub(super) fn keys_of(&self, name: &str) -> Vec<(&'a str, &'static str)> {
        let Some(present) = self.by_name.get(name) else {
            return Vec::new();
        };
        present
            .iter()
            .zip(catalog::PREFIXES)
            .filter_map(|(kv, prefix)| kv.map(|(key, _)| (key, prefix)))
            .collect()
    }

    /// Marks every honoured annotation whose name `keep` refuses as honoured with the
    /// difference `what` (it is read, and deliberately not applied).
    pub(super) fn differs_unless(&mut self, keep: impl Fn(&str) -> bool, what: &str) {
        for (key, status) in self.verdicts.iter_mut() {
            let Some((_, name)) = catalog::split(key) else {
                continue;
            };
            if !keep(name) && matches!(status, Status::Honoured | Status::Differs(_)) {
                *status = Status::Differs(what.to_string());
            }
        }
    }

    /// Every verdict, by key.
    pub(super) fn finish(self) -> Vec<Verdict> {
        self.verdicts
            .into_iter()
            .map(|(key, status)| Verdict {
                key: key.to_string(),
                value: self.all[key].clone(),
                status,
            })
            .collect()
    }
}
