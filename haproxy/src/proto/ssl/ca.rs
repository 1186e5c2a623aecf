//! `show ssl ca-file|crl-file`, and the replies of `new/set/del ssl ca-file|crl-file`.

use crate::proto::command::CaStore;

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
