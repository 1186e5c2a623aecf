//! The CA bundle (`ca.crt`) and revocation list (`ca.crl`) of an auth-tls-secret, checked
//! with OpenSSL and named `certs/<namespace>_<secret>.<digest>.client-ca.pem` /
//! `.client-crl.pem` (a renewed CA is a new store; see `haproxy::config::tls`).

use std::path::Path;

use haproxy::FilePath;
use haproxy::config::{CERTS_DIR, CLIENT_CA_SUFFIX, CLIENT_CRL_SUFFIX};
use haproxy::proto::PemPayload;

use super::annotations::upstream::SecretRef;
use super::upstream::{ConfigDirError, file_for};
use crate::certs;
use crate::store::{ObjectKey, Snapshot};

/// A checked client CA and its optional revocation list, with their file names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCa {
    /// `ca.crt`
    pub ca: (FilePath, PemPayload),
    /// `ca.crl`
    pub crl: Option<(FilePath, PemPayload)>,
}

/// The Secret an auth-tls-secret names, in the Ingress's namespace unless it names one.
pub fn secret_key(r: &SecretRef, namespace: &str) -> ObjectKey {
    ObjectKey::new(r.namespace.as_deref().unwrap_or(namespace), &r.name)
}

/// Why an auth-tls-secret's CA cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientCaError {
    /// No such Secret.
    #[error("auth-tls-secret {0} not found")]
    NotFound(ObjectKey),
    /// The Secret has no `ca.crt`.
    #[error("auth-tls-secret {0} has no ca.crt")]
    NoCaCrt(ObjectKey),
    /// A bad `ca.crt` or `ca.crl`.
    #[error("auth-tls-secret {0}: {1}")]
    Bad(ObjectKey, certs::CertError),
    /// Its file cannot be named.
    #[error(transparent)]
    ConfigDir(#[from] ConfigDirError),
}

/// Reads Secret `key`'s `ca.crt` and `ca.crl`.
pub fn read(
    snapshot: &Snapshot,
    key: &ObjectKey,
    config_dir: &Path,
) -> Result<ClientCa, ClientCaError> {
    let secret = snapshot
        .secrets
        .get(key)
        .ok_or_else(|| ClientCaError::NotFound(key.clone()))?;
    let data = |k: &str| {
        secret
            .data
            .as_ref()
            .and_then(|d| d.get(k))
            .map(|v| v.0.as_slice())
    };
    let base = config_dir
        .join(CERTS_DIR)
        .join(format!("{}_{}", key.namespace, key.name));
    let suffix = |s: &str| s.trim_start_matches('.').to_string();
    let bad = |e| ClientCaError::Bad(key.clone(), e);
    let ca = data("ca.crt").ok_or_else(|| ClientCaError::NoCaCrt(key.clone()))?;
    let ca = certs::ca_bundle(ca).map_err(bad)?;
    let ca_path = file_for(&base, &suffix(CLIENT_CA_SUFFIX), &ca)?;
    let crl = match data("ca.crl") {
        None => None,
        Some(crl) => {
            let crl = certs::crl_bundle(crl).map_err(bad)?;
            Some((file_for(&base, &suffix(CLIENT_CRL_SUFFIX), &crl)?, crl))
        }
    };
    Ok(ClientCa {
        ca: (ca_path, ca),
        crl,
    })
}
