//! The agent's own HTTP endpoint on `--listen`: `/healthz`, `/metrics` (Prometheus text) and
//! `/debug/state` (JSON: desired model, last observed HAProxy state, last problems).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

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

/// What `/debug/state` is made from, kept as the reconcile loop left it; the JSON is built
/// only when someone asks (building it is proportional to the whole config).
#[derive(Debug, Default)]
struct DebugSource {
    desired: Option<Arc<haproxy::config::Config>>,
    problems: Arc<Vec<Problem>>,
    last_sync: serde_json::Value,
}

/// State shared between the reconcile loop (writer) and the HTTP handlers (readers).
#[derive(Debug, Default)]
pub struct Status {
    /// Metrics.
    pub metrics: Metrics,
    health: Mutex<Health>,
    debug: Mutex<DebugSource>,
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

    /// Sets the desired config and the problems `/debug/state` shows.
    pub fn set_desired(&self, desired: Arc<haproxy::config::Config>, problems: Arc<Vec<Problem>>) {
        let mut d = self.debug.lock().expect("debug lock");
        d.desired = Some(desired);
        d.problems = problems;
    }

    /// Sets what `/debug/state` says of the last sync.
    pub fn set_last_sync(&self, last_sync: serde_json::Value) {
        self.debug.lock().expect("debug lock").last_sync = last_sync;
    }

    /// The `/debug/state` document: the desired model, the problems and the last sync.
    pub fn debug(&self) -> serde_json::Value {
        let (desired, problems, last_sync) = {
            let d = self.debug.lock().expect("debug lock");
            (d.desired.clone(), d.problems.clone(), d.last_sync.clone())
        };
        let mut doc = match &desired {
            Some(config) => crate::debug::desired(config),
            None => serde_json::json!({}),
        };
        doc["problems"] = serde_json::to_value(problems.as_slice()).unwrap_or_default();
        doc["last_sync"] = last_sync;
        doc
    }
}

async fn healthz(State(status): State<Arc<Status>>) -> Response {
    let h = status.health();
    let code = if h.synced && h.haproxy_up {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(h)).into_response()
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
    axum::Json(status.debug()).into_response()
}

/// The router (public for tests).
pub fn router(status: Arc<Status>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/debug/state", get(debug_state))
        .with_state(status)
}

/// Binds `listen` and serves until `shutdown` completes. Returns the bound address (useful
/// with port 0) and the server task.
pub async fn serve(
    listen: SocketAddr,
    status: Arc<Status>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>)> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        axum::serve(listener, router(status))
            .with_graceful_shutdown(shutdown)
            .await
    });
    Ok((addr, task))
}
