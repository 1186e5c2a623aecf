//! What each Ingress reads, and what a change touches: the reverse indexes (Service,
//! slice and Secret -> Ingresses) and the invalidation they drive.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::networking::v1::IngressTLS;

use crate::store::{Kind, ObjectKey, Snapshot, StoredIngress};
use crate::translate::annotations::client_cert::{self, ClientCertRequest};
use crate::translate::class;
use crate::translate::ingress::{self};
use crate::translate::resolutions::Resolutions;

use super::{Entry, Incremental, Moved, Step};

impl Incremental {
    /// Marks what `changed` touches; false when everything must be redone.
    pub(super) fn invalidate(
        &mut self,
        snapshot: &Snapshot,
        changed: &BTreeSet<(Kind, ObjectKey)>,
        step: &mut Step,
    ) -> bool {
        for (kind, key) in changed {
            match kind {
                // Which Ingresses are ours may change.
                Kind::IngressClass => return false,
                // Every fragment and the global settings may change.
                Kind::ConfigMap if self.settings.configmap.as_ref() == Some(key) => return false,
                // Its ports may refuse a Gateway listener's own bind.
                Kind::ConfigMap if self.settings.tcp_services.as_ref() == Some(key) => {
                    step.gateway = true;
                }
                Kind::ConfigMap => {}
                Kind::Ingress => {
                    step.dirty.insert(key.clone());
                }
                // A Namespace's labels decide which listeners admit its routes.
                Kind::GatewayClass
                | Kind::Gateway
                | Kind::HttpRoute
                | Kind::ReferenceGrant
                | Kind::Namespace => {
                    step.gateway = true;
                }
                Kind::Service => {
                    self.forget_service(key, step);
                    step.gateway |= self.gateway.services.contains(key);
                }
                Kind::EndpointSlice => {
                    // The Services whose resolutions read it, and the one it is labelled
                    // with now (it may have moved).
                    let services: BTreeSet<ObjectKey> = self
                        .resolutions
                        .readers_of_slice(key)
                        .cloned()
                        .chain(snapshot.service_of_slice(key))
                        .collect();
                    for s in &services {
                        self.forget_service(s, step);
                        step.gateway |= self.gateway.services.contains(s);
                    }
                }
                Kind::Secret => {
                    step.gateway |= self.gateway.secrets.contains(key);
                    if let Some(readers) = self.fragment_secret_readers.get(key) {
                        step.dirty.extend(readers.iter().cloned());
                    }
                    if self.secret_readers.contains_key(key)
                        || self.settings.default_ssl_certificate.as_ref() == Some(key)
                    {
                        step.tls = true;
                    }
                }
            }
        }
        true
    }

    pub(super) fn forget_service(&mut self, service: &ObjectKey, step: &mut Step) {
        self.resolutions.forget(service);
        if let Some(readers) = self.service_readers.get(service) {
            step.dirty.extend(readers.iter().cloned());
        }
    }

    /// Forgets everything: every Ingress is read again and both folds run.
    pub(super) fn reset(&mut self, snapshot: &Snapshot, step: &mut Step) {
        self.entries.clear();
        self.order.clear();
        self.resolutions = Resolutions::default();
        self.service_readers.clear();
        self.secret_readers.clear();
        self.fragment_secret_readers.clear();
        self.fragment_problems.clear();
        self.service_backend = None;
        step.dirty = snapshot.ingresses.keys().cloned().collect();
        step.routes = true;
        step.tls = true;
        step.gateway = true;
    }

    /// Reads Ingress `key` again (dropping it when it is gone or not ours).
    pub(super) fn refresh(&mut self, snapshot: &Snapshot, key: &ObjectKey, step: &mut Step) {
        let old = self.entries.remove(key);
        if let Some(e) = &old {
            self.unindex(key, e, step);
        }
        let new = snapshot
            .ingresses
            .get(key)
            .filter(|ing| self.is_ours(snapshot, key, ing))
            .map(|ing| {
                Box::new(Entry {
                    ingress: ing.clone(),
                    created: ing.metadata.creation_timestamp.clone(),
                    fragment: ingress::fragment(
                        key,
                        ing,
                        snapshot,
                        &self.settings,
                        &mut self.resolutions,
                        &self.global,
                    ),
                    secrets: tls_secrets(key, ing),
                })
            });
        let reshaped = match (&old, &new) {
            (None, None) => false,
            (Some(o), Some(n)) => o.created != n.created || !o.fragment.same_shape(&n.fragment),
            _ => true,
        };
        let (old_tls, new_tls) = (tls_spec(old.as_deref()), tls_spec(new.as_deref()));
        let moved = old.as_ref().map(|e| &e.created) != new.as_ref().map(|e| &e.created);
        step.tls |= old_tls != new_tls || (moved && (old_tls.is_some() || new_tls.is_some()));
        step.tls |= new_tls.is_some()
            && (client_cert_of(old.as_deref()) != client_cert_of(new.as_deref())
                || passes_through(old.as_deref()) != passes_through(new.as_deref()));
        for e in old.iter().chain(&new) {
            step.backends
                .extend(e.fragment.recipes.iter().map(|(n, _)| n.clone()));
        }
        let lists =
            |e: &Option<Box<Entry>>| e.as_ref().and_then(|e| e.fragment.source_lists.clone());
        if lists(&old) != lists(&new) {
            step.lists.insert(key.clone());
        }
        let auth = |e: &Option<Box<Entry>>| e.as_ref().and_then(|e| e.fragment.auth.clone());
        step.auth |= auth(&old) != auth(&new);
        let rank = |e: &Entry| (e.created.clone(), key.clone());
        if reshaped {
            step.moved.push(Moved {
                new: new.as_deref().map(rank),
                old: old.map(|e| Box::new((rank(&e), e.fragment))),
            });
        }
        if let Some(e) = new {
            self.index(key, &e);
            self.entries.insert(key.clone(), e);
        }
    }

    pub(super) fn is_ours(
        &self,
        snapshot: &Snapshot,
        key: &ObjectKey,
        ing: &StoredIngress,
    ) -> bool {
        self.settings
            .watch_namespace
            .as_ref()
            .is_none_or(|ns| *ns == key.namespace)
            && class::is_ours(ing, &snapshot.ingress_classes, &self.settings.ingress_class)
    }

    pub(super) fn index(&mut self, key: &ObjectKey, e: &Entry) {
        self.order.insert((e.created.clone(), key.clone()));
        for s in &e.fragment.services {
            link(&mut self.service_readers, s, key);
        }
        for s in &e.secrets {
            link(&mut self.secret_readers, s, key);
        }
        for s in &e.fragment.read_secrets {
            link(&mut self.fragment_secret_readers, s, key);
        }
        for p in &e.fragment.problems {
            *self.fragment_problems.entry(p.clone()).or_default() += 1;
        }
    }

    pub(super) fn unindex(&mut self, key: &ObjectKey, e: &Entry, step: &mut Step) {
        self.order.remove(&(e.created.clone(), key.clone()));
        for s in &e.fragment.services {
            if unlink(&mut self.service_readers, s, key) {
                step.unread.insert(s.clone());
            }
        }
        for s in &e.secrets {
            unlink(&mut self.secret_readers, s, key);
        }
        for s in &e.fragment.read_secrets {
            unlink(&mut self.fragment_secret_readers, s, key);
        }
        for p in &e.fragment.problems {
            if let Some(n) = self.fragment_problems.get_mut(p) {
                *n -= 1;
                if *n == 0 {
                    self.fragment_problems.remove(p);
                }
            }
        }
    }

    /// Our Ingresses, oldest first.
    pub(super) fn ordered(&self) -> impl Iterator<Item = (&ObjectKey, &Entry)> {
        self.order
            .iter()
            .filter_map(|(_, k)| self.entries.get_key_value(k))
            .map(|(k, e)| (k, &**e))
    }
}

/// Object -> the Ingresses that read it, sorted, each once. Vectors: almost always one
/// reader, where a set's smallest node holds eleven (at 10,000 Services that was ~5 MB of
/// empty slots).
pub(super) type Readers = BTreeMap<ObjectKey, Vec<ObjectKey>>;

/// Records that Ingress `key` reads `of`.
pub(super) fn link(readers: &mut Readers, of: &ObjectKey, key: &ObjectKey) {
    let set = readers
        .entry(of.clone())
        .or_insert_with(|| Vec::with_capacity(1));
    if let Err(i) = set.binary_search(key) {
        set.reserve_exact(1);
        set.insert(i, key.clone());
    }
}

/// Forgets that Ingress `key` reads `of`; true when `of` has no reader left.
/// Removes `key` from the readers of `of`; true when `of` has no reader left.
pub(super) fn unlink(readers: &mut Readers, of: &ObjectKey, key: &ObjectKey) -> bool {
    let Some(set) = readers.get_mut(of) else {
        return false;
    };
    if let Ok(i) = set.binary_search(key) {
        set.remove(i);
    }
    if set.is_empty() {
        readers.remove(of);
        return true;
    }
    false
}

/// An Ingress's `spec.tls`, when it has entries.
pub(super) fn tls_spec(e: Option<&Entry>) -> Option<&Vec<IngressTLS>> {
    e?.ingress
        .spec
        .as_ref()?
        .tls
        .as_ref()
        .filter(|t| !t.is_empty())
}

/// What an Ingress's auth-tls annotations ask of its hosts.
pub(super) fn client_cert_of(e: Option<&Entry>) -> Option<ClientCertRequest> {
    e.map(|e| client_cert::request(e.ingress.metadata.annotations.as_ref()))
}

/// Whether an Ingress asks for ssl-passthrough (its `spec.tls` then adds no certificate).
pub(super) fn passes_through(e: Option<&Entry>) -> bool {
    e.is_some_and(|e| {
        crate::translate::annotations::passes_through(e.ingress.metadata.annotations.as_ref())
    })
}

/// The Secrets an Ingress's `spec.tls` and auth-tls-secret name (valid names or not:
/// over-reading is safe).
pub(super) fn tls_secrets(key: &ObjectKey, ing: &StoredIngress) -> BTreeSet<ObjectKey> {
    let tls = ing.spec.as_ref().and_then(|s| s.tls.as_ref());
    let auth = client_cert::request(ing.metadata.annotations.as_ref())
        .secret
        .map(|r| crate::translate::client_ca::secret_key(&r, &key.namespace));
    tls.into_iter()
        .flatten()
        .filter_map(|t| t.secret_name.as_deref())
        .filter(|n| !n.is_empty())
        .map(|n| ObjectKey::new(key.namespace.clone(), n))
        .chain(auth)
        .collect()
}
