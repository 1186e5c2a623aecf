//! Leader election with a `coordination.k8s.io/v1` Lease, the way client-go's
//! `leaderelection` package (which ingress-nginx uses) does it:
//! - every `renew_every`, read the Lease; create it when absent; take it when its holder is
//!   empty (released) or when its record has not changed for `leaseDurationSeconds` as
//!   measured by this replica's own clock (so no two nodes' clocks are compared); renew it
//!   when it names us. Every write is a `PUT` carrying the resourceVersion just read, so of two
//!   replicas racing for it one gets 409 Conflict and stays a follower;
//! - a leader leads until `renew deadline` (two thirds of the duration) after the start of
//!   its last successful renewal; a renewal that finds another holder, or fails with a
//!   conflict, ends it at once. Another replica can take over only a full duration after it
//!   last saw the record change, which is later: the gap is the safety margin;
//! - on shutdown the leader stops writing, then releases the Lease (empty holder,
//!   `leaseDurationSeconds: 1`), so another replica takes over at its next attempt.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::{Client, Error};
use tokio::sync::watch;
use tokio::time::Instant;

use super::FIELD_MANAGER;

/// Which Lease to hold, under which identity, and how fast to renew it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseConfig {
    /// The Lease's namespace (`--election-namespace`).
    pub namespace: String,
    /// The Lease's name (`--election-id`).
    pub name: String,
    /// This replica's `holderIdentity`: unique among the replicas ([`default_identity`]).
    pub identity: String,
    /// `leaseDurationSeconds` (rounded up to whole seconds): how long the others wait after
    /// the last change they saw before they take the Lease over.
    pub duration: Duration,
    /// How often the leader renews and the others try to acquire.
    pub renew_every: Duration,
}

impl LeaseConfig {
    /// A Lease with client-go's defaults: 15 s duration, renewed every 2 s.
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        identity: impl Into<String>,
    ) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
            identity: identity.into(),
            duration: Duration::from_secs(15),
            renew_every: Duration::from_secs(2),
        }
    }

    /// How long a leader goes on writing after the start of its last successful renewal:
    /// two thirds of the duration, as client-go's 10 s for 15 s.
    pub fn renew_deadline(&self) -> Duration {
        self.duration.mul_f64(2.0 / 3.0)
    }

    /// The interval between attempts: `renew_every`, but at most half the renew deadline so
    /// that a leader gets at least two tries before it steps down.
    pub(crate) fn retry_period(&self) -> Duration {
        self.renew_every
            .min(self.renew_deadline() / 2)
            .max(Duration::from_millis(10))
    }

    fn duration_seconds(&self) -> i32 {
        let secs = self.duration.as_secs() + u64::from(self.duration.subsec_nanos() > 0);
        i32::try_from(secs.max(1)).unwrap_or(i32::MAX)
    }
}

/// This replica's identity: `POD_NAME` (set from the downward API), else `HOSTNAME` (a pod's
/// name by default), else `/etc/hostname`, else `haproxy-agent-<pid>`.
pub fn default_identity() -> String {
    let from_env = |var| {
        std::env::var(var)
            .ok()
            .filter(|v: &String| !v.trim().is_empty())
    };
    from_env("POD_NAME")
        .or_else(|| from_env("HOSTNAME"))
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| format!("haproxy-agent-{}", std::process::id()))
}

/// Leadership as the writer sees it: `Some(until)` while this replica leads, `until` being
/// when it must stop writing unless a renewal comes first.
pub(crate) type Term = Option<Instant>;

/// Whether `term` allows writing now.
pub(crate) fn leads(term: &Term) -> bool {
    term.is_some_and(|until| Instant::now() < until)
}

/// One replica's side of the election.
pub(crate) struct Elector {
    api: Api<Lease>,
    config: LeaseConfig,
    /// The Lease's record as last read or written, and when this replica first saw it so.
    observed: Option<(LeaseSpec, Instant)>,
    term: watch::Sender<Term>,
    /// Whether the last attempt failed, to log a failing streak once.
    failing: bool,
}

impl Elector {
    pub fn new(client: Client, config: LeaseConfig, term: watch::Sender<Term>) -> Self {
        Self {
            api: Api::namespaced(client, &config.namespace),
            config,
            observed: None,
            term,
            failing: false,
        }
    }

    /// Tries to acquire or renew every retry period, forever.
    pub async fn run(&mut self) {
        loop {
            let started = Instant::now();
            let attempt =
                tokio::time::timeout(self.config.renew_deadline(), self.try_acquire_or_renew())
                    .await;
            match attempt {
                Ok(Ok(true)) => {
                    self.recovered();
                    self.set_term(Some(started + self.config.renew_deadline()));
                }
                Ok(Ok(false)) => {
                    self.recovered();
                    self.set_term(None);
                }
                Ok(Err(e)) => self.failed(&e.to_string()),
                Err(_) => self.failed("no answer within the renew deadline"),
            }
            tokio::time::sleep_until(started + self.config.retry_period()).await;
        }
    }

    /// Stops leading and, if the Lease names us, releases it so another replica takes over
    /// at once. Bounded by the renew deadline.
    pub async fn release(&mut self) {
        self.set_term(None);
        let holds = self.observed.as_ref().is_some_and(|(spec, _)| {
            spec.holder_identity.as_deref() == Some(self.config.identity.as_str())
        });
        if !holds {
            return;
        }
        match tokio::time::timeout(self.config.renew_deadline(), self.try_release()).await {
            Ok(Ok(())) => tracing::info!(lease = %self.config.name, "released the lease"),
            Ok(Err(e)) => tracing::warn!(lease = %self.config.name, error = %e,
                "could not release the lease; another replica takes over when it expires"),
            Err(_) => tracing::warn!(lease = %self.config.name,
                "releasing the lease timed out; another replica takes over when it expires"),
        }
    }

    async fn try_release(&mut self) -> Result<(), Error> {
        let Some(mut lease) = self.api.get_opt(&self.config.name).await? else {
            return Ok(());
        };
        let spec = lease.spec.clone().unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return Ok(());
        }
        let now = MicroTime(Timestamp::now());
        lease.spec = Some(LeaseSpec {
            holder_identity: None,
            lease_duration_seconds: Some(1),
            acquire_time: Some(now.clone()),
            renew_time: Some(now),
            ..spec
        });
        self.api
            .replace(&self.config.name, &self.post_params(), &lease)
            .await?;
        self.observed = None;
        Ok(())
    }

    /// One attempt: `Ok(true)` when we hold the Lease now, `Ok(false)` when another replica
    /// does (or won a race for it).
    async fn try_acquire_or_renew(&mut self) -> Result<bool, Error> {
        let now = MicroTime(Timestamp::now());
        let me = self.config.identity.clone();
        let Some(mut lease) = self.api.get_opt(&self.config.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.config.name.clone()),
                    namespace: Some(self.config.namespace.clone()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(me),
                    lease_duration_seconds: Some(self.config.duration_seconds()),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            return match self.api.create(&self.post_params(), &lease).await {
                Ok(created) => {
                    self.observe(created.spec.unwrap_or_default());
                    Ok(true)
                }
                Err(e) if is_conflict(&e) => Ok(false),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let seen_at = self.observe(spec.clone());
        let holder = spec.holder_identity.as_deref().unwrap_or("");
        let mine = holder == me;
        if !holder.is_empty() && !mine {
            let seconds = spec.lease_duration_seconds.unwrap_or(0).max(0);
            let expires = seen_at + Duration::from_secs(u64::try_from(seconds).unwrap_or(0));
            if Instant::now() < expires {
                return Ok(false);
            }
            tracing::info!(lease = %self.config.name, holder, "the lease expired; taking it over");
        }
        lease.spec = Some(LeaseSpec {
            holder_identity: Some(me),
            lease_duration_seconds: Some(self.config.duration_seconds()),
            acquire_time: if mine {
                spec.acquire_time.clone().or_else(|| Some(now.clone()))
            } else {
                Some(now.clone())
            },
            renew_time: Some(now),
            lease_transitions: Some(if mine {
                spec.lease_transitions.unwrap_or(0)
            } else {
                spec.lease_transitions.unwrap_or(0).saturating_add(1)
            }),
            ..spec
        });
        // The resourceVersion just read makes this a compare-and-swap.
        match self
            .api
            .replace(&self.config.name, &self.post_params(), &lease)
            .await
        {
            Ok(written) => {
                self.observe(written.spec.unwrap_or_default());
                Ok(true)
            }
            Err(e) if is_conflict(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Records the Lease's record; returns when this replica first saw it as it is now.
    fn observe(&mut self, spec: LeaseSpec) -> Instant {
        match &self.observed {
            Some((seen, at)) if *seen == spec => *at,
            _ => {
                let now = Instant::now();
                self.observed = Some((spec, now));
                now
            }
        }
    }

    fn post_params(&self) -> PostParams {
        PostParams {
            field_manager: Some(FIELD_MANAGER.to_string()),
            ..Default::default()
        }
    }

    /// Publishes a new term, logging when leadership starts or ends.
    fn set_term(&self, term: Term) {
        let lease = &self.config.name;
        let identity = &self.config.identity;
        self.term.send_if_modified(|current| {
            let was = current.is_some();
            *current = term;
            match (was, term.is_some()) {
                (false, true) => {
                    tracing::info!(%lease, %identity, "leading: writing Ingress status")
                }
                (true, false) => tracing::info!(%lease, %identity, "no longer leading"),
                _ => {}
            }
            // Renewals only move `until`: the writer checks it before each write and needs
            // waking only when leadership starts or ends.
            was != term.is_some()
        });
    }

    fn failed(&mut self, error: &str) {
        let lease = &self.config.name;
        if !self.failing {
            tracing::warn!(%lease, error, "lease request failing; retrying");
            self.failing = true;
        } else {
            tracing::debug!(%lease, error, "lease request still failing");
        }
        // A leader that could not renew in time steps down; its term has lapsed already.
        let lapsed = self
            .term
            .borrow()
            .is_some_and(|until| Instant::now() >= until);
        if lapsed {
            tracing::warn!(%lease, "could not renew the lease in time; stepping down");
            self.set_term(None);
        }
    }

    fn recovered(&mut self) {
        if self.failing {
            tracing::info!(lease = %self.config.name, "lease requests work again");
            self.failing = false;
        }
    }
}

/// 409: a create that lost to another, or a write with a stale resourceVersion.
fn is_conflict(e: &Error) -> bool {
    matches!(e, Error::Api(status) if status.code == 409)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_terms() {
        let mut c = LeaseConfig::new("ns", "lease", "me");
        assert_eq!(c.duration_seconds(), 15);
        assert_eq!(c.renew_deadline(), Duration::from_secs(10));
        assert_eq!(c.retry_period(), Duration::from_secs(2));
        c.duration = Duration::from_millis(1500);
        c.renew_every = Duration::from_secs(5);
        assert_eq!(c.duration_seconds(), 2, "rounded up");
        assert_eq!(c.retry_period(), Duration::from_millis(500), "capped");
        assert!(!leads(&None));
        assert!(leads(&Some(Instant::now() + Duration::from_secs(1))));
        assert!(!leads(&Some(Instant::now())));
    }
}
