//! haproxy-agent: keeps HAProxy in step with Kubernetes Ingress objects.
//!
//! Data flows one way: `source` (manifests directory or cluster) -> [`store`] -> translate
//! -> reconcile -> apply to HAProxy. Translation and planning are pure; only sources and
//! apply do IO.

pub mod apply;
mod backoff;
mod cert_expiry;
pub mod certs;
pub mod check;
pub mod cli;
pub mod clock;
pub mod ctl;
mod debug;
mod gateway_api;
mod history;
mod holdoff;
pub mod http;
pub mod metrics;
pub mod problem;
pub mod reconcile;
pub mod run;
pub mod runtime;
pub mod source;
pub mod spawn;
mod status;
pub mod store;
pub mod translate;
