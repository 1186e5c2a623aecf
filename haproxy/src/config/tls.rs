//! TLS in the config model: the HTTPS binds of a frontend, the certificate files (chain and
//! key in one PEM, written mode 0600), the crt-list that gives each certificate its SNI
//! names, and the runtime commands that move a running HAProxy from the certificates it has
//! to the ones wanted, without a reload.
//!
//! Layout under the config directory: `certs/default.pem` (the certificate for clients whose
//! SNI matches nothing), `certs/<namespace>_<secret>.pem` (one per Secret in use; neither a
//! namespace nor a Secret name can hold `_`, so names never collide), `certs/crt-list.txt`.
//!
//! Client certificates: a crt-list line may carry `verify … ca-file … [crl-file …]` for its
//! names; the CA bundles and revocation lists are `certs/<namespace>_<secret>.<digest>.
//! client-ca.pem` / `.client-crl.pem` (the digest of the contents in the name: a renewed CA
//! is a new store and the lines naming it are replaced, all at runtime).
//!
//! Only the bind line is structure (a reload): certificate contents, CA and CRL stores and
//! crt-list lines change at runtime (`new/set/commit/del ssl cert|ca-file|crl-file`,
//! `add/del ssl crt-list`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;

use crate::names::{FilePath, SniFilter};
use crate::proto::command::{CaStore, Command, CrtListEntry, PemPayload};

use super::value::{ConfigPath, InvalidValue};

/// The directory under the config directory that holds certificates and the crt-list.
pub const CERTS_DIR: &str = "certs";

/// SHA-1 of a certificate's DER encoding in upper-case hex, as `show ssl cert <file>`
/// prints it ("SHA1 FingerPrint").
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CertFingerprint(String);

impl CertFingerprint {
    /// Validates 40 hex digits (either case; kept upper case).
    pub fn new(s: &str) -> Result<Self, InvalidValue> {
        if s.len() != 40 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(InvalidValue::new(
                "certificate fingerprint",
                s,
                "it is not 40 hex digits",
            ));
        }
        Ok(Self(s.to_ascii_uppercase()))
    }

    /// The fingerprint as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CertFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One certificate file: the PEM HAProxy loads (leaf first, then its chain, then the key)
/// and the fingerprint of its leaf, to compare with what HAProxy has loaded.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TlsCert {
    /// Certificate chain and key, checked and re-encoded by whoever built it.
    pub pem: PemPayload,
    /// The leaf certificate's fingerprint.
    pub fingerprint: CertFingerprint,
}

/// The HTTPS binds of a frontend: `bind <addr> ssl crt <default> crt-list <list>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TlsBind {
    /// Listening addresses (rendered sorted, without duplicates).
    pub binds: Vec<SocketAddr>,
    /// The certificate served when no crt-list line matches the client's SNI.
    pub default_cert: ConfigPath,
    /// The crt-list file.
    pub crt_list: ConfigPath,
}

impl TlsBind {
    /// The directory of the crt-list, where the agent's certificate files live.
    pub fn certs_dir(&self) -> &Path {
        Path::new(self.crt_list.as_str())
            .parent()
            .unwrap_or(Path::new("/"))
    }

    /// Binds on `binds` with `<dir>/certs/default.pem` and `<dir>/certs/crt-list.txt`.
    pub fn in_dir(dir: &Path, binds: Vec<SocketAddr>) -> Result<Self, InvalidValue> {
        Ok(Self {
            binds,
            default_cert: default_cert_path(dir)?,
            crt_list: ConfigPath::from_path(&dir.join(CERTS_DIR).join("crt-list.txt"))?,
        })
    }
}

/// `<dir>/certs/default.pem`.
pub fn default_cert_path(dir: &Path) -> Result<ConfigPath, InvalidValue> {
    ConfigPath::from_path(&dir.join(CERTS_DIR).join("default.pem"))
}

/// `<dir>/certs/<namespace>_<name>.pem`: the file of a Secret's certificate.
pub fn secret_cert_path(
    dir: &Path,
    namespace: &str,
    name: &str,
) -> Result<ConfigPath, InvalidValue> {
    ConfigPath::from_path(&dir.join(CERTS_DIR).join(format!("{namespace}_{name}.pem")))
}

/// The name ending of a client-certificate CA bundle (`ca-file` of crt-list lines).
pub const CLIENT_CA_SUFFIX: &str = ".client-ca.pem";

/// The name ending of a client-certificate revocation list (`crl-file`).
pub const CLIENT_CRL_SUFFIX: &str = ".client-crl.pem";

/// The certificates and crt-list lines of a config: what may change without a reload.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsFiles {
    /// Every certificate file, the default one included, by path.
    pub certs: BTreeMap<FilePath, TlsCert>,
    /// The crt-list lines: one per certificate and client-certificate setting.
    pub crt_list: Vec<CrtListEntry>,
    /// The CA bundles and revocation lists the lines name (checked PEM), by path.
    pub ca_files: BTreeMap<FilePath, (CaStore, PemPayload)>,
    /// Names of `verify optional` lines whose clients' certificates are not held to the CA
    /// (auth-tls-verify-client `optional_no_ca`): a certificate that fails verification
    /// reaches their routes, said so in `ssl-client-verify` (see [`super::client_cert`]).
    pub no_ca: BTreeSet<SniFilter>,
}

impl TlsFiles {
    /// True when the crt-list lines hold client certificates to two or more CAs (or CRLs):
    /// TLS session resumption is then turned off on the shared HTTPS bind (`no-tls-tickets`
    /// and `tune.ssl.cachesize 0`), because HAProxy 2.6 resumes a TLS 1.3 session verified
    /// for one name's CA under another name's SNI with `ssl_c_verify` 0 (measured on
    /// 2.6.12), which would let a client of one CA into a host that trusts another.
    pub fn resumption_off(&self) -> bool {
        let mut stores = self
            .crt_list
            .iter()
            .filter_map(|e| e.auth.as_ref())
            .map(|a| (&a.ca_file, &a.crl_file));
        let Some(first) = stores.next() else {
            return false;
        };
        stores.any(|other| other != first)
    }

    /// True when there is nothing to serve over TLS.
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
            && self.crt_list.is_empty()
            && self.ca_files.is_empty()
            && self.no_ca.is_empty()
    }
}

/// The kind of a client-certificate store the agent names (by its suffix), if it is one.
pub fn client_store_kind(file: &FilePath) -> Option<CaStore> {
    let f = file.as_str();
    if f.ends_with(CLIENT_CA_SUFFIX) {
        Some(CaStore::CaFile)
    } else if f.ends_with(CLIENT_CRL_SUFFIX) {
        Some(CaStore::CrlFile)
    } else {
        None
    }
}

/// The crt-list file text: one line per entry, in the given order.
pub fn render_crt_list(entries: &[CrtListEntry]) -> String {
    let mut out = String::new();
    for e in entries {
        out.push_str(&e.line());
        out.push('\n');
    }
    out
}

/// What a running HAProxy has, as observed over the runtime API.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LiveTls {
    /// Loaded certificate files and the fingerprint of each (`None` when unknown, e.g. an
    /// empty certificate made by `new ssl cert` and never committed).
    pub certs: BTreeMap<FilePath, Option<CertFingerprint>>,
    /// Files with an open (uncommitted) transaction: 2.6 keeps one open after a refused
    /// commit, and a `set ssl cert` of another file would then land in it.
    pub transactions: BTreeSet<FilePath>,
    /// The lines of the crt-list.
    pub crt_list: Vec<LiveCrtLine>,
    /// The `ca-file` and `crl-file` stores loaded.
    pub ca_files: BTreeMap<FilePath, CaStore>,
    /// Stores with an open `set ssl ca-file|crl-file` transaction.
    pub ca_transactions: BTreeMap<FilePath, CaStore>,
}

/// One live crt-list line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveCrtLine {
    /// Its certificate file.
    pub cert: FilePath,
    /// Its line number (`show ssl crt-list -n`).
    pub line: Option<u32>,
    /// The line as an entry the agent writes; `None` when it has SSL options or names the
    /// agent would not write (someone else added it).
    pub entry: Option<CrtListEntry>,
}

/// The runtime commands that turn `live` into `want` for the crt-list `crt_list`:
///
/// 0. open transactions are aborted;
/// 1. certificates: `new ssl cert` for a file HAProxy lacks, then `set ssl cert` + `commit
///    ssl cert` for every file whose fingerprint differs (rotation); CA and CRL stores
///    HAProxy lacks: `new` + `set` + `commit ssl ca-file|crl-file` (their names carry a
///    digest of their contents, so one that exists is up to date);
/// 2. crt-list lines: a live line equal to a wanted one stays; any other is deleted (by
///    line number when its certificate has several lines) and the wanted lines missing are
///    added (2.6 cannot edit a line: changed names or options are a delete and an add);
/// 3. certificates no longer used by any line nor by the bind (`keep`, the default one),
///    and client-certificate stores no longer named, are deleted, after their lines.
///
/// Certificates in `live` outside `certs_dir` are left alone, and so are CA files that are
/// not client-certificate stores (a backend's `ca-file`).
pub fn tls_commands(
    crt_list: &FilePath,
    certs_dir: &Path,
    keep: &BTreeSet<FilePath>,
    live: &LiveTls,
    want: &TlsFiles,
) -> Vec<Command> {
    let mut out: Vec<Command> = live
        .transactions
        .iter()
        .map(|f| Command::AbortSslCert(f.clone()))
        .collect();
    for (file, kind) in &live.ca_transactions {
        out.push(Command::AbortSslCa(*kind, file.clone()));
    }
    for (file, (kind, pem)) in &want.ca_files {
        if !live.ca_files.contains_key(file) {
            out.push(Command::NewSslCa(*kind, file.clone()));
            out.push(Command::SetSslCa(*kind, file.clone(), pem.clone()));
            out.push(Command::CommitSslCa(*kind, file.clone()));
        }
    }
    for (file, cert) in &want.certs {
        match live.certs.get(file) {
            Some(Some(have)) if *have == cert.fingerprint => continue,
            Some(_) => {}
            None => out.push(Command::NewSslCert(file.clone())),
        }
        out.push(Command::SetSslCert(file.clone(), cert.pem.clone()));
        out.push(Command::CommitSslCert(file.clone()));
    }

    out.extend(crt_list_commands(crt_list, &live.crt_list, &want.crt_list));
    for file in live.certs.keys() {
        let ours = Path::new(file.as_str()).starts_with(certs_dir);
        if ours && !want.certs.contains_key(file) && !keep.contains(file) {
            out.push(Command::DelSslCert(file.clone()));
        }
    }
    for (file, kind) in &live.ca_files {
        let ours = Path::new(file.as_str()).starts_with(certs_dir);
        if ours && client_store_kind(file) == Some(*kind) && !want.ca_files.contains_key(file) {
            out.push(Command::DelSslCa(*kind, file.clone()));
        }
    }
    out
}

/// The deletions, then the additions, that turn the `live` lines into the `want` ones.
fn crt_list_commands(
    crt_list: &FilePath,
    live: &[LiveCrtLine],
    want: &[CrtListEntry],
) -> Vec<Command> {
    let mut missing: Vec<&CrtListEntry> = want.iter().collect();
    let mut per_cert: BTreeMap<&FilePath, usize> = BTreeMap::new();
    for l in live {
        *per_cert.entry(&l.cert).or_default() += 1;
    }
    let mut dels = Vec::new();
    for l in live {
        let kept = l
            .entry
            .as_ref()
            .and_then(|e| missing.iter().position(|w| *w == e));
        if let Some(i) = kept {
            missing.remove(i);
            continue;
        }
        match (per_cert[&l.cert], l.line) {
            (1, _) => dels.push(Command::DelSslCrtList(crt_list.clone(), l.cert.clone())),
            (_, Some(n)) => dels.push(Command::DelSslCrtListLine(
                crt_list.clone(),
                l.cert.clone(),
                n,
            )),
            (_, None) => {}
        }
    }
    dels.extend(
        missing
            .into_iter()
            .map(|e| Command::AddSslCrtList(crt_list.clone(), e.clone())),
    );
    dels
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str = "/etc/haproxy/certs/crt-list.txt";

    /// A file in the certificates directory, or elsewhere when `name` is absolute.
    fn f(name: &str) -> FilePath {
        if name.starts_with('/') {
            return FilePath::new(name).unwrap();
        }
        FilePath::new(format!("/etc/haproxy/certs/{name}")).unwrap()
    }

    fn cert(n: char) -> TlsCert {
        TlsCert {
            pem: PemPayload::new(format!(
                "-----BEGIN CERTIFICATE-----\n{n}\n-----END CERTIFICATE-----"
            ))
            .unwrap(),
            fingerprint: CertFingerprint::new(&n.to_string().repeat(40)).unwrap(),
        }
    }

    fn entry(name: &str, sni: &[&str]) -> CrtListEntry {
        CrtListEntry::new(f(name), sni.iter().map(|s| SniFilter::new(*s).unwrap())).unwrap()
    }

    fn line(name: &str, n: u32, sni: &[&str]) -> LiveCrtLine {
        LiveCrtLine {
            cert: f(name),
            line: Some(n),
            entry: Some(entry(name, sni)),
        }
    }

    fn texts(cmds: &[Command]) -> Vec<String> {
        cmds.iter()
            .map(|c| {
                let t = c.to_text().unwrap();
                let first = t.lines().next().unwrap_or_default().to_string();
                // Payload commands: the first line and the payload's first line.
                match (c, t.lines().nth(1)) {
                    (Command::AddSslCrtList(..), Some(p)) => format!("{first} {p}"),
                    _ => first,
                }
                .replace("/etc/haproxy/certs/", "")
            })
            .collect()
    }

    #[test]
    fn tls_commands_table() {
        let want = |certs: &[(&str, char)], lines: &[CrtListEntry]| TlsFiles {
            certs: certs.iter().map(|(n, c)| (f(n), cert(*c))).collect(),
            crt_list: lines.to_vec(),
            ..TlsFiles::default()
        };
        let live = |certs: &[(&str, Option<char>)], lines: Vec<LiveCrtLine>, tx: &[&str]| LiveTls {
            certs: certs
                .iter()
                .map(|(n, c)| (f(n), c.map(|c| cert(c).fingerprint)))
                .collect(),
            transactions: tx.iter().map(|n| f(n)).collect(),
            crt_list: lines,
            ..LiveTls::default()
        };
        let cases: Vec<(&str, LiveTls, TlsFiles, Vec<&str>)> = vec![
            (
                "converged",
                live(
                    &[("default.pem", Some('D')), ("a.pem", Some('A'))],
                    vec![line("a.pem", 1, &["a.test"])],
                    &[],
                ),
                want(
                    &[("default.pem", 'D'), ("a.pem", 'A')],
                    &[entry("a.pem", &["a.test"])],
                ),
                vec![],
            ),
            (
                "rotation: set and commit, nothing else",
                live(
                    &[("default.pem", Some('D')), ("a.pem", Some('A'))],
                    vec![line("a.pem", 1, &["a.test"])],
                    &[],
                ),
                want(
                    &[("default.pem", 'D'), ("a.pem", 'B')],
                    &[entry("a.pem", &["a.test"])],
                ),
                vec!["set ssl cert a.pem <<", "commit ssl cert a.pem"],
            ),
            (
                "a new host with a new certificate",
                live(&[("default.pem", Some('D'))], vec![], &[]),
                want(
                    &[("default.pem", 'D'), ("b.pem", 'B')],
                    &[entry("b.pem", &["b.test", "*.b.test"])],
                ),
                vec![
                    "new ssl cert b.pem",
                    "set ssl cert b.pem <<",
                    "commit ssl cert b.pem",
                    "add ssl crt-list crt-list.txt << b.pem *.b.test b.test",
                ],
            ),
            (
                "an empty store left by new ssl cert is filled",
                live(&[("default.pem", Some('D')), ("b.pem", None)], vec![], &[]),
                want(
                    &[("default.pem", 'D'), ("b.pem", 'B')],
                    &[entry("b.pem", &["b.test"])],
                ),
                vec![
                    "set ssl cert b.pem <<",
                    "commit ssl cert b.pem",
                    "add ssl crt-list crt-list.txt << b.pem b.test",
                ],
            ),
            (
                "names changed: the line is replaced",
                live(
                    &[("default.pem", Some('D')), ("a.pem", Some('A'))],
                    vec![line("a.pem", 1, &["a.test"])],
                    &[],
                ),
                want(
                    &[("default.pem", 'D'), ("a.pem", 'A')],
                    &[entry("a.pem", &["a.test", "c.test"])],
                ),
                vec![
                    "del ssl crt-list crt-list.txt a.pem",
                    "add ssl crt-list crt-list.txt << a.pem a.test c.test",
                ],
            ),
            (
                "a certificate no longer used: its line, then the certificate; the default stays",
                live(
                    &[
                        ("default.pem", Some('D')),
                        ("a.pem", Some('A')),
                        ("/other/x.pem", Some('E')),
                    ],
                    vec![line("a.pem", 4, &["a.test"])],
                    &[],
                ),
                want(&[("default.pem", 'D')], &[]),
                vec!["del ssl crt-list crt-list.txt a.pem", "del ssl cert a.pem"],
            ),
            (
                "of duplicate lines the first stays, the others are deleted by number",
                live(
                    &[("default.pem", Some('D')), ("a.pem", Some('A'))],
                    vec![line("a.pem", 2, &["a.test"]), line("a.pem", 5, &["a.test"])],
                    &[],
                ),
                want(
                    &[("default.pem", 'D'), ("a.pem", 'A')],
                    &[entry("a.pem", &["a.test"])],
                ),
                vec!["del ssl crt-list crt-list.txt a.pem:5"],
            ),
            (
                "an open transaction is aborted first",
                live(
                    &[("default.pem", Some('D')), ("a.pem", Some('A'))],
                    vec![line("a.pem", 1, &["a.test"])],
                    &["a.pem"],
                ),
                want(
                    &[("default.pem", 'D'), ("a.pem", 'A')],
                    &[entry("a.pem", &["a.test"])],
                ),
                vec!["abort ssl cert a.pem"],
            ),
        ];
        let keep = BTreeSet::from([f("default.pem")]);
        for (name, live, want, expected) in cases {
            let got = tls_commands(
                &FilePath::new(LIST).unwrap(),
                Path::new("/etc/haproxy/certs"),
                &keep,
                &live,
                &want,
            );
            assert_eq!(texts(&got), expected, "{name}");
        }
    }

    #[test]
    fn foreign_lines_are_replaced() {
        let live = LiveTls {
            certs: BTreeMap::from([(f("a.pem"), Some(cert('A').fingerprint))]),
            transactions: BTreeSet::new(),
            crt_list: vec![LiveCrtLine {
                cert: f("a.pem"),
                line: Some(1),
                entry: None,
            }],
            ..LiveTls::default()
        };
        let want = TlsFiles {
            certs: BTreeMap::from([(f("a.pem"), cert('A'))]),
            crt_list: vec![entry("a.pem", &["a.test"])],
            ..TlsFiles::default()
        };
        let got = tls_commands(
            &FilePath::new(LIST).unwrap(),
            Path::new("/etc/haproxy/certs"),
            &BTreeSet::new(),
            &live,
            &want,
        );
        assert_eq!(
            texts(&got),
            [
                "del ssl crt-list crt-list.txt a.pem",
                "add ssl crt-list crt-list.txt << a.pem a.test"
            ]
        );
    }

    #[test]
    fn resumption_is_off_only_while_client_certificates_are_held_to_two_stores() {
        use crate::proto::command::{ClientAuth, ClientVerify};
        let auth = |ca: &str, crl: Option<&str>, verify| ClientAuth {
            verify,
            ca_file: f(ca),
            crl_file: crl.map(f),
        };
        let files = |lines: Vec<CrtListEntry>| TlsFiles {
            crt_list: lines,
            ..TlsFiles::default()
        };
        let plain = entry("a.pem", &["a.test"]);
        let on = |host: &str, a: ClientAuth| entry("a.pem", &[host]).with_auth(Some(a));
        let (req, opt) = (ClientVerify::Required, ClientVerify::Optional);
        let cases = [
            ("no line", vec![], false),
            ("no client certificates", vec![plain.clone()], false),
            (
                "one CA",
                vec![plain.clone(), on("m.test", auth("x.ca.pem", None, req))],
                false,
            ),
            (
                "one CA, two verify modes",
                vec![
                    on("m.test", auth("x.ca.pem", None, req)),
                    on("o.test", auth("x.ca.pem", None, opt)),
                ],
                false,
            ),
            (
                "two CAs",
                vec![
                    on("m.test", auth("x.ca.pem", None, req)),
                    on("o.test", auth("y.ca.pem", None, req)),
                ],
                true,
            ),
            (
                "one CA, a CRL on one host only",
                vec![
                    on("m.test", auth("x.ca.pem", Some("x.crl.pem"), req)),
                    on("o.test", auth("x.ca.pem", None, req)),
                ],
                true,
            ),
        ];
        for (name, lines, off) in cases {
            assert_eq!(files(lines).resumption_off(), off, "{name}");
        }
    }

    #[test]
    fn client_certificate_stores_and_lines() {
        use crate::proto::command::{ClientAuth, ClientVerify};
        let ca = |n: &str| f(&format!("ns_ca.{n}{CLIENT_CA_SUFFIX}"));
        let auth = |n: &str, verify| ClientAuth {
            verify,
            ca_file: ca(n),
            crl_file: None,
        };
        let mtls = |n: &str, verify| entry("a.pem", &["m.test"]).with_auth(Some(auth(n, verify)));
        let live_with = |mine: CrtListEntry, store: &str| LiveTls {
            certs: BTreeMap::from([(f("a.pem"), Some(cert('A').fingerprint))]),
            crt_list: vec![
                line("a.pem", 1, &["a.test"]),
                LiveCrtLine {
                    cert: f("a.pem"),
                    line: Some(2),
                    entry: Some(mine),
                },
            ],
            ca_files: BTreeMap::from([
                (ca(store), CaStore::CaFile),
                (f("ns_be.1.ca.pem"), CaStore::CaFile),
            ]),
            ..LiveTls::default()
        };
        let want_with = |mine: CrtListEntry, store: &str| TlsFiles {
            certs: BTreeMap::from([(f("a.pem"), cert('A'))]),
            crt_list: vec![entry("a.pem", &["a.test"]), mine],
            ca_files: BTreeMap::from([(ca(store), (CaStore::CaFile, cert('C').pem))]),
            ..TlsFiles::default()
        };
        let run = |live: &LiveTls, want: &TlsFiles| {
            texts(&tls_commands(
                &FilePath::new(LIST).unwrap(),
                Path::new("/etc/haproxy/certs"),
                &BTreeSet::new(),
                live,
                want,
            ))
        };
        let required = ClientVerify::Required;
        let converged = live_with(mtls("1", required), "1");
        assert_eq!(
            run(&converged, &want_with(mtls("1", required), "1")),
            Vec::<String>::new()
        );
        let mut fresh = converged.clone();
        fresh.crt_list.pop();
        fresh.ca_files.remove(&ca("1"));
        assert_eq!(
            run(&fresh, &want_with(mtls("1", required), "1")),
            [
                "new ssl ca-file ns_ca.1.client-ca.pem",
                "set ssl ca-file ns_ca.1.client-ca.pem <<",
                "commit ssl ca-file ns_ca.1.client-ca.pem",
                "add ssl crt-list crt-list.txt << a.pem [verify required ca-file \
                 ns_ca.1.client-ca.pem] m.test",
            ],
            "a host of a certificate asks for client certificates"
        );
        assert_eq!(
            run(&converged, &want_with(mtls("2", required), "2")),
            [
                "new ssl ca-file ns_ca.2.client-ca.pem",
                "set ssl ca-file ns_ca.2.client-ca.pem <<",
                "commit ssl ca-file ns_ca.2.client-ca.pem",
                "del ssl crt-list crt-list.txt a.pem:2",
                "add ssl crt-list crt-list.txt << a.pem [verify required ca-file \
                 ns_ca.2.client-ca.pem] m.test",
                "del ssl ca-file ns_ca.1.client-ca.pem",
            ],
            "a renewed CA: a new store, the line replaced, the old store dropped; a backend's \
             CA file is left alone"
        );
        assert_eq!(
            run(
                &converged,
                &want_with(mtls("1", ClientVerify::Optional), "1")
            ),
            [
                "del ssl crt-list crt-list.txt a.pem:2",
                "add ssl crt-list crt-list.txt << a.pem [verify optional ca-file \
                 ns_ca.1.client-ca.pem] m.test",
            ],
            "verify mode changed"
        );
        let mut open = converged.clone();
        open.ca_transactions.insert(ca("9"), CaStore::CaFile);
        assert_eq!(
            run(&open, &want_with(mtls("1", required), "1")),
            ["abort ssl ca-file ns_ca.9.client-ca.pem"],
            "an open transaction (a refused commit) is aborted first"
        );
    }
}
