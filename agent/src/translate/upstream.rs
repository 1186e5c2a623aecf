//! The connections to the pods: backend-protocol (or else the Service port's appProtocol),
//! and the proxy-ssl Secret checked with OpenSSL and turned into the files HAProxy loads
//! (`certs/<namespace>_<secret>.<digest>.ca.pem` and `….client.pem`; the digest of the
//! contents in the name makes a renewed CA a new path, so a reload).

use std::collections::BTreeMap;
use std::path::Path;

use haproxy::FilePath;
use haproxy::config::{Backend, CERTS_DIR};
use haproxy::proto::{PemPayload, ServerProtocol, ServerTls};
use k8s_openapi::api::core::v1::Secret;

use super::annotations::upstream::{Proto, UpstreamRequest};
use crate::certs;
use crate::store::{ObjectKey, Snapshot};

/// The protocol and TLS settings of an Ingress's backends, its Secret read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Upstream {
    /// backend-protocol, which wins over the Service port's appProtocol.
    pub protocol: Option<Proto>,
    /// TLS settings, used when the protocol is HTTPS or GRPCS.
    pub tls: ServerTls,
    /// The files `tls` names.
    pub files: BTreeMap<FilePath, PemPayload>,
    /// proxy-ssl-verify is on and its CA cannot be had: the backends get no servers
    /// (`503`) rather than unverified ones.
    pub refused: bool,
}

impl Upstream {
    /// Gives `backend` its protocol: this one's, else `app` (the Service port's
    /// appProtocol), else HTTP/1.1.
    pub fn apply(&self, backend: &mut Backend, app: Option<Proto>) {
        let proto = self.protocol.or(app).unwrap_or(Proto::Http);
        backend.protocol = ServerProtocol {
            h2: proto.h2(),
            tls: proto.tls().then(|| self.tls.clone()),
        };
        backend.files = if proto.tls() {
            self.files.clone()
        } else {
            BTreeMap::new()
        };
        if self.refused && proto.tls() {
            backend.servers.clear();
        }
    }
}

/// An [`Upstream`], the Secret it read and the problems found (field, message).
#[derive(Debug, Default)]
pub struct Resolved {
    /// The settings.
    pub upstream: Upstream,
    /// The proxy-ssl-secret, read or missing.
    pub secret: Option<ObjectKey>,
    /// Problems: (field, message).
    pub problems: Vec<(String, String)>,
}

/// Resolves what the annotations of an Ingress in `namespace` ask, reading its Secret.
pub fn resolve(
    req: &UpstreamRequest,
    namespace: &str,
    snapshot: &Snapshot,
    config_dir: &Path,
) -> Resolved {
    let mut out = Resolved::default();
    out.upstream.protocol = req.protocol;
    let tls = &mut out.upstream.tls;
    tls.sni = req.name.clone().filter(|_| req.server_name);
    tls.verify_host = req.name.clone().filter(|_| req.verify.is_some());
    let Some(sref) = &req.secret else {
        return out;
    };
    let ns = sref.namespace.as_deref().unwrap_or(namespace);
    let key = ObjectKey::new(ns, &sref.name);
    out.secret = Some(key.clone());
    let Some(secret) = snapshot.secrets.get(&key) else {
        let what = if req.verify.is_some() {
            "the backends get no servers (503) until it exists, rather than unverified ones"
        } else {
            "no client certificate is sent"
        };
        out.problems.push((
            sref.field.clone(),
            format!("proxy-ssl-secret {key} not found; {what}"),
        ));
        out.upstream.refused = req.verify.is_some();
        return out;
    };
    let base = config_dir
        .join(CERTS_DIR)
        .join(format!("{}_{}", key.namespace, key.name));
    if req.verify.is_some() {
        match ca_file(secret, &base) {
            Ok((path, pem)) => {
                out.upstream.tls.ca_file = Some(path.clone());
                out.upstream.files.insert(path, pem);
            }
            Err(e) => {
                out.problems.push((
                    sref.field.clone(),
                    format!(
                        "proxy-ssl-secret {key}: {e}; the backends get no servers (503) \
                         until it is fixed, rather than unverified ones"
                    ),
                ));
                out.upstream.refused = true;
            }
        }
    }
    match client_cert(secret, &base) {
        Ok(None) => {}
        Ok(Some((path, pem))) => {
            out.upstream.tls.client_cert = Some(path.clone());
            out.upstream.files.insert(path, pem);
        }
        Err(e) => out.problems.push((
            sref.field.clone(),
            format!("proxy-ssl-secret {key}: {e}; no client certificate is sent"),
        )),
    }
    out
}

/// A Secret's PEM whose file cannot be named under `--config-dir`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--config-dir: {0}")]
pub struct ConfigDirError(haproxy::InvalidName);

/// Why the proxy-ssl-secret's CA or client certificate cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum ProxySecretError {
    /// proxy-ssl-verify without a CA to verify against.
    #[error("no ca.crt to verify the servers against")]
    NoCa,
    /// Only one half of the client certificate.
    #[error("tls.crt and tls.key go together (the client certificate)")]
    HalfPair,
    /// A bad PEM certificate, key or CA bundle.
    #[error(transparent)]
    Cert(#[from] certs::CertError),
    /// Its file cannot be named.
    #[error(transparent)]
    ConfigDir(#[from] ConfigDirError),
}

fn data<'a>(secret: &'a Secret, k: &str) -> Option<&'a [u8]> {
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(k))
        .map(|v| v.0.as_slice())
}

/// `<base>.<digest>.<suffix>` for `pem`: a stable digest (SHA-256), so an agent restart or
/// upgrade names the same contents the same.
pub(super) fn file_for(
    base: &Path,
    suffix: &str,
    pem: &PemPayload,
) -> Result<FilePath, ConfigDirError> {
    let digest = openssl::sha::sha256(pem.as_str().as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let mut name = base.as_os_str().to_owned();
    name.push(format!(".{hex}.{suffix}"));
    FilePath::from_path(Path::new(&name)).map_err(ConfigDirError)
}

fn ca_file(secret: &Secret, base: &Path) -> Result<PemFile, ProxySecretError> {
    let Some(ca) = data(secret, "ca.crt") else {
        return Err(ProxySecretError::NoCa);
    };
    let pem = certs::ca_bundle(ca)?;
    Ok((file_for(base, "ca.pem", &pem)?, pem))
}

type PemFile = (FilePath, PemPayload);

fn client_cert(secret: &Secret, base: &Path) -> Result<Option<PemFile>, ProxySecretError> {
    match (data(secret, "tls.crt"), data(secret, "tls.key")) {
        (None, None) => Ok(None),
        (Some(crt), Some(key)) => {
            let cert = certs::from_secret_data(crt, key)?;
            Ok(Some((file_for(base, "client.pem", &cert.pem)?, cert.pem)))
        }
        _ => Err(ProxySecretError::HalfPair),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::annotations::upstream::SecretRef;
    use haproxy::proto::TlsName;
    use k8s_openapi::ByteString;

    fn snapshot_with(secret: Option<(&str, &[(&str, String)])>) -> Snapshot {
        let mut s = Snapshot::default();
        if let Some((name, keys)) = secret {
            let mut sec = Secret::default();
            sec.metadata.name = Some(name.into());
            sec.metadata.namespace = Some("ns".into());
            sec.data = Some(
                keys.iter()
                    .map(|(k, v)| (k.to_string(), ByteString(v.clone().into_bytes())))
                    .collect(),
            );
            s.secrets
                .insert(ObjectKey::new("ns", name), std::sync::Arc::new(sec));
        }
        s
    }

    fn request(verify: bool) -> UpstreamRequest {
        UpstreamRequest {
            protocol: Some(Proto::Grpcs),
            secret: Some(SecretRef {
                field: "f".into(),
                namespace: None,
                name: "ca".into(),
            }),
            verify: verify.then(|| "v".to_string()),
            name: Some(TlsName::new("api.internal").unwrap()),
            server_name: true,
        }
    }

    #[test]
    fn a_verified_secret_gives_a_ca_file_and_a_client_certificate() {
        let ca = certs::self_signed("ca").unwrap();
        let client = certs::self_signed("client").unwrap();
        let text = client.pem.as_str();
        let at = text.find("-----BEGIN PRIVATE KEY-----").unwrap();
        let keys = [
            (
                "ca.crt",
                ca.pem.as_str()[..ca.pem.as_str().find("-----BEGIN PRIVATE").unwrap()].to_string(),
            ),
            ("tls.crt", text[..at].to_string()),
            ("tls.key", text[at..].to_string()),
        ];
        let snap = snapshot_with(Some(("ca", &keys)));
        let r = resolve(&request(true), "ns", &snap, Path::new("/etc/haproxy"));
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert!(!r.upstream.refused);
        let tls = &r.upstream.tls;
        let ca_path = tls.ca_file.as_ref().unwrap().as_str();
        assert!(ca_path.starts_with("/etc/haproxy/certs/ns_ca.") && ca_path.ends_with(".ca.pem"));
        assert!(
            tls.client_cert
                .as_ref()
                .unwrap()
                .as_str()
                .ends_with(".client.pem")
        );
        assert_eq!(tls.sni.as_ref().unwrap().as_str(), "api.internal");
        assert_eq!(tls.verify_host, tls.sni);
        assert_eq!(r.upstream.files.len(), 2);
        assert_eq!(r.secret, Some(ObjectKey::new("ns", "ca")));

        let mut be = Backend::new(haproxy::BackendName::new("ns_web_80").unwrap());
        r.upstream.apply(&mut be, Some(Proto::Http));
        assert!(
            be.protocol.h2 && be.protocol.tls.is_some(),
            "the annotation wins"
        );
        assert_eq!(be.files.len(), 2);
        let plain = Upstream::default();
        plain.apply(&mut be, Some(Proto::H2c));
        assert!(be.protocol.h2 && be.protocol.tls.is_none() && be.files.is_empty());
    }

    #[test]
    fn verification_without_a_usable_ca_fails_closed() {
        let bad = [(
            "ca.crt",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_string(),
        )];
        for snap in [
            snapshot_with(None),
            snapshot_with(Some(("ca", &bad))),
            snapshot_with(Some(("ca", &[]))),
        ] {
            let r = resolve(&request(true), "ns", &snap, Path::new("/etc/haproxy"));
            assert!(r.upstream.refused);
            assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
            assert!(r.upstream.files.is_empty());
        }
        let r = resolve(
            &request(false),
            "ns",
            &snapshot_with(None),
            Path::new("/etc/haproxy"),
        );
        assert!(
            !r.upstream.refused,
            "without verification a missing Secret only loses the client certificate"
        );
        let half = [("tls.crt", "x".to_string())];
        let r = resolve(
            &request(false),
            "ns",
            &snapshot_with(Some(("ca", &half))),
            Path::new("/etc/haproxy"),
        );
        assert_eq!(r.problems.len(), 1);
        assert!(r.upstream.tls.client_cert.is_none());
    }
}
