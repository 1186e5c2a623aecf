//! The agent's own HTTP endpoint on `--listen`: `/healthz`, `/metrics` (Prometheus text),
//! `/debug/state` (JSON: desired model, last observed HAProxy state, last problems, the
//! Gateway API statuses),
//! `/debug/history` (JSON: the recent syncs, see [`crate::history`]) and `/debug/config`
//! (how the agent was started: arguments, `HAPROXY_AGENT_*` environment, directory).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use crate::history::{History, SyncRecord};
use crate::metrics::Metrics;
use crate::problem::Problem;

/// What `/healthz` reports.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Health {
    /// The first sync has been applied to HAProxy.
    pub synced: bool,
    /// HAProxy answered on its runtime socket at the last attempt.
    pub haproxy_up: bool,
    /// A line on the last failure (a refused config, HAProxy unreachable), if any.
    pub detail: Option<String>,
}

/// What `/debug/state` shows besides the desired model: the problems and the last sync.
#[derive(Debug, Default)]
struct DebugSource {
    problems: Arc<Vec<Problem>>,
    last_sync: serde_json::Value,
}

/// A request for the desired model as JSON, answered by the reconcile loop, which owns it
/// (the model is not shared: sharing it would make every incremental change copy it).
pub type DesiredRequest = tokio::sync::oneshot::Sender<serde_json::Value>;

/// State shared between the reconcile loop (writer) and the HTTP handlers (readers).
#[derive(Debug)]
pub struct Status {
    /// Metrics.
    pub metrics: Metrics,
    health: Mutex<Health>,
    /// The config directory's fault (see [`crate::apply`]), if any.
    disk: Mutex<Option<String>>,
    debug: Mutex<DebugSource>,
    history: Mutex<History>,
    invocation: Mutex<serde_json::Value>,
    desired_tx: tokio::sync::mpsc::Sender<DesiredRequest>,
    desired_rx: Mutex<Option<tokio::sync::mpsc::Receiver<DesiredRequest>>>,
    /// The Gateway API statuses of the last translation (for the status writer and
    /// `/debug/state`).
    gateway_status: tokio::sync::watch::Sender<Arc<crate::translate::gateway::Statuses>>,
}

impl Default for Status {
    fn default() -> Self {
        let (desired_tx, desired_rx) = tokio::sync::mpsc::channel(16);
        Self {
            metrics: Metrics::default(),
            health: Mutex::default(),
            disk: Mutex::default(),
            debug: Mutex::default(),
            history: Mutex::default(),
            invocation: Mutex::default(),
            desired_tx,
            desired_rx: Mutex::new(Some(desired_rx)),
            gateway_status: tokio::sync::watch::Sender::new(Default::default()),
        }
    }
}

impl Status {
    /// A fresh status: not synced, HAProxy not yet seen.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Replaces the health report.
    pub fn set_health(&self, health: Health) {
        self.metrics.haproxy_up.set(i64::from(health.haproxy_up));
        *self.health.lock().expect("health lock") = health;
    }

    /// The current health report.
    pub fn health(&self) -> Health {
        self.health.lock().expect("health lock").clone()
    }

    /// Sets (or clears) the config directory's fault: while set, `/healthz` answers 503
    /// naming it (HAProxy runs on, but a restart would not start current).
    pub fn set_disk_fault(&self, fault: Option<String>) {
        *self.disk.lock().expect("disk lock") = fault;
    }

    /// The config directory's fault, if any.
    pub fn disk_fault(&self) -> Option<String> {
        self.disk.lock().expect("disk lock").clone()
    }

    /// Sets the problems `/debug/state` shows.
    pub fn set_problems(&self, problems: Arc<Vec<Problem>>) {
        self.debug.lock().expect("debug lock").problems = problems;
    }

    /// The requests for the desired model, for the one owner that answers them (the
    /// reconcile loop); `None` after the first call.
    pub fn desired_requests(&self) -> Option<tokio::sync::mpsc::Receiver<DesiredRequest>> {
        self.desired_rx.lock().expect("desired lock").take()
    }

    /// Publishes the Gateway API statuses of a translation (subscribers are woken only when
    /// they differ from the last ones).
    pub fn set_gateway_status(&self, statuses: &Arc<crate::translate::gateway::Statuses>) {
        self.gateway_status.send_if_modified(|s| {
            let changed = **s != **statuses;
            if changed {
                *s = statuses.clone();
            }
            changed
        });
    }

    /// The Gateway API statuses, following each translation.
    pub fn gateway_status(
        &self,
    ) -> tokio::sync::watch::Receiver<Arc<crate::translate::gateway::Statuses>> {
        self.gateway_status.subscribe()
    }

    /// Sets what `/debug/state` says of the last sync.
    pub fn set_last_sync(&self, last_sync: serde_json::Value) {
        self.debug.lock().expect("debug lock").last_sync = last_sync;
    }

    /// Adds a sync to the history `/debug/history` serves.
    pub fn record_sync(&self, record: SyncRecord) {
        self.history.lock().expect("history lock").push(record);
    }

    /// Sets what `/debug/config` says of how the agent was started (for `ctl plan --agent`).
    pub fn set_invocation(&self, invocation: serde_json::Value) {
        *self.invocation.lock().expect("invocation lock") = invocation;
    }

    /// The recent syncs, oldest first.
    pub fn history(&self) -> Vec<SyncRecord> {
        self.history
            .lock()
            .expect("history lock")
            .records()
            .cloned()
            .collect()
    }

    /// The `/debug/state` document: the desired model (asked of the reconcile loop; left
    /// out when no loop answers within 10 s, e.g. during a long reload), the problems and
    /// the last sync.
    pub async fn debug(&self) -> serde_json::Value {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let no_loop = self.desired_rx.lock().expect("desired lock").is_some();
        let desired = match self.desired_tx.try_send(tx) {
            Ok(()) if no_loop => None,
            Ok(()) => tokio::time::timeout(std::time::Duration::from_secs(10), rx)
                .await
                .ok()
                .and_then(Result::ok),
            Err(_) => None,
        };
        let (problems, last_sync) = {
            let d = self.debug.lock().expect("debug lock");
            (d.problems.clone(), d.last_sync.clone())
        };
        let mut doc = desired.unwrap_or_else(|| serde_json::json!({}));
        doc["problems"] = serde_json::to_value(problems.as_slice()).unwrap_or_default();
        doc["gateway_api"] = crate::debug::gateway_status(&self.gateway_status.borrow());
        doc["last_sync"] = last_sync;
        doc
    }
}

/// `/healthz`'s body: the health report and the config directory's fault.
#[derive(Debug, Serialize)]
struct HealthBody {
    #[serde(flatten)]
    health: Health,
    /// The config directory cannot be written, or was changed behind the agent's back and
    /// is not yet written again.
    disk: Option<String>,
}

async fn healthz(State(status): State<Arc<Status>>) -> Response {
    let body = HealthBody {
        health: status.health(),
        disk: status.disk_fault(),
    };
    let code = if body.health.synced && body.health.haproxy_up && body.disk.is_none() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(body)).into_response()
}

async fn metrics(State(status): State<Arc<Status>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        status.metrics.encode(),
    )
        .into_response()
}

async fn debug_state(State(status): State<Arc<Status>>) -> Response {
    axum::Json(status.debug().await).into_response()
}

async fn debug_history(State(status): State<Arc<Status>>) -> Response {
    axum::Json(status.history()).into_response()
}

async fn debug_config(State(status): State<Arc<Status>>) -> Response {
    let doc = status.invocation.lock().expect("invocation lock").clone();
    axum::Json(doc).into_response()
}

/// The router (public for tests): `/healthz` and the debug routes.
pub fn router(status: Arc<Status>) -> Router {
    health_router(status.clone()).merge(debug_router(status))
}

/// `/healthz` alone (`--listen` when `--debug-listen` is given).
pub fn health_router(status: Arc<Status>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .with_state(status)
}

/// `/metrics` and the `/debug/…` routes (on `--debug-listen` when given).
pub fn debug_router(status: Arc<Status>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/debug/state", get(debug_state))
        .route("/debug/history", get(debug_history))
        .route("/debug/config", get(debug_config))
        .with_state(status)
}

/// Binds `listen` and serves until `shutdown` completes. Returns the bound address (useful
/// with port 0) and the server task.
pub async fn serve(
    listen: SocketAddr,
    status: Arc<Status>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>)> {
    serve_router(listen, router(status), shutdown).await
}

/// Binds `listen` and serves `router` until `shutdown` completes, as [`serve`] does.
pub async fn serve_router(
    listen: SocketAddr,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>)> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
    });
    Ok((addr, task))
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt as _;

    use super::*;

    async fn get_healthz(status: &Arc<Status>) -> (StatusCode, serde_json::Value) {
        let r = healthz(State(status.clone())).await;
        let code = r.status();
        let bytes = r.into_body().collect().await.unwrap().to_bytes();
        (code, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn healthz_names_a_disk_fault_with_503_until_it_clears() {
        let status = Status::new();
        status.set_health(Health {
            synced: true,
            haproxy_up: true,
            detail: None,
        });
        let (code, body) = get_healthz(&status).await;
        assert_eq!(
            (code, &body["disk"]),
            (StatusCode::OK, &serde_json::Value::Null)
        );
        let fault = "config directory not writable: cannot write x: No space left on device";
        status.set_disk_fault(Some(fault.into()));
        let (code, body) = get_healthz(&status).await;
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["disk"], fault);
        assert_eq!(body["synced"], true);
        status.set_disk_fault(None);
        assert_eq!(get_healthz(&status).await.0, StatusCode::OK);
    }
}
