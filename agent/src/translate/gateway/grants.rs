//! ReferenceGrant: whether an object of one namespace may refer to one of another.

use crate::gateway_api::GROUP;
use crate::store::Snapshot;

/// The referring side: a kind of the Gateway API group in a namespace.
#[derive(Debug, Clone, Copy)]
pub(in crate::translate) struct From<'a> {
    /// `Gateway` or `HTTPRoute`.
    pub kind: &'a str,
    /// Its namespace.
    pub namespace: &'a str,
}

/// The referred side: a core kind (`Secret`, `Service`) by namespace and name.
#[derive(Debug, Clone, Copy)]
pub(in crate::translate) struct To<'a> {
    /// The kind (core group).
    pub kind: &'a str,
    /// Its namespace.
    pub namespace: &'a str,
    /// Its name.
    pub name: &'a str,
}

/// True when `from` may refer to `to`: the same namespace, or a ReferenceGrant in `to`'s
/// namespace lists `from` and `to` (by name, or every object of the kind).
pub(in crate::translate) fn permitted(snapshot: &Snapshot, from: From<'_>, to: To<'_>) -> bool {
    if from.namespace == to.namespace {
        return true;
    }
    snapshot
        .reference_grants
        .iter()
        .filter(|(k, _)| k.namespace == to.namespace)
        .any(|(_, g)| {
            let from_ok =
                g.spec.from.iter().any(|f| {
                    f.group == GROUP && f.kind == from.kind && f.namespace == from.namespace
                });
            let to_ok = g.spec.to.iter().any(|t| {
                t.group.is_empty()
                    && t.kind == to.kind
                    && t.name.as_deref().is_none_or(|n| n == to.name)
            });
            from_ok && to_ok
        })
}
