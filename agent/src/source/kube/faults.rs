//! What the API server got wrong, as problems: objects that did not decode (kept out of the
//! store, their last good version kept) and watches whose requests fail; with the Gateway
//! API supervisor's own problems, published together on the source's problem channel.

use std::collections::{BTreeMap, BTreeSet};

use tokio::sync::watch;

use super::Watch;
use super::tolerant::Malformed;
use crate::problem::{Problem, ProblemKind, ProblemReason};
use crate::store::{Kind, ObjectKey};

/// An object of a watch that did not decode.
#[derive(Debug, Clone)]
pub(super) struct BadObject {
    pub key: ObjectKey,
    pub problem: Problem,
}

impl BadObject {
    /// The problem for `m`, an object of `kind` that did not decode.
    pub fn new(kind: Kind, m: Malformed) -> Self {
        let namespaced = !matches!(
            kind,
            Kind::IngressClass | Kind::GatewayClass | Kind::Namespace
        );
        let key = ObjectKey::of(&m.meta, namespaced);
        let object = if key.name.is_empty() {
            "(no readable metadata.name)".to_string()
        } else {
            key.to_string()
        };
        let mut problem = Problem::new(
            ProblemKind::of(kind),
            object,
            format!(
                "the API server sent this {} in a form that does not decode ({}); it is \
                 not served as sent: its last version that decoded, if any, stays",
                kind.as_str(),
                m.error
            ),
        )
        .because(ProblemReason::Malformed);
        if let Some(field) = m.field {
            problem = problem.at(field);
        }
        Self { key, problem }
    }
}

/// The source's problems, by cause.
#[derive(Debug, Default)]
pub(super) struct Faults {
    /// The Gateway API supervisor's (the group not served).
    gateway: Vec<Problem>,
    /// Objects that did not decode, by the watch that saw them.
    malformed: BTreeMap<(Watch, ObjectKey), Problem>,
    /// Watches whose requests fail.
    failing: BTreeMap<Watch, Problem>,
}

impl Faults {
    /// A list of `watch` came with these objects that did not decode; returns their keys
    /// (to keep in the store).
    pub fn listed(&mut self, watch: Watch, bad: Vec<BadObject>) -> BTreeSet<ObjectKey> {
        self.malformed.retain(|(w, _), _| *w != watch);
        let mut keys = BTreeSet::new();
        for b in bad {
            log_appeared(&b.problem);
            keys.insert(b.key.clone());
            self.malformed.insert((watch, b.key), b.problem);
        }
        keys
    }

    /// A watch event brought an object that did not decode.
    pub fn malformed(&mut self, watch: Watch, bad: BadObject) {
        log_appeared(&bad.problem);
        self.malformed.insert((watch, bad.key), bad.problem);
    }

    /// An object of `kind` decoded, or was deleted: its problem, if any, is resolved.
    pub fn resolved(&mut self, kind: Kind, key: &ObjectKey) {
        self.malformed.retain(|(w, k), p| {
            let gone = w.kind == kind && k == key;
            if gone {
                tracing::info!(kind = kind.as_str(), object = %p.object, "the object decodes again (or is gone)");
            }
            !gone
        });
    }

    /// A watch's requests fail (`Some(error)`) or work again (`None`).
    pub fn failing(&mut self, watch: Watch, error: Option<String>) {
        match error {
            Some(e) => {
                let problem = Problem::new(
                    ProblemKind::ApiServer,
                    watch.describe(),
                    format!(
                        "requests to the API server fail: {e}; retrying with backoff, the \
                         objects as last seen stay served"
                    ),
                )
                .because(ProblemReason::Unavailable);
                self.failing.insert(watch, problem);
            }
            None => {
                self.failing.remove(&watch);
            }
        }
    }

    /// The kinds are no longer watched (their API group went away): their watches' failures
    /// and objects that did not decode are no one's problem any more.
    pub fn absent(&mut self, kinds: &[Kind]) {
        self.failing.retain(|w, _| !kinds.contains(&w.kind));
        self.malformed.retain(|(w, _), _| !kinds.contains(&w.kind));
    }

    /// The Gateway API supervisor's problems changed.
    pub fn gateway(&mut self, problems: Vec<Problem>) {
        self.gateway = problems;
    }

    /// Publishes every problem, when they changed.
    pub fn publish(&self, tx: &watch::Sender<Vec<Problem>>) {
        let all: Vec<Problem> = self
            .gateway
            .iter()
            .chain(self.malformed.values())
            .chain(self.failing.values())
            .cloned()
            .collect();
        tx.send_if_modified(|current| {
            let changed = *current != all;
            if changed {
                *current = all;
            }
            changed
        });
    }
}

fn log_appeared(p: &Problem) {
    tracing::warn!(
        kind = p.kind.label(),
        object = %p.object,
        field = p.field.as_deref().unwrap_or(""),
        reason = p.reason.label(),
        "{}",
        p.message
    );
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::networking::v1::Ingress;
    use serde_json::json;

    use super::super::tolerant::{Tolerant, decode};
    use super::*;

    fn bad(name: &str) -> BadObject {
        let Tolerant::Bad(m) = decode::<Ingress>(
            &json!({"metadata": {"name": name, "namespace": "shop"}, "spec": "x"}),
        ) else {
            panic!()
        };
        BadObject::new(Kind::Ingress, *m)
    }

    #[test]
    fn problems_follow_lists_events_and_recoveries() {
        let (tx, rx) = watch::channel(Vec::new());
        let w = Watch::of(Kind::Ingress);
        let mut f = Faults::default();
        let kept = f.listed(w, vec![bad("a"), bad("b")]);
        assert_eq!(kept.len(), 2);
        f.failing(Watch::of(Kind::EndpointSlice), Some("500".into()));
        f.publish(&tx);
        let got = rx.borrow().clone();
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[0].object, "shop/a");
        assert_eq!(got[0].field.as_deref(), Some("spec"));
        assert_eq!(got[0].reason, ProblemReason::Malformed);
        assert_eq!(got[2].kind, ProblemKind::ApiServer);
        assert_eq!(got[2].object, "EndpointSlice");
        f.resolved(Kind::Ingress, &ObjectKey::new("shop", "a"));
        f.failing(Watch::of(Kind::EndpointSlice), None);
        f.malformed(w, bad("c"));
        f.listed(w, vec![bad("b")]);
        f.publish(&tx);
        let objects: Vec<String> = rx.borrow().iter().map(|p| p.object.clone()).collect();
        assert_eq!(objects, ["shop/b"], "a list replaces what the watch saw");
    }

    #[test]
    fn kinds_no_longer_watched_take_their_problems_with_them() {
        let (tx, rx) = watch::channel(Vec::new());
        let mut f = Faults::default();
        f.failing(Watch::of(Kind::HttpRoute), Some("404".into()));
        f.failing(Watch::of(Kind::EndpointSlice), Some("500".into()));
        f.malformed(Watch::of(Kind::Gateway), bad("g"));
        f.absent(&[Kind::HttpRoute, Kind::Gateway]);
        f.publish(&tx);
        let objects: Vec<String> = rx.borrow().iter().map(|p| p.object.clone()).collect();
        assert_eq!(
            objects,
            ["EndpointSlice"],
            "the watched kind's failure stays"
        );
    }
}
