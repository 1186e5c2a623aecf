//! The runtime API client against a real HAProxy: every typed command, the refusals HAProxy
//! phrases, escaping, pipelining at scale, timeouts and reconnects.

use std::net::SocketAddr;
use std::time::Duration;

use haproxy::proto::{
    AddServer, AdminState, Command, EncodeError, MapTarget, Refusal, Reply, ReplyError, Weight,
};
use haproxy::{
    BackendName, ClientError, Endpoint, FilePath, MapKey, MapValue, RuntimeClient, RuntimeConfig,
    ServerName, ServerRef,
};
use integration::{EchoServer, HaproxyProcess, free_port, http};

fn srv(be: &str, s: &str) -> ServerRef {
    ServerRef::new(BackendName::new(be).unwrap(), ServerName::new(s).unwrap())
}

fn be(name: &str) -> BackendName {
    BackendName::new(name).unwrap()
}

fn ok(r: Result<Reply, ReplyError>) -> Reply {
    r.unwrap_or_else(|e| panic!("haproxy refused: {e}"))
}

fn refusal(r: &Result<Reply, ReplyError>) -> Option<Refusal> {
    r.as_ref().err().and_then(ReplyError::refusal)
}

/// A frontend routing by a hosts map to `be_main` (dynamic) plus a static-rr backend.
fn body(port: u16) -> String {
    format!(
        "frontend fe\n    bind 127.0.0.1:{port}\n    use_backend %[req.hdr(host),lower,map({{dir}}/hosts.map,be_main)]\n\n\
         backend be_main\n    balance roundrobin\n\n\
         backend be_other\n    balance leastconn\n\n\
         backend be_static\n    balance static-rr\n    server st1 127.0.0.1:9 disabled\n"
    )
}

async fn start() -> (HaproxyProcess, u16) {
    let port = free_port();
    let hp = HaproxyProcess::start_with_files(&body(port), &[("hosts.map", "")])
        .await
        .expect("haproxy starts");
    (hp, port)
}

async fn state_of(
    client: &RuntimeClient,
    be_name: &str,
    s: &str,
) -> Option<haproxy::proto::reply::ServerState> {
    client
        .servers_state(Some(be(be_name)))
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.server == s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_lifecycle_with_every_server_command() {
    let (hp, port) = start().await;
    let client = hp.runtime_client();
    let one = EchoServer::start("one").unwrap();
    let two = EchoServer::start("two").unwrap();
    let fe: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();

    // add server: starts in maintenance.
    let mut add = AddServer::new(srv("be_main", "a"), one.addr());
    add.weight = Some(Weight::new(10).unwrap());
    let r = client
        .batch(&[Command::AddServer(add.clone())])
        .await
        .unwrap();
    assert_eq!(ok(r[0].clone()), Reply::ServerAdded);
    let a = state_of(&client, "be_main", "a").await.unwrap();
    assert!(a.admin.is_maint(), "a new dynamic server is in maintenance");
    assert_eq!((a.weight, a.port), (10, one.addr().port()));

    // The refusals HAProxy phrases come back typed.
    let r = client
        .batch(&[
            Command::AddServer(add.clone()),
            Command::AddServer(AddServer::new(srv("nope", "x"), one.addr())),
            Command::AddServer(AddServer::new(srv("be_static", "x"), one.addr())),
            Command::DelServer(srv("be_main", "zz")),
        ])
        .await
        .unwrap();
    assert_eq!(refusal(&r[0]), Some(Refusal::ServerExists));
    assert_eq!(refusal(&r[1]), Some(Refusal::NoSuchBackend));
    assert_eq!(refusal(&r[2]), Some(Refusal::StaticAlgorithm));
    assert_eq!(refusal(&r[3]), Some(Refusal::NoSuchServer));

    // ready: traffic flows to it.
    client
        .send(Command::SetServerState(
            srv("be_main", "a"),
            AdminState::Ready,
        ))
        .await
        .unwrap();
    let reply = http::get(fe, "any.test", "/").await.unwrap();
    assert_eq!(reply.echo_name.as_deref(), Some("one"));

    // Address change moves traffic to the other echo server.
    let r = client
        .send(Command::SetServerAddr(srv("be_main", "a"), two.addr()))
        .await
        .unwrap();
    assert!(matches!(r, Reply::AddrChanged(c) if c.port.is_some()));
    let reply = http::get(fe, "any.test", "/").await.unwrap();
    assert_eq!(reply.echo_name.as_deref(), Some("two"));

    // Weight.
    client
        .send(Command::SetServerWeight(
            srv("be_main", "a"),
            Weight::new(42).unwrap(),
        ))
        .await
        .unwrap();
    let r = client
        .send(Command::GetWeight(srv("be_main", "a")))
        .await
        .unwrap();
    assert!(matches!(r, Reply::Weight(w) if w.current == 42 && w.initial == 10));

    // drain: still present, not deletable.
    client
        .send(Command::SetServerState(
            srv("be_main", "a"),
            AdminState::Drain,
        ))
        .await
        .unwrap();
    assert!(
        state_of(&client, "be_main", "a")
            .await
            .unwrap()
            .admin
            .is_drain()
    );
    let r = client
        .batch(&[Command::DelServer(srv("be_main", "a"))])
        .await
        .unwrap();
    assert_eq!(refusal(&r[0]), Some(Refusal::NotInMaintenance));

    // The safe removal sequence, pipelined on one line each.
    let r = client
        .batch(&[
            Command::SetServerState(srv("be_main", "a"), AdminState::Maint),
            Command::ShutdownSessionsServer(srv("be_main", "a")),
            Command::DelServer(srv("be_main", "a")),
        ])
        .await
        .unwrap();
    assert_eq!(ok(r[0].clone()), Reply::Done);
    assert_eq!(ok(r[1].clone()), Reply::Done);
    assert_eq!(ok(r[2].clone()), Reply::ServerDeleted);
    assert!(state_of(&client, "be_main", "a").await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_commands_parse_live_replies() {
    let (hp, _port) = start().await;
    let client = hp.runtime_client();
    let v = client.version().await.unwrap();
    assert!(v.major > 2 || (v.major == 2 && v.minor >= 6), "{v}");

    let r = client
        .batch(&[
            Command::ShowInfo,
            Command::ShowStat,
            Command::ShowBackend,
            Command::ShowServersConn(Some(be("be_static"))),
            Command::ShowServersState(Some(be("nope"))),
        ])
        .await
        .unwrap();
    let Reply::Info(info) = ok(r[0].clone()) else {
        panic!("info")
    };
    assert!(info.iter().any(|f| f.key == "Version" && f.value == v.raw));
    let Reply::Stat(stat) = ok(r[1].clone()) else {
        panic!("stat")
    };
    assert!(
        stat.iter()
            .any(|row| row.proxy() == "be_static" && row.service() == "st1")
    );
    let Reply::Backends(names) = ok(r[2].clone()) else {
        panic!("backends")
    };
    assert!(names.contains(&"be_main".to_string()) && names.contains(&"be_static".to_string()));
    let Reply::ServersConn(conns) = ok(r[3].clone()) else {
        panic!("conn")
    };
    assert_eq!(conns[0].server, "st1");
    assert_eq!(refusal(&r[4]), Some(Refusal::NoSuchBackend));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn map_commands_and_escaping() {
    let (hp, port) = start().await;
    let client = hp.runtime_client();
    let echo = EchoServer::start("other").unwrap();
    let fe: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let file = FilePath::from_path(&hp.dir.path().join("hosts.map")).unwrap();
    let live = MapTarget::live(file.clone());
    let k = |s: &str| MapKey::new(s).unwrap();
    let v = |s: &str| MapValue::new(s).unwrap();

    // show map lists the file.
    let maps = client.maps().await.unwrap();
    assert!(maps.iter().any(|m| m.file == file.as_str()), "{maps:?}");

    // Route a host to be_other at runtime.
    let mut add = AddServer::new(srv("be_other", "o1"), echo.addr());
    add.weight = Some(Weight::new(1).unwrap());
    client
        .batch(&[
            Command::AddServer(add),
            Command::SetServerState(srv("be_other", "o1"), AdminState::Ready),
            Command::AddMap(live.clone(), k("other.test"), v("be_other")),
        ])
        .await
        .unwrap()
        .into_iter()
        .for_each(|r| {
            ok(r);
        });
    let reply = http::get(fe, "other.test", "/").await.unwrap();
    assert_eq!(reply.echo_name.as_deref(), Some("other"));

    // Escaping: `;`, `\` and spaces survive the CLI's word splitting exactly.
    let r = client
        .batch(&[
            Command::AddMap(
                live.clone(),
                k("semi;colon\\back"),
                v("two words; and\\more"),
            ),
            Command::SetMap(file.clone(), k("other.test"), v("be_main")),
            Command::DelMap(file.clone(), k("absent")),
            Command::AddMapBulk(
                live.clone(),
                vec![(k("bulk1"), v("x y")), (k("bulk2"), v("z"))],
            ),
        ])
        .await
        .unwrap();
    assert_eq!(ok(r[0].clone()), Reply::Done);
    assert_eq!(ok(r[1].clone()), Reply::Done);
    assert_eq!(refusal(&r[2]), Some(Refusal::KeyNotFound));
    assert_eq!(ok(r[3].clone()), Reply::Done);
    let entries = client.map_entries(file.clone()).await.unwrap();
    let find = |key: &str| {
        entries
            .iter()
            .find(|e| e.key == key)
            .map(|e| e.value.clone())
    };
    assert_eq!(
        find("semi;colon\\back").as_deref(),
        Some("two words; and\\more")
    );
    assert_eq!(find("other.test").as_deref(), Some("be_main"));
    assert_eq!(find("bulk1").as_deref(), Some("x y"));

    // Atomic swap: prepare, fill the new version, commit.
    let Reply::MapVersion(ver) = client
        .send(Command::PrepareMap(file.clone()))
        .await
        .unwrap()
    else {
        panic!("prepare map")
    };
    let next = MapTarget {
        file: file.clone(),
        version: Some(ver),
    };
    let r = client
        .batch(&[
            Command::AddMap(next.clone(), k("swapped.test"), v("be_other")),
            Command::CommitMap(file.clone(), ver),
        ])
        .await
        .unwrap();
    r.into_iter().for_each(|r| {
        ok(r);
    });
    let entries = client.map_entries(file.clone()).await.unwrap();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].key, "swapped.test");
    let reply = http::get(fe, "swapped.test", "/").await.unwrap();
    assert_eq!(reply.echo_name.as_deref(), Some("other"));

    assert_eq!(
        client.send(Command::ClearMap(live)).await.unwrap(),
        Reply::Done
    );
    assert!(client.map_entries(file).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_input_is_refused_before_sending() {
    let (hp, _port) = start().await;
    let client = hp.runtime_client();
    // HAProxy would take 999.1.1.1 as a hostname; our address type cannot even hold it.
    assert!("999.1.1.1:80".parse::<SocketAddr>().is_err());
    // A zero port or an unspecified address is refused by the encoder, and nothing of the
    // batch is sent, not even the valid command before it.
    let err = client
        .batch(&[
            Command::AddServer(AddServer::new(
                srv("be_main", "fine"),
                "127.0.0.1:80".parse().unwrap(),
            )),
            Command::AddServer(AddServer::new(
                srv("be_main", "zero"),
                "127.0.0.1:0".parse().unwrap(),
            )),
        ])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Encode {
                index: 1,
                source: EncodeError::PortZero(_),
                ..
            }
        ),
        "{err}"
    );
    assert!(state_of(&client, "be_main", "fine").await.is_none());
    // Names with separators or newlines cannot be built at all.
    assert!(ServerName::new("a;del server be_main/x").is_err());
    assert!(BackendName::new("be\nshow info").is_err());
    assert!(MapKey::new("a b").is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_thousand_servers_all_ready() {
    let (hp, _port) = start().await;
    let client = hp.runtime_client();
    let mut cmds = Vec::with_capacity(2000);
    for i in 0..1000u32 {
        let addr: SocketAddr = format!("127.0.{}.{}:{}", 1 + i / 250, 1 + i % 250, 10000 + i)
            .parse()
            .unwrap();
        cmds.push(Command::AddServer(AddServer::new(
            srv("be_main", &format!("s{i}")),
            addr,
        )));
    }
    for i in 0..1000u32 {
        cmds.push(Command::SetServerState(
            srv("be_main", &format!("s{i}")),
            AdminState::Ready,
        ));
    }
    let replies = client.batch(&cmds).await.unwrap();
    assert_eq!(replies.len(), 2000);
    for (i, r) in replies.into_iter().enumerate() {
        let want = if i < 1000 {
            Reply::ServerAdded
        } else {
            Reply::Done
        };
        assert_eq!(r, Ok(want), "command {i}");
    }
    let state = client.servers_state(Some(be("be_main"))).await.unwrap();
    assert_eq!(state.len(), 1000);
    assert!(state.iter().all(|s| s.admin.is_ready()));
    assert!(state.iter().any(|s| s.server == "s999" && s.port == 10999));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_reload_is_detected_as_new_worker() {
    let (hp, _port) = start().await;
    let master = hp.master_client();
    let before = master.show_proc().await.unwrap();
    let reloaded = master.reload(Duration::from_secs(15)).await.unwrap();
    assert_eq!(reloaded.old_worker, before.current_worker());
    assert_ne!(Some(reloaded.new_worker), before.current_worker());
    assert_eq!(reloaded.procs.master.reloads, before.master.reloads + 1);
    // The runtime socket now answers from the new worker.
    let client = hp.runtime_client();
    let info = client.send(Command::ShowInfo).await.unwrap();
    let Reply::Info(info) = info else {
        panic!("info")
    };
    let pid = info.iter().find(|f| f.key == "Pid").unwrap().value.clone();
    assert_eq!(pid, reloaded.new_worker.to_string());

    // A broken config: the reload fails, the old worker keeps serving.
    std::fs::write(&hp.config_path, "global\n    bogus_keyword\n").unwrap();
    let err = master.reload(Duration::from_secs(15)).await.unwrap_err();
    assert!(
        matches!(err, haproxy::ReloadError::Failed { worker: Some(w), .. } if w == reloaded.new_worker),
        "{err}"
    );
    client.disconnect().await;
    assert!(client.version().await.is_ok());
}

/// The CLI sessions HAProxy lists (`show sess`) as (pointer, client address), asked over a
/// prompt-mode connection of the test's own so that the asking session's address is known.
/// A listing can miss a live session for a moment, so only presence is ever waited on.
struct CliObserver {
    io: tokio::io::BufReader<tokio::net::TcpStream>,
    own: SocketAddr,
}

impl CliObserver {
    async fn open(addr: SocketAddr) -> Self {
        use tokio::io::AsyncWriteExt;
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let own = stream.local_addr().unwrap();
        let mut observer = Self {
            io: tokio::io::BufReader::new(stream),
            own,
        };
        observer.io.get_mut().write_all(b"prompt\n").await.unwrap();
        observer.reply().await;
        observer
    }

    /// Sends one line and reads its reply up to the next prompt.
    async fn ask(&mut self, line: &str) -> String {
        use tokio::io::AsyncWriteExt;
        self.io
            .get_mut()
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
        self.reply().await
    }

    async fn reply(&mut self) -> String {
        use tokio::io::AsyncReadExt;
        let mut out = Vec::new();
        let read = async {
            while !out.ends_with(b"\n> ") {
                let mut buf = [0u8; 4096];
                let n = self.io.read(&mut buf).await.unwrap();
                assert!(n > 0, "the observer's CLI session closed");
                out.extend_from_slice(&buf[..n]);
            }
        };
        tokio::time::timeout(Duration::from_secs(5), read)
            .await
            .expect("a CLI reply within 5 s");
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Sessions other than this observer's own: (pointer, client address).
    async fn others(&mut self) -> Vec<(String, String)> {
        let own = self.own.to_string();
        self.ask("show sess")
            .await
            .lines()
            .filter(|l| l.contains("fe=GLOBAL"))
            .filter_map(|l| {
                let ptr = l.split(':').next()?.trim().to_string();
                let src = l.split(' ').find_map(|w| w.strip_prefix("src="))?;
                (src != own).then(|| (ptr, src.to_string()))
            })
            .collect()
    }
}

/// The kernel's `st` code for a TCP socket whose peer has closed and which has not closed yet.
const TCP_CLOSE_WAIT: u8 = 0x08;

/// The state of the IPv4 TCP connection from `local` to `remote`, from `/proc/net/tcp`
/// (Linux). Both ends are matched: an older connection from the same local port to
/// another peer may linger in TIME_WAIT.
fn tcp_state(local: SocketAddr, remote: SocketAddr) -> Option<u8> {
    let hex = |a: SocketAddr| match a {
        SocketAddr::V4(v4) => Some(format!(
            "{:08X}:{:04X}",
            u32::from_le_bytes(v4.ip().octets()),
            v4.port()
        )),
        SocketAddr::V6(_) => None,
    };
    let (local, remote) = (hex(local)?, hex(remote)?);
    std::fs::read_to_string("/proc/net/tcp")
        .ok()?
        .lines()
        .skip(1)
        .find_map(|l| {
            let mut f = l.split_whitespace();
            let (l_addr, r_addr, st) = (f.nth(1)?, f.next()?, f.next()?);
            (l_addr == local && r_addr == remote).then(|| u8::from_str_radix(st, 16).ok())?
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_closed_by_haproxy_is_reopened_before_sending() {
    let port = free_port();
    let cli_port = free_port();
    let cfg = format!(
        "global\n    stats socket {{dir}}/admin.sock mode 600 level admin\n    stats socket 127.0.0.1:{cli_port} level admin\n\n\
         defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\n\
         frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n\nbackend be\n    balance roundrobin\n"
    );
    // Kept alive (stopped on drop) for the whole test.
    let _hp = HaproxyProcess::start_with_config(&cfg).await.unwrap();
    let cli: SocketAddr = format!("127.0.0.1:{cli_port}").parse().unwrap();
    // A client that would keep an idle session for an hour.
    let config = RuntimeConfig {
        idle_reconnect: Duration::from_secs(3600),
        ..RuntimeConfig::default()
    };
    let client = RuntimeClient::new(Endpoint::Tcp(cli), config);
    client.version().await.unwrap();
    // The only other CLI session is the client's (the observer opened after it and is the
    // only connection the test makes), so HAProxy can be told to close exactly that one.
    let mut observer = CliObserver::open(cli).await;
    let (ptr, first) = integration::wait_for(
        "the client's CLI session in a listing",
        Duration::from_secs(10),
        async || match observer.others().await.as_slice() {
            [one] => Ok(one.clone()),
            other => Err(anyhow::anyhow!(
                "sessions besides the observer's: {other:?}"
            )),
        },
    )
    .await
    .unwrap();
    // HAProxy 2.6.12 keeps an idle prompt-mode session past `stats timeout`; closing it
    // from the CLI is the HAProxy-side close a test can cause on demand.
    let reply = observer.ask(&format!("shutdown session {ptr}")).await;
    assert!(!reply.contains("No such session"), "{reply}");
    // The close must have reached the client's socket (CLOSE_WAIT) for "before sending" to
    // hold; a write racing the close is a transport error by contract (observe again).
    let client_addr: SocketAddr = first.parse().unwrap();
    integration::wait_for(
        "the client's socket to see HAProxy's close",
        Duration::from_secs(10),
        async || match tcp_state(client_addr, cli) {
            Some(TCP_CLOSE_WAIT) => Ok(()),
            other => Err(anyhow::anyhow!("socket state {other:?}")),
        },
    )
    .await
    .unwrap();

    // The client notices the closed session before writing and reopens it: no error.
    let v = client.version().await.unwrap();
    assert!(v.major >= 2);
    // ...on a new session: another client address now, and the closed one is gone.
    integration::wait_for(
        "the client's reopened session in a listing",
        Duration::from_secs(10),
        async || match observer.others().await.as_slice() {
            [(_, src)] if *src != first => Ok(()),
            other => Err(anyhow::anyhow!(
                "sessions besides the observer's: {other:?}"
            )),
        },
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_peer_times_out_and_missing_socket_fails_fast() {
    // A listener that accepts and never answers: the one thing a real HAProxy will not do on
    // demand, so the test provides it.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("silent.sock");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let accept = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let config = RuntimeConfig {
        connect_timeout: Duration::from_millis(200),
        connect_attempts: 1,
        ..RuntimeConfig::default()
    };
    let client = RuntimeClient::new(Endpoint::Unix(path), config.clone());
    let err = client.batch(&[Command::ShowVersion]).await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    accept.abort();

    let missing = RuntimeClient::new(Endpoint::Unix(dir.path().join("absent.sock")), config);
    let err = missing.batch(&[Command::ShowVersion]).await.unwrap_err();
    assert!(err.is_closed(), "{err}");
}
