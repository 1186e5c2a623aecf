//! `show ssl cert`: the certificate stores HAProxy holds, and one store's details.

use nom::Parser;
use nom::bytes::complete::{is_not, tag, take_till1};
use nom::character::complete::char;
use nom::combinator::{all_consuming, opt, rest};
use nom::multi::many0;
use nom::sequence::{preceded, separated_pair};

use super::run;

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
