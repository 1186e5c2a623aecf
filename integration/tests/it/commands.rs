//! Every runtime command, sent to a real HAProxy: one tour over servers, health checks,
//! maps, ACLs and TLS certificates that records each command whose reply had its success
//! shape, then fails naming every [`CommandKind`] it never saw. A new `Command` variant gets
//! a kind (the compiler insists) and then this test fails until the tour sends it live.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::bail;
use haproxy::names::{AclPattern, SniFilter};
use haproxy::proto::parse::OpState;
use haproxy::proto::{
    AddServer, AdminState, CaStore, ClientAuth, ClientVerify, Command, CommandKind, CrtListEntry,
    HealthCheck, MapTarget, PemPayload, Refusal, Reply, ReplyError, Weight,
};
use haproxy::{BackendName, FilePath, MapKey, MapValue, RuntimeClient, ServerName, ServerRef};
use integration::tls::{TestCert, tls_peer_cert};
use integration::{EchoServer, HaproxyProcess, free_port, http, wait_for};

const DEADLINE: Duration = Duration::from_secs(10);

/// One HAProxy with an HTTP frontend (a hosts map to pick the backend, a deny ACL file on
/// the client address) and a TLS frontend (`crt default.pem crt-list crt-list.txt`), and
/// the kinds of command that got a successful reply so far.
struct Tour {
    hp: HaproxyProcess,
    client: RuntimeClient,
    http: SocketAddr,
    tls: SocketAddr,
    seen: Mutex<BTreeSet<CommandKind>>,
}

impl Tour {
    async fn start(default: &TestCert) -> Self {
        let (port, tls_port) = (free_port(), free_port());
        let body = format!(
            "frontend fe\n    bind 127.0.0.1:{port}\n    \
             http-request deny deny_status 403 if {{ src -f {{dir}}/deny.acl }}\n    \
             use_backend %[req.hdr(host),lower,map({{dir}}/hosts.map,be_main)]\n\n\
             frontend fe_tls\n    bind 127.0.0.1:{tls_port} ssl crt {{dir}}/default.pem crt-list {{dir}}/crt-list.txt\n    \
             http-request return status 200 content-type text/plain lf-string \"sni=%[ssl_fc_sni]\"\n\n\
             backend be_main\n    balance roundrobin\n\n\
             backend be_checked\n    balance roundrobin\n"
        );
        let files = [
            ("hosts.map", String::new()),
            ("deny.acl", String::new()),
            ("crt-list.txt", String::new()),
            ("default.pem", default.combined_pem()),
        ];
        let files: Vec<(&str, &str)> = files.iter().map(|(n, c)| (*n, c.as_str())).collect();
        let hp = HaproxyProcess::start_with_files(&body, &files)
            .await
            .expect("haproxy starts");
        let client = hp.runtime_client();
        Self {
            hp,
            client,
            http: SocketAddr::from(([127, 0, 0, 1], port)),
            tls: SocketAddr::from(([127, 0, 0, 1], tls_port)),
            seen: Mutex::new(BTreeSet::new()),
        }
    }

    fn file(&self, name: &str) -> FilePath {
        FilePath::from_path(&self.hp.dir.path().join(name)).unwrap()
    }

    async fn send(&self, command: Command) -> Result<Reply, ReplyError> {
        match self.client.send(command).await {
            Ok(reply) => Ok(reply),
            Err(haproxy::Error::Reply(e)) => Err(e),
            Err(e) => panic!("transport failed: {e}; haproxy log:\n{}", self.hp.log()),
        }
    }

    /// Sends `command`, requires success and records its kind.
    async fn ok(&self, command: Command) -> Reply {
        let kind = command.kind();
        let reply = self
            .send(command)
            .await
            .unwrap_or_else(|e| panic!("{kind:?} refused: {e}"));
        self.seen.lock().unwrap().insert(kind);
        reply
    }

    /// Sends `command` and requires a typed refusal (recorded nowhere: not a success).
    async fn refusal(&self, command: Command) -> Refusal {
        match self.send(command).await {
            Ok(reply) => panic!("expected a refusal, got {reply:?}"),
            Err(e) => e
                .refusal()
                .unwrap_or_else(|| panic!("untyped refusal: {e}")),
        }
    }

    async fn state(&self, be: &str, s: &str) -> Option<haproxy::proto::reply::ServerState> {
        let Reply::ServersState(rows) = self
            .ok(Command::ShowServersState(Some(
                BackendName::new(be).unwrap(),
            )))
            .await
        else {
            panic!("show servers state")
        };
        rows.iter().find(|r| r.server == s)
    }

    fn missing(&self) -> Vec<CommandKind> {
        let seen = self.seen.lock().unwrap();
        CommandKind::ALL
            .iter()
            .filter(|k| !seen.contains(k))
            .copied()
            .collect()
    }
}

fn srv(be: &str, s: &str) -> ServerRef {
    ServerRef::new(BackendName::new(be).unwrap(), ServerName::new(s).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_kind_is_sent_to_a_live_haproxy() {
    let default = TestCert::self_signed("default.test", &["default.test"]);
    let t = Tour::start(&default).await;
    read_commands(&t).await;
    server_commands(&t).await;
    health_commands(&t).await;
    map_commands(&t).await;
    acl_commands(&t).await;
    ssl_commands(&t, &default).await;
    ca_commands(&t).await;
    let missing = t.missing();
    assert!(
        missing.is_empty(),
        "command kinds never sent live with a successful reply: {missing:?}"
    );
}

async fn read_commands(t: &Tour) {
    let Reply::Version(v) = t.ok(Command::ShowVersion).await else {
        panic!("show version")
    };
    let Reply::Info(info) = t.ok(Command::ShowInfo).await else {
        panic!("show info")
    };
    assert!(info.iter().any(|f| f.key == "Version" && f.value == v.raw));
    let Reply::Backends(names) = t.ok(Command::ShowBackend).await else {
        panic!("show backend")
    };
    assert!(names.iter().any(|n| n == "be_checked"), "{names:?}");
    let Reply::Stat(rows) = t.ok(Command::ShowStat).await else {
        panic!("show stat")
    };
    assert!(rows.iter().any(|r| r.proxy() == "fe_tls"));
}

async fn server_commands(t: &Tour) {
    let one = EchoServer::start("one").unwrap();
    let two = EchoServer::start("two").unwrap();
    let a = srv("be_main", "a");
    let mut add = AddServer::new(a.clone(), one.addr());
    add.weight = Some(Weight::new(10).unwrap());
    assert_eq!(t.ok(Command::AddServer(add)).await, Reply::ServerAdded);
    let ready = Command::SetServerState(a.clone(), AdminState::Ready);
    assert_eq!(t.ok(ready).await, Reply::Done);
    let got = http::get(t.http, "any.test", "/").await.unwrap();
    assert_eq!(got.echo_name.as_deref(), Some("one"));
    let moved = t.ok(Command::SetServerAddr(a.clone(), two.addr())).await;
    assert!(matches!(moved, Reply::AddrChanged(_)), "{moved:?}");
    let got = http::get(t.http, "any.test", "/").await.unwrap();
    assert_eq!(got.echo_name.as_deref(), Some("two"));
    let weight = Command::SetServerWeight(a.clone(), Weight::new(42).unwrap());
    assert_eq!(t.ok(weight).await, Reply::Done);
    let w = t.ok(Command::GetWeight(a.clone())).await;
    assert!(matches!(w, Reply::Weight(w) if w.current == 42 && w.initial == 10));
    let Reply::Stat(rows) = t
        .ok(Command::ShowStatServers(
            BackendName::new("be_main").unwrap(),
        ))
        .await
    else {
        panic!("show stat be_main")
    };
    assert_eq!(rows.iter().map(|r| r.service()).collect::<Vec<_>>(), ["a"]);
    let Reply::ServersConn(conns) = t
        .ok(Command::ShowServersConn(Some(
            BackendName::new("be_main").unwrap(),
        )))
        .await
    else {
        panic!("show servers conn")
    };
    assert!(conns.iter().any(|c| c.server == "a"), "{conns:?}");
    let maint = Command::SetServerState(a.clone(), AdminState::Maint);
    assert_eq!(t.ok(maint).await, Reply::Done);
    let shut = Command::ShutdownSessionsServer(a.clone());
    assert_eq!(t.ok(shut).await, Reply::Done);
    assert_eq!(t.ok(Command::DelServer(a)).await, Reply::ServerDeleted);
    assert!(t.state("be_main", "a").await.is_none());
}

/// `add server … check` + `enable health`: the server goes DOWN in `show servers state`
/// when its port stops answering and UP again when it listens once more.
async fn health_commands(t: &Tour) {
    let echo = EchoServer::start("checked").unwrap();
    let addr = echo.addr();
    let c = srv("be_checked", "c");
    let mut add = AddServer::new(c.clone(), addr);
    add.check = Some(HealthCheck {
        inter: Duration::from_millis(100),
        rise: 1,
        fall: 1,
    });
    assert_eq!(t.ok(Command::AddServer(add)).await, Reply::ServerAdded);
    assert_eq!(t.ok(Command::EnableHealth(c.clone())).await, Reply::Done);
    let ready = Command::SetServerState(c.clone(), AdminState::Ready);
    assert_eq!(t.ok(ready).await, Reply::Done);
    wait_op_state(t, OpState::Running, "UP while it listens").await;
    drop(echo);
    wait_op_state(t, OpState::Stopped, "DOWN once its port refuses").await;
    let refused = http::get(t.http, "checked.test", "/").await;
    assert!(
        refused.is_err() || refused.as_ref().unwrap().status == 503,
        "{refused:?}"
    );
    let _back = wait_for("the echo server listening again", DEADLINE, async || {
        EchoServer::start_on("checked-again", addr, Duration::ZERO)
    })
    .await
    .unwrap();
    wait_op_state(t, OpState::Running, "UP again once it listens").await;
}

async fn wait_op_state(t: &Tour, want: OpState, what: &str) {
    wait_for(what, DEADLINE, async || {
        let Some(s) = t.state("be_checked", "c").await else {
            bail!("be_checked/c is not listed");
        };
        if s.op_state != want {
            bail!("op_state {:?}", s.op_state);
        }
        Ok(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e:#}"));
}

async fn map_commands(t: &Tour) {
    let file = t.file("hosts.map");
    let live = MapTarget::live(file.clone());
    let (k, v) = (
        |s: &str| MapKey::new(s).unwrap(),
        |s: &str| MapValue::new(s).unwrap(),
    );
    let Reply::Maps(maps) = t.ok(Command::ShowMaps).await else {
        panic!("show map")
    };
    assert!(maps.iter().any(|m| m.file == file.as_str()), "{maps:?}");
    let add = Command::AddMap(live.clone(), k("a.test"), v("be_main"));
    assert_eq!(t.ok(add).await, Reply::Done);
    let bulk = Command::AddMapBulk(
        live.clone(),
        vec![(k("b.test"), v("x")), (k("c.test"), v("y"))],
    );
    assert_eq!(t.ok(bulk).await, Reply::Done);
    let set = Command::SetMap(file.clone(), k("b.test"), v("be_checked"));
    assert_eq!(t.ok(set).await, Reply::Done);
    assert_eq!(
        t.ok(Command::DelMap(file.clone(), k("c.test"))).await,
        Reply::Done
    );
    let entries = map_entries(t, live.clone()).await;
    assert_eq!(
        entries,
        [("a.test", "be_main"), ("b.test", "be_checked")].map(pair)
    );
    let Reply::MapLookup(found) = t.ok(Command::GetMap(file.clone(), k("b.test"))).await else {
        panic!("get map")
    };
    assert_eq!(
        found.method, "str",
        "the config reads hosts.map with `map` (str)"
    );
    let hit = found.found.expect("b.test is in the map");
    assert_eq!(
        (hit.key.as_str(), hit.value.as_str()),
        ("b.test", "be_checked")
    );
    let Reply::MapVersion(ver) = t.ok(Command::PrepareMap(file.clone())).await else {
        panic!("prepare map")
    };
    let next = MapTarget {
        file: file.clone(),
        version: Some(ver),
    };
    assert_eq!(t.ok(Command::ClearMap(next.clone())).await, Reply::Done);
    let add = Command::AddMap(next.clone(), k("swapped.test"), v("be_main"));
    assert_eq!(t.ok(add).await, Reply::Done);
    assert_eq!(
        map_entries(t, live.clone()).await.len(),
        2,
        "not live before commit"
    );
    assert_eq!(t.ok(Command::CommitMap(file, ver)).await, Reply::Done);
    let entries = map_entries(t, live).await;
    assert_eq!(entries, [pair(("swapped.test", "be_main"))]);
}

fn pair((k, v): (&str, &str)) -> (String, String) {
    (k.to_string(), v.to_string())
}

async fn map_entries(t: &Tour, target: MapTarget) -> Vec<(String, String)> {
    let Reply::MapEntries(entries) = t.ok(Command::ShowMap(target)).await else {
        panic!("show map <file>")
    };
    entries.into_iter().map(|e| (e.key, e.value)).collect()
}

/// A client address in the deny ACL gets 403 from the frontend; out of it, the backend.
async fn acl_commands(t: &Tour) {
    let echo = EchoServer::start("acl").unwrap();
    let s = srv("be_main", "acl");
    assert_eq!(
        t.ok(Command::AddServer(AddServer::new(s.clone(), echo.addr())))
            .await,
        Reply::ServerAdded
    );
    t.ok(Command::SetServerState(s, AdminState::Ready)).await;
    let file = t.file("deny.acl");
    let loopback = AclPattern::new("127.0.0.1").unwrap();
    let other = AclPattern::new("192.0.2.1").unwrap();
    assert_eq!(
        t.ok(Command::AddAcl(file.clone(), loopback.clone())).await,
        Reply::Done
    );
    assert_eq!(
        t.ok(Command::AddAcl(file.clone(), other)).await,
        Reply::Done
    );
    assert_eq!(acl_patterns(t, &file).await, ["127.0.0.1", "192.0.2.1"]);
    assert_eq!(
        http::get(t.http, "acl.test", "/").await.unwrap().status,
        403
    );
    assert_eq!(
        t.ok(Command::DelAcl(file.clone(), loopback.clone())).await,
        Reply::Done
    );
    let got = http::get(t.http, "acl.test", "/").await.unwrap();
    assert_eq!(got.echo_name.as_deref(), Some("acl"));
    assert_eq!(
        t.refusal(Command::DelAcl(file.clone(), loopback)).await,
        Refusal::KeyNotFound
    );
    assert_eq!(t.ok(Command::ClearAcl(file.clone())).await, Reply::Done);
    assert!(acl_patterns(t, &file).await.is_empty());
}

async fn acl_patterns(t: &Tour, file: &FilePath) -> Vec<String> {
    let Reply::AclEntries(entries) = t.ok(Command::ShowAcl(file.clone())).await else {
        panic!("show acl")
    };
    entries.into_iter().map(|e| e.pattern).collect()
}

/// A new certificate goes online for two SNI names on two crt-list lines, one line is
/// deleted by number and the other by certificate, each name falling back to the default.
async fn ssl_commands(t: &Tour, default: &TestCert) {
    let cert = TestCert::self_signed("new.test", &["a.test", "b.test"]);
    let pem = PemPayload::new(cert.combined_pem()).unwrap();
    let (file, list) = (t.file("new.pem"), t.file("crt-list.txt"));
    let sni = |s: &str| SniFilter::new(s).unwrap();
    assert_eq!(
        t.ok(Command::NewSslCert(file.clone())).await,
        Reply::SslCertCreated
    );
    let set = Command::SetSslCert(file.clone(), pem.clone());
    assert_eq!(t.ok(set.clone()).await, Reply::SslTransaction);
    assert_eq!(
        t.ok(Command::AbortSslCert(file.clone())).await,
        Reply::SslAborted
    );
    assert_eq!(t.ok(set).await, Reply::SslTransaction);
    assert_eq!(
        t.ok(Command::CommitSslCert(file.clone())).await,
        Reply::SslCommitted
    );
    for name in ["a.test", "b.test"] {
        let entry = CrtListEntry::new(file.clone(), [sni(name)]).unwrap();
        let added = t.ok(Command::AddSslCrtList(list.clone(), entry)).await;
        assert_eq!(added, Reply::CrtListEntryAdded);
        wait_served(t, name, &cert).await;
    }
    let Reply::SslCerts(certs) = t.ok(Command::ShowSslCert(None)).await else {
        panic!("show ssl cert")
    };
    assert!(certs.contains(file.as_str()), "{certs:?}");
    let Reply::SslCert(info) = t.ok(Command::ShowSslCert(Some(file.clone()))).await else {
        panic!("show ssl cert <file>")
    };
    assert_eq!(info.serial.as_deref(), Some(cert.serial_hex().as_str()));
    let Reply::CrtList(lines) = t.ok(Command::ShowSslCrtList(list.clone())).await else {
        panic!("show ssl crt-list")
    };
    let b_line = lines
        .iter()
        .find(|l| l.cert == file.as_str() && l.sni == ["b.test"])
        .and_then(|l| l.line)
        .unwrap_or_else(|| panic!("the b.test line in {lines:?}"));
    let plain = Command::DelSslCrtList(list.clone(), file.clone());
    assert_eq!(t.refusal(plain.clone()).await, Refusal::CrtListAmbiguous);
    let by_line = Command::DelSslCrtListLine(list.clone(), file.clone(), b_line);
    assert_eq!(t.ok(by_line).await, Reply::CrtListEntryDeleted);
    wait_served(t, "b.test", default).await;
    wait_served(t, "a.test", &cert).await;
    assert_eq!(t.ok(plain).await, Reply::CrtListEntryDeleted);
    wait_served(t, "a.test", default).await;
    assert_eq!(
        t.ok(Command::DelSslCert(file.clone())).await,
        Reply::SslCertDeleted
    );
}

/// A real CRL (`openssl ca -gencrl`, no revoked certificates).
const CRL: &str = include_str!("../../../agent/src/translate/test_ca.crl");

/// Client-certificate stores: a CA file and a CRL file made, filled (one transaction
/// aborted first), committed, named by a crt-list line's options, listed, then deleted
/// after the line.
async fn ca_commands(t: &Tour) {
    let ca = TestCert::ca("client ca");
    let site = TestCert::self_signed("mtls.test", &["mtls.test"]);
    let (ca_file, crl_file) = (t.file("c.client-ca.pem"), t.file("c.client-crl.pem"));
    let stores = [
        (CaStore::CaFile, &ca_file, ca.cert_pem()),
        (CaStore::CrlFile, &crl_file, CRL.to_string()),
    ];
    for (kind, file, pem) in &stores {
        let pem = PemPayload::new(pem.as_str()).unwrap();
        let (kind, file) = (*kind, (*file).clone());
        assert_eq!(
            t.ok(Command::NewSslCa(kind, file.clone())).await,
            Reply::SslCertCreated
        );
        let set = Command::SetSslCa(kind, file.clone(), pem);
        assert_eq!(t.ok(set.clone()).await, Reply::SslTransaction);
        assert_eq!(
            t.ok(Command::AbortSslCa(kind, file.clone())).await,
            Reply::SslAborted
        );
        assert_eq!(t.ok(set).await, Reply::SslTransaction);
        assert_eq!(
            t.ok(Command::CommitSslCa(kind, file.clone())).await,
            Reply::SslCommitted
        );
        let Reply::SslCaFiles(list) = t.ok(Command::ShowSslCa(kind)).await else {
            panic!("show ssl {}", kind.keyword())
        };
        assert!(list.files.iter().any(|f| f == file.as_str()), "{list:?}");
    }
    let cert = t.file("mtls.pem");
    let pem = PemPayload::new(site.combined_pem()).unwrap();
    t.ok(Command::NewSslCert(cert.clone())).await;
    t.ok(Command::SetSslCert(cert.clone(), pem)).await;
    t.ok(Command::CommitSslCert(cert.clone())).await;
    let auth = ClientAuth {
        verify: ClientVerify::Required,
        ca_file: ca_file.clone(),
        crl_file: Some(crl_file.clone()),
    };
    let entry = CrtListEntry::new(cert.clone(), [SniFilter::new("mtls.test").unwrap()])
        .unwrap()
        .with_auth(Some(auth));
    let list = t.file("crt-list.txt");
    t.ok(Command::AddSslCrtList(list.clone(), entry.clone()))
        .await;
    let Reply::CrtList(lines) = t.ok(Command::ShowSslCrtList(list.clone())).await else {
        panic!("show ssl crt-list")
    };
    assert!(
        lines.iter().any(|l| l.to_entry() == Some(entry.clone())),
        "{lines:?}"
    );
    assert!(
        tls_peer_cert(t.tls, Some("mtls.test")).await.is_err()
            || integration::tls::https_get(t.tls, "mtls.test", "/")
                .await
                .is_err(),
        "a client without a certificate is refused"
    );
    let in_use = Command::DelSslCa(CaStore::CaFile, ca_file.clone());
    assert_eq!(t.refusal(in_use.clone()).await, Refusal::SslCertInUse);
    t.ok(Command::DelSslCrtList(list, cert.clone())).await;
    assert_eq!(t.ok(in_use).await, Reply::SslCertDeleted);
    let crl = Command::DelSslCa(CaStore::CrlFile, crl_file);
    assert_eq!(t.ok(crl).await, Reply::SslCertDeleted);
    t.ok(Command::DelSslCert(cert)).await;
}

async fn wait_served(t: &Tour, sni: &str, want: &TestCert) {
    let what = format!("{sni} is served {}", want.serial_hex());
    wait_for(&what, DEADLINE, async || {
        let got = tls_peer_cert(t.tls, Some(sni)).await?;
        if got.serial_hex != want.serial_hex() {
            bail!("served {got:?}");
        }
        Ok(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e:#}"));
}
