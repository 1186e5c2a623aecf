//! Every reply parser on arbitrary bytes: parsing never panics, and whatever parses as a
//! success is the success shape of that command.
#![no_main]

use haproxy::proto::proc::{reload_status, show_proc};
use haproxy::proto::command::CrtListEntry;
use haproxy::proto::{AddServer, AdminState, Command, MapTarget, parse_reply};
use haproxy::{BackendName, FilePath, ServerName, ServerRef};
use libfuzzer_sys::fuzz_target;

fn commands() -> Vec<Command> {
    let srv = ServerRef::new(BackendName::new("be").unwrap(), ServerName::new("s").unwrap());
    let file = FilePath::new("/m").unwrap();
    vec![
        Command::ShowVersion,
        Command::ShowInfo,
        Command::ShowStat,
        Command::ShowBackend,
        Command::ShowServersState(None),
        Command::ShowServersConn(None),
        Command::AddServer(AddServer::new(srv.clone(), "127.0.0.1:1".parse().unwrap())),
        Command::DelServer(srv.clone()),
        Command::SetServerState(srv.clone(), AdminState::Ready),
        Command::SetServerAddr(srv.clone(), "127.0.0.1:2".parse().unwrap()),
        Command::GetWeight(srv),
        Command::ShowMaps,
        Command::ShowMap(MapTarget::live(file.clone())),
        Command::PrepareMap(file.clone()),
        Command::GetMap(file.clone(), haproxy::MapKey::new("a.example/x").unwrap()),
        Command::ShowAcl(file.clone()),
        Command::CommitSslCert(file.clone()),
        Command::AbortSslCert(file.clone()),
        Command::NewSslCert(file.clone()),
        Command::DelSslCert(file.clone()),
        Command::ShowSslCert(None),
        Command::ShowSslCert(Some(file.clone())),
        Command::ShowSslCrtList(file.clone()),
        Command::AddSslCrtList(file.clone(), CrtListEntry::new(file.clone(), []).unwrap()),
        Command::DelSslCrtList(file.clone(), file),
    ]
}

fuzz_target!(|data: &[u8]| {
    for c in commands() {
        let _ = parse_reply(&c, data);
    }
    let text = String::from_utf8_lossy(data);
    let _ = show_proc(&text);
    let _ = reload_status(&text);
});
