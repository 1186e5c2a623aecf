//! `ca-file` and `crl-file` command replies recorded from the real HAProxy 2.6.12
//! (haproxy/tests/fixtures/*ssl_ca_file*, *ssl_crl_file*, `$PROBE` standing for the probe's
//! temp dir), and crt-list lines carrying client-certificate options.

use super::command::{CaStore, ClientAuth, ClientVerify, Command, CrtListEntry, PemPayload};
use super::reply::{Refusal, Reply, ReplyError, normalize, parse_reply};
use super::ssl::{self, SslCaList};
use crate::names::{FilePath, SniFilter};

macro_rules! fixture {
    ($name:literal) => {
        normalize(normalize(include_bytes!(concat!(
            "../../tests/fixtures/",
            $name
        ))))
    };
}

fn file(name: &str) -> FilePath {
    FilePath::new(format!("$PROBE/{name}")).unwrap()
}

fn pem() -> PemPayload {
    PemPayload::new("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----").unwrap()
}

fn refusal(r: Result<Reply, ReplyError>) -> Option<Refusal> {
    r.unwrap_err().refusal()
}

#[test]
fn ca_file_lifecycle_recorded() {
    use CaStore::CaFile;
    let f = file("a.ca.pem");
    let ok = |cmd: Command, raw: &[u8]| parse_reply(&cmd, raw).unwrap();
    assert_eq!(
        ok(
            Command::NewSslCa(CaFile, f.clone()),
            fixture!("new_ssl_ca_file.txt")
        ),
        Reply::SslCertCreated
    );
    let set = Command::SetSslCa(CaFile, f.clone(), pem());
    assert_eq!(
        ok(set.clone(), fixture!("set_ssl_ca_file.txt")),
        Reply::SslTransaction
    );
    assert_eq!(
        ok(set.clone(), fixture!("set_ssl_ca_file_again.txt")),
        Reply::SslTransaction
    );
    assert_eq!(
        ok(
            Command::CommitSslCa(CaFile, f.clone()),
            fixture!("commit_ssl_ca_file.txt")
        ),
        Reply::SslCommitted
    );
    let del = Command::DelSslCa(CaFile, file("b.ca.pem"));
    assert_eq!(
        ok(del.clone(), fixture!("del_ssl_ca_file.txt")),
        Reply::SslCertDeleted
    );
    let refusals = [
        (
            Command::NewSslCa(CaFile, f.clone()),
            fixture!("new_ssl_ca_file_exists.txt"),
            Refusal::SslCertExists,
        ),
        (
            set.clone(),
            fixture!("set_ssl_ca_file_bad.txt"),
            Refusal::SslFailed,
        ),
        (
            Command::SetSslCa(CaFile, file("nope.pem"), pem()),
            fixture!("set_ssl_ca_file_unknown.txt"),
            Refusal::SslCertNotFound,
        ),
        (
            Command::CommitSslCa(CaFile, f.clone()),
            fixture!("commit_ssl_ca_file_none.txt"),
            Refusal::SslNoTransaction,
        ),
        (
            Command::DelSslCa(CaFile, f.clone()),
            fixture!("del_ssl_ca_file_in_use.txt"),
            Refusal::SslCertInUse,
        ),
        (
            del,
            fixture!("del_ssl_ca_file_unknown.txt"),
            Refusal::SslCertNotFound,
        ),
        (
            Command::AbortSslCa(CaFile, f.clone()),
            fixture!("abort_ssl_ca_file.txt"),
            Refusal::SslNoTransaction,
        ),
    ];
    for (cmd, raw, want) in refusals {
        assert_eq!(refusal(parse_reply(&cmd, raw)), Some(want), "{cmd:?}");
    }
}

#[test]
fn crl_file_lifecycle_recorded() {
    use CaStore::CrlFile;
    let f = file("a.crl.pem");
    let ok = |cmd: Command, raw: &[u8]| parse_reply(&cmd, raw).unwrap();
    assert_eq!(
        ok(
            Command::NewSslCa(CrlFile, f.clone()),
            fixture!("new_ssl_crl_file.txt")
        ),
        Reply::SslCertCreated
    );
    let set = Command::SetSslCa(CrlFile, f.clone(), pem());
    assert_eq!(
        ok(set.clone(), fixture!("set_ssl_crl_file.txt")),
        Reply::SslTransaction
    );
    // 2.6.12 takes a certificate as a CRL (and commits it as an empty list): the agent
    // checks CRLs with OpenSSL before sending them.
    assert_eq!(
        ok(set.clone(), fixture!("set_ssl_crl_file_not_crl.txt")),
        Reply::SslTransaction
    );
    let commit = Command::CommitSslCa(CrlFile, f.clone());
    assert_eq!(
        ok(commit.clone(), fixture!("commit_ssl_crl_file.txt")),
        Reply::SslCommitted
    );
    assert_eq!(
        ok(commit, fixture!("commit_ssl_crl_file_not_crl.txt")),
        Reply::SslCommitted
    );
    assert_eq!(
        ok(
            Command::DelSslCa(CrlFile, file("b.crl.pem")),
            fixture!("del_ssl_crl_file.txt")
        ),
        Reply::SslCertDeleted
    );
    assert_eq!(
        refusal(parse_reply(&set, fixture!("set_ssl_crl_file_bad.txt"))),
        Some(Refusal::SslFailed)
    );
    assert_eq!(
        refusal(parse_reply(
            &Command::DelSslCa(CrlFile, f),
            fixture!("del_ssl_crl_file_in_use.txt")
        )),
        Some(Refusal::SslCertInUse)
    );
}

#[test]
fn open_transactions_abort_recorded() {
    // 2.6.12 names either store a certificate in this reply; CA and CRL transactions are
    // separate (an open CRL one does not stop a `set ssl ca-file`).
    for (kind, name, raw) in [
        (
            CaStore::CaFile,
            "t.ca.pem",
            fixture!("abort_ssl_ca_file_open.txt"),
        ),
        (
            CaStore::CrlFile,
            "t.crl.pem",
            fixture!("abort_ssl_crl_file_open.txt"),
        ),
    ] {
        let abort = Command::AbortSslCa(kind, file(name));
        assert_eq!(parse_reply(&abort, raw).unwrap(), Reply::SslAborted);
    }
    let set = Command::SetSslCa(CaStore::CaFile, file("t.ca.pem"), pem());
    assert_eq!(
        parse_reply(&set, fixture!("set_ssl_ca_file_other_transaction.txt")).unwrap(),
        Reply::SslTransaction
    );
}

#[test]
fn ca_lists_recorded() {
    let list = |kind, raw: &[u8]| match parse_reply(&Command::ShowSslCa(kind), raw).unwrap() {
        Reply::SslCaFiles(l) => l,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        list(CaStore::CaFile, fixture!("show_ssl_ca_file.txt")),
        SslCaList {
            files: vec!["$PROBE/a.ca.pem".into(), "@system-ca".into()],
            transactions: vec![],
        }
    );
    assert_eq!(
        list(
            CaStore::CaFile,
            fixture!("show_ssl_ca_file_transaction.txt")
        ),
        SslCaList {
            files: vec!["$PROBE/a.ca.pem".into(), "@system-ca".into()],
            transactions: vec!["$PROBE/a.ca.pem".into()],
        }
    );
    assert_eq!(
        list(CaStore::CrlFile, fixture!("show_ssl_crl_file.txt")).files,
        ["$PROBE/a.crl.pem"]
    );
    assert_eq!(ssl::ssl_ca_list("nonsense"), None);
}

#[test]
fn client_auth_lines_recorded() {
    let list = file("crt-list.txt");
    let required = ClientAuth {
        verify: ClientVerify::Required,
        ca_file: file("a.ca.pem"),
        crl_file: Some(file("a.crl.pem")),
    };
    let entry = CrtListEntry::new(file("d.pem"), [SniFilter::new("mtls.test").unwrap()])
        .unwrap()
        .with_auth(Some(required.clone()));
    let add = Command::AddSslCrtList(list.clone(), entry.clone());
    assert_eq!(
        add.to_text().unwrap(),
        "add ssl crt-list $PROBE/crt-list.txt <<\n$PROBE/d.pem [verify required ca-file \
         $PROBE/a.ca.pem crl-file $PROBE/a.crl.pem] mtls.test\n"
    );
    assert_eq!(
        parse_reply(&add, fixture!("add_ssl_crt_list_client_auth.txt")).unwrap(),
        Reply::CrtListEntryAdded
    );
    let Reply::CrtList(lines) = parse_reply(
        &Command::ShowSslCrtList(list),
        fixture!("show_ssl_crt_list_client_auth.txt"),
    )
    .unwrap() else {
        panic!("not a crt-list")
    };
    assert_eq!(lines[0].to_entry(), Some(entry), "read back as written");
    let optional = lines[1].to_entry().unwrap().auth.unwrap();
    assert_eq!(optional.verify, ClientVerify::Optional);
    assert_eq!(optional.crl_file, None);
    for other in [
        "verify none",
        "verify required ca-file a b",
        "alpn h2 verify required ca-file a",
    ] {
        assert_eq!(ClientAuth::parse(other), None, "{other}");
    }
    let forged = ClientAuth {
        ca_file: FilePath::new("/x]/ca.pem").unwrap(),
        ..required
    };
    let bad = CrtListEntry::new(file("d.pem"), [])
        .unwrap()
        .with_auth(Some(forged));
    assert!(Command::AddSslCrtList(file("l"), bad).to_text().is_err());
}
