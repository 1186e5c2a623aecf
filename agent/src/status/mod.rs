//! Status, written by one replica at a time (the holder of a `coordination.k8s.io/v1`
//! Lease): `status.loadBalancer.ingress` of the Ingresses we serve says where they are
//! reachable (`--publish-service NS/NAME` or `--publish-address ADDR`), and the Gateway API
//! objects we manage get the status translation computed ([`gateway`]).
//!
//! [`run`] holds the election ([`lease`]) and the writers ([`writer`], [`gateway`]) together:
//! each follows the [`Store`] (woken on every change, when leadership starts, and every retry
//! period) and writes only while the Lease is ours; on shutdown they stop and the Lease is
//! released, so another replica takes over at its next attempt rather than after the
//! Lease's duration. Without `--publish-*` the replica joins the election only once there is
//! Gateway API status to write.
//!
//! Requires RBAC: `update, patch` on `networking.k8s.io` `ingresses/status` and on
//! `gateway.networking.k8s.io` `gatewayclasses/status`, `gateways/status`,
//! `httproutes/status`, and `get, create, update` on `coordination.k8s.io` `leases` (in the
//! election namespace).

mod address;
mod gateway;
mod lease;
mod published;
mod writer;

#[cfg(test)]
mod gateway_tests;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::sync::Arc;

use kube::Client;
use tokio::sync::watch;

pub use lease::{LeaseConfig, default_identity};

use crate::store::{ObjectKey, Store};
use crate::translate::gateway::Statuses;

/// The field manager of every write (Lease and Ingress status).
pub const FIELD_MANAGER: &str = "haproxy-agent";

/// What to publish in the status of our Ingresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Publish {
    /// The addresses of this Service, as [`service_addresses`] reads them (`--publish-service`).
    Service(ObjectKey),
    /// These addresses as given (`--publish-address`): an IP address is published as `ip`,
    /// anything else as `hostname`.
    Address(Vec<String>),
}

/// Parses `--publish-address`: one address or several separated by commas, each an IP
/// address or a DNS name (lower-case RFC 1123 subdomain, as the API server requires).
pub fn parse_publish_address(s: &str) -> Result<Publish, String> {
    let list: Vec<String> = s.split(',').map(|a| a.trim().to_string()).collect();
    for a in &list {
        if a.parse::<std::net::IpAddr>().is_err() && !is_dns_subdomain(a) {
            return Err(format!("{a:?} is neither an IP address nor a DNS name"));
        }
    }
    Ok(Publish::Address(list))
}

fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Everything [`run`] needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusConfig {
    /// What to write in Ingress status and Gateway addresses (`None`: no Ingress status, no
    /// Gateway addresses).
    pub publish: Option<Publish>,
    /// The Lease that decides which replica writes.
    pub lease: LeaseConfig,
    /// `--ingress-class`: only Ingresses of this class are written.
    pub ingress_class: String,
    /// `--gateway-controller-name`: the HTTPRoute parents of ours are those of this
    /// controller.
    pub gateway_controller_name: String,
}

/// Takes part in the election and, while leading, keeps the status of our Ingresses (with
/// `publish`) and of the Gateway API objects in `statuses` right, until `shutdown`
/// completes; then stops writing and releases the Lease if held. The store is filled by the
/// Kubernetes source; nothing is written before it has synced.
pub async fn run(
    client: Client,
    store: Store,
    config: StatusConfig,
    mut statuses: watch::Receiver<Arc<Statuses>>,
    shutdown: impl Future<Output = ()>,
) {
    let mut shutdown = std::pin::pin!(shutdown);
    if config.publish.is_none() {
        // No Ingress status to write: the election is joined once Gateway API status is.
        let some = statuses
            .wait_for(|s| !(s.classes.is_empty() && s.gateways.is_empty() && s.routes.is_empty()));
        tokio::select! {
            r = some => if r.is_err() { return },
            _ = &mut shutdown => return,
        }
    }
    let (term_tx, term_rx) = watch::channel(None);
    let mut elector = lease::Elector::new(client.clone(), config.lease.clone(), term_tx);
    let mut gateway = gateway::Writer::new(client.clone(), store.clone(), statuses, &config);
    let ingress = async {
        match &config.publish {
            Some(publish) => {
                writer::Writer::new(client, store, publish.clone(), &config)
                    .run(term_rx.clone())
                    .await
            }
            None => std::future::pending().await,
        }
    };
    tracing::info!(
        lease = %format!("{}/{}", config.lease.namespace, config.lease.name),
        identity = %config.lease.identity,
        publish = ?config.publish,
        "status: joining the leader election"
    );
    tokio::select! {
        _ = elector.run() => {}
        _ = ingress => {}
        _ = gateway.run(term_rx.clone()) => {}
        _ = &mut shutdown => {}
    }
    // The writer is stopped (dropped mid-request if need be) before the Lease is let go.
    elector.release().await;
}

#[cfg(test)]
mod parse_tests {
    use super::*;

    #[test]
    fn publish_addresses_parse() {
        assert_eq!(
            parse_publish_address("203.0.113.7, lb.example.com,2001:db8::1"),
            Ok(Publish::Address(vec![
                "203.0.113.7".into(),
                "lb.example.com".into(),
                "2001:db8::1".into()
            ]))
        );
        for bad in [
            "",
            "a,,b",
            "LB.example.com",
            "-x.example",
            "a b",
            "x_y.example",
        ] {
            assert!(parse_publish_address(bad).is_err(), "{bad:?}");
        }
    }
}
