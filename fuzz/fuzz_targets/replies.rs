//! Every reply parser on arbitrary bytes: parsing never panics; whatever parses as a success
//! is the success shape of that command (the table below, one row per [`CommandKind`]), and a
//! success message is never text HAProxy phrases as a refusal; a `show proc` that parses has
//! a master and uptimes HAProxy can print.
#![no_main]

use std::time::Duration;

use haproxy::proto::command::CrtListEntry;
use haproxy::proto::proc::{reload_status, show_proc};
use haproxy::proto::reply::classify;
use haproxy::proto::{
    AddServer, AdminState, CaStore, Command, CommandKind, MapTarget, PemPayload, Reply, Weight,
    parse_reply,
};
use haproxy::{AclPattern, BackendName, FilePath, MapKey, MapValue, ServerName, ServerRef};
use libfuzzer_sys::fuzz_target;

/// One command of `kind`; an exhaustive match, so a new kind does not compile until it is
/// fuzzed here.
fn sample(kind: CommandKind) -> Command {
    use CommandKind as K;
    let be = || BackendName::new("be").unwrap();
    let srv = || ServerRef::new(be(), ServerName::new("s").unwrap());
    let file = || FilePath::new("/etc/haproxy/maps/exact.map").unwrap();
    let cert = || FilePath::new("/etc/haproxy/certs/shop_web.pem").unwrap();
    let list = || FilePath::new("/etc/haproxy/certs/crt-list.txt").unwrap();
    let ca = || FilePath::new("/etc/haproxy/certs/ca_shop_web.pem").unwrap();
    let key = || MapKey::new("a.example/x").unwrap();
    let value = || MapValue::new("be").unwrap();
    let pattern = || AclPattern::new("10.0.0.0/8").unwrap();
    let pem =
        || PemPayload::new("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----").unwrap();
    let entry = || CrtListEntry::new(cert(), []).unwrap();
    match kind {
        K::ShowVersion => Command::ShowVersion,
        K::ShowInfo => Command::ShowInfo,
        K::ShowStat => Command::ShowStat,
        K::ShowStatServers => Command::ShowStatServers(be()),
        K::ShowBackend => Command::ShowBackend,
        K::ShowServersState => Command::ShowServersState(None),
        K::ShowServersConn => Command::ShowServersConn(None),
        K::AddServer => Command::AddServer(AddServer::new(srv(), "127.0.0.1:1".parse().unwrap())),
        K::DelServer => Command::DelServer(srv()),
        K::SetServerState => Command::SetServerState(srv(), AdminState::Ready),
        K::SetServerAddr => Command::SetServerAddr(srv(), "127.0.0.1:2".parse().unwrap()),
        K::SetServerWeight => Command::SetServerWeight(srv(), Weight::new(10).unwrap()),
        K::GetWeight => Command::GetWeight(srv()),
        K::EnableHealth => Command::EnableHealth(srv()),
        K::ShutdownSessionsServer => Command::ShutdownSessionsServer(srv()),
        K::ShowMaps => Command::ShowMaps,
        K::ShowMap => Command::ShowMap(MapTarget::live(file())),
        K::AddMap => Command::AddMap(MapTarget::live(file()), key(), value()),
        K::AddMapBulk => Command::AddMapBulk(
            MapTarget {
                file: file(),
                version: Some(3),
            },
            vec![(key(), value())],
        ),
        K::SetMap => Command::SetMap(file(), key(), value()),
        K::DelMap => Command::DelMap(file(), key()),
        K::ClearMap => Command::ClearMap(MapTarget::live(file())),
        K::PrepareMap => Command::PrepareMap(file()),
        K::CommitMap => Command::CommitMap(file(), 3),
        K::GetMap => Command::GetMap(file(), key()),
        K::ShowAcl => Command::ShowAcl(file()),
        K::AddAcl => Command::AddAcl(file(), pattern()),
        K::DelAcl => Command::DelAcl(file(), pattern()),
        K::ClearAcl => Command::ClearAcl(file()),
        K::SetSslCert => Command::SetSslCert(cert(), pem()),
        K::CommitSslCert => Command::CommitSslCert(cert()),
        K::AbortSslCert => Command::AbortSslCert(cert()),
        K::NewSslCert => Command::NewSslCert(cert()),
        K::DelSslCert => Command::DelSslCert(cert()),
        K::AddSslCrtList => Command::AddSslCrtList(list(), entry()),
        K::DelSslCrtList => Command::DelSslCrtList(list(), cert()),
        K::DelSslCrtListLine => Command::DelSslCrtListLine(list(), cert(), 2),
        K::ShowSslCert => Command::ShowSslCert(None),
        K::ShowSslCrtList => Command::ShowSslCrtList(list()),
        K::NewSslCa => Command::NewSslCa(CaStore::CaFile, ca()),
        K::SetSslCa => Command::SetSslCa(CaStore::CrlFile, ca(), pem()),
        K::CommitSslCa => Command::CommitSslCa(CaStore::CaFile, ca()),
        K::AbortSslCa => Command::AbortSslCa(CaStore::CrlFile, ca()),
        K::DelSslCa => Command::DelSslCa(CaStore::CaFile, ca()),
        K::ShowSslCa => Command::ShowSslCa(CaStore::CrlFile),
    }
}

/// Whether `reply` is a success shape of `command` (from `parse_reply`'s dispatch).
fn allowed(command: &Command, reply: &Reply) -> bool {
    use Reply as R;
    match command {
        Command::ShowVersion => matches!(reply, R::Version(_)),
        Command::ShowInfo => matches!(reply, R::Info(_)),
        Command::ShowStat | Command::ShowStatServers(_) => matches!(reply, R::Stat(_)),
        Command::ShowBackend => matches!(reply, R::Backends(_)),
        Command::ShowServersState(_) => matches!(reply, R::ServersState(_)),
        Command::ShowServersConn(_) => matches!(reply, R::ServersConn(_)),
        Command::AddServer(_) => matches!(reply, R::ServerAdded),
        Command::DelServer(_) => matches!(reply, R::ServerDeleted),
        Command::SetServerAddr(..) => matches!(reply, R::AddrChanged(_)),
        Command::GetWeight(_) => matches!(reply, R::Weight(_)),
        Command::ShowMaps => matches!(reply, R::Maps(_)),
        Command::ShowMap(_) => matches!(reply, R::MapEntries(_)),
        Command::PrepareMap(_) => matches!(reply, R::MapVersion(_)),
        Command::GetMap(..) => matches!(reply, R::MapLookup(_)),
        Command::ShowAcl(_) => matches!(reply, R::AclEntries(_)),
        Command::SetSslCert(..) | Command::SetSslCa(..) => matches!(reply, R::SslTransaction),
        Command::CommitSslCert(_) | Command::CommitSslCa(..) => matches!(reply, R::SslCommitted),
        Command::AbortSslCert(_) | Command::AbortSslCa(..) => matches!(reply, R::SslAborted),
        Command::NewSslCert(_) | Command::NewSslCa(..) => matches!(reply, R::SslCertCreated),
        Command::DelSslCert(_) | Command::DelSslCa(..) => matches!(reply, R::SslCertDeleted),
        Command::AddSslCrtList(..) => matches!(reply, R::CrtListEntryAdded),
        Command::DelSslCrtList(..) | Command::DelSslCrtListLine(..) => {
            matches!(reply, R::CrtListEntryDeleted)
        }
        Command::ShowSslCert(None) => matches!(reply, R::SslCerts(_)),
        Command::ShowSslCert(Some(_)) => matches!(reply, R::SslCert(_)),
        Command::ShowSslCrtList(_) => matches!(reply, R::CrtList(_)),
        Command::ShowSslCa(_) => matches!(reply, R::SslCaFiles(_)),
        haproxy::empty_reply_commands!() => matches!(reply, R::Done),
    }
}

/// A success that is a fixed message (or nothing), not data: such text is never a refusal.
/// (Data is free-form: a `show info` field may hold any text.)
fn is_message(reply: &Reply) -> bool {
    use Reply as R;
    matches!(
        reply,
        R::Done
            | R::ServerAdded
            | R::ServerDeleted
            | R::SslTransaction
            | R::SslCommitted
            | R::SslAborted
            | R::SslCertCreated
            | R::SslCertDeleted
            | R::CrtListEntryAdded
            | R::CrtListEntryDeleted
    )
}

fn commands() -> &'static [Command] {
    static ALL: std::sync::OnceLock<Vec<Command>> = std::sync::OnceLock::new();
    ALL.get_or_init(|| {
        let mut all: Vec<Command> = CommandKind::ALL.iter().map(|k| sample(*k)).collect();
        // Both forms of `show ssl cert`.
        all.push(Command::ShowSslCert(Some(
            FilePath::new("/etc/haproxy/certs/shop_web.pem").unwrap(),
        )));
        for (kind, c) in CommandKind::ALL.iter().zip(&all) {
            assert_eq!(c.kind(), *kind, "sample() gives each kind's command");
        }
        all
    })
}

/// The largest uptime HAProxy 2.6 prints: `%dd%02dh%02dm%02ds` of an `int` of seconds.
const MAX_UPTIME: Duration = Duration::from_secs(i32::MAX as u64);

fn check_proc(text: &str) {
    let Some(p) = show_proc(text) else { return };
    assert!(text.starts_with("#<PID>"), "show proc without its header");
    let mut lines = text.split('\n');
    let master_line = lines.nth(1).unwrap_or_default();
    assert!(
        master_line.split_whitespace().nth(1) == Some("master"),
        "the master is the second line: {master_line:?}"
    );
    for e in std::iter::once(&p.master)
        .chain(&p.workers)
        .chain(&p.old_workers)
    {
        assert!(
            e.uptime <= MAX_UPTIME,
            "uptime {:?} is more than HAProxy prints (pid {})",
            e.uptime,
            e.pid
        );
        assert!(
            !e.version.is_empty() && !e.version.contains(char::is_whitespace),
            "version {:?}",
            e.version
        );
    }
    assert_eq!(p.current_worker(), p.workers.first().map(|w| w.pid));
}

fuzz_target!(|data: &[u8]| {
    for c in commands() {
        let Ok(reply) = parse_reply(c, data) else {
            continue;
        };
        assert!(
            allowed(c, &reply),
            "{}: {reply:?} is not its success shape",
            c.name()
        );
        if !is_message(&reply) {
            continue;
        }
        let text = std::str::from_utf8(data).expect("a success is text");
        let text = if c.has_payload() {
            text.trim_start_matches("+ ")
        } else {
            text
        };
        assert_eq!(
            classify(text),
            None,
            "{}: a refusal parsed as success {reply:?}",
            c.name()
        );
    }
    let text = String::from_utf8_lossy(data);
    check_proc(&text);
    let _ = reload_status(&text);
});
