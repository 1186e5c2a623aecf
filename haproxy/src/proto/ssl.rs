//! The replies of the TLS certificate commands on 2.6: nom parsers for `show ssl cert` and
//! `show ssl crt-list`, the success messages of `new/set/commit/abort/del ssl cert` and
//! `add/del ssl crt-list`, and the refusals they phrase.
//!
//! Shapes recorded from 2.6.12 (haproxy/tests/fixtures/*ssl*):
//! - `show ssl cert`: `# transaction` (entries prefixed `*`) then `# filename` sections;
//! - `show ssl cert <file>`: `Key: value` lines from `Filename:` and `Status:`;
//! - `show ssl crt-list -n <list>`: `# <list>`, then `<cert>:<line> [<opts>] <sni>...`;
//! - `show ssl ca-file|crl-file`: an optional `# transaction` section (`*<file>`), then
//!   `# filename`, one store a line (`<file> - <n> certificate(s)` for CA files);
//! - progress dots: `Committing <file>` and `Inserting certificate …` print one `.` per
//!   TLS bind they update (none for a certificate no bind uses).

use nom::Parser;
use nom::bytes::complete::{is_not, tag, take_till, take_till1};
use nom::character::complete::char;
use nom::combinator::{all_consuming, opt, rest};
use nom::multi::many0;
use nom::sequence::{delimited, preceded, separated_pair};

use super::command::{CaStore, ClientAuth, CrtListEntry};
use super::refusal::Refusal;
use crate::names::{FilePath, SniFilter};

type Err<'a> = nom::error::Error<&'a str>;

/// Runs a parser on `i` with nom's default error type, keeping only success.
fn run<'a, O>(mut p: impl Parser<&'a str, Output = O, Error = Err<'a>>, i: &'a str) -> Option<O> {
    p.parse(i).ok().map(|(_, o)| o)
}

/// `show ssl cert` without argument: the certificate stores HAProxy holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct SslCertList {
    /// Every store (`# filename`), in HAProxy's order (sorted by path).
    pub files: Vec<String>,
    /// Stores with an uncommitted `set ssl cert` (`# transaction`, without the `*`); 2.6
    /// has at most one.
    pub transactions: Vec<String>,
}

impl SslCertList {
    /// True when HAProxy holds a store for `file`.
    pub fn contains(&self, file: &str) -> bool {
        self.files.iter().any(|f| f == file)
    }

    /// Formats the list as HAProxy prints it.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        if !self.transactions.is_empty() {
            out.push_str("# transaction");
            for t in &self.transactions {
                out.push_str("\n*");
                out.push_str(t);
            }
            out.push('\n');
        }
        out.push_str("# filename");
        for f in &self.files {
            out.push('\n');
            out.push_str(f);
        }
        out
    }
}

/// A whole line: a store's path may hold spaces (a quoted path in the config).
fn path_line(i: &str) -> nom::IResult<&str, &str> {
    take_till1(|c: char| c == '\n').parse(i)
}

/// Parses `show ssl cert`. A process without any certificate (no TLS bind) prints nothing
/// at all: an empty list.
pub fn ssl_cert_list(text: &str) -> Option<SslCertList> {
    if text.trim().is_empty() {
        return Some(SslCertList::default());
    }
    let section = |name: &'static str, star: bool| {
        preceded(
            tag(name),
            many0(preceded(
                char('\n'),
                preceded(
                    if star { tag("*") } else { tag("") },
                    path_line.map(str::to_string),
                ),
            )),
        )
    };
    let (transactions, files) = run(
        all_consuming((
            opt(nom::sequence::terminated(
                section("# transaction", true),
                char('\n'),
            )),
            section("# filename", false),
        )),
        text,
    )?;
    Some(SslCertList {
        files,
        transactions: transactions.unwrap_or_default(),
    })
}

/// The `Status:` of a certificate store.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SslCertStatus {
    /// Made by `new ssl cert`, never committed.
    Empty,
    /// Served by at least one bind.
    Used,
    /// Loaded but served by no bind.
    Unused,
    /// A transaction's content (later versions print this for `show ssl cert *<file>`).
    Uncommitted,
    /// Anything else, as printed.
    Other(String),
}

impl SslCertStatus {
    fn parse(s: &str) -> Self {
        match s {
            "Empty" => Self::Empty,
            "Used" => Self::Used,
            "Unused" => Self::Unused,
            "Uncommitted" => Self::Uncommitted,
            other => Self::Other(other.to_string()),
        }
    }
}

/// `show ssl cert <file>`: one store's details. Text fields are as printed; an empty store
/// has only `filename` and `status`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SslCertInfo {
    /// `Filename:` without the `*` of a transaction.
    pub filename: String,
    /// The details are those of the uncommitted transaction (`Filename: *<file>`).
    pub in_transaction: bool,
    /// `Status:`
    pub status: SslCertStatus,
    /// `Serial:` in upper-case hex, one byte per two digits.
    pub serial: Option<String>,
    /// `notBefore:`, e.g. `Nov 27 02:26:09 2026 GMT`.
    pub not_before: Option<String>,
    /// `notAfter:`
    pub not_after: Option<String>,
    /// `Subject Alternative Name:` as printed (`DNS:a.test, DNS:b.test`).
    pub san: Option<String>,
    /// `Algorithm:`, e.g. `RSA2048`.
    pub algorithm: Option<String>,
    /// `SHA1 FingerPrint:`: SHA-1 of the leaf certificate's DER, 40 upper-case hex digits
    /// (2.6.12 prints exactly the digest of the DER).
    pub sha1: Option<String>,
    /// `Subject:`, e.g. `/CN=a.test`.
    pub subject: Option<String>,
    /// `Issuer:`
    pub issuer: Option<String>,
    /// Every `Key: value` line in order, the ones above included (`Chain Subject`, `OCSP
    /// Response Key` and such are only here).
    pub fields: Vec<(String, String)>,
}

impl SslCertInfo {
    /// The `DNS:` names of the Subject Alternative Name line.
    pub fn dns_names(&self) -> Vec<&str> {
        self.san
            .as_deref()
            .unwrap_or("")
            .split(", ")
            .filter_map(|n| n.trim().strip_prefix("DNS:"))
            .collect()
    }

    /// A field by its key.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn field_line(line: &str) -> Option<(String, String)> {
    let (k, v) = run(
        all_consuming(separated_pair(
            is_not(":\n"),
            nom::branch::alt((tag(": "), tag(":"))),
            rest,
        )),
        line,
    )?;
    Some((k.to_string(), v.to_string()))
}

/// Parses `show ssl cert <file>`.
pub fn ssl_cert_info(text: &str) -> Option<SslCertInfo> {
    let fields: Vec<(String, String)> = text.split('\n').map(field_line).collect::<Option<_>>()?;
    let [(k0, name), (k1, status), ..] = fields.as_slice() else {
        return None;
    };
    if k0 != "Filename" || k1 != "Status" || name.is_empty() {
        return None;
    }
    let (in_transaction, filename) = match name.strip_prefix('*') {
        Some(f) => (true, f.to_string()),
        None => (false, name.clone()),
    };
    let get = |key: &str| {
        fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let sha1 = match get("SHA1 FingerPrint") {
        Some(h) if h.len() == 40 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Some(h.to_ascii_uppercase())
        }
        Some(_) => return None,
        None => None,
    };
    Some(SslCertInfo {
        filename,
        in_transaction,
        status: SslCertStatus::parse(status),
        serial: get("Serial"),
        not_before: get("notBefore"),
        not_after: get("notAfter"),
        san: get("Subject Alternative Name"),
        algorithm: get("Algorithm"),
        sha1,
        subject: get("Subject"),
        issuer: get("Issuer"),
        fields,
    })
}

/// One line of `show ssl crt-list -n <list>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CrtListLine {
    /// The certificate file.
    pub cert: String,
    /// HAProxy's line number (`<cert>:<n>`, printed with `-n`); lines added at runtime
    /// number on from the last one, and numbers of deleted lines are not reused.
    pub line: Option<u32>,
    /// The bracketed SSL options, as printed but without the NUL 2.6.12 prints after an
    /// `alpn` value (`[alpn h2\0]`).
    pub options: Option<String>,
    /// SNI filters as printed (may hold `!` negations HAProxy accepts from files).
    pub sni: Vec<String>,
}

impl CrtListLine {
    /// The line as an entry the agent would write: `None` when it carries SSL options, or a
    /// path or filter the agent's types refuse.
    pub fn to_entry(&self) -> Option<CrtListEntry> {
        let auth = match &self.options {
            None => None,
            Some(o) => Some(ClientAuth::parse(o)?),
        };
        let cert = FilePath::new(self.cert.as_str()).ok()?;
        let sni = self
            .sni
            .iter()
            .map(|s| SniFilter::new(s.as_str()).ok())
            .collect::<Option<Vec<_>>>()?;
        let entry = CrtListEntry::new(cert, sni).ok()?.with_auth(auth);
        // Only filters HAProxy printed in canonical form compare equal to the agent's.
        (entry.sni.len() == self.sni.len()).then_some(entry)
    }

    /// Formats the line as `show ssl crt-list -n` prints it (without the NUL).
    pub fn to_row(&self) -> String {
        let mut s = self.cert.clone();
        if let Some(n) = self.line {
            s.push_str(&format!(":{n}"));
        }
        if let Some(o) = &self.options {
            s.push_str(&format!(" [{o}]"));
        }
        for f in &self.sni {
            s.push(' ');
            s.push_str(f);
        }
        s
    }
}

fn crt_list_line(line: &str) -> Option<CrtListLine> {
    let word = || take_till1(|c: char| c == ' ' || c == '\n');
    let (cert, options, sni) = run(
        all_consuming((
            word(),
            opt(preceded(
                char(' '),
                delimited(char('['), take_till(|c| c == ']' || c == '\n'), char(']')),
            )),
            many0(preceded(char(' '), word())),
        )),
        line,
    )?;
    let (cert, number) = match cert.rsplit_once(':') {
        Some((c, n)) if !c.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
            (c, Some(n.parse().ok()?))
        }
        _ => (cert, None),
    };
    Some(CrtListLine {
        cert: cert.to_string(),
        line: number,
        options: options.map(|o: &str| o.replace('\0', "")),
        sni: sni.into_iter().map(str::to_string).collect(),
    })
}

/// Parses `show ssl crt-list [-n] <list>`: a `# <list>` header, then one line per entry.
pub fn crt_list(text: &str) -> Option<Vec<CrtListLine>> {
    let mut lines = text.split('\n');
    let header = lines.next()?.strip_prefix("# ")?;
    if header.is_empty() {
        return None;
    }
    lines.map(crt_list_line).collect()
}

/// The file a `Transaction created|updated for certificate <file>!` reply names.
pub fn set_cert_file(text: &str) -> Option<&str> {
    let rest = text
        .strip_prefix("Transaction created for certificate ")
        .or_else(|| text.strip_prefix("Transaction updated for certificate "))?;
    rest.strip_suffix('!').filter(|f| !f.contains('\n'))
}

/// `Committing <file>` plus one dot per bind, then `Success!`.
pub fn is_committed(text: &str, file: &str) -> bool {
    let Some((first, "Success!")) = text.split_once('\n') else {
        return false;
    };
    first
        .strip_prefix("Committing ")
        .and_then(|r| r.strip_prefix(file))
        .is_some_and(|dots| dots.bytes().all(|b| b == b'.'))
}

/// `Inserting certificate '<cert>' in crt-list '<list>'` plus one dot per bind, any
/// warnings, then `Success!`.
pub fn is_inserted(text: &str, list: &str, cert: &str) -> bool {
    let list = list.trim_end_matches('/');
    let Some(first) = text.lines().next() else {
        return false;
    };
    let head = format!("Inserting certificate '{cert}' in crt-list '{list}'");
    text.ends_with("\nSuccess!")
        && first
            .strip_prefix(head.as_str())
            .is_some_and(|dots| dots.bytes().all(|b| b == b'.'))
}

/// `show ssl ca-file` or `show ssl crl-file`: the stores of one kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct SslCaList {
    /// Every store, in HAProxy's order (`@system-ca` included when loaded).
    pub files: Vec<String>,
    /// Stores with an uncommitted `set` (without the `*`).
    pub transactions: Vec<String>,
}

/// A store's name on a `show ssl ca-file` line, without ` - <n> certificate(s)`.
fn ca_store_name(line: &str) -> Option<String> {
    let name = match line.rsplit_once(" - ") {
        Some((name, count)) if count.ends_with(" certificate(s)") => name,
        _ => line,
    };
    (!name.is_empty()).then(|| name.to_string())
}

/// Parses `show ssl ca-file` or `show ssl crl-file`.
pub fn ssl_ca_list(text: &str) -> Option<SslCaList> {
    let mut out = SslCaList::default();
    let mut section = None;
    for line in text.split('\n') {
        match line {
            "# transaction" => section = Some(true),
            "# filename" => section = Some(false),
            _ => match (section, line.strip_prefix('*')) {
                (Some(true), Some(name)) => out.transactions.push(ca_store_name(name)?),
                (Some(false), None) => out.files.push(ca_store_name(line)?),
                _ => return None,
            },
        }
    }
    section.is_some().then_some(out)
}

/// The file a `transaction created|updated for CA|CRL <file>!` reply names.
pub fn set_ca_file(kind: CaStore, text: &str) -> Option<&str> {
    let label = kind.label();
    ["created", "updated"].iter().find_map(|w| {
        text.strip_prefix(&format!("transaction {w} for {label} ") as &str)?
            .strip_suffix('!')
            .filter(|f| !f.contains('\n'))
    })
}

/// `new ssl ca-file|crl-file` success.
pub fn new_ca_message(kind: CaStore, file: &str) -> String {
    format!("New {} file created '{file}'!", kind.label())
}

/// `del ssl ca-file|crl-file` success.
pub fn del_ca_message(kind: CaStore, file: &str) -> String {
    format!("{} file '{file}' deleted!", kind.label())
}

/// Exact one-line success messages.
pub fn new_cert_message(file: &str) -> String {
    format!("New empty certificate store '{file}'!")
}

/// `del ssl cert` success.
pub fn del_cert_message(file: &str) -> String {
    format!("Certificate '{file}' deleted!")
}

/// `abort ssl cert` success.
pub fn abort_message(file: &str) -> String {
    format!("Transaction aborted for certificate '{file}'!")
}

/// `del ssl crt-list` success.
pub fn del_crt_list_message(list: &str, cert: &str) -> String {
    format!(
        "Entry '{cert}' deleted in crtlist '{}'!",
        list.trim_end_matches('/')
    )
}

/// Recognises the refusals of the TLS commands.
pub fn classify(text: &str) -> Option<Refusal> {
    if text
        .lines()
        .any(|l| l.starts_with("Operations on certificates are currently locked"))
    {
        return Some(Refusal::SslLocked);
    }
    let first = text.lines().next().unwrap_or("");
    let table: &[(&str, Refusal)] = &[
        ("Can't display the certificate: ", Refusal::SslCertNotFound),
        (
            "Can't replace a certificate which is not referenced",
            Refusal::SslCertNotFound,
        ),
        (
            "didn't find the specified filename",
            Refusal::CrtListNotFound,
        ),
        (
            "inconsistencies between private key and certificate",
            Refusal::SslKeyMismatch,
        ),
        (
            "The ongoing transaction is about '",
            Refusal::SslOtherTransaction,
        ),
        ("No ongoing transaction", Refusal::SslNoTransaction),
        ("unable to load ", Refusal::SslFailed),
        ("The transaction must contain", Refusal::SslFailed),
    ];
    if let Some((_, kind)) = table.iter().find(|(p, _)| first.starts_with(p)) {
        return Some(*kind);
    }
    let exists = ["Certificate '", "CA file '", "CRL file '"];
    if exists.iter().any(|p| first.starts_with(p)) && first.ends_with("' already exists!") {
        return Some(Refusal::SslCertExists);
    }
    if first.starts_with("Can't replace a CA file which is not referenced")
        || first.starts_with("Can't replace a CRL file which is not referenced")
    {
        return Some(Refusal::SslCertNotFound);
    }
    if first == "Invalid payload" {
        return Some(Refusal::SslFailed);
    }
    [
        "Can't remove the certificate: ",
        "Can't remove the CA file: ",
        "Can't remove the CRL file: ",
        "Can't edit the crt-list: ",
        "Can't delete the entry: ",
    ]
    .iter()
    .find_map(|p| first.strip_prefix(p))
    .map(detail)
}

/// The reason after `Can't remove the certificate:`, `Can't edit the crt-list:` or `Can't
/// delete the entry:`.
fn detail(d: &str) -> Refusal {
    let cert = ["certificate '", "CA file '", "CRL file '"]
        .iter()
        .any(|p| d.starts_with(p));
    if d.starts_with("crt-list '") && d.ends_with("' does not exist!") {
        Refusal::CrtListNotFound
    } else if cert && (d.ends_with("' does not exist!") || d.ends_with("' doesn't exist!")) {
        Refusal::SslCertNotFound
    } else if cert && d.ends_with("' is empty!") {
        Refusal::SslCertEmpty
    } else if cert && d.ends_with("' in use, can't be deleted!") {
        Refusal::SslCertInUse
    } else if cert && d.contains("' can't be found in crt-list '") {
        Refusal::CrtListEntryNotFound
    } else if cert && d.contains("' cannot be deleted, it is used as default certificate") {
        Refusal::CrtListDefaultCert
    } else if d.starts_with("found the certificate '") && d.contains("' in several entries") {
        Refusal::CrtListAmbiguous
    } else if d.starts_with("found a certificate '") {
        Refusal::CrtListEntryNotFound
    } else if d.starts_with("only one line of payload") || d.starts_with("parsing [") {
        Refusal::InvalidArgument
    } else {
        Refusal::SslFailed
    }
}
