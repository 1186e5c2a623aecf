//! Certificate transaction replies (`new/set/commit/abort/del ssl cert`) and TLS refusals.

use crate::proto::refusal::Refusal;

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
