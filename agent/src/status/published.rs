//! The addresses to publish (`--publish-address` as given, or the `--publish-service`
//! Service's), read from the store or, for a Service outside it, from the API now and then.

use std::time::Duration;

use k8s_openapi::api::core::v1::Service;
use kube::Client;
use kube::api::Api;
use tokio::time::Instant;

use super::Publish;
use super::address::{LbAddress, normalized, service_addresses};
use crate::store::{Snapshot, StoredService};

/// How often a publish Service missing from the store (outside `--watch-namespace`) is read
/// from the API instead.
const SERVICE_REFETCH: Duration = Duration::from_secs(30);

/// One writer's view of the published addresses.
pub(crate) struct Published {
    client: Client,
    publish: Publish,
    /// Time allowed for one read.
    timeout: Duration,
    /// The publish Service as last read from the API, and when.
    fetched: Option<(Instant, Option<StoredService>)>,
}

impl Published {
    pub fn new(client: Client, publish: Publish, timeout: Duration) -> Self {
        Self {
            client,
            publish,
            timeout,
            fetched: None,
        }
    }

    /// The addresses to publish; `None` while the publish Service is unknown (then nothing
    /// is written, rather than clearing every status).
    pub async fn get(&mut self, snapshot: &Snapshot) -> Option<Vec<LbAddress>> {
        let key = match &self.publish {
            Publish::Address(list) => {
                return Some(normalized(
                    list.iter().map(|a| LbAddress::parse(a)).collect(),
                ));
            }
            Publish::Service(key) => key.clone(),
        };
        if let Some(svc) = snapshot.services.get(&key) {
            self.fetched = None;
            return Some(service_addresses(svc));
        }
        let stale = self
            .fetched
            .as_ref()
            .is_none_or(|(at, _)| at.elapsed() >= SERVICE_REFETCH);
        if stale {
            let api: Api<Service> = Api::namespaced(self.client.clone(), &key.namespace);
            match tokio::time::timeout(self.timeout, api.get_opt(&key.name)).await {
                Ok(Ok(svc)) => {
                    if svc.is_none() {
                        tracing::warn!(service = %key, "the publish Service does not exist");
                    }
                    self.fetched = Some((Instant::now(), svc.map(StoredService::from)));
                }
                Ok(Err(e)) => {
                    tracing::warn!(service = %key, error = %e, "could not read the publish Service");
                }
                Err(_) => tracing::warn!(service = %key, "reading the publish Service timed out"),
            }
        }
        self.fetched
            .as_ref()
            .and_then(|(_, svc)| svc.as_ref())
            .map(service_addresses)
    }
}
