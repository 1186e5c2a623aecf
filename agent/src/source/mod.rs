//! Sources fill the object store: a manifests directory (`--manifests DIR`) or the cluster.

pub mod kube;
pub mod manifests;
