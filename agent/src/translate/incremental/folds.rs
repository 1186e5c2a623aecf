//! The folds kept current across translations: TLS (certificates parsed once per Secret
//! content), routes, the Gateway API part, and the changed backends patched in.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use haproxy::BackendName;
use haproxy::config::{Backend, Config, TlsCert};
use k8s_openapi::api::core::v1::Secret;

use crate::store::{ObjectKey, Snapshot};
use crate::translate::refold::{Refold, Work};
use crate::translate::tls::{self};
use crate::translate::{Changed, gateway, tls_files};

use super::{Incremental, Moved, Step};

impl Incremental {
    /// Runs the TLS fold again: certificates, crt-list, HTTPS bind, hosts with TLS.
    pub(super) fn fold_tls(
        &mut self,
        snapshot: &Snapshot,
        config: &mut Arc<Config>,
        step: &mut Step,
        changed: &mut Changed,
    ) -> Result<(), crate::translate::BadSetting> {
        let mut problems = Vec::new();
        let mut cache = std::mem::take(&mut self.certs_parsed);
        let mut read = |s: &ObjectKey| cache.read(snapshot, s);
        let ingresses = self.ordered().map(|(k, e)| (k, e.ingress.as_ref()));
        let mut built = tls::collect(
            ingresses,
            &self.settings,
            &self.certs,
            &mut read,
            snapshot,
            &mut problems,
        );
        gateway::add_certs(
            &self.gateway,
            &built.hosts,
            &self.settings.config_dir,
            &mut built.files,
            &mut problems,
        );
        let (bind, files) = tls_files(
            built.wanted || self.gateway.https,
            built.files,
            &self.settings,
            &mut read,
            &mut problems,
        )?;
        cache.retain(|s| {
            self.secret_readers.contains_key(s)
                || self.gateway.secrets.contains(s)
                || self.settings.default_ssl_certificate.as_ref() == Some(s)
        });
        self.certs_parsed = cache;
        self.certs = built.memory;
        self.tls_problems = problems;
        if built.hosts != self.tls_hosts {
            self.tls_hosts = built.hosts;
            step.routes = true;
        }
        if config.frontends[0].tls != bind || config.tls != files {
            let config = Arc::make_mut(config);
            config.frontends[0].tls = bind;
            config.tls = files;
            changed.tls = true;
        }
        Ok(())
    }

    /// Rebuilds the route fold from every Ingress: routes, their map entries, backend
    /// owners, the default backend.
    pub(super) fn rebuild_routes(&mut self, config: &mut Arc<Config>, changed: &mut Changed) {
        let mut refold = Refold::default();
        let mut routes = Vec::new();
        let mut work = Work::default();
        for (key, e) in self.ordered() {
            let rank = (e.created.clone(), key.clone());
            refold.claim(&rank, &e.fragment, &mut work);
            refold.place_routes(&rank, &e.fragment, &self.tls_hosts, &mut routes, &mut work);
        }
        let entries = &self.entries;
        refold.settle(work, |k| entries.get(k).map(|e| &e.fragment));
        set_canary_names(config, &refold);
        self.refold = refold;
        changed.map_keys = None;
        if config.routes != routes {
            Arc::make_mut(config).routes = routes;
            changed.routes = true;
        }
    }

    /// Takes the Ingresses `moved` out of the route fold and puts them back in at their new
    /// rank; a route change costs its own map keys (and the conflicts at them).
    pub(super) fn update_routes(
        &mut self,
        config: &mut Arc<Config>,
        moved: Vec<Moved>,
        changed: &mut Changed,
    ) {
        if moved.is_empty() {
            return;
        }
        let mut work = Work::default();
        let (refold, entries) = (&mut self.refold, &self.entries);
        for m in &moved {
            let new = m
                .new
                .as_ref()
                .and_then(|r| Some((r, &entries.get(&r.1)?.fragment)));
            let same_routes = match (m.old.as_deref(), new) {
                (Some((old_rank, old)), Some((new_rank, new))) => {
                    old_rank == new_rank && old.routes == new.routes
                }
                _ => false,
            };
            if let Some((rank, f)) = m.old.as_deref() {
                refold.unclaim(rank, f, &mut work);
                if !same_routes && !f.routes.is_empty() {
                    refold.take_routes(rank, &mut Arc::make_mut(config).routes, &mut work);
                    changed.routes = true;
                }
            }
            if let Some((rank, f)) = new {
                refold.claim(rank, f, &mut work);
                if !same_routes && !f.routes.is_empty() {
                    let routes = &mut Arc::make_mut(config).routes;
                    refold.place_routes(rank, f, &self.tls_hosts, routes, &mut work);
                    changed.routes = true;
                }
            }
        }
        let keys = refold.settle(work, |k| entries.get(k).map(|e| &e.fragment));
        set_canary_names(config, refold);
        if let Some(all) = &mut changed.map_keys {
            all.extend(keys);
        }
    }

    /// Reads the Gateway API part again: its backends are rebuilt, the Services it no
    /// longer reads may be forgotten, and its certificates folded again when they changed.
    pub(super) fn rebuild_gateway(&mut self, snapshot: &Snapshot, step: &mut Step) {
        let mut cache = std::mem::take(&mut self.certs_parsed);
        let mut read = |s: &ObjectKey| cache.read(snapshot, s);
        let new = gateway::build(snapshot, &self.settings, &mut self.resolutions, &mut read);
        self.certs_parsed = cache;
        let old = std::mem::replace(&mut self.gateway, new);
        #[cfg(test)]
        {
            self.gateway_builds += 1;
        }
        step.backends.extend(old.recipes.keys().cloned());
        step.backends.extend(self.gateway.recipes.keys().cloned());
        step.unread
            .extend(old.services.difference(&self.gateway.services).cloned());
        if old.tls_part() != self.gateway.tls_part() {
            step.tls = true;
        }
        if *self.gateway_status != self.gateway.statuses {
            self.gateway_status = Arc::new(self.gateway.statuses.clone());
        }
    }

    /// Meets the Gateway part with the Ingress hosts when either changed: `config.gateway`.
    pub(super) fn meet_gateway(
        &mut self,
        config: &mut Arc<Config>,
        rebuilt: bool,
        changed: &mut Changed,
    ) {
        if !rebuilt && !changed.routes {
            return;
        }
        let hosts = if self.gateway.is_empty() {
            BTreeSet::new()
        } else {
            gateway::ingress_hosts(&config.routes)
        };
        if !rebuilt && hosts == self.gateway_met.0 {
            return;
        }
        let (routes, problems) = self.gateway.finish_with(&hosts);
        self.gateway_met = (hosts, problems);
        if config.gateway != routes {
            Arc::make_mut(config).gateway = routes;
            changed.gateway = true;
        }
    }

    /// Rebuilds `names` from their owners' recipes (or `--default-backend-service`) and
    /// puts those that differ into the config.
    pub(super) fn patch_backends(
        &mut self,
        snapshot: &Snapshot,
        config: &mut Arc<Config>,
        names: &BTreeSet<BackendName>,
        service_backend: Option<Backend>,
        changed: &mut Changed,
    ) {
        let mut service_backend = service_backend;
        for name in names {
            // As the full translation: the owning Ingress's, else the default Service's,
            // else the Gateway routes'.
            let desired = self
                .refold
                .owner(name)
                .and_then(|owner| self.entries.get(owner))
                .and_then(|e| e.fragment.backend(name, snapshot, &mut self.resolutions))
                .or_else(|| service_backend.take_if(|b| b.name == *name))
                .or_else(|| self.gateway.backend(name, snapshot, &mut self.resolutions));
            if config.backends.get(name) == desired.as_ref() {
                continue;
            }
            let config = Arc::make_mut(config);
            match desired {
                Some(b) => config.insert_backend(b),
                None => drop(config.backends.remove(name)),
            }
            changed.backends.insert(name.clone());
        }
    }
}

/// Certificates of Secrets, each parsed once per Secret content.
#[derive(Debug, Default)]
pub(super) struct CertCache {
    pub(super) parsed: BTreeMap<ObjectKey, (Arc<Secret>, Result<TlsCert, tls::SecretError>)>,
}

impl CertCache {
    fn read(&mut self, snapshot: &Snapshot, key: &ObjectKey) -> Result<TlsCert, tls::SecretError> {
        let Some(secret) = snapshot.secrets.get(key) else {
            self.parsed.remove(key);
            return tls::read_secret(snapshot, key);
        };
        if let Some((seen, result)) = self.parsed.get(key)
            && (Arc::ptr_eq(seen, secret) || **seen == **secret)
        {
            return result.clone();
        }
        let result = tls::read_secret(snapshot, key);
        self.parsed
            .insert(key.clone(), (secret.clone(), result.clone()));
        result
    }

    fn retain(&mut self, mut keep: impl FnMut(&ObjectKey) -> bool) {
        self.parsed.retain(|k, _| keep(k));
    }
}

/// The frontend reads the header and cookie names of the canary routes: a name new to it
/// is a rule of its own (a reload; the frontend's section changes).
pub(super) fn set_canary_names(config: &mut Arc<Config>, refold: &Refold) {
    let names = refold.canary_names();
    if config.frontends[0].canary_names != names {
        Arc::make_mut(config).frontends[0].canary_names = names;
    }
}
