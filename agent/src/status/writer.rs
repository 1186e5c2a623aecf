//! The status writer: computes the published addresses and, while this replica leads, makes
//! `status.loadBalancer.ingress` of every Ingress of ours say them.
//!
//! - Addresses: `--publish-address` as given, or those of the `--publish-service` Service
//!   ([`service_addresses`]); sorted, ports left out.
//! - Ours ([`class::is_ours`] with the store's IngressClasses): written when the status
//!   differs. A write is a JSON merge patch of the `status` subresource (the list is replaced
//!   whole), so nothing else of the Ingress is touched.
//! - Not ours: never written, with one exception: an Ingress this replica saw leave our class
//!   while its status still shows exactly our addresses is cleared once, so a stale address
//!   does not linger. One that was never ours, or whose status another controller has since
//!   changed, is left alone: two controllers never fight over an Ingress.
//! - No write storms: an Ingress is written only when the store shows a status other than the
//!   wanted one, not again until the store has seen that write, and after a failure not before
//!   the next retry period.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::api::networking::v1::Ingress;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};

use super::address::{LbAddress, ingress_addresses};
use super::lease::{Term, leads};
use super::published::Published;
use super::{FIELD_MANAGER, Publish, StatusConfig};
use crate::store::{ObjectKey, Snapshot, Store};
use crate::translate::class;

/// The writer's state across passes.
pub(crate) struct Writer {
    client: Client,
    store: Store,
    published: Published,
    ingress_class: String,
    /// Time allowed for one write, and between retries of a failed one.
    retry: Duration,
    /// Ours in the last synced snapshot seen; `None` before the first.
    ours_before: Option<BTreeSet<ObjectKey>>,
    /// Ingresses seen leaving our class, to clear while their status shows our addresses.
    left: BTreeSet<ObjectKey>,
    /// Written per Ingress: its resourceVersion before the write and what was written. The
    /// same write is not repeated while the store still shows that resourceVersion.
    written: BTreeMap<ObjectKey, (Option<String>, Vec<LbAddress>)>,
    /// Ingresses whose last write failed, and when to try again.
    retry_at: BTreeMap<ObjectKey, Instant>,
}

impl Writer {
    pub fn new(client: Client, store: Store, publish: Publish, config: &StatusConfig) -> Self {
        let retry = config.lease.retry_period();
        Self {
            published: Published::new(client.clone(), publish, retry * 2),
            client,
            store,
            ingress_class: config.ingress_class.clone(),
            retry,
            ours_before: None,
            left: BTreeSet::new(),
            written: BTreeMap::new(),
            retry_at: BTreeMap::new(),
        }
    }

    /// Follows the store and leadership forever: a pass on every store change, when
    /// leadership starts, and every retry period.
    pub async fn run(&mut self, mut term: watch::Receiver<Term>) {
        let mut snapshots = self.store.subscribe();
        let mut tick = tokio::time::interval(self.retry);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                changed = snapshots.changed() => if changed.is_err() { return },
                changed = term.changed() => if changed.is_err() { return },
                _ = tick.tick() => {}
            }
            let snapshot = snapshots.borrow_and_update().clone();
            if !snapshot.synced {
                continue;
            }
            self.follow(&snapshot);
            if !leads(&term.borrow()) {
                // A new term starts from what the store says, not from what we wrote before.
                self.written.clear();
                self.retry_at.clear();
                continue;
            }
            self.pass(&snapshot, &term).await;
        }
    }

    /// Tracks which Ingresses left our class; every replica does, leading or not.
    fn follow(&mut self, snapshot: &Snapshot) {
        let ours: BTreeSet<ObjectKey> = snapshot
            .ingresses
            .iter()
            .filter(|(_, i)| class::is_ours(i, &snapshot.ingress_classes, &self.ingress_class))
            .map(|(k, _)| k.clone())
            .collect();
        if let Some(before) = &self.ours_before {
            self.left.extend(
                before
                    .difference(&ours)
                    .filter(|k| snapshot.ingresses.contains_key(*k))
                    .cloned(),
            );
        }
        self.left
            .retain(|k| snapshot.ingresses.contains_key(k) && !ours.contains(k));
        self.ours_before = Some(ours);
        self.written
            .retain(|k, _| snapshot.ingresses.contains_key(k));
        self.retry_at
            .retain(|k, _| snapshot.ingresses.contains_key(k));
    }

    /// Writes every Ingress whose status is not what it should be.
    async fn pass(&mut self, snapshot: &Snapshot, term: &watch::Receiver<Term>) {
        let Some(addresses) = self.published.get(snapshot).await else {
            return;
        };
        for (key, ingress) in &snapshot.ingresses {
            let current = ingress_addresses(ingress);
            let ours = class::is_ours(ingress, &snapshot.ingress_classes, &self.ingress_class);
            let wanted = if ours {
                addresses.clone()
            } else if self.left.contains(key) {
                if current.is_empty() || current != addresses {
                    // Cleared, or another controller's now: nothing left for us to do.
                    self.left.remove(key);
                    continue;
                }
                Vec::new()
            } else {
                continue;
            };
            if current == wanted {
                self.written.remove(key);
                continue;
            }
            let version = ingress.metadata.resource_version.clone();
            if self.written.get(key) == Some(&(version.clone(), wanted.clone())) {
                continue;
            }
            if self
                .retry_at
                .get(key)
                .is_some_and(|at| Instant::now() < *at)
            {
                continue;
            }
            // Checked before every write: a term may lapse during a pass.
            if !leads(&term.borrow()) {
                return;
            }
            match self.write(key, &wanted).await {
                Ok(()) => {
                    tracing::info!(ingress = %key, from = ?current, to = ?wanted, "wrote Ingress status");
                    self.written.insert(key.clone(), (version, wanted));
                    self.retry_at.remove(key);
                }
                Err(e) => {
                    let gone = matches!(&e,
                        WriteError::Api(kube::Error::Api(status)) if status.code == 404);
                    if gone {
                        tracing::debug!(ingress = %key, "the Ingress went away before its status was written");
                    } else {
                        tracing::warn!(ingress = %key, error = %e, "could not write Ingress status; retrying");
                    }
                    self.retry_at
                        .insert(key.clone(), Instant::now() + self.retry);
                }
            }
        }
    }

    async fn write(&self, key: &ObjectKey, addresses: &[LbAddress]) -> Result<(), WriteError> {
        let api: Api<Ingress> = Api::namespaced(self.client.clone(), &key.namespace);
        let list = if addresses.is_empty() {
            Value::Null
        } else {
            Value::Array(addresses.iter().map(LbAddress::to_json).collect())
        };
        let patch = json!({"status": {"loadBalancer": {"ingress": list}}});
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_string()),
            ..Default::default()
        };
        tokio::time::timeout(
            self.retry * 2,
            api.patch_status(&key.name, &params, &Patch::Merge(&patch)),
        )
        .await
        .map_err(|_| WriteError::Timeout(self.retry * 2))??;
        Ok(())
    }
}

/// Why one Ingress's status was not written (it is retried).
#[derive(Debug, thiserror::Error)]
enum WriteError {
    /// The API server refused the patch or could not be reached.
    #[error(transparent)]
    Api(#[from] kube::Error),
    /// No answer in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}
