//! The Gateway API status writer: while this replica leads, makes the `status` of our
//! GatewayClasses, Gateways and HTTPRoutes say what translation computed
//! ([`Statuses`](crate::translate::gateway::Statuses)), a Gateway's `status.addresses` the published
//! ones (`--publish-service`/`--publish-address`, none without either).
//!
//! - Only when the status differs from what the store shows (times kept, see [`merge`]); a
//!   JSON merge patch of the `status` subresource, each list replaced whole and each field of
//!   ours that is gone set to null, so nothing else of the object is touched.
//! - An HTTPRoute keeps the parents other controllers wrote; ours are cleared from a route
//!   that no longer attaches to a Gateway of ours.
//! - No write storms: not again until the store has seen a write, and after a failure not
//!   before the next retry period (as for Ingress status).

mod merge;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};

use super::lease::{Term, leads};
use super::published::Published;
use super::{FIELD_MANAGER, StatusConfig};
use crate::gateway_api::{Gateway, GatewayClass, HttpRoute};
use crate::store::{Kind, ObjectKey, Snapshot, Store};
use crate::translate::gateway::Statuses;

/// One status write to make.
struct Write {
    kind: Kind,
    key: ObjectKey,
    /// The object's resourceVersion when the store last showed it.
    version: Option<String>,
    patch: Value,
}

/// The writer's state across passes.
pub(crate) struct Writer {
    client: Client,
    store: Store,
    statuses: watch::Receiver<Arc<Statuses>>,
    controller: String,
    /// `None` without `--publish-*`: then Gateways have no addresses.
    published: Option<Published>,
    retry: Duration,
    /// Written per object: its resourceVersion before the write; nothing is written again
    /// while the store still shows that resourceVersion (conditions that changed carry the
    /// time of the pass, so the patch itself is no measure).
    written: BTreeMap<(Kind, ObjectKey), Option<String>>,
    /// Objects whose last write failed, and when to try again.
    retry_at: BTreeMap<(Kind, ObjectKey), Instant>,
}

impl Writer {
    pub fn new(
        client: Client,
        store: Store,
        statuses: watch::Receiver<Arc<Statuses>>,
        config: &StatusConfig,
    ) -> Self {
        let retry = config.lease.retry_period();
        Self {
            published: config
                .publish
                .clone()
                .map(|p| Published::new(client.clone(), p, retry * 2)),
            client,
            store,
            statuses,
            controller: config.gateway_controller_name.clone(),
            retry,
            written: BTreeMap::new(),
            retry_at: BTreeMap::new(),
        }
    }

    /// Follows the store, the statuses and leadership forever: a pass on every change, when
    /// leadership starts, and every retry period.
    pub async fn run(&mut self, mut term: watch::Receiver<Term>) {
        let mut snapshots = self.store.subscribe();
        let mut tick = tokio::time::interval(self.retry);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // Translation gone (its sender dropped): the last statuses stay what is wanted.
        let mut statuses_open = true;
        loop {
            tokio::select! {
                changed = snapshots.changed() => if changed.is_err() { return },
                changed = self.statuses.changed(), if statuses_open => {
                    statuses_open = changed.is_ok();
                }
                changed = term.changed() => if changed.is_err() { return },
                _ = tick.tick() => {}
            }
            let snapshot = snapshots.borrow_and_update().clone();
            let statuses = self.statuses.borrow_and_update().clone();
            if !snapshot.synced {
                continue;
            }
            if !leads(&term.borrow()) {
                self.written.clear();
                self.retry_at.clear();
                continue;
            }
            self.pass(&snapshot, &statuses, &term).await;
        }
    }

    /// The writes that would make every status right, as the store shows them now.
    async fn todo(&mut self, snapshot: &Snapshot, statuses: &Statuses) -> Vec<Write> {
        let now = merge::now();
        let addresses = match &mut self.published {
            Some(p) => p.get(snapshot).await.map(|a| merge::addresses(&a)),
            None => Some(Vec::new()),
        };
        let mut out = Vec::new();
        for (key, wanted) in &statuses.classes {
            if let Some(o) = snapshot.gateway_classes.get(key) {
                let target = merge::class(o.status.as_ref(), wanted, &now);
                out.extend(write(
                    Kind::GatewayClass,
                    key,
                    &o.metadata,
                    o.status.as_ref(),
                    target,
                ));
            }
        }
        for (key, wanted) in &statuses.gateways {
            if let Some(o) = snapshot.gateways.get(key) {
                // A Gateway with an address of its own (the pool's) shows it; the others
                // show the published addresses.
                let addresses = if wanted.addresses.is_empty() {
                    addresses.clone()
                } else {
                    Some(wanted.addresses.clone())
                };
                let target = merge::gateway(o.status.as_ref(), wanted, addresses, &now);
                out.extend(write(
                    Kind::Gateway,
                    key,
                    &o.metadata,
                    o.status.as_ref(),
                    target,
                ));
            }
        }
        for (key, o) in &snapshot.http_routes {
            let wanted = statuses.routes.get(key);
            if let Some(target) = merge::route(o.status.as_ref(), wanted, &self.controller, &now) {
                out.extend(write(
                    Kind::HttpRoute,
                    key,
                    &o.metadata,
                    o.status.as_ref(),
                    target,
                ));
            }
        }
        out
    }

    async fn pass(
        &mut self,
        snapshot: &Snapshot,
        statuses: &Statuses,
        term: &watch::Receiver<Term>,
    ) {
        let todo = self.todo(snapshot, statuses).await;
        let pending: std::collections::BTreeSet<(Kind, ObjectKey)> =
            todo.iter().map(|w| (w.kind, w.key.clone())).collect();
        self.written.retain(|k, _| pending.contains(k));
        self.retry_at.retain(|k, _| pending.contains(k));
        for w in todo {
            let id = (w.kind, w.key.clone());
            if self.written.get(&id) == Some(&w.version) {
                continue;
            }
            if self
                .retry_at
                .get(&id)
                .is_some_and(|at| Instant::now() < *at)
            {
                continue;
            }
            // Checked before every write: a term may lapse during a pass.
            if !leads(&term.borrow()) {
                return;
            }
            match self.send(&w).await {
                Ok(()) => {
                    tracing::info!(kind = w.kind.as_str(), object = %w.key, "wrote Gateway API status");
                    self.written.insert(id.clone(), w.version);
                    self.retry_at.remove(&id);
                }
                Err(e) => {
                    let gone = matches!(&e, kube::Error::Api(s) if s.code == 404);
                    if gone {
                        tracing::debug!(kind = w.kind.as_str(), object = %w.key, "the object went away before its status was written");
                    } else {
                        tracing::warn!(kind = w.kind.as_str(), object = %w.key, error = %e, "could not write Gateway API status; retrying");
                    }
                    self.retry_at.insert(id, Instant::now() + self.retry);
                }
            }
        }
    }

    async fn send(&self, w: &Write) -> Result<(), kube::Error> {
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_string()),
            ..Default::default()
        };
        let patch = Patch::Merge(&w.patch);
        let (client, name, ns) = (
            self.client.clone(),
            w.key.name.as_str(),
            w.key.namespace.as_str(),
        );
        let sent = async {
            match w.kind {
                Kind::GatewayClass => Api::<GatewayClass>::all(client)
                    .patch_status(name, &params, &patch)
                    .await
                    .map(drop),
                Kind::Gateway => Api::<Gateway>::namespaced(client, ns)
                    .patch_status(name, &params, &patch)
                    .await
                    .map(drop),
                _ => Api::<HttpRoute>::namespaced(client, ns)
                    .patch_status(name, &params, &patch)
                    .await
                    .map(drop),
            }
        };
        match tokio::time::timeout(self.retry * 2, sent).await {
            Ok(r) => r,
            Err(_) => Err(kube::Error::Service(
                format!("no answer within {:?}", self.retry * 2).into(),
            )),
        }
    }
}

/// The write that makes `current` into `target`, if they differ: a merge patch with every
/// top-level field of `current` that `target` lacks set to null.
fn write<S: Serialize + PartialEq>(
    kind: Kind,
    key: &ObjectKey,
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    current: Option<&S>,
    target: S,
) -> Option<Write> {
    if current == Some(&target) {
        return None;
    }
    let mut status = serde_json::to_value(&target).unwrap_or_default();
    if let (Some(Value::Object(before)), Value::Object(after)) = (
        current.map(serde_json::to_value).and_then(Result::ok),
        &mut status,
    ) {
        for k in before.keys() {
            after.entry(k.clone()).or_insert(Value::Null);
        }
    }
    Some(Write {
        kind,
        key: key.clone(),
        version: meta.resource_version.clone(),
        patch: json!({ "status": status }),
    })
}
