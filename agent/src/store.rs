//! The object store: the Kubernetes objects the agent follows, whichever source fills them
//! (a manifests directory or the cluster). Sources write; the reconcile loop reads immutable
//! snapshots and is woken on every change.

use std::collections::BTreeSet;
use std::sync::Arc;

use tokio::sync::watch;

mod gateway;
mod ingress;
mod meta;
mod namespace;
mod service;
mod slice;

pub use gateway::with_type_meta;
pub use ingress::StoredIngress;
pub use meta::Meta;
pub use service::{ServicePort, ServiceSpec, StoredService};
pub use slice::{Slice, SliceEndpoint};
mod object;
mod snapshot;
pub use object::{KEPT_ANNOTATIONS, Kind, Object, ObjectKey, Shared};
pub use snapshot::{CHANGE_LOG_LEN, Changes, SERVICE_NAME_LABEL, Snapshot};

/// The writer side; cheap to clone. Readers subscribe to snapshots.
#[derive(Debug, Clone)]
pub struct Store {
    tx: Arc<watch::Sender<Arc<Snapshot>>>,
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

impl Store {
    /// An empty, not yet synced store.
    pub fn new() -> Self {
        static STORES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let mut snapshot = Snapshot::default();
        snapshot.store = STORES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (tx, _) = watch::channel(Arc::new(snapshot));
        Self { tx: Arc::new(tx) }
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.tx.borrow().clone()
    }

    /// A receiver woken on every change.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.tx.subscribe()
    }

    fn modify(&self, f: impl FnOnce(&mut Snapshot)) {
        self.tx.send_modify(|snap| {
            // Cheap even while a reader holds the previous snapshot: the maps are shared.
            let s = Arc::make_mut(snap);
            s.generation += 1;
            f(s);
        });
    }

    /// Replaces everything with `objects` (the manifests source's whole state) and marks
    /// the store synced.
    pub fn replace_all(&self, objects: impl IntoIterator<Item = Object>) {
        self.replace_all_shared(objects.into_iter().map(Shared::from));
    }

    /// [`Store::replace_all`] with objects already in the store's form.
    pub fn replace_all_shared(&self, objects: impl IntoIterator<Item = Shared>) {
        self.modify(|s| {
            s.replace(&Kind::ALL, objects);
            s.synced = true;
        });
    }

    /// Adds or replaces `upserts` and removes `deletes`, as one generation. Returns true when
    /// anything changed; otherwise nothing is published (no generation, no wake-up).
    pub fn apply(
        &self,
        upserts: impl IntoIterator<Item = Object>,
        deletes: impl IntoIterator<Item = (Kind, ObjectKey)>,
    ) -> bool {
        self.apply_shared(upserts.into_iter().map(Shared::from), deletes)
    }

    /// [`Store::apply`] with objects already in the store's form.
    pub fn apply_shared(
        &self,
        upserts: impl IntoIterator<Item = Shared>,
        deletes: impl IntoIterator<Item = (Kind, ObjectKey)>,
    ) -> bool {
        self.tx.send_if_modified(|snap| {
            let s = Arc::make_mut(snap);
            s.generation += 1;
            for o in upserts {
                s.insert(o);
            }
            for (kind, key) in deletes {
                s.remove(kind, &key);
            }
            let changed = s.log.back().is_some_and(|c| c.generation == s.generation);
            if !changed {
                s.generation -= 1;
            }
            changed
        })
    }

    /// Adds or replaces one object.
    pub fn upsert(&self, object: Object) {
        self.modify(|s| s.insert(object.into()));
    }

    /// Removes one object of `kind`.
    pub fn delete(&self, kind: Kind, key: &ObjectKey) {
        self.modify(|s| s.remove(kind, key));
    }

    /// Replaces every object of one kind (a relist) without touching the others.
    pub fn replace_kind(&self, kind: Kind, objects: impl IntoIterator<Item = Object>) {
        self.modify(|s| s.replace(&[kind], objects.into_iter().map(Shared::from)));
    }

    /// [`Store::replace_kind`], but the objects of `keep` stay as they are (a relist in which
    /// they did not decode: their last good version is kept).
    pub fn replace_kind_keeping(
        &self,
        kind: Kind,
        objects: impl IntoIterator<Item = Object>,
        keep: &BTreeSet<ObjectKey>,
    ) {
        if keep.is_empty() {
            return self.replace_kind(kind, objects);
        }
        self.modify(|s| {
            let mut seen = keep.clone();
            for o in objects.into_iter().map(Shared::from) {
                seen.insert(o.key());
                s.insert(o);
            }
            for key in s.keys_of(kind) {
                if !seen.contains(&key) {
                    s.remove(kind, &key);
                }
            }
        });
    }

    /// Removes every object of `kinds` (kinds the cluster does not serve); publishes
    /// nothing when there were none.
    pub fn clear_kinds(&self, kinds: &[Kind]) -> bool {
        let snap = self.snapshot();
        let deletes: Vec<(Kind, ObjectKey)> = kinds
            .iter()
            .flat_map(|&kind| snap.keys_of(kind).into_iter().map(move |key| (kind, key)))
            .collect();
        self.apply_shared(std::iter::empty(), deletes)
    }

    /// Replaces the Secrets of one `type` (a Secret's type never changes) with `objects`,
    /// leaving Secrets of other types (each Secret watch lists one type) and those of `keep`.
    pub fn replace_secrets_of_type(
        &self,
        secret_type: &str,
        objects: impl IntoIterator<Item = Object>,
        keep: &BTreeSet<ObjectKey>,
    ) {
        self.modify(|s| {
            let mut seen = keep.clone();
            for o in objects.into_iter().map(Shared::from) {
                seen.insert(o.key());
                s.insert(o);
            }
            let gone: Vec<ObjectKey> = s
                .secrets
                .iter()
                .filter(|(k, o)| {
                    o.type_.as_deref().unwrap_or("Opaque") == secret_type && !seen.contains(*k)
                })
                .map(|(k, _)| k.clone())
                .collect();
            for k in gone {
                s.remove(Kind::Secret, &k);
            }
        });
    }

    /// Marks the initial state complete.
    pub fn set_synced(&self) {
        self.modify(|s| s.synced = true);
    }
}

#[cfg(test)]
mod tests;
