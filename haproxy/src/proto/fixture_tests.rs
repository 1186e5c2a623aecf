//! Parser tests on replies recorded from the real HAProxy 2.6.12 (haproxy/tests/fixtures/,
//! exact bytes of non-interactive replies), plus property tests over arbitrary input.

use proptest::prelude::*;

use super::command::{AddServer, AdminState, Command, MapTarget, PemPayload};
use super::parse::{self, OpState, ServerAdmin, ServerState};
use super::proc;
use super::reply::{Refusal, Reply, normalize, parse_reply};
use crate::names::{AclPattern, BackendName, FilePath, ServerName, ServerRef};

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("../../tests/fixtures/", $name))
    };
}

/// A non-interactive reply is the body plus one LF per command; prompt mode replaces that
/// LF with the prompt. Removing it leaves what the codec hands to `normalize`.
fn body(raw: &[u8]) -> &[u8] {
    normalize(normalize(raw))
}

fn srv() -> ServerRef {
    ServerRef::new(
        BackendName::new("be_rr").unwrap(),
        ServerName::new("dyn1").unwrap(),
    )
}

fn text(raw: &[u8]) -> &str {
    std::str::from_utf8(body(raw)).unwrap()
}

#[test]
fn admin_states_as_haproxy_2_6_12_shows_them() {
    // `show servers state` admin bits against `show stat`'s status, from a server
    // `disabled` in the config (5), then `state drain` (12), then `state ready` (4).
    let cases = [
        (5, "maint"),
        (12, "drain"),
        (4, "ready"),
        (1, "maint"),
        (8, "drain"),
        (9, "maint"),
        (0, "ready"),
        (0x20, "maint"),
    ];
    for (bits, want) in cases {
        let a = ServerAdmin(bits);
        let got = match (a.is_maint(), a.is_drain(), a.is_ready()) {
            (true, false, false) => "maint",
            (false, true, false) => "drain",
            (false, false, true) => "ready",
            other => panic!("admin {bits}: inconsistent {other:?}"),
        };
        assert_eq!(got, want, "admin state {bits}");
    }
}

/// A reply handed over as a frame parses as the same reply read from a slice: rows kept,
/// replies refused, other commands alike.
#[test]
fn frames_parse_as_slices() {
    let all = body(fixture!("servers_state_all.txt"));
    let header = format!("1\n# {}\n", parse::SERVERS_STATE_COLUMNS.join(" "));
    let bad_row = [all, b"\nnot a row\n"].concat();
    let state = Command::ShowServersState(None);
    let cases: [(&Command, &[u8]); 6] = [
        (&state, all),
        (&state, header.as_bytes()),
        (&state, &bad_row),
        (&state, b"\xff\xfe"),
        (&state, b""),
        (&Command::ShowVersion, b"2.6.12-1+deb12u4\n"),
    ];
    for (command, frame) in cases {
        let framed = super::reply::parse_frame(command, bytes::Bytes::copy_from_slice(frame));
        assert_eq!(framed, parse_reply(command, normalize(frame)), "{frame:?}");
    }
    let Ok(Reply::ServersState(rows)) =
        super::reply::parse_frame(&state, bytes::Bytes::copy_from_slice(all))
    else {
        panic!("the recorded reply parses");
    };
    assert_eq!(rows.len(), 10);
}

#[test]
fn servers_state_recorded() {
    let rows = parse::servers_state(text(fixture!("servers_state_all.txt"))).unwrap();
    assert_eq!(rows.len(), 10);
    // The reply keeps the checked text and parses rows as they are read.
    let kept = parse::ServersStateRows::parse(text(fixture!("servers_state_all.txt"))).unwrap();
    assert_eq!((kept.len(), kept.is_empty()), (10, false));
    assert_eq!(kept.iter().collect::<Vec<_>>(), rows);
    let header = format!("1\n# {}", parse::SERVERS_STATE_COLUMNS.join(" "));
    let none = parse::ServersStateRows::parse(&header).unwrap();
    assert_eq!((none.len(), none.iter().count()), (0, 0));
    // One bad row refuses the whole reply.
    let bad = format!("{header}\n{}\nnot a row", rows[0].to_row());
    assert!(parse::ServersStateRows::parse(&bad).is_none());
    let s1 = &rows[0];
    assert_eq!((s1.backend.as_str(), s1.server.as_str()), ("be_rr", "s1"));
    assert_eq!(s1.addr, Some("127.0.0.1".parse().unwrap()));
    assert_eq!(s1.op_state, OpState::Running);
    assert!(s1.admin.is_ready());
    assert_eq!((s1.weight, s1.initial_weight, s1.port), (10, 10, 18081));
    // server-template slots disabled in the config: admin state 5 (forced + config maint).
    assert!(rows[7].admin.is_maint());

    let rows = parse::servers_state(text(fixture!("servers_state_after_adds.txt")));
    // Three `show servers state` replies joined by `;` are not one reply.
    assert!(rows.is_none());

    let rows = parse::servers_state(text(fixture!("servers_state_modified.txt"))).unwrap();
    let unresolved = rows.iter().find(|r| r.server == "bad1").unwrap();
    assert_eq!(unresolved.addr, None);
    assert_eq!(unresolved.fqdn.as_deref(), Some("999.1.1.1"));
    for row in &rows {
        assert_eq!(
            parse::servers_state(&format!(
                "1\n# {}\n{}",
                parse::SERVERS_STATE_COLUMNS.join(" "),
                row.to_row()
            ))
            .unwrap(),
            vec![row.clone()]
        );
    }
}

#[test]
fn servers_state_after_adds_split_per_backend() {
    let raw = std::str::from_utf8(fixture!("servers_state_after_adds.txt")).unwrap();
    let parts: Vec<&str> = raw.trim_end().split("\n\n").collect();
    assert_eq!(parts.len(), 3);
    let be_rr = parse::servers_state(parts[0]).unwrap();
    let dyn1 = be_rr.iter().find(|r| r.server == "dyn1").unwrap();
    assert_eq!(dyn1.admin, ServerAdmin(ServerAdmin::FORCED_MAINT));
    let dyn5 = be_rr.iter().find(|r| r.server == "dyn5").unwrap();
    assert_eq!(dyn5.addr, Some("::1".parse().unwrap()));
    let be_lc = parse::servers_state(parts[1]).unwrap();
    assert_eq!(be_lc[1].weight, 50);
}

#[test]
fn servers_state_unknown_backend_is_refused() {
    let cmd = Command::ShowServersState(Some(BackendName::new("nope").unwrap()));
    let err = parse_reply(&cmd, body(fixture!("servers_state_unknown_backend.txt"))).unwrap_err();
    assert_eq!(err.refusal(), Some(Refusal::NoSuchBackend));
}

#[test]
fn servers_conn_recorded() {
    let rows = parse::servers_conn(text(fixture!("servers_conn.txt"))).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[1].server.as_str(), rows[1].used_max), ("s2", 1));
    let rows = parse::servers_conn(text(fixture!("servers_conn_in_use.txt"))).unwrap();
    assert_eq!((rows[0].server.as_str(), rows[0].used_cur), ("slow1", 1));
}

#[test]
fn small_replies_recorded() {
    assert_eq!(
        parse::backends(text(fixture!("show_backend.txt"))).unwrap()[0],
        "be_rr"
    );
    let w = parse::weight(text(fixture!("get_weight.txt"))).unwrap();
    assert_eq!((w.current, w.initial), (10, 10));
    assert_eq!(
        parse::map_version(text(fixture!("prepare_map.txt"))),
        Some(1)
    );
    let info = parse::info(text(fixture!("show_info.txt"))).unwrap();
    assert!(
        info.iter()
            .any(|f| f.key == "Version" && f.value == "2.6.12-1+deb12u4")
    );
    assert!(info.iter().any(|f| f.key == "Unstoppable Jobs"));
    let v = parse_reply(&Command::ShowVersion, body(fixture!("show_version.txt"))).unwrap();
    assert!(matches!(v, Reply::Version(v) if v.minor == 6 && v.patch == 12));
}

#[test]
fn show_stat_recorded() {
    let rows = parse::stat_csv(text(fixture!("show_stat.txt"))).unwrap();
    let s1 = rows
        .iter()
        .find(|r| r.proxy() == "be_rr" && r.service() == "s1")
        .unwrap();
    assert_eq!(s1.get("status"), Some("no check"));
    assert_eq!(s1.number("weight"), Some(10));
    assert!(rows.iter().any(|r| r.service() == "FRONTEND"));
}

#[test]
fn maps_recorded() {
    let maps = parse::map_list(text(fixture!("show_map_list.txt"))).unwrap();
    assert_eq!(maps[0].id, 4);
    assert_eq!(maps[0].file, "$PROBE/hosts.map");
    assert_eq!(maps[0].entries, Some(2));
    let entries = parse::map_entries(text(fixture!("show_map_entries.txt"))).unwrap();
    assert_eq!(entries.len(), 8);
    let semi = entries.iter().find(|e| e.key == "semi.example").unwrap();
    assert_eq!(semi.value, "value;with;semicolons");
    let spaced = entries.iter().find(|e| e.key == "k2.example").unwrap();
    assert_eq!(spaced.value, "value with spaces");
    assert_eq!(
        parse::map_entries(text(fixture!("show_map_empty.txt"))).unwrap(),
        vec![]
    );
}

#[test]
fn set_addr_recorded() {
    let cmd = Command::SetServerAddr(srv(), "127.0.0.2:18199".parse().unwrap());
    let ok = |raw: &[u8]| parse_reply(&cmd, body(raw));
    let Reply::AddrChanged(c) = ok(fixture!("set_addr_port.txt")).unwrap() else {
        panic!("not an address change")
    };
    assert_eq!(c.addr, Some(("127.0.0.1".into(), "127.0.0.2".into())));
    assert_eq!(c.port, Some(("18091".into(), "18199".into())));
    assert!(ok(fixture!("set_addr_only.txt")).is_ok());
    let Reply::AddrChanged(c) = ok(fixture!("set_addr_unchanged.txt")).unwrap() else {
        panic!("not an address change")
    };
    assert_eq!(c.addr, None);
    assert!(ok(fixture!("set_addr_v6.txt")).is_ok());
    assert_eq!(
        ok(fixture!("set_addr_invalid.txt")).unwrap_err().refusal(),
        Some(Refusal::InvalidArgument)
    );
    // The IP was applied but the port was not: that is not a success.
    assert!(ok(fixture!("set_addr_bad_port.txt")).is_err());
}

#[test]
fn server_lifecycle_replies_recorded() {
    let add = Command::AddServer(AddServer::new(srv(), "127.0.0.1:1".parse().unwrap()));
    assert_eq!(
        parse_reply(&add, body(fixture!("add_server_ok.txt"))),
        Ok(Reply::ServerAdded)
    );
    assert_eq!(
        parse_reply(&add, body(fixture!("add_server_no_backend.txt")))
            .unwrap_err()
            .refusal(),
        Some(Refusal::NoSuchBackend)
    );
    let del = Command::DelServer(srv());
    assert_eq!(
        parse_reply(&del, body(fixture!("del_server_ok.txt"))),
        Ok(Reply::ServerDeleted)
    );
    assert_eq!(
        parse_reply(&del, body(fixture!("del_server_not_maint.txt")))
            .unwrap_err()
            .refusal(),
        Some(Refusal::NotInMaintenance)
    );
    let state = Command::SetServerState(srv(), AdminState::Ready);
    assert_eq!(
        parse_reply(&state, body(fixture!("set_state_ok.txt"))),
        Ok(Reply::Done)
    );
    assert_eq!(
        parse_reply(&state, body(fixture!("permission_denied.txt")))
            .unwrap_err()
            .refusal(),
        Some(Refusal::PermissionDenied)
    );
    assert_eq!(
        parse_reply(&state, body(fixture!("unknown_command.txt")))
            .unwrap_err()
            .refusal(),
        Some(Refusal::UnknownCommand)
    );
}

#[test]
fn ssl_replies_recorded() {
    let file = FilePath::new("$PROBE/site.pem").unwrap();
    let pem =
        PemPayload::new("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----").unwrap();
    let set = Command::SetSslCert(file.clone(), pem);
    assert_eq!(
        parse_reply(&set, body(fixture!("set_ssl_cert.txt"))),
        Ok(Reply::SslTransaction)
    );
    assert_eq!(
        parse_reply(&set, body(fixture!("set_ssl_cert_garbage.txt")))
            .unwrap_err()
            .refusal(),
        Some(Refusal::SslFailed)
    );
    let commit = Command::CommitSslCert(file);
    assert_eq!(
        parse_reply(&commit, body(fixture!("commit_ssl_cert.txt"))),
        Ok(Reply::SslCommitted)
    );
    assert!(parse_reply(&commit, body(fixture!("commit_ssl_cert_none.txt"))).is_err());
}

#[test]
fn show_proc_recorded() {
    let p = proc::show_proc(text(fixture!("show_proc.txt"))).unwrap();
    assert_eq!((p.master.pid, p.current_worker()), (6496, Some(6521)));
    let p = proc::show_proc(text(fixture!("show_proc_after_reload.txt"))).unwrap();
    assert_eq!(p.current_worker(), Some(11032));
    assert_eq!(p.old_workers[0].pid, 6521);
    let p = proc::show_proc(text(fixture!("show_proc_failed_reload.txt"))).unwrap();
    assert_eq!((p.master.reloads, p.failed_reloads), (3, 1));
}

fn arb_name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_.:-]{1,20}"
}

fn arb_opt_word() -> impl Strategy<Value = Option<String>> {
    proptest::option::of("[a-z0-9.]{1,20}")
}

prop_compose! {
    fn arb_server_state()(
        ids in (0u32..100_000, 0u32..100_000),
        names in (arb_name(), arb_name()),
        addr in proptest::option::of(any::<std::net::IpAddr>()),
        op in 0u32..4,
        admin in 0u32..0x80,
        weights in (0u32..=256, 0u32..=256),
        last_change in any::<u32>(),
        check in proptest::array::uniform7(-5i64..100),
        fqdn in arb_opt_word(),
        port in any::<u16>(),
        srvrecord in arb_opt_word(),
        nums in (0i64..2, 0i64..65536, 0i64..65536),
        addrs in (arb_opt_word(), arb_opt_word()),
    ) -> ServerState {
        ServerState {
            backend_id: ids.0,
            backend: names.0,
            server_id: ids.1,
            server: names.1,
            addr,
            op_state: [OpState::Stopped, OpState::Starting, OpState::Running, OpState::Stopping][op as usize],
            admin: ServerAdmin(admin),
            weight: weights.0,
            initial_weight: weights.1,
            last_change: u64::from(last_change),
            check,
            fqdn,
            port,
            srvrecord,
            use_ssl: nums.0,
            check_port: nums.1,
            check_addr: addrs.0,
            agent_addr: addrs.1,
            agent_port: nums.2,
        }
    }
}

fn every_command() -> Vec<Command> {
    let file = FilePath::new("/m").unwrap();
    vec![
        Command::ShowVersion,
        Command::ShowInfo,
        Command::ShowStat,
        Command::ShowBackend,
        Command::ShowServersState(None),
        Command::ShowServersConn(None),
        Command::AddServer(AddServer::new(srv(), "127.0.0.1:1".parse().unwrap())),
        Command::DelServer(srv()),
        Command::SetServerState(srv(), AdminState::Maint),
        Command::SetServerAddr(srv(), "127.0.0.1:1".parse().unwrap()),
        Command::GetWeight(srv()),
        Command::ShowMaps,
        Command::ShowMap(MapTarget::live(file.clone())),
        Command::PrepareMap(file.clone()),
        Command::ShowAcl(file.clone()),
        Command::AddAcl(file.clone(), AclPattern::new("a|4|0A").unwrap()),
        Command::DelAcl(file.clone(), AclPattern::new("a|4|0A").unwrap()),
        Command::CommitSslCert(file),
    ]
}

proptest! {
    #[test]
    fn servers_state_rows_round_trip(rows in proptest::collection::vec(arb_server_state(), 0..20)) {
        let mut text = format!("1\n# {}", parse::SERVERS_STATE_COLUMNS.join(" "));
        for r in &rows {
            text.push('\n');
            text.push_str(&r.to_row());
        }
        prop_assert_eq!(parse::servers_state(&text), Some(rows));
    }

    #[test]
    fn no_parser_panics_on_arbitrary_bytes(input in proptest::collection::vec(any::<u8>(), 0..400)) {
        for cmd in every_command() {
            let _ = parse_reply(&cmd, &input);
        }
        let s = String::from_utf8_lossy(&input);
        let _ = proc::show_proc(&s);
        let _ = proc::reload_status(&s);
        let _ = parse::stat_csv(&s);
        let _ = parse::addr_change(&s);
    }

    #[test]
    fn no_parser_panics_on_reply_like_text(input in "[0-9a-z #:()'/,.\"\n-]{0,300}") {
        for cmd in every_command() {
            if let Ok(reply) = parse_reply(&cmd, input.as_bytes()) {
                // Whatever parsed must be the success shape of that command.
                prop_assert!(!matches!(reply, Reply::Done) || input.is_empty());
            }
        }
        let _ = proc::show_proc(&input);
    }
}

#[test]
fn acls_recorded() {
    let entries = parse::acl_entries(text(fixture!("show_acl_entries.txt"))).unwrap();
    let patterns: Vec<&str> = entries.iter().map(|e| e.pattern.as_str()).collect();
    assert_eq!(patterns, ["x|4|0A", "x|4|7F"]);
    assert_eq!(entries[0].reference, "0x564db2803750");
    let file = FilePath::new("/tmp/allow.acl").unwrap();
    let pattern = AclPattern::new("x|4|7F").unwrap();
    let del = Command::DelAcl(file.clone(), pattern.clone());
    let err = parse_reply(&del, body(fixture!("del_acl_missing.txt"))).unwrap_err();
    assert_eq!(err.refusal(), Some(Refusal::KeyNotFound));
    let add = Command::AddAcl(file.clone(), pattern);
    let err = parse_reply(&add, body(fixture!("add_acl_unknown_file.txt"))).unwrap_err();
    assert_eq!(err.refusal(), Some(Refusal::UnknownAcl));
    assert_eq!(parse_reply(&add, b""), Ok(Reply::Done));
    assert_eq!(
        parse_reply(&Command::ShowAcl(file), b""),
        Ok(Reply::AclEntries(vec![]))
    );
}
