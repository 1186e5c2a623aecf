//! `allowedRoutes.namespaces.selector`: a label selector judged on the route's Namespace
//! (its labels from the store, name and labels only). Every namespace carries
//! `kubernetes.io/metadata.name` with its own name (Kubernetes 1.22+ sets it), so a selector
//! on that label works even where no Namespace object is known (a `--manifests` directory
//! without Namespace manifests); a namespace without a known object has no other label.

use std::collections::BTreeMap;
use std::sync::Arc;

use imbl::OrdMap;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

use super::hostnames::truncate;
use crate::store::ObjectKey;

/// The label every Namespace carries with its own name.
pub(in crate::translate) const NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// The Namespaces known, by name (empty namespace in the key).
pub(in crate::translate) type Namespaces = OrdMap<ObjectKey, Arc<Namespace>>;

/// What one requirement asks of a label's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::translate) enum Op {
    /// The label is set to one of these.
    In(Vec<String>),
    /// The label is not set, or set to none of these.
    NotIn(Vec<String>),
    /// The label is set.
    Exists,
    /// The label is not set.
    DoesNotExist,
}

/// One requirement of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::translate) struct Requirement {
    /// The label.
    pub key: String,
    /// What its value must be.
    pub op: Op,
}

impl Requirement {
    fn holds(&self, value: Option<&str>) -> bool {
        match (&self.op, value) {
            (Op::In(v), Some(x)) => v.iter().any(|n| n == x),
            (Op::In(_), None) => false,
            (Op::NotIn(v), Some(x)) => !v.iter().any(|n| n == x),
            (Op::NotIn(_), None) => true,
            (Op::Exists, v) => v.is_some(),
            (Op::DoesNotExist, v) => v.is_none(),
        }
    }
}

/// A label key as Kubernetes takes it: an optional DNS subdomain prefix and `/`, then a
/// name of 1 to 63 characters, alphanumeric at both ends, `-`, `_`, `.` between.
fn is_label_key(key: &str) -> bool {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    prefix.is_none_or(crate::translate::names::is_dns_subdomain)
        && !name.is_empty()
        && is_label_value(name)
}

/// A label value: empty, or 1 to 63 characters as a key's name part.
fn is_label_value(v: &str) -> bool {
    let b = v.as_bytes();
    v.is_empty()
        || (b.len() <= 63
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.')))
}

/// Why a label selector is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(in crate::translate) enum SelectorError {
    /// A bad `matchLabels` entry.
    #[error("matchLabels: {0}")]
    MatchLabels(LabelError),
    /// A bad `matchExpressions` entry (its index).
    #[error("matchExpressions[{0}]: {1}")]
    Expression(usize, ExpressionError),
    /// `from: Selector` without one.
    #[error("from: Selector without a selector")]
    Missing,
}

/// A label key or value that Kubernetes would refuse (quoted at most 64 characters long).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(in crate::translate) enum LabelError {
    /// Not a label key.
    #[error("{0:?} is not a label key")]
    Key(String),
    /// Not a label value (of the label named).
    #[error("{value:?} (label {key}) is not a label value")]
    Value { value: String, key: String },
}

/// What is wrong with one of `matchExpressions`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(in crate::translate) enum ExpressionError {
    /// Its key or one of its values.
    #[error(transparent)]
    Label(#[from] LabelError),
    /// `In` or `NotIn` without values.
    #[error("operator {0} needs values")]
    NeedsValues(String),
    /// `Exists` or `DoesNotExist` with values.
    #[error("operator {0} takes no values")]
    TakesNoValues(String),
    /// Another operator (quoted at most 64 characters long).
    #[error("operator {0:?} is not one of In, NotIn, Exists, DoesNotExist")]
    Operator(String),
}

fn label(key: &str, value: &str) -> Result<(), LabelError> {
    if !is_label_key(key) {
        return Err(LabelError::Key(truncate(key)));
    }
    if !is_label_value(value) {
        return Err(LabelError::Value {
            value: truncate(value),
            key: key.to_string(),
        });
    }
    Ok(())
}

/// Reads a selector, all of whose requirements must hold (an empty selector: every
/// namespace); `Err` says what is wrong with it.
pub(in crate::translate) fn parse(s: &LabelSelector) -> Result<Vec<Requirement>, SelectorError> {
    let mut out = Vec::new();
    for (k, v) in s.match_labels.iter().flatten() {
        label(k, v).map_err(SelectorError::MatchLabels)?;
        out.push(Requirement {
            key: k.clone(),
            op: Op::In(vec![v.clone()]),
        });
    }
    for (i, e) in s.match_expressions.iter().flatten().enumerate() {
        let op = expression(e).map_err(|why| SelectorError::Expression(i, why))?;
        out.push(Requirement {
            key: e.key.clone(),
            op,
        });
    }
    Ok(out)
}

/// The operation of one of `matchExpressions`, its key and values checked.
fn expression(e: &LabelSelectorRequirement) -> Result<Op, ExpressionError> {
    let values = e.values.clone().unwrap_or_default();
    for v in std::iter::once("").chain(values.iter().map(String::as_str)) {
        label(&e.key, v)?;
    }
    Ok(match e.operator.as_str() {
        "In" | "NotIn" if values.is_empty() => {
            return Err(ExpressionError::NeedsValues(e.operator.clone()));
        }
        "Exists" | "DoesNotExist" if !values.is_empty() => {
            return Err(ExpressionError::TakesNoValues(e.operator.clone()));
        }
        "In" => Op::In(values),
        "NotIn" => Op::NotIn(values),
        "Exists" => Op::Exists,
        "DoesNotExist" => Op::DoesNotExist,
        other => return Err(ExpressionError::Operator(truncate(other))),
    })
}

/// True when namespace `name` meets every requirement, its labels those of its Namespace
/// in `known` (none when unknown) and its name label.
pub(in crate::translate) fn admits(
    requirements: &[Requirement],
    name: &str,
    known: &Namespaces,
) -> bool {
    let empty = BTreeMap::new();
    let labels = known
        .get(&ObjectKey::new("", name))
        .and_then(|ns| ns.metadata.labels.as_ref())
        .unwrap_or(&empty);
    requirements.iter().all(|r| {
        let value = if r.key == NAME_LABEL {
            Some(name)
        } else {
            labels.get(&r.key).map(String::as_str)
        };
        r.holds(value)
    })
}

#[cfg(test)]
#[path = "namespaces_tests.rs"]
mod tests;
