//! TLS command replies recorded from the real HAProxy 2.6.12 (haproxy/tests/fixtures/*ssl*,
//! `$PROBE` standing for the probe's temp dir), plus property tests of the TLS parsers.

use proptest::prelude::*;

use super::command::{Command, CrtListEntry, PemPayload};
use super::reply::{Refusal, Reply, ReplyError, normalize, parse_reply};
use super::ssl::{self, CrtListLine, SslCertList, SslCertStatus};
use crate::names::{FilePath, SniFilter};

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("../../tests/fixtures/", $name))
    };
}

/// The body the codec hands over: the non-interactive reply minus its final LF, normalized.
fn body(raw: &[u8]) -> &[u8] {
    normalize(normalize(raw))
}

fn text(raw: &[u8]) -> &str {
    std::str::from_utf8(body(raw)).unwrap()
}

fn file(name: &str) -> FilePath {
    FilePath::new(format!("$PROBE/{name}")).unwrap()
}

fn sni(s: &str) -> SniFilter {
    SniFilter::new(s).unwrap()
}

fn pem() -> PemPayload {
    PemPayload::new("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----").unwrap()
}

fn refusal(r: Result<Reply, ReplyError>) -> Option<Refusal> {
    r.unwrap_err().refusal()
}

/// Checks that `cmd` reads each recorded reply as the refusal beside it.
fn assert_refusals(cmd: &Command, table: &[(&[u8], Refusal)]) {
    for (raw, kind) in table {
        assert_eq!(
            refusal(parse_reply(cmd, body(raw))),
            Some(*kind),
            "{}",
            text(raw)
        );
    }
}

#[test]
fn show_ssl_cert_without_any_certificate_is_an_empty_list() {
    // 2.6.12 without a TLS bind answers `show ssl cert` with nothing at all (seen by the
    // agent's TLS end-to-end test before the HTTPS bind appears).
    let cmd = Command::ShowSslCert(None);
    assert_eq!(
        parse_reply(&cmd, b""),
        Ok(Reply::SslCerts(ssl::SslCertList::default()))
    );
}

#[test]
fn show_ssl_cert_list_recorded() {
    let list = ssl::ssl_cert_list(text(fixture!("show_ssl_cert_list.txt"))).unwrap();
    assert_eq!(
        list.files,
        ["$PROBE/default.pem", "$PROBE/leaf.pem", "$PROBE/site.pem"]
    );
    assert!(list.transactions.is_empty());
    assert!(list.contains("$PROBE/site.pem"));

    let cmd = Command::ShowSslCert(None);
    let Reply::SslCerts(list) =
        parse_reply(&cmd, body(fixture!("show_ssl_cert_transaction.txt"))).unwrap()
    else {
        panic!("not a certificate list")
    };
    assert_eq!(list.transactions, ["$PROBE/newc.pem"]);
    assert_eq!(list.files.len(), 4);
    assert!(list.contains("$PROBE/newc.pem"));
    assert_eq!(
        list.to_text(),
        text(fixture!("show_ssl_cert_transaction.txt"))
    );
}

#[test]
fn show_ssl_cert_detail_recorded() {
    let cmd = Command::ShowSslCert(Some(file("site.pem")));
    let Reply::SslCert(info) =
        parse_reply(&cmd, body(fixture!("show_ssl_cert_detail.txt"))).unwrap()
    else {
        panic!("not certificate details")
    };
    assert_eq!(info.filename, "$PROBE/site.pem");
    assert!(!info.in_transaction);
    assert_eq!(info.status, SslCertStatus::Used);
    assert_eq!(
        info.serial.as_deref(),
        Some("3919F475D8959454C4415DDF98AA8B9265A97A1A")
    );
    assert_eq!(info.not_after.as_deref(), Some("Dec 27 02:26:09 2026 GMT"));
    // `openssl x509 -noout -fingerprint -sha1` of the same file: 22:A9:01:9D:…
    assert_eq!(
        info.sha1.as_deref(),
        Some("22A9019D99AAF11D83F533AA57D8466B8013C866")
    );
    assert_eq!(info.subject.as_deref(), Some("/CN=site.test"));
    assert_eq!(info.dns_names(), ["site.test", "www.site.test"]);
    assert_eq!(info.get("OCSP Response Key"), Some(""));

    let chain = ssl::ssl_cert_info(text(fixture!("show_ssl_cert_chain.txt"))).unwrap();
    assert_eq!(
        chain.subject.as_deref(),
        Some("/CN=leaf.test/O=Probe, Inc.")
    );
    assert_eq!(chain.issuer.as_deref(), Some("/CN=Test CA/O=Probe"));
    assert_eq!(chain.get("Chain Subject"), Some("/CN=Test CA/O=Probe"));
    // The IP SAN prints as nothing on 2.6.12.
    assert_eq!(chain.dns_names(), ["leaf.test", "*.leaf.test"]);

    let empty = ssl::ssl_cert_info(text(fixture!("show_ssl_cert_empty.txt"))).unwrap();
    assert_eq!(empty.status, SslCertStatus::Empty);
    assert_eq!((empty.serial, empty.sha1), (None, None));

    assert_eq!(
        refusal(parse_reply(
            &cmd,
            body(fixture!("show_ssl_cert_unknown.txt"))
        )),
        Some(Refusal::SslCertNotFound)
    );
}

#[test]
fn show_ssl_crt_list_recorded() {
    let cmd = Command::ShowSslCrtList(file("list.txt"));
    let Reply::CrtList(lines) =
        parse_reply(&cmd, body(fixture!("show_ssl_crt_list_after_add.txt"))).unwrap()
    else {
        panic!("not a crt-list")
    };
    assert_eq!(
        lines[0],
        CrtListLine {
            cert: "$PROBE/site.pem".into(),
            line: Some(1),
            // 2.6.12 prints a NUL after the alpn value; it is dropped.
            options: Some("alpn h2,http/1.1 ssl-min-ver TLSv1.2".into()),
            sni: vec!["site.test".into(), "www.site.test".into()],
        }
    );
    assert_eq!(lines[0].to_entry(), None, "a line with options is not ours");
    assert_eq!(
        lines[1].to_entry(),
        Some(CrtListEntry::new(file("newc.pem"), [sni("new.test"), sni("*.new.test")]).unwrap())
    );
    assert_eq!(lines[2].options.as_deref(), Some("alpn h2"));
    assert_eq!(lines[2].line, Some(3));

    let one = ssl::crt_list(text(fixture!("show_ssl_crt_list.txt"))).unwrap();
    assert_eq!(one.len(), 1);
    // A crt-list may be empty when the bind has a `crt` before it.
    assert_eq!(
        ssl::crt_list(text(fixture!("show_ssl_crt_list_empty.txt"))),
        Some(vec![])
    );
    assert_eq!(
        refusal(parse_reply(
            &cmd,
            body(fixture!("show_ssl_crt_list_unknown.txt"))
        )),
        Some(Refusal::CrtListNotFound)
    );
}

#[test]
fn cert_lifecycle_replies_recorded() {
    let new = Command::NewSslCert(file("newc.pem"));
    assert_eq!(
        parse_reply(&new, body(fixture!("new_ssl_cert.txt"))),
        Ok(Reply::SslCertCreated)
    );
    assert_eq!(
        refusal(parse_reply(&new, body(fixture!("new_ssl_cert_exists.txt")))),
        Some(Refusal::SslCertExists)
    );
    let del = Command::DelSslCert(file("newc.pem"));
    assert_eq!(
        parse_reply(&del, body(fixture!("del_ssl_cert.txt"))),
        Ok(Reply::SslCertDeleted)
    );
    assert_eq!(
        refusal(parse_reply(&del, body(fixture!("del_ssl_cert_in_use.txt")))),
        Some(Refusal::SslCertInUse)
    );
    assert_eq!(
        refusal(parse_reply(
            &del,
            body(fixture!("del_ssl_cert_unknown.txt"))
        )),
        Some(Refusal::SslCertNotFound)
    );
    // A success message about another file is not a success.
    let other = Command::DelSslCert(file("other.pem"));
    assert!(parse_reply(&other, body(fixture!("del_ssl_cert.txt"))).is_err());
}

#[test]
fn transaction_replies_recorded() {
    let set = Command::SetSslCert(file("site.pem"), pem());
    for ok in [
        &fixture!("set_ssl_cert_key_mismatch.txt")[..],
        fixture!("set_ssl_cert_updated.txt"),
    ] {
        assert_eq!(parse_reply(&set, body(ok)), Ok(Reply::SslTransaction));
    }
    assert_eq!(
        refusal(parse_reply(
            &set,
            body(fixture!("set_ssl_cert_unknown.txt"))
        )),
        Some(Refusal::SslCertNotFound)
    );
    // `set ssl cert default.pem` while site.pem's transaction is open: 2.6.12 replies that
    // it updated site.pem's transaction.
    let set_default = Command::SetSslCert(file("default.pem"), pem());
    assert_eq!(
        refusal(parse_reply(
            &set_default,
            body(fixture!("set_ssl_cert_other_transaction.txt"))
        )),
        Some(Refusal::SslOtherTransaction)
    );

    let commit = Command::CommitSslCert(file("site.pem"));
    assert_eq!(
        parse_reply(&commit, body(fixture!("commit_ssl_cert_used.txt"))),
        Ok(Reply::SslCommitted)
    );
    assert_eq!(
        refusal(parse_reply(
            &commit,
            body(fixture!("commit_ssl_cert_key_mismatch.txt"))
        )),
        Some(Refusal::SslKeyMismatch)
    );
    assert_eq!(
        refusal(parse_reply(
            &commit,
            body(fixture!("commit_ssl_cert_no_key.txt"))
        )),
        Some(Refusal::SslFailed)
    );
    assert_eq!(
        refusal(parse_reply(
            &commit,
            body(fixture!("commit_ssl_cert_none.txt"))
        )),
        Some(Refusal::SslNoTransaction)
    );
    let commit_new = Command::CommitSslCert(file("newc.pem"));
    assert_eq!(
        parse_reply(&commit_new, body(fixture!("commit_ssl_cert_unused.txt"))),
        Ok(Reply::SslCommitted)
    );
    assert!(parse_reply(&commit_new, body(fixture!("commit_ssl_cert_used.txt"))).is_err());
    let commit_default = Command::CommitSslCert(file("default.pem"));
    assert_eq!(
        refusal(parse_reply(
            &commit_default,
            body(fixture!("commit_ssl_cert_other_transaction.txt"))
        )),
        Some(Refusal::SslOtherTransaction)
    );

    let abort = Command::AbortSslCert(file("site.pem"));
    assert_eq!(
        parse_reply(&abort, body(fixture!("abort_ssl_cert.txt"))),
        Ok(Reply::SslAborted)
    );
    assert_eq!(
        refusal(parse_reply(
            &abort,
            body(fixture!("abort_ssl_cert_none.txt"))
        )),
        Some(Refusal::SslNoTransaction)
    );
    let abort_default = Command::AbortSslCert(file("default.pem"));
    assert_eq!(
        refusal(parse_reply(
            &abort_default,
            body(fixture!("abort_ssl_cert_other_transaction.txt"))
        )),
        Some(Refusal::SslOtherTransaction)
    );
}

#[test]
fn crt_list_edit_replies_recorded() {
    let list = file("list.txt");
    let entry = CrtListEntry::new(file("newc.pem"), [sni("new.test"), sni("*.new.test")]).unwrap();
    let add = Command::AddSslCrtList(list.clone(), entry);
    assert_eq!(
        parse_reply(&add, body(fixture!("add_ssl_crt_list.txt"))),
        Ok(Reply::CrtListEntryAdded)
    );
    // In prompt mode the reply follows one `+ ` prompt per payload line.
    let prompted = [b"+ + ".as_slice(), body(fixture!("add_ssl_crt_list.txt"))].concat();
    assert_eq!(parse_reply(&add, &prompted), Ok(Reply::CrtListEntryAdded));
    let table: &[(&[u8], Refusal)] = &[
        (
            fixture!("add_ssl_crt_list_empty_cert.txt"),
            Refusal::SslCertEmpty,
        ),
        (
            fixture!("add_ssl_crt_list_unknown_list.txt"),
            Refusal::CrtListNotFound,
        ),
        (
            fixture!("add_ssl_crt_list_unknown_cert.txt"),
            Refusal::SslCertNotFound,
        ),
        (
            fixture!("add_ssl_crt_list_multi_line.txt"),
            Refusal::InvalidArgument,
        ),
        (
            fixture!("add_ssl_crt_list_bad_option.txt"),
            Refusal::InvalidArgument,
        ),
    ];
    assert_refusals(&add, table);

    let del = Command::DelSslCrtList(list.clone(), file("newc.pem"));
    assert_eq!(
        parse_reply(&del, body(fixture!("del_ssl_crt_list.txt"))),
        Ok(Reply::CrtListEntryDeleted)
    );
    let table: &[(&[u8], Refusal)] = &[
        (
            fixture!("del_ssl_crt_list_missing.txt"),
            Refusal::CrtListEntryNotFound,
        ),
        (
            fixture!("del_ssl_crt_list_several.txt"),
            Refusal::CrtListAmbiguous,
        ),
        (
            fixture!("del_ssl_crt_list_default.txt"),
            Refusal::CrtListDefaultCert,
        ),
        (
            fixture!("del_ssl_crt_list_unknown_list.txt"),
            Refusal::CrtListNotFound,
        ),
        (
            fixture!("del_ssl_crt_list_unknown_cert.txt"),
            Refusal::SslCertNotFound,
        ),
    ];
    assert_refusals(&del, table);
}

#[test]
fn lock_contention_is_its_own_refusal() {
    let set = Command::SetSslCert(file("a.pem"), pem());
    let locked = b"Can't update the certificate!\nOperations on certificates are currently locked!";
    assert_eq!(refusal(parse_reply(&set, locked)), Some(Refusal::SslLocked));
}

fn tls_commands() -> Vec<Command> {
    let list = file("list.txt");
    let cert = file("a.pem");
    vec![
        Command::SetSslCert(cert.clone(), pem()),
        Command::CommitSslCert(cert.clone()),
        Command::AbortSslCert(cert.clone()),
        Command::NewSslCert(cert.clone()),
        Command::DelSslCert(cert.clone()),
        Command::AddSslCrtList(list.clone(), CrtListEntry::new(cert.clone(), []).unwrap()),
        Command::DelSslCrtList(list.clone(), cert.clone()),
        Command::ShowSslCert(None),
        Command::ShowSslCert(Some(cert)),
        Command::ShowSslCrtList(list),
    ]
}

fn arb_path() -> impl Strategy<Value = String> {
    "/[a-zA-Z0-9_.$/-]{1,30}"
}

prop_compose! {
    fn arb_crt_list_line()(
        cert in arb_path(),
        line in proptest::option::of(1u32..100_000),
        options in proptest::option::of("[a-z0-9-]{1,8}( [a-z0-9,./-]{1,12}){0,3}"),
        sni in proptest::collection::vec("!?(\\*\\.)?[a-z0-9-]{1,10}(\\.[a-z0-9-]{1,10}){0,3}", 0..5),
    ) -> CrtListLine {
        CrtListLine { cert, line, options, sni }
    }
}

proptest! {
    #[test]
    fn crt_list_lines_round_trip(
        list in arb_path(),
        lines in proptest::collection::vec(arb_crt_list_line(), 0..10),
    ) {
        let mut text = format!("# {list}");
        for l in &lines {
            text.push('\n');
            text.push_str(&l.to_row());
        }
        prop_assert_eq!(ssl::crt_list(&text), Some(lines));
    }

    #[test]
    fn crt_list_entries_round_trip(
        cert in arb_path(),
        names in proptest::collection::vec("(\\*\\.)?[a-zA-Z0-9-]{1,10}(\\.[a-zA-Z0-9-]{1,10}){0,3}", 0..6),
    ) {
        let entry = CrtListEntry::new(
            FilePath::new(cert).unwrap(),
            names.iter().map(|n| SniFilter::new(n.as_str()).unwrap()),
        ).unwrap();
        let text = format!("# /l\n{}", entry.line());
        let lines = ssl::crt_list(&text).unwrap();
        prop_assert_eq!(lines.len(), 1);
        prop_assert_eq!(lines[0].to_entry(), Some(entry));
    }

    #[test]
    fn cert_lists_round_trip(
        files in proptest::collection::vec(arb_path(), 0..10),
        transactions in proptest::collection::vec(arb_path(), 0..2),
    ) {
        let list = SslCertList { files, transactions };
        prop_assert_eq!(ssl::ssl_cert_list(&list.to_text()), Some(list));
    }

    #[test]
    fn cert_info_fields_round_trip(
        name in arb_path(),
        star in any::<bool>(),
        status in "[A-Z][a-z]{2,10}",
        sha1 in "[0-9A-F]{40}",
        extra in proptest::collection::vec(("[A-Za-z][A-Za-z0-9 ]{0,15}", "[ -~]{0,30}"), 0..6),
    ) {
        let star = if star { "*" } else { "" };
        let mut text = format!("Filename: {star}{name}\nStatus: {status}\nSHA1 FingerPrint: {sha1}");
        for (k, v) in &extra {
            text.push_str(&format!("\n{k}: {v}"));
        }
        let info = ssl::ssl_cert_info(&text).unwrap();
        prop_assert_eq!(info.filename, name);
        prop_assert_eq!(info.in_transaction, !star.is_empty());
        prop_assert_eq!(info.sha1.as_deref(), Some(sha1.as_str()));
        prop_assert_eq!(info.fields.len(), 3 + extra.len());
    }

    #[test]
    fn sni_filters_never_panic_and_stay_canonical(input in "\\PC{0,80}") {
        if let Ok(f) = SniFilter::new(input.as_str()) {
            prop_assert_eq!(SniFilter::new(f.as_str()), Ok(f.clone()));
            prop_assert!(f.as_str().bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.*".contains(&b)));
        }
    }

    #[test]
    fn tls_parsers_never_panic(input in proptest::collection::vec(any::<u8>(), 0..400)) {
        for cmd in tls_commands() {
            let _ = parse_reply(&cmd, &input);
        }
        let s = String::from_utf8_lossy(&input);
        let _ = ssl::ssl_cert_list(&s);
        let _ = ssl::ssl_cert_info(&s);
        let _ = ssl::crt_list(&s);
        let _ = ssl::classify(&s);
    }

    #[test]
    fn tls_replies_like_text_parse_only_to_their_shape(input in "[0-9a-zA-Z #:*/'.!\\[\\]\n-]{0,300}") {
        for cmd in tls_commands() {
            if let Ok(reply) = parse_reply(&cmd, input.as_bytes()) {
                let shape_ok = match (&cmd, &reply) {
                    (Command::ShowSslCert(None), Reply::SslCerts(_))
                    | (Command::ShowSslCert(Some(_)), Reply::SslCert(_))
                    | (Command::ShowSslCrtList(_), Reply::CrtList(_)) => true,
                    (_, r) => !matches!(r, Reply::Done),
                };
                prop_assert!(shape_ok, "{cmd:?} gave {reply:?}");
            }
        }
    }
}
