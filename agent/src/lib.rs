//! haproxy-agent: keeps HAProxy in step with Kubernetes Ingress objects.
//!
//! Data flows one way: `source` (manifests directory or cluster) -> [`store`] -> translate
//! -> reconcile -> apply to HAProxy. Translation and planning are pure; only sources and
//! apply do IO.

pub mod apply;
pub mod backoff;
pub mod cert_expiry;
pub mod certs;
pub mod check;
pub mod cli;
pub mod ctl;
pub mod debug;
pub mod gateway_api;
pub mod history;
pub mod http;
pub mod metrics;
pub mod problem;
pub mod reconcile;
pub mod run;
pub mod source;
pub mod spawn;
pub mod status;
pub mod store;
pub mod translate;
