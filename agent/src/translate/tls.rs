//! Ingress `spec.tls` -> certificate files and crt-list lines, and the set of hosts that have
//! TLS (for `ssl-redirect`).
//!
//! Each `spec.tls` entry names a Secret of type `kubernetes.io/tls` and the hosts it covers.
//! A Secret that is missing, of another type, or whose certificate or key is bad is a
//! problem naming the Ingress field and the Secret; its hosts keep the certificate the
//! Secret last had (from [`CertMemory`]), or get the default certificate. A host claimed by
//! two Secrets goes to the older Ingress. An entry without `secretName` puts its hosts on
//! the default certificate.

use std::collections::{BTreeMap, BTreeSet};

use haproxy::config::{RouteHost, TlsCert, TlsFiles, secret_cert_path};
use haproxy::names::SniFilter;
use haproxy::proto::command::{CaStore, ClientAuth, CrtListEntry};

use super::Settings;
use super::annotations::client_cert;
use super::client_ca;
use crate::certs;
pub use crate::certs::CertMemory;
use crate::problem::{Problem, ProblemKind};
use crate::store::{ObjectKey, Snapshot, StoredIngress};

/// The Secret type TLS Secrets have.
pub const TLS_SECRET_TYPE: &str = "kubernetes.io/tls";

/// What `spec.tls` of our Ingresses gives.
#[derive(Debug, Default)]
pub(super) struct TlsBuilt {
    /// Some Ingress asks for TLS: the HTTPS binds are needed.
    pub wanted: bool,
    /// Certificates of Secrets and their crt-list lines (the default certificate is added
    /// by the caller).
    pub files: TlsFiles,
    /// Hosts (and `*.suffix` wildcards) with TLS.
    pub hosts: BTreeSet<SniFilter>,
    /// The certificates in use, for the next translation.
    pub memory: CertMemory,
}

/// A crt-list line while it is built: the certificate's Secret (`None`: the default
/// certificate) and the client-certificate options of its names.
type LineKey = (Option<ObjectKey>, Option<ClientAuth>);

/// How a Secret's certificate is read ([`read_secret`], or a cache of it).
pub(super) type ReadSecret<'a> = dyn FnMut(&ObjectKey) -> Result<TlsCert, SecretError> + 'a;

/// Why a TLS Secret's certificate cannot be served (the message follows `secret <key>: `).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// No such Secret in the snapshot.
    #[error("it does not exist (or is not of type kubernetes.io/tls)")]
    Missing,
    /// A Secret of another type.
    #[error("its type is {0:?}, not {TLS_SECRET_TYPE:?}")]
    WrongType(String),
    /// No `tls.crt` key.
    #[error("it has no tls.crt")]
    NoCrt,
    /// No `tls.key` key.
    #[error("it has no tls.key")]
    NoKey,
    /// A bad PEM certificate or key, or a key that is not the certificate's.
    #[error(transparent)]
    Cert(#[from] certs::CertError),
}

/// Reads `spec.tls` of `ingresses` (ours, oldest first), their Secrets through `read` and
/// their auth-tls-secrets from `snapshot`. A host's certificate and client-certificate
/// settings come from the oldest Ingress that lists it in `spec.tls`.
pub(super) fn collect<'a>(
    ingresses: impl IntoIterator<Item = (&'a ObjectKey, &'a StoredIngress)>,
    settings: &Settings,
    memory: &CertMemory,
    read: &mut ReadSecret<'_>,
    snapshot: &Snapshot,
    problems: &mut Vec<Problem>,
) -> TlsBuilt {
    let mut out = TlsBuilt::default();
    // host -> (Ingress, line, optional_no_ca) that claimed it first.
    let mut claims: BTreeMap<SniFilter, (ObjectKey, LineKey, bool)> = BTreeMap::new();
    let mut certs: BTreeMap<ObjectKey, Option<TlsCert>> = BTreeMap::new();
    let mut lines: BTreeMap<LineKey, BTreeSet<SniFilter>> = BTreeMap::new();
    for (key, ing) in ingresses {
        let tls = ing.spec.as_ref().and_then(|s| s.tls.as_ref());
        if settings.ssl_passthrough
            && super::annotations::passes_through(ing.metadata.annotations.as_ref())
        {
            passthrough_tls(
                key,
                tls.map(Vec::as_slice).unwrap_or_default(),
                &mut out,
                problems,
            );
            continue;
        }
        let (auth, no_ca) = tls
            .filter(|t| !t.is_empty())
            .and_then(|_| client_auth(key, ing, snapshot, settings, &mut out))
            .map_or((None, false), |(a, no_ca)| (Some(a), no_ca));
        for (i, entry) in tls.into_iter().flatten().enumerate() {
            out.wanted = true;
            let field = format!("spec.tls[{i}]");
            let secret = entry_secret(key, &field, entry.secret_name.as_deref(), problems);
            if let Some(s) = &secret
                && !certs.contains_key(s)
            {
                let cert = secret_cert(read, memory, key, &field, s, problems);
                certs.insert(s.clone(), cert);
            }
            let line = (secret, auth.clone());
            for (j, host) in entry.hosts.iter().flatten().enumerate() {
                let host_field = format!("{field}.hosts[{j}]");
                let sni = match SniFilter::new(host) {
                    Ok(s) => s,
                    Err(e) => {
                        problems.push(ingress_problem(key, host_field, e.to_string()));
                        continue;
                    }
                };
                if let Some(why) = claimed(&claims, &sni, &line, no_ca) {
                    problems.push(ingress_problem(key, host_field, why));
                    continue;
                }
                claims
                    .entry(sni.clone())
                    .or_insert_with(|| (key.clone(), line.clone(), no_ca));
                out.hosts.insert(sni.clone());
                if no_ca {
                    out.files.no_ca.insert(sni.clone());
                }
                if line.0.is_some() || line.1.is_some() {
                    lines.entry(line.clone()).or_default().insert(sni);
                }
            }
        }
    }
    add_cert_files(&certs, settings, &mut out, problems);
    add_crt_list(lines, &certs, settings, &mut out, problems);
    out
}

/// The Secret a `spec.tls` entry of Ingress `key` names (`None`: the default certificate,
/// a bad name being a problem).
fn entry_secret(
    key: &ObjectKey,
    field: &str,
    name: Option<&str>,
    problems: &mut Vec<Problem>,
) -> Option<ObjectKey> {
    match name {
        None | Some("") => None,
        Some(name) if !super::names::is_dns_subdomain(name) => {
            problems.push(ingress_problem(
                key,
                format!("{field}.secretName"),
                format!("{name:?} is not a Secret name; its hosts get the default certificate"),
            ));
            None
        }
        Some(name) => Some(ObjectKey::new(key.namespace.clone(), name)),
    }
}

/// The certificate files of the Secrets read (by their path under the config directory),
/// remembered for the next translation.
fn add_cert_files(
    certs: &BTreeMap<ObjectKey, Option<TlsCert>>,
    settings: &Settings,
    out: &mut TlsBuilt,
    problems: &mut Vec<Problem>,
) {
    for (secret, cert) in certs {
        let Some(cert) = cert else { continue };
        match secret_cert_path(&settings.config_dir, &secret.namespace, &secret.name) {
            Ok(p) => {
                out.files.certs.insert(p.to_file_path(), cert.clone());
                out.memory.insert(secret.clone(), cert.clone());
            }
            Err(e) => problems.push(Problem::new(
                ProblemKind::Secret,
                secret.to_string(),
                format!("cannot name its certificate file: {e}"),
            )),
        }
    }
}

/// One crt-list line per certificate and client-certificate setting, with its names; a
/// bad TLS Secret's names get the default certificate while they ask for client ones.
fn add_crt_list(
    lines: BTreeMap<LineKey, BTreeSet<SniFilter>>,
    certs: &BTreeMap<ObjectKey, Option<TlsCert>>,
    settings: &Settings,
    out: &mut TlsBuilt,
    problems: &mut Vec<Problem>,
) {
    for ((secret, auth), sni) in lines {
        let path = match &secret {
            Some(s) if certs.get(s).is_some_and(Option::is_some) => {
                secret_cert_path(&settings.config_dir, &s.namespace, &s.name)
            }
            // A bad TLS Secret: the default certificate, still asking for client ones.
            Some(_) if auth.is_some() => haproxy::config::default_cert_path(&settings.config_dir),
            Some(_) => continue,
            None => haproxy::config::default_cert_path(&settings.config_dir),
        };
        let Ok(path) = path else { continue };
        match CrtListEntry::new(path.to_file_path(), sni) {
            Ok(entry) => out.files.crt_list.push(entry.with_auth(auth)),
            Err(e) => problems.push(Problem::new(
                ProblemKind::Secret,
                secret.map_or("default certificate".into(), |s| s.to_string()),
                format!("cannot list its certificate file: {e}"),
            )),
        }
    }
}

/// `spec.tls` of an Ingress whose TLS is passed through to its pods: its hosts count as
/// having TLS (plain HTTP to them is redirected, as ingress-nginx does), but the pods
/// terminate it, so no certificate is served here and a Secret named is unused (named).
fn passthrough_tls(
    key: &ObjectKey,
    tls: &[k8s_openapi::api::networking::v1::IngressTLS],
    out: &mut TlsBuilt,
    problems: &mut Vec<Problem>,
) {
    for (i, entry) in tls.iter().enumerate() {
        if entry.secret_name.as_deref().is_some_and(|n| !n.is_empty()) {
            problems.push(ingress_problem(
                key,
                format!("spec.tls[{i}].secretName"),
                "unused: with ssl-passthrough the pods terminate TLS with their own \
                 certificate; the hosts only redirect plain HTTP to HTTPS (ssl-redirect)"
                    .to_string(),
            ));
        }
        out.hosts.extend(
            entry
                .hosts
                .iter()
                .flatten()
                .filter_map(|h| SniFilter::new(h).ok()),
        );
    }
}

/// Why `sni` cannot join `line`: another Ingress's claim with another certificate or other
/// client-certificate settings (the older Ingress wins).
fn claimed(
    claims: &BTreeMap<SniFilter, (ObjectKey, LineKey, bool)>,
    sni: &SniFilter,
    line: &LineKey,
    no_ca: bool,
) -> Option<String> {
    let (owner, (by, auth), was_no_ca) = claims.get(sni)?;
    if by != &line.0 {
        let with = by
            .as_ref()
            .map_or("the default certificate".to_string(), |s| {
                format!("secret {s}")
            });
        return Some(format!(
            "host {sni} already has TLS from the older ingress {owner} ({with}); ignored here"
        ));
    }
    (auth != &line.1 || (auth.is_some() && *was_no_ca != no_ca)).then(|| {
        format!(
            "host {sni} already has other client-certificate settings (auth-tls-*) from the \
             older ingress {owner}; its settings are kept"
        )
    })
}

/// The client-certificate options of Ingress `key`'s hosts (and whether they are
/// `optional_no_ca`), its CA files added to `out`. An unreadable CA is named by the
/// Ingress's fragment, whose routes then answer `503`.
fn client_auth(
    key: &ObjectKey,
    ing: &StoredIngress,
    snapshot: &Snapshot,
    settings: &Settings,
    out: &mut TlsBuilt,
) -> Option<(ClientAuth, bool)> {
    let req = client_cert::request(ing.metadata.annotations.as_ref());
    let (sref, verify) = req.handshake()?;
    let secret = client_ca::secret_key(sref, &key.namespace);
    let ca = client_ca::read(snapshot, &secret, &settings.config_dir).ok()?;
    let files = &mut out.files.ca_files;
    files.insert(ca.ca.0.clone(), (CaStore::CaFile, ca.ca.1));
    if let Some((path, pem)) = &ca.crl {
        files.insert(path.clone(), (CaStore::CrlFile, pem.clone()));
    }
    let auth = ClientAuth {
        verify,
        ca_file: ca.ca.0,
        crl_file: ca.crl.map(|(p, _)| p),
    };
    Some((auth, req.no_ca))
}

/// The certificate of Secret `s` named by Ingress `key`, or what it had before.
fn secret_cert(
    read: &mut ReadSecret<'_>,
    memory: &CertMemory,
    key: &ObjectKey,
    field: &str,
    s: &ObjectKey,
    problems: &mut Vec<Problem>,
) -> Option<TlsCert> {
    let why = match read(s) {
        Ok(cert) => return Some(cert),
        Err(why) => why,
    };
    let kept = memory.get(s).cloned();
    let fallback = if kept.is_some() {
        "its hosts keep the certificate it had"
    } else {
        "its hosts get the default certificate"
    };
    problems.push(ingress_problem(
        key,
        format!("{field}.secretName"),
        format!("secret {s}: {why}; {fallback}"),
    ));
    kept
}

/// A TLS Secret's certificate, checked.
pub(super) fn read_secret(snapshot: &Snapshot, s: &ObjectKey) -> Result<TlsCert, SecretError> {
    let secret = snapshot.secrets.get(s).ok_or(SecretError::Missing)?;
    let kind = secret.type_.as_deref().unwrap_or("Opaque");
    if kind != TLS_SECRET_TYPE {
        return Err(SecretError::WrongType(kind.to_string()));
    }
    let data = secret.data.as_ref();
    let get = |k: &str| data.and_then(|d| d.get(k)).map(|b| b.0.as_slice());
    let crt = get("tls.crt").ok_or(SecretError::NoCrt)?;
    let key = get("tls.key").ok_or(SecretError::NoKey)?;
    Ok(certs::from_secret_data(crt, key)?)
}

/// The default certificate: `--default-ssl-certificate`'s Secret when it is good, else the
/// generated one; none (a problem) when that cannot be made either.
pub(super) fn default_cert(
    read: &mut ReadSecret<'_>,
    settings: &Settings,
    problems: &mut Vec<Problem>,
) -> Option<TlsCert> {
    let generated = |problems: &mut Vec<Problem>| match settings.default_cert.get() {
        Ok(cert) => Some(cert.clone()),
        Err(why) => {
            problems.push(Problem::new(
                ProblemKind::Secret,
                "default certificate".to_string(),
                format!("cannot make the default certificate: {why}; HTTPS is not served"),
            ));
            None
        }
    };
    let Some(s) = &settings.default_ssl_certificate else {
        return generated(problems);
    };
    match read(s) {
        Ok(cert) => Some(cert),
        Err(why) => {
            problems.push(Problem::new(
                ProblemKind::Secret,
                s.to_string(),
                format!("--default-ssl-certificate: {why}; using the generated certificate"),
            ));
            generated(problems)
        }
    }
}

/// Whether requests for `host` arrive on a host with TLS.
pub(super) fn host_has_tls(host: &RouteHost, tls_hosts: &BTreeSet<SniFilter>) -> bool {
    let has = |name: String| SniFilter::new(&name).is_ok_and(|s| tls_hosts.contains(&s));
    match host {
        RouteHost::Exact(h) => {
            let h = h.as_str();
            has(h.to_string())
                || h.split_once('.')
                    .is_some_and(|(_, rest)| has(format!("*.{rest}")))
        }
        RouteHost::Wildcard(suffix) => has(format!("*.{suffix}")),
        RouteHost::Any => false,
    }
}

fn ingress_problem(key: &ObjectKey, field: String, message: String) -> Problem {
    Problem::new(ProblemKind::Ingress, key.to_string(), message).at(field)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::Path;
    use std::time::Duration;

    use haproxy::FilePath;
    use haproxy::config::RouteHost;

    use super::*;
    use crate::source::manifests::parse_manifests;
    use crate::store::Store;
    use crate::translate::{Translation, translate_with};

    /// The settings translation tests start from (the run loop's tests too).
    pub(crate) fn settings() -> Settings {
        Settings {
            ingress_class: "haproxy".into(),
            default_backend_service: None,
            watch_namespace: None,
            http_bind: "127.0.0.1:8080".parse().unwrap(),
            config_dir: "/etc/haproxy".into(),
            runtime_socket: "/run/admin.sock".into(),
            hard_stop_after: Duration::from_secs(30),
            https_bind: "127.0.0.1:8443".parse().unwrap(),
            default_cert: certs::self_signed("default").unwrap().into(),
            default_ssl_certificate: None,
            trusted_proxies: Vec::new(),
            configmap: None,
            use_proxy_protocol: false,
            access_log: None,
            tcp_services: None,
            tcp_bind: None,
            gateway_controller_name: crate::translate::gateway::DEFAULT_CONTROLLER.to_string(),
            gateway_address_pool: Vec::new(),
            udp_services: None,
            ssl_passthrough: false,
            agent_listen: Vec::new(),
        }
    }

    /// The PEM halves of a generated certificate.
    pub(in crate::translate) fn pair(cn: &str) -> (String, String, TlsCert) {
        let c = certs::self_signed(cn).unwrap();
        let text = c.pem.as_str();
        let at = text.find("-----BEGIN PRIVATE KEY-----").unwrap();
        (text[..at].to_string(), text[at..].to_string(), c)
    }

    pub(in crate::translate) fn quote(s: &str) -> String {
        serde_json::to_string(s).unwrap()
    }

    pub(in crate::translate) fn secret(name: &str, kind: &str, crt: &str, key: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{namespace: shop, name: {name}}}\n\
             type: {kind}\nstringData:\n  tls.crt: {}\n  tls.key: {}\n",
            quote(crt),
            quote(key)
        )
    }

    /// An Ingress routing each host `/` to `web:80`, with one `spec.tls` entry per
    /// `(secret, hosts)`, created at `minute` (older wins).
    pub(in crate::translate) fn ingress(
        name: &str,
        minute: u32,
        hosts: &[&str],
        tls: &[(Option<&str>, &[&str])],
        annotations: &[(&str, &str)],
    ) -> String {
        let mut out = format!(
            "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  namespace: shop\n  \
             name: {name}\n  creationTimestamp: \"2026-01-01T00:{minute:02}:00Z\"\n  annotations: {{"
        );
        for (k, v) in annotations {
            out.push_str(&format!("{}: {}, ", quote(k), quote(v)));
        }
        out.push_str("}\nspec:\n  ingressClassName: haproxy\n  tls:\n");
        for (secret, hosts) in tls {
            let hosts: Vec<String> = hosts.iter().map(|h| quote(h)).collect();
            out.push_str(&format!("    - hosts: [{}]\n", hosts.join(", ")));
            if let Some(s) = secret {
                out.push_str(&format!("      secretName: {s}\n"));
            }
        }
        if tls.is_empty() {
            out.push_str("    []\n");
        }
        out.push_str("  rules:\n");
        for h in hosts {
            out.push_str(&format!(
                "    - host: {}\n      http:\n        paths:\n          - path: /\n            \
                 pathType: Prefix\n            backend:\n              service:\n                \
                 name: web\n                port: {{number: 80}}\n",
                quote(h)
            ));
        }
        out
    }

    const WEB: &str = "apiVersion: v1\nkind: Service\nmetadata: {namespace: shop, name: web}\n\
                       spec:\n  ports: [{port: 80, targetPort: 8080}]\n";

    pub(in crate::translate) fn run(docs: &[String], memory: &CertMemory) -> Translation {
        let mut objects = Vec::new();
        for (i, d) in docs.iter().chain([&WEB.to_string()]).enumerate() {
            objects.extend(parse_manifests(Path::new(&format!("{i}.yaml")), d).unwrap());
        }
        let store = Store::new();
        store.replace_all(objects);
        translate_with(&store.snapshot(), &settings(), memory).unwrap()
    }

    pub(in crate::translate) fn sni(t: &Translation) -> Vec<String> {
        t.config
            .tls
            .crt_list
            .iter()
            .map(|e| e.line().replace("/etc/haproxy/certs/", ""))
            .collect()
    }

    pub(in crate::translate) fn problems(t: &Translation) -> Vec<String> {
        t.problems
            .iter()
            .map(|p| {
                format!(
                    "{} {} {}",
                    p.object,
                    p.field.clone().unwrap_or_default(),
                    p.message
                )
            })
            .collect()
    }

    fn redirects(t: &Translation) -> Vec<(String, bool)> {
        t.config
            .routes
            .iter()
            .map(|r| {
                let host = match &r.host {
                    RouteHost::Exact(h) => h.to_string(),
                    RouteHost::Wildcard(h) => format!("*.{h}"),
                    RouteHost::Any => String::new(),
                };
                (host, r.https_redirect)
            })
            .collect()
    }

    #[test]
    fn secrets_become_certificates_with_their_hosts_and_redirects() {
        let (crt, key, cert) = pair("a.test");
        let t = run(
            &[
                secret("a-tls", "kubernetes.io/tls", &crt, &key),
                ingress(
                    "a",
                    1,
                    &["a.test", "x.wild.test", "plain.test"],
                    &[(Some("a-tls"), &["a.test", "*.wild.test"])],
                    &[],
                ),
            ],
            &CertMemory::default(),
        );
        assert_eq!(problems(&t), Vec::<String>::new());
        assert_eq!(sni(&t), ["shop_a-tls.pem *.wild.test a.test"]);
        let bind = t.config.frontends[0].tls.as_ref().expect("an HTTPS bind");
        assert_eq!(bind.binds, ["127.0.0.1:8443".parse().unwrap()]);
        let files: Vec<&str> = t.config.tls.certs.keys().map(|f| f.as_str()).collect();
        assert_eq!(
            files,
            [
                "/etc/haproxy/certs/default.pem",
                "/etc/haproxy/certs/shop_a-tls.pem"
            ]
        );
        assert_eq!(
            t.config.tls.certs[&FilePath::new("/etc/haproxy/certs/shop_a-tls.pem").unwrap()],
            cert
        );
        let mut r = redirects(&t);
        r.sort();
        assert_eq!(
            r,
            [
                ("a.test".to_string(), true),
                ("plain.test".to_string(), false),
                ("x.wild.test".to_string(), true),
            ]
        );
        assert!(t.config.problems().is_empty(), "{:?}", t.config.problems());
    }

    #[test]
    fn no_tls_no_https_bind_and_no_certificates() {
        let t = run(
            &[ingress("a", 1, &["a.test"], &[], &[])],
            &CertMemory::default(),
        );
        assert!(t.config.frontends[0].tls.is_none());
        assert!(t.config.tls.is_empty());
        assert_eq!(redirects(&t), [("a.test".to_string(), false)]);
    }

    #[test]
    fn redirect_annotations() {
        let (crt, key, _) = pair("a.test");
        let t = run(
            &[
                secret("a-tls", "kubernetes.io/tls", &crt, &key),
                ingress(
                    "off",
                    1,
                    &["a.test"],
                    &[(Some("a-tls"), &["a.test"])],
                    &[("ingress.kubernetes.io/ssl-redirect", "false")],
                ),
                ingress(
                    "forced",
                    2,
                    &["plain.test"],
                    &[],
                    &[("ingress.kubernetes.io/force-ssl-redirect", "true")],
                ),
            ],
            &CertMemory::default(),
        );
        let mut r = redirects(&t);
        r.sort();
        assert_eq!(
            r,
            [
                ("a.test".to_string(), false),
                ("plain.test".to_string(), true)
            ]
        );
    }

    #[test]
    fn bad_secrets_are_problems_and_hosts_keep_what_they_had() {
        let (a_crt, a_key, a) = pair("a.test");
        let (_, b_key, _) = pair("b.test");
        // (name, secret documents, expected piece of the problem)
        let table: &[(&str, Vec<String>, &str)] = &[
            ("missing", vec![], "does not exist"),
            (
                "wrong type",
                vec![secret("s", "Opaque", &a_crt, &a_key)],
                "its type is \"Opaque\"",
            ),
            (
                "no key",
                vec![format!(
                    "apiVersion: v1\nkind: Secret\nmetadata: {{namespace: shop, name: s}}\n\
                     type: kubernetes.io/tls\nstringData:\n  tls.crt: {}\n",
                    quote(&a_crt)
                )],
                "it has no tls.key",
            ),
            (
                "garbage",
                vec![secret("s", "kubernetes.io/tls", "garbage", "garbage")],
                "tls.crt holds no PEM certificate",
            ),
            (
                "key mismatch",
                vec![secret("s", "kubernetes.io/tls", &a_crt, &b_key)],
                "tls.key does not belong to the certificate",
            ),
        ];
        let ing = ingress("a", 1, &["a.test"], &[(Some("s"), &["a.test"])], &[]);
        let path = FilePath::new("/etc/haproxy/certs/shop_s.pem").unwrap();
        let mut memory = CertMemory::default();
        memory.insert(ObjectKey::new("shop", "s"), a.clone());
        for (name, docs, want) in table {
            let mut all = docs.clone();
            all.push(ing.clone());
            for (remembered, fallback) in [
                (
                    CertMemory::default(),
                    "its hosts get the default certificate",
                ),
                (memory.clone(), "its hosts keep the certificate it had"),
            ] {
                let t = run(&all, &remembered);
                let p = problems(&t);
                assert_eq!(p.len(), 1, "{name}: {p:?}");
                assert!(
                    p[0].starts_with("shop/a spec.tls[0].secretName secret shop/s: "),
                    "{name}: {p:?}"
                );
                assert!(
                    p[0].contains(want) && p[0].contains(fallback),
                    "{name}: {p:?}"
                );
                assert!(!p[0].contains("BEGIN"), "{name}: key material in {p:?}");
                // The HTTPS bind stays, and so does the redirect: the host has TLS.
                assert!(t.config.frontends[0].tls.is_some(), "{name}");
                assert_eq!(redirects(&t), [("a.test".to_string(), true)], "{name}");
                if remembered.is_empty() {
                    assert!(sni(&t).is_empty(), "{name}: {:?}", sni(&t));
                    assert!(!t.config.tls.certs.contains_key(&path), "{name}");
                } else {
                    assert_eq!(sni(&t), ["shop_s.pem a.test"], "{name}");
                    assert_eq!(t.config.tls.certs[&path], a, "{name}");
                    assert_eq!(t.certs, remembered, "{name}: the memory carries on");
                }
                assert!(t.config.problems().is_empty(), "{name}");
            }
        }
    }

    #[test]
    fn a_host_claimed_twice_goes_to_the_older_ingress() {
        let (a_crt, a_key, _) = pair("a.test");
        let (b_crt, b_key, _) = pair("b.test");
        let t = run(
            &[
                secret("a-tls", "kubernetes.io/tls", &a_crt, &a_key),
                secret("b-tls", "kubernetes.io/tls", &b_crt, &b_key),
                ingress(
                    "newer",
                    2,
                    &["a.test"],
                    &[(Some("b-tls"), &["a.test", "b.test"])],
                    &[],
                ),
                ingress(
                    "older",
                    1,
                    &["a.test"],
                    &[(Some("a-tls"), &["a.test"])],
                    &[],
                ),
            ],
            &CertMemory::default(),
        );
        assert_eq!(sni(&t), ["shop_a-tls.pem a.test", "shop_b-tls.pem b.test"]);
        let p = problems(&t);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with("shop/newer spec.tls[0].hosts[0] host a.test already has TLS from the older ingress shop/older (secret shop/a-tls)"),
            "{p:?}"
        );
    }

    #[test]
    fn hostile_tls_hosts_and_secret_names_are_problems() {
        let (crt, key, _) = pair("a.test");
        let t = run(
            &[
                secret("a-tls", "kubernetes.io/tls", &crt, &key),
                ingress(
                    "a",
                    1,
                    &["a.test"],
                    &[
                        (
                            Some("a-tls"),
                            &["a.test", "b.test\n[ssl]", "c.test d.test", "!e.test"],
                        ),
                        (Some("../../etc/passwd"), &["f.test"]),
                    ],
                    &[],
                ),
            ],
            &CertMemory::default(),
        );
        assert_eq!(sni(&t), ["shop_a-tls.pem a.test"]);
        let p = problems(&t);
        assert_eq!(p.len(), 4, "{p:?}");
        for (i, field) in [
            "spec.tls[0].hosts[1]",
            "spec.tls[0].hosts[2]",
            "spec.tls[0].hosts[3]",
            "spec.tls[1].secretName",
        ]
        .iter()
        .enumerate()
        {
            assert!(
                p.iter().any(|m| m.starts_with(&format!("shop/a {field} "))),
                "{i} {field}: {p:?}"
            );
        }
        // The bad-secret-name entry's host still has TLS, with the default certificate.
        assert!(
            t.config
                .tls
                .crt_list
                .iter()
                .all(|e| !e.line().contains("passwd"))
        );
    }

    #[test]
    fn default_ssl_certificate_replaces_the_generated_one() {
        let (crt, key, cert) = pair("default.test");
        let docs = [
            secret("default-tls", "kubernetes.io/tls", &crt, &key),
            ingress("a", 1, &["a.test"], &[(None, &["a.test"])], &[]),
        ];
        let mut objects = Vec::new();
        for (i, d) in docs.iter().chain([&WEB.to_string()]).enumerate() {
            objects.extend(parse_manifests(Path::new(&format!("{i}.yaml")), d).unwrap());
        }
        let store = Store::new();
        store.replace_all(objects);
        let default = FilePath::new("/etc/haproxy/certs/default.pem").unwrap();
        let mut s = settings();
        s.default_ssl_certificate = Some(ObjectKey::new("shop", "default-tls"));
        let t = translate_with(&store.snapshot(), &s, &CertMemory::default()).unwrap();
        assert_eq!(t.config.tls.certs[&default], cert);
        assert!(t.problems.is_empty(), "{:?}", t.problems);
        s.default_ssl_certificate = Some(ObjectKey::new("shop", "nope"));
        let t = translate_with(&store.snapshot(), &s, &CertMemory::default()).unwrap();
        assert_eq!(Ok(&t.config.tls.certs[&default]), s.default_cert.get());
        assert_eq!(t.problems.len(), 1, "{:?}", t.problems);
        assert!(
            t.problems[0]
                .message
                .starts_with("--default-ssl-certificate: ")
        );
        // An entry without secretName: its host has TLS on the default certificate.
        assert!(sni(&t).is_empty());
        assert_eq!(redirects(&t), [("a.test".to_string(), true)]);
    }
}
