//! Prometheus metrics (prefix `haproxy_agent_`), as listed in DESIGN.md "Interfaces".

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Why a reload happened.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// The reason: one of [`crate::reconcile::ReloadReason::LABELS`].
    pub reason: &'static str,
}

/// Labels of `observations_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ScopeLabels {
    /// `full` (every backend, map and certificate), `backend` (one backend's servers) or
    /// `map` (one route map).
    pub scope: &'static str,
}

/// A runtime command and its outcome.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CommandLabels {
    /// The command's stable name (`add server`, `set map`, …).
    pub command: String,
    /// `ok`, `refused` or `error`.
    pub result: &'static str,
}

/// The outcome of one runtime command.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum CommandResult {
    /// HAProxy gave the expected reply.
    Ok,
    /// HAProxy refused it.
    Refused,
    /// The transport failed or the reply was unexpected.
    Error,
}

/// Problems by kind of object and class of problem.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// The problem kind's label.
    pub kind: String,
    /// The problem's class (`invalid`, `unsupported_annotation`, ...).
    pub reason: String,
}

/// A served certificate: its Secret (`namespace/name`) and one host it is served for.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CertLabels {
    /// The Secret, or `(generated)` for the generated default certificate.
    pub secret: String,
    /// An SNI name it is served for (`*` for the default certificate).
    pub host: String,
}

/// Every metric the agent exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Reloads done, by reason.
    pub reloads: Family<ReasonLabels, Counter>,
    /// Reloads that failed (invalid config, no new worker).
    pub reload_failures: Counter,
    /// Runtime commands sent, by command and result.
    pub runtime_commands: Family<CommandLabels, Counter>,
    /// Seconds from a change seen in the store to HAProxy's acknowledgement.
    pub sync_duration: Histogram,
    /// Times HAProxy's live state was found to differ from what the agent applied.
    pub desync: Counter,
    /// Current problems by kind.
    pub problems: Family<KindLabels, Gauge>,
    /// 1 when HAProxy answers on its runtime socket.
    pub haproxy_up: Gauge,
    /// Endpoints (servers) in the desired model.
    pub endpoints: Gauge,
    /// Backends in the desired model.
    pub backends: Gauge,
    /// Routes in the desired model.
    pub routes: Gauge,
    /// Reads of HAProxy's state, by scope.
    pub observations: Family<ScopeLabels, Counter>,
    /// Files written to the config directory after runtime changes.
    pub file_writes: Counter,
    /// Files of the config directory found deleted or changed behind the agent's back.
    pub config_drift: Counter,
    /// Failed writes to the config directory (full, read-only).
    pub config_write_failures: Counter,
    /// When each served certificate expires (Unix seconds), by Secret and host.
    pub certificate_not_after: Family<CertLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every metric. Long by nature: one registration (name, help,
    /// handle) per metric, a flat list kept in the order of `/metrics`.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("haproxy_agent");
        let reloads = Family::<ReasonLabels, Counter>::default();
        let reload_failures = Counter::default();
        let runtime_commands = Family::<CommandLabels, Counter>::default();
        let buckets = [
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ];
        let sync_duration = Histogram::new(buckets);
        let desync = Counter::default();
        let problems = Family::<KindLabels, Gauge>::default();
        let haproxy_up = Gauge::default();
        let endpoints = Gauge::default();
        let backends = Gauge::default();
        let routes = Gauge::default();
        let observations = Family::<ScopeLabels, Counter>::default();
        let file_writes = Counter::default();
        let config_drift = Counter::default();
        let config_write_failures = Counter::default();
        let certificate_not_after = Family::<CertLabels, Gauge>::default();
        registry.register("reloads", "HAProxy reloads by reason", reloads.clone());
        registry.register(
            "reload_failures",
            "Reloads that failed",
            reload_failures.clone(),
        );
        registry.register(
            "runtime_commands",
            "Runtime API commands by command and result",
            runtime_commands.clone(),
        );
        registry.register(
            "sync_duration_seconds",
            "Time from a change in the store to HAProxy's acknowledgement",
            sync_duration.clone(),
        );
        registry.register(
            "desync",
            "Times HAProxy's state differed from what was applied",
            desync.clone(),
        );
        registry.register(
            "problems",
            "Current problems by kind of object and reason",
            problems.clone(),
        );
        registry.register(
            "haproxy_up",
            "1 when HAProxy answers on its runtime socket",
            haproxy_up.clone(),
        );
        registry.register(
            "endpoints",
            "Servers in the desired model",
            endpoints.clone(),
        );
        registry.register(
            "backends",
            "Backends in the desired model",
            backends.clone(),
        );
        registry.register("routes", "Routes in the desired model", routes.clone());
        registry.register(
            "observations",
            "Reads of HAProxy's state: full, or one backend's servers, or one map",
            observations.clone(),
        );
        registry.register(
            "file_writes",
            "Files of the config directory written after runtime changes (unchanged ones are skipped)",
            file_writes.clone(),
        );
        registry.register(
            "config_drift",
            "Files of the config directory found deleted or changed behind the agent's back (each is written again)",
            config_drift.clone(),
        );
        registry.register(
            "config_write_failures",
            "Failed writes to the config directory (full, read-only); /healthz answers 503 until one succeeds",
            config_write_failures.clone(),
        );
        registry.register(
            "certificate_not_after_seconds",
            "When each served certificate expires (Unix time), by Secret and host",
            certificate_not_after.clone(),
        );
        // Every reload reason from the start, so a dashboard sees zeros, not gaps.
        for reason in crate::reconcile::ReloadReason::LABELS {
            let _ = reloads.get_or_create(&ReasonLabels { reason });
        }
        Self {
            registry,
            reloads,
            reload_failures,
            runtime_commands,
            sync_duration,
            desync,
            problems,
            haproxy_up,
            endpoints,
            backends,
            routes,
            observations,
            file_writes,
            config_drift,
            config_write_failures,
            certificate_not_after,
        }
    }

    /// Counts a reload.
    pub fn reload(&self, reason: &crate::reconcile::ReloadReason) {
        self.reloads
            .get_or_create(&ReasonLabels {
                reason: reason.label(),
            })
            .inc();
    }

    /// Counts one observation of `scope` (`full`, `backend` or `map`).
    pub fn observed(&self, scope: &'static str, n: u64) {
        self.observations
            .get_or_create(&ScopeLabels { scope })
            .inc_by(n);
    }

    /// Counts a runtime command.
    pub fn command(&self, command: &str, result: CommandResult) {
        self.runtime_commands
            .get_or_create(&CommandLabels {
                command: command.to_string(),
                result: match result {
                    CommandResult::Ok => "ok",
                    CommandResult::Refused => "refused",
                    CommandResult::Error => "error",
                },
            })
            .inc();
    }

    /// Sets the problem gauges from the current problem counts by `(kind, reason)` (those
    /// not listed go away).
    pub fn set_problems<'a>(&self, counts: impl IntoIterator<Item = ((&'a str, &'a str), i64)>) {
        self.problems.clear();
        for ((kind, reason), n) in counts {
            self.problems
                .get_or_create(&KindLabels {
                    kind: kind.to_string(),
                    reason: reason.to_string(),
                })
                .set(n);
        }
    }

    /// Sets the certificate expiry gauges to `(secret, host, not_after)` (those not listed
    /// go away).
    pub fn set_certificates<'a>(&self, certs: impl IntoIterator<Item = (&'a str, &'a str, i64)>) {
        self.certificate_not_after.clear();
        for (secret, host, not_after) in certs {
            self.certificate_not_after
                .get_or_create(&CertLabels {
                    secret: secret.to_string(),
                    host: host.to_string(),
                })
                .set(not_after);
        }
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposes_every_metric_with_its_prefix() {
        let m = Metrics::new();
        m.reload(&crate::reconcile::ReloadReason::Structure);
        m.command("add server", CommandResult::Ok);
        m.sync_duration.observe(0.002);
        m.set_problems([(("ingress", "unsupported_annotation"), 2)]);
        let text = m.encode();
        for name in [
            "haproxy_agent_reloads_total{reason=\"structure\"} 1",
            "haproxy_agent_reload_failures_total 0",
            "haproxy_agent_runtime_commands_total{command=\"add server\",result=\"ok\"} 1",
            "haproxy_agent_sync_duration_seconds_count 1",
            "haproxy_agent_desync_total 0",
            "haproxy_agent_problems{kind=\"ingress\",reason=\"unsupported_annotation\"} 2",
            "haproxy_agent_haproxy_up 0",
            "haproxy_agent_endpoints 0",
            "haproxy_agent_backends 0",
            "haproxy_agent_routes 0",
        ] {
            assert!(text.contains(name), "missing {name} in\n{text}");
        }
    }
}
