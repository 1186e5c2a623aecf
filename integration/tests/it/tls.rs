//! TLS certificates changed at runtime on a real HAProxy: rotation with `set`+`commit ssl
//! cert`, a brand-new certificate brought online with `new ssl cert` + `add ssl crt-list`
//! and removed again, a mismatched key refused, and which certificate a bind serves by
//! default. Each check looks at the certificate a TLS client is actually presented.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::bail;
use haproxy::names::SniFilter;
use haproxy::proto::{
    Command, CrtListEntry, PemPayload, Refusal, Reply, ReplyError, SslCertInfo, SslCertList,
    SslCertStatus,
};
use haproxy::{FilePath, RuntimeClient};
use integration::tls::{PeerCert, TestCert, https_get, tls_peer_cert};
use integration::{HaproxyProcess, free_port, haproxy_binary, wait_for};
use tempfile::TempDir;

const DEADLINE: Duration = Duration::from_secs(5);

/// HAProxy with one TLS bind, `crt <certs>/default.pem crt-list <certs>/crt-list.txt`, that
/// answers every request with `sni=<the SNI it got>`. The certificates live in a temp dir of
/// their own so that the crt-list can name them by absolute path before HAProxy starts.
struct TlsHaproxy {
    // Dropped first: HAProxy stops before its certificates go.
    hp: HaproxyProcess,
    certs: TempDir,
    addr: SocketAddr,
    client: RuntimeClient,
}

impl TlsHaproxy {
    /// Starts with `default` as the bind's `crt` and one crt-list line per `(file, cert,
    /// sni)`; with no lines the crt-list file is empty.
    async fn start(default: &TestCert, lines: &[(&str, &TestCert, &[&str])]) -> Self {
        let certs = tempfile::Builder::new()
            .prefix("certs")
            .tempdir()
            .expect("temp dir for certificates");
        let write = |name: &str, text: &str| {
            std::fs::write(certs.path().join(name), text).expect("write a certificate file");
        };
        write("default.pem", &default.combined_pem());
        let mut list = String::new();
        for (file, cert, sni) in lines {
            write(file, &cert.combined_pem());
            list.push_str(&format!("{} {}\n", path(certs.path(), file), sni.join(" ")));
        }
        write("crt-list.txt", &list);
        let port = free_port();
        let body = format!(
            "frontend fe_tls\n    bind 127.0.0.1:{port} ssl crt {} crt-list {}\n    \
             http-request return status 200 content-type text/plain lf-string \"sni=%[ssl_fc_sni]\"\n",
            path(certs.path(), "default.pem"),
            path(certs.path(), "crt-list.txt"),
        );
        let hp = HaproxyProcess::start(&body).await.expect("haproxy starts");
        let client = hp.runtime_client();
        Self {
            hp,
            certs,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            client,
        }
    }

    /// A file in the certificates dir, as HAProxy names its store.
    fn file(&self, name: &str) -> FilePath {
        FilePath::new(path(self.certs.path(), name)).unwrap()
    }

    fn list(&self) -> FilePath {
        self.file("crt-list.txt")
    }

    /// Sends one command; a transport failure fails the test, HAProxy's answer is returned.
    async fn send(&self, command: Command) -> Result<Reply, ReplyError> {
        match self.client.send(command).await {
            Ok(reply) => Ok(reply),
            Err(haproxy::Error::Reply(e)) => Err(e),
            Err(e) => panic!(
                "runtime API transport failed: {e}; haproxy log:\n{}",
                self.hp.log()
            ),
        }
    }

    async fn ok(&self, command: Command) -> Reply {
        let name = command.name();
        self.send(command)
            .await
            .unwrap_or_else(|e| panic!("`{name}` refused: {e}"))
    }

    async fn refusal(&self, command: Command) -> Refusal {
        match self.send(command).await {
            Ok(reply) => panic!("expected a refusal, got {reply:?}"),
            Err(e) => e
                .refusal()
                .unwrap_or_else(|| panic!("expected a typed refusal, got {e}")),
        }
    }

    async fn cert_info(&self, name: &str) -> SslCertInfo {
        match self.ok(Command::ShowSslCert(Some(self.file(name)))).await {
            Reply::SslCert(info) => info,
            other => panic!("show ssl cert gave {other:?}"),
        }
    }

    async fn certs(&self) -> SslCertList {
        match self.ok(Command::ShowSslCert(None)).await {
            Reply::SslCerts(list) => list,
            other => panic!("show ssl cert gave {other:?}"),
        }
    }

    async fn served(&self, sni: &str) -> PeerCert {
        tls_peer_cert(self.addr, Some(sni))
            .await
            .unwrap_or_else(|e| panic!("TLS handshake for {sni}: {e:#}"))
    }

    /// Waits until `sni` is served `want` (changes apply to new handshakes at once; the
    /// deadline only bounds a slow machine).
    async fn wait_served(&self, sni: &str, want: &TestCert) -> PeerCert {
        let what = format!("{sni} is served the certificate {}", want.serial_hex());
        wait_for(&what, DEADLINE, async || {
            let got = tls_peer_cert(self.addr, Some(sni)).await?;
            if got.serial_hex != want.serial_hex() {
                bail!("served {got:?}");
            }
            Ok(got)
        })
        .await
        .unwrap()
    }
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).to_str().expect("UTF-8 temp dir").to_string()
}

fn pem(cert: &TestCert) -> PemPayload {
    PemPayload::new(cert.combined_pem()).unwrap()
}

fn sni(s: &str) -> SniFilter {
    SniFilter::new(s).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_and_commit_rotate_the_certificate_served_for_an_sni() {
    let default = TestCert::self_signed("default.test", &["default.test"]);
    let old = TestCert::self_signed("site.test", &["site.test"]);
    let ca = TestCert::ca("Rotation CA");
    let new = TestCert::signed_by(&ca, "site.test", &["site.test"]);
    let t = TlsHaproxy::start(&default, &[("site.pem", &old, &["site.test"])]).await;

    assert_eq!(t.served("site.test").await.serial_hex, old.serial_hex());
    // `show ssl cert <file>` prints the serial and the SHA-1 of the leaf's DER: the agent
    // can compare what is loaded with what it wants.
    let info = t.cert_info("site.pem").await;
    assert_eq!(info.status, SslCertStatus::Used);
    assert_eq!(info.serial, Some(old.serial_hex()));
    assert_eq!(info.sha1, Some(old.sha1_hex()));

    let set = Command::SetSslCert(t.file("site.pem"), pem(&new));
    assert_eq!(t.ok(set).await, Reply::SslTransaction);
    assert_eq!(
        t.certs().await.transactions,
        [t.file("site.pem").to_string()]
    );
    // Nothing changes before the commit.
    assert_eq!(t.served("site.test").await.serial_hex, old.serial_hex());

    let commit = Command::CommitSslCert(t.file("site.pem"));
    assert_eq!(t.ok(commit).await, Reply::SslCommitted);
    let served = t.wait_served("site.test", &new).await;
    assert_eq!(served.sha1_hex, new.sha1_hex());
    let info = t.cert_info("site.pem").await;
    assert_eq!(info.sha1, Some(new.sha1_hex()));
    assert_eq!(info.get("Chain Subject"), Some("/CN=Rotation CA"));
    assert!(t.certs().await.transactions.is_empty());
    // Other names still get the bind's default certificate.
    assert_eq!(
        t.served("other.test").await.serial_hex,
        default.serial_hex()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_certificate_goes_online_with_add_crt_list_and_off_with_del() {
    let default = TestCert::self_signed("default.test", &["default.test"]);
    let fresh = TestCert::self_signed("new.test", &["new.test", "*.new.test"]);
    // An empty crt-list loads, behind the bind's `crt`.
    let t = TlsHaproxy::start(&default, &[]).await;
    assert_eq!(t.served("new.test").await.serial_hex, default.serial_hex());
    let file = t.file("new.pem");
    let entry = CrtListEntry::new(file.clone(), [sni("new.test"), sni("*.new.test")]).unwrap();
    let add = Command::AddSslCrtList(t.list(), entry.clone());

    assert_eq!(
        t.ok(Command::NewSslCert(file.clone())).await,
        Reply::SslCertCreated
    );
    assert_eq!(
        t.refusal(Command::NewSslCert(file.clone())).await,
        Refusal::SslCertExists
    );
    assert_eq!(t.cert_info("new.pem").await.status, SslCertStatus::Empty);
    assert_eq!(t.refusal(add.clone()).await, Refusal::SslCertEmpty);
    assert_eq!(
        t.ok(Command::SetSslCert(file.clone(), pem(&fresh))).await,
        Reply::SslTransaction
    );
    assert_eq!(
        t.ok(Command::CommitSslCert(file.clone())).await,
        Reply::SslCommitted
    );
    assert_eq!(t.cert_info("new.pem").await.status, SslCertStatus::Unused);

    assert_eq!(t.ok(add).await, Reply::CrtListEntryAdded);
    t.wait_served("new.test", &fresh).await;
    assert_eq!(
        t.served("www.new.test").await.serial_hex,
        fresh.serial_hex(),
        "the wildcard filter matches"
    );
    let (status, _, body) = https_get(t.addr, "new.test", "/").await.unwrap();
    assert_eq!((status, body.as_str()), (200, "sni=new.test"));
    let Reply::CrtList(lines) = t.ok(Command::ShowSslCrtList(t.list())).await else {
        panic!("not a crt-list")
    };
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0].to_entry(), Some(entry));
    assert_eq!(t.cert_info("new.pem").await.status, SslCertStatus::Used);

    // Removal: the line first (the store is in use until then), then the store.
    assert_eq!(
        t.refusal(Command::DelSslCert(file.clone())).await,
        Refusal::SslCertInUse
    );
    let del = Command::DelSslCrtList(t.list(), file.clone());
    assert_eq!(t.ok(del.clone()).await, Reply::CrtListEntryDeleted);
    t.wait_served("new.test", &default).await;
    assert_eq!(t.refusal(del).await, Refusal::CrtListEntryNotFound);
    assert_eq!(
        t.ok(Command::DelSslCert(file.clone())).await,
        Reply::SslCertDeleted
    );
    assert!(!t.certs().await.contains(file.as_str()));
    assert_eq!(
        t.refusal(Command::DelSslCert(file)).await,
        Refusal::SslCertNotFound
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mismatched_key_is_refused_and_the_served_certificate_stays() {
    let default = TestCert::self_signed("default.test", &["default.test"]);
    let site = TestCert::self_signed("site.test", &["site.test"]);
    let t = TlsHaproxy::start(&default, &[("site.pem", &site, &["site.test"])]).await;
    let file = t.file("site.pem");
    let mismatched =
        PemPayload::new(TestCert::mismatched_pem("site.test", &["site.test"])).unwrap();

    // 2.6.12 only parses the payload in `set ssl cert`; the commit checks the key.
    assert_eq!(
        t.ok(Command::SetSslCert(file.clone(), mismatched)).await,
        Reply::SslTransaction
    );
    assert_eq!(
        t.refusal(Command::CommitSslCert(file.clone())).await,
        Refusal::SslKeyMismatch
    );
    assert_eq!(t.served("site.test").await.serial_hex, site.serial_hex());
    // The failed commit leaves the transaction open, and 2.6.12 then puts another file's
    // `set ssl cert` into it: that reply is a refusal, never a success.
    assert_eq!(t.certs().await.transactions, [file.to_string()]);
    let other = Command::SetSslCert(t.file("default.pem"), pem(&default));
    assert_eq!(t.refusal(other).await, Refusal::SslOtherTransaction);
    assert_eq!(
        t.refusal(Command::CommitSslCert(t.file("default.pem")))
            .await,
        Refusal::SslOtherTransaction
    );
    assert_eq!(
        t.ok(Command::AbortSslCert(file.clone())).await,
        Reply::SslAborted
    );
    assert_eq!(
        t.refusal(Command::AbortSslCert(file)).await,
        Refusal::SslNoTransaction
    );
    assert_eq!(t.served("site.test").await.serial_hex, site.serial_hex());
    assert_eq!(t.served("x.test").await.serial_hex, default.serial_hex());
    assert_eq!(
        t.cert_info("default.pem").await.sha1,
        Some(default.sha1_hex())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_certificate_of_a_bind_is_its_default() {
    let default = TestCert::self_signed("default.test", &["default.test"]);
    let first = TestCert::self_signed("first.test", &["first.test"]);
    let certs = tempfile::tempdir().unwrap();
    let p = |name: &str| path(certs.path(), name);
    std::fs::write(p("default.pem"), default.combined_pem()).unwrap();
    std::fs::write(p("first.pem"), first.combined_pem()).unwrap();
    std::fs::write(p("list.txt"), format!("{} first.test\n", p("first.pem"))).unwrap();
    std::fs::write(p("empty.txt"), "").unwrap();

    // An empty crt-list alone gives the bind no certificate: `haproxy -c` refuses it.
    let check = |bind_certs: String| {
        let cfg = format!(
            "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n\
             frontend fe\n    bind 127.0.0.1:{} ssl {bind_certs}\n",
            free_port()
        );
        std::fs::write(p("check.cfg"), cfg).unwrap();
        let out = std::process::Command::new(haproxy_binary())
            .args(["-c", "-f", &p("check.cfg")])
            .output()
            .expect("run haproxy -c");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (valid, log) = check(format!("crt-list {}", p("empty.txt")));
    assert!(
        !valid && log.contains("no SSL certificate specified"),
        "{log}"
    );
    let (valid, log) = check(format!(
        "crt {} crt-list {}",
        p("default.pem"),
        p("empty.txt")
    ));
    assert!(valid, "{log}");

    // With the crt-list before the `crt`, the list's first line is the default.
    let port = free_port();
    let hp = HaproxyProcess::start(&format!(
        "frontend fe\n    bind 127.0.0.1:{port} ssl crt-list {} crt {}\n    \
         http-request return status 200\n",
        p("list.txt"),
        p("default.pem")
    ))
    .await
    .expect("haproxy starts");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let served = |sni: Option<&'static str>| async move {
        tls_peer_cert(addr, sni).await.unwrap().serial_hex
    };
    assert_eq!(served(Some("unknown.test")).await, first.serial_hex());
    assert_eq!(served(None).await, first.serial_hex());
    assert_eq!(served(Some("default.test")).await, default.serial_hex());
    let del = Command::DelSslCrtList(
        FilePath::new(p("list.txt")).unwrap(),
        FilePath::new(p("first.pem")).unwrap(),
    );
    let err = hp.runtime_client().send(del).await.unwrap_err();
    let haproxy::Error::Reply(err) = err else {
        panic!("transport failed: {err}")
    };
    assert_eq!(err.refusal(), Some(Refusal::CrtListDefaultCert), "{err}");
    drop(hp);
}
