//! The HTTPS listeners' certificates (`certificateRefs`, with ReferenceGrants), joined to
//! the Ingress ones: certificate files and crt-list lines (the listener's host name as the
//! SNI filter; the certificate's own names when it has none). A host an Ingress already serves over TLS keeps the Ingress's
//! certificate (a named problem on the Gateway).

use std::collections::{BTreeMap, BTreeSet};

use haproxy::config::{TlsFiles, secret_cert_path};
use haproxy::names::SniFilter;
use haproxy::proto::command::CrtListEntry;

use haproxy::config::TlsCert;
use haproxy::config::gateway::HostPattern;

use super::grants::{self, permitted};
use super::{Draft, GatewayProblems, hostnames};
use crate::gateway_api::{Listener, ObjectReference};
use crate::problem::{Problem, ProblemKind};
use crate::store::{ObjectKey, Snapshot};
use crate::translate::tls::{ReadSecret, SecretError};

/// Adds `draft`'s certificates to `files`; `ingress_sni` are the hosts the Ingresses give
/// certificates to.
pub(in crate::translate) fn add_certs(
    draft: &Draft,
    ingress_sni: &BTreeSet<SniFilter>,
    config_dir: &std::path::Path,
    files: &mut TlsFiles,
    problems: &mut Vec<Problem>,
) {
    let mut lines: BTreeMap<_, BTreeSet<SniFilter>> = BTreeMap::new();
    for line in &draft.certs {
        let problem = |why: String| {
            Problem::new(ProblemKind::Gateway, line.gateway.to_string(), why).at(line.field.clone())
        };
        if let Some(sni) = &line.sni
            && ingress_sni.contains(sni)
        {
            problems.push(problem(format!(
                "host {sni} has a certificate from an Ingress, which is served for it"
            )));
            continue;
        }
        let path = match secret_cert_path(config_dir, &line.secret.namespace, &line.secret.name) {
            Ok(p) => p.to_file_path(),
            Err(e) => {
                problems.push(problem(format!("cannot name its certificate file: {e}")));
                continue;
            }
        };
        files.certs.insert(path.clone(), line.cert.clone());
        let sni = lines.entry(path).or_default();
        sni.extend(line.sni.clone());
    }
    for (path, sni) in lines {
        match files
            .crt_list
            .iter_mut()
            .find(|e| e.cert == path && e.auth.is_none())
        {
            Some(e) => {
                e.sni.extend(sni);
                e.sni.sort();
                e.sni.dedup();
            }
            None => match CrtListEntry::new(path, sni) {
                Ok(e) => files.crt_list.push(e),
                Err(e) => problems.push(Problem::new(
                    ProblemKind::Gateway,
                    "certificates".to_string(),
                    format!("cannot list a certificate file: {e}"),
                )),
            },
        }
    }
}

/// A certificate an HTTPS listener serves: a crt-list line for its host name (the
/// certificate's own names when the listener has none).
#[derive(Debug, Clone, PartialEq)]
pub(in crate::translate) struct CertLine {
    /// The TLS Secret.
    pub secret: ObjectKey,
    /// Its certificate.
    pub cert: TlsCert,
    /// The SNI filter (`None`: the certificate's names).
    pub sni: Option<SniFilter>,
    /// The Gateway, and the field naming the Secret.
    pub gateway: ObjectKey,
    /// The field naming the Secret.
    pub field: String,
}

/// What an HTTPS listener's certificates give.
#[derive(Debug, Default)]
pub(in crate::translate) struct Certificates {
    /// The crt-list lines of the certificates that could be read.
    pub lines: Vec<CertLine>,
    /// The Secrets read.
    pub read: Vec<ObjectKey>,
    /// The first failure (a `ResolvedRefs` reason, and why).
    pub failure: Option<(&'static str, String)>,
}

pub(in crate::translate) fn certificates(
    snapshot: &Snapshot,
    key: &ObjectKey,
    field: &str,
    l: &Listener,
    host: &HostPattern,
    read_secret: &mut ReadSecret<'_>,
    problems: &mut GatewayProblems,
) -> Certificates {
    if l.tls.as_ref().is_some_and(|t| t.options.is_some()) {
        let why = "TLS options are not supported; ignored";
        problems.push(
            ProblemKind::Gateway,
            key,
            format!("{field}.tls.options"),
            why,
        );
    }
    let mut out = Certificates::default();
    let refs: &[ObjectReference] = l
        .tls
        .as_ref()
        .map(|t| t.certificate_refs.as_slice())
        .unwrap_or_default();
    let mut fail = |out: &mut Certificates, f: String, reason: &'static str, why: String| {
        problems.push(ProblemKind::Gateway, key, f, why.clone());
        out.failure.get_or_insert((reason, why));
    };
    if l.tls.as_ref().and_then(|t| t.mode.as_deref()) == Some("Passthrough") {
        let why = "tls.mode Passthrough is not supported (HAProxy terminates TLS)".to_string();
        fail(
            &mut out,
            format!("{field}.tls.mode"),
            "InvalidCertificateRef",
            why,
        );
        return out;
    }
    if refs.is_empty() {
        let why = "an HTTPS listener needs a certificateRef".to_string();
        fail(
            &mut out,
            format!("{field}.tls"),
            "InvalidCertificateRef",
            why,
        );
    }
    let sni = match host {
        HostPattern::Any => None,
        p => SniFilter::new(hostnames::show(p)).ok(),
    };
    for (j, r) in refs.iter().enumerate() {
        let at = format!("{field}.tls.certificateRefs[{j}]");
        match certificate(snapshot, key, r, &mut out, read_secret) {
            Ok(line) => out.lines.push(CertLine {
                sni: sni.clone(),
                gateway: key.clone(),
                field: at,
                ..line
            }),
            Err(e) => fail(&mut out, at, e.reason(), e.to_string()),
        }
    }
    out
}

/// Why a `certificateRefs` entry gives no certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum CertRefError {
    /// Another kind than a core Secret.
    #[error("only core Secrets are supported as certificates")]
    NotSecret,
    /// A name the API server would refuse (quoted at most 64 characters long).
    #[error("{0:?} is not a Secret reference")]
    BadName(String),
    /// Another namespace's Secret without a ReferenceGrant.
    #[error("secret {0} is in another namespace and no ReferenceGrant permits it")]
    NotPermitted(ObjectKey),
    /// A Secret whose certificate cannot be read.
    #[error("secret {0}: {1}")]
    Secret(ObjectKey, SecretError),
}

impl CertRefError {
    /// The `ResolvedRefs` reason.
    fn reason(&self) -> &'static str {
        match self {
            CertRefError::NotPermitted(_) => "RefNotPermitted",
            _ => "InvalidCertificateRef",
        }
    }
}

/// The certificate of one `certificateRefs` entry of Gateway `key` (its SNI filter, Gateway
/// and field left for the caller to set), or why not.
fn certificate(
    snapshot: &Snapshot,
    key: &ObjectKey,
    r: &ObjectReference,
    out: &mut Certificates,
    read_secret: &mut ReadSecret<'_>,
) -> Result<CertLine, CertRefError> {
    let group_ok = r.group.as_deref().is_none_or(str::is_empty);
    let kind_ok = r.kind.as_deref().is_none_or(|k| k == "Secret");
    if !group_ok || !kind_ok {
        return Err(CertRefError::NotSecret);
    }
    let ns = r
        .namespace
        .clone()
        .unwrap_or_else(|| key.namespace.to_string());
    let secret = ObjectKey::new(&ns, &r.name);
    if super::object_name(&secret).is_err() {
        return Err(CertRefError::BadName(hostnames::truncate(
            &secret.to_string(),
        )));
    }
    let from = grants::From {
        kind: "Gateway",
        namespace: &key.namespace,
    };
    let to = grants::To {
        kind: "Secret",
        namespace: &ns,
        name: &r.name,
    };
    if !permitted(snapshot, from, to) {
        return Err(CertRefError::NotPermitted(secret));
    }
    out.read.push(secret.clone());
    match read_secret(&secret) {
        Ok(cert) => Ok(CertLine {
            secret,
            cert,
            sni: None,
            gateway: key.clone(),
            field: String::new(),
        }),
        Err(why) => Err(CertRefError::Secret(secret, why)),
    }
}
