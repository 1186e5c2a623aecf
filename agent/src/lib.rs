//! haproxy-agent: keeps HAProxy in step with Kubernetes Ingress objects.
//!
//! Data flows one way: `source` (manifests directory or cluster) -> [`store`] -> translate
//! -> reconcile -> apply to HAProxy. Translation and planning are pure; only sources and
//! apply do IO.

pub mod cli;
pub mod ctl;
pub mod problem;
pub mod store;
