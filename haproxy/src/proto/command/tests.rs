//! Encoding of every command, checked word by word.

use super::*;
use std::time::Duration;

use crate::names::{ServerName, SniFilter};

fn srv(b: &str, s: &str) -> ServerRef {
    ServerRef::new(BackendName::new(b).unwrap(), ServerName::new(s).unwrap())
}

#[test]
fn encodes_each_command() {
    let map = FilePath::new("/etc/haproxy/maps/host.map").unwrap();
    let acl = FilePath::new("/etc/haproxy/maps/allow.acl").unwrap();
    let mut add = AddServer::new(srv("be", "s1"), "10.0.0.1:8080".parse().unwrap());
    add.weight = Some(Weight::new(50).unwrap());
    add.check = Some(HealthCheck {
        inter: Duration::from_secs(2),
        rise: 2,
        fall: 3,
    });
    let table: Vec<(Command, &str)> = vec![
        (Command::ShowVersion, "show version"),
        (Command::ShowServersState(None), "show servers state"),
        (
            Command::ShowServersState(Some(BackendName::new("be").unwrap())),
            "show servers state be",
        ),
        (
            Command::AddServer(add),
            "add server be/s1 10.0.0.1:8080 weight 50 check inter 2000ms rise 2 fall 3",
        ),
        (
            Command::AddServer(AddServer::new(
                srv("be", "s6"),
                "[fd00::1]:80".parse().unwrap(),
            )),
            "add server be/s6 [fd00::1]:80",
        ),
        (
            Command::SetServerState(srv("be", "s1"), AdminState::Drain),
            "set server be/s1 state drain",
        ),
        (
            Command::SetServerAddr(srv("be", "s1"), "10.0.0.2:81".parse().unwrap()),
            "set server be/s1 addr 10.0.0.2 port 81",
        ),
        (
            Command::SetServerWeight(srv("be", "s1"), Weight::new(0).unwrap()),
            "set server be/s1 weight 0",
        ),
        (Command::DelServer(srv("be", "s1")), "del server be/s1"),
        (
            Command::ShutdownSessionsServer(srv("be", "s1")),
            "shutdown sessions server be/s1",
        ),
        (
            Command::AddMap(
                MapTarget::live(map.clone()),
                MapKey::new("a.test/x;y\\z").unwrap(),
                MapValue::new("two words").unwrap(),
            ),
            "add map /etc/haproxy/maps/host.map a.test/x\\;y\\\\z two\\ words",
        ),
        (
            Command::AddMap(
                MapTarget {
                    file: map.clone(),
                    version: Some(3),
                },
                MapKey::new("k").unwrap(),
                MapValue::new("v").unwrap(),
            ),
            "add map @3 /etc/haproxy/maps/host.map k v",
        ),
        (
            Command::AddMapBulk(
                MapTarget::live(map.clone()),
                vec![
                    (MapKey::new("k1").unwrap(), MapValue::new("v1").unwrap()),
                    (MapKey::new("k;2").unwrap(), MapValue::new("v 2").unwrap()),
                ],
            ),
            "add map /etc/haproxy/maps/host.map <<\nk1 v1\nk;2 v 2\n",
        ),
        (
            Command::CommitMap(map.clone(), 3),
            "commit map @3 /etc/haproxy/maps/host.map",
        ),
        (
            Command::PrepareMap(map.clone()),
            "prepare map /etc/haproxy/maps/host.map",
        ),
        (
            Command::AddAcl(acl.clone(), AclPattern::new("ns/web|4|0A").unwrap()),
            "add acl /etc/haproxy/maps/allow.acl ns/web|4|0A",
        ),
        (
            Command::DelAcl(acl.clone(), AclPattern::new("a;b\\c").unwrap()),
            "del acl /etc/haproxy/maps/allow.acl a\\;b\\\\c",
        ),
        (
            Command::ShowAcl(acl.clone()),
            "show acl /etc/haproxy/maps/allow.acl",
        ),
        (
            Command::ClearAcl(acl.clone()),
            "clear acl /etc/haproxy/maps/allow.acl",
        ),
    ];
    for (cmd, want) in table {
        assert_eq!(cmd.to_text().unwrap(), want);
    }
}

#[test]
fn encodes_tls_commands() {
    let list = FilePath::new("/etc/haproxy/certs/crt-list.txt").unwrap();
    let cert = FilePath::new("/etc/haproxy/certs/ns_secret.pem").unwrap();
    let sni = |s: &str| SniFilter::new(s).unwrap();
    let entry = CrtListEntry::new(
        cert.clone(),
        [sni("www.a.test"), sni("*.A.test"), sni("www.a.test")],
    )
    .unwrap();
    assert_eq!(entry.sni, vec![sni("*.a.test"), sni("www.a.test")]);
    assert_eq!(
        entry.line(),
        "/etc/haproxy/certs/ns_secret.pem *.a.test www.a.test"
    );
    let table: Vec<(Command, &str)> = vec![
        (
            Command::NewSslCert(cert.clone()),
            "new ssl cert /etc/haproxy/certs/ns_secret.pem",
        ),
        (
            Command::DelSslCert(cert.clone()),
            "del ssl cert /etc/haproxy/certs/ns_secret.pem",
        ),
        (
            Command::AddSslCrtList(list.clone(), entry.clone()),
            "add ssl crt-list /etc/haproxy/certs/crt-list.txt <<\n\
             /etc/haproxy/certs/ns_secret.pem *.a.test www.a.test\n",
        ),
        (
            Command::AddSslCrtList(list.clone(), CrtListEntry::new(cert.clone(), []).unwrap()),
            "add ssl crt-list /etc/haproxy/certs/crt-list.txt <<\n\
             /etc/haproxy/certs/ns_secret.pem\n",
        ),
        (
            Command::DelSslCrtList(list.clone(), cert.clone()),
            "del ssl crt-list /etc/haproxy/certs/crt-list.txt /etc/haproxy/certs/ns_secret.pem",
        ),
        (
            Command::DelSslCrtListLine(list.clone(), cert.clone(), 3),
            "del ssl crt-list /etc/haproxy/certs/crt-list.txt /etc/haproxy/certs/ns_secret.pem:3",
        ),
        (Command::ShowSslCert(None), "show ssl cert"),
        (
            Command::ShowSslCert(Some(cert.clone())),
            "show ssl cert /etc/haproxy/certs/ns_secret.pem",
        ),
        (
            Command::ShowSslCrtList(list.clone()),
            "show ssl crt-list -n /etc/haproxy/certs/crt-list.txt",
        ),
        (
            Command::AbortSslCert(cert.clone()),
            "abort ssl cert /etc/haproxy/certs/ns_secret.pem",
        ),
    ];
    for (cmd, want) in table {
        assert_eq!(cmd.to_text().unwrap(), want);
    }
    assert!(Command::AddSslCrtList(list.clone(), entry).has_payload());
    assert!(Command::ShowSslCrtList(list).is_read_only());
}

#[test]
fn refuses_crt_list_paths_haproxy_would_misread() {
    for bad in ["/c/a:1.pem", "#a.pem", "[a.pem"] {
        let path = FilePath::new(bad).unwrap();
        assert!(CrtListEntry::new(path.clone(), []).is_err(), "{bad}");
        let list = FilePath::new("/l").unwrap();
        let forged = CrtListEntry {
            cert: path.clone(),
            auth: None,
            sni: vec![],
        };
        assert!(matches!(
            Command::AddSslCrtList(list.clone(), forged).to_text(),
            Err(EncodeError::CrtListCert(_))
        ));
        assert!(matches!(
            Command::DelSslCrtList(list, path).to_text(),
            Err(EncodeError::CrtListCert(_))
        ));
    }
}

#[test]
fn refuses_bad_values_before_sending() {
    assert!(Weight::new(257).is_err());
    let zero_port = Command::AddServer(AddServer::new(
        srv("be", "s"),
        "10.0.0.1:0".parse().unwrap(),
    ));
    assert_eq!(
        zero_port.to_text(),
        Err(EncodeError::PortZero("10.0.0.1:0".parse().unwrap()))
    );
    let unspecified = Command::AddServer(AddServer::new(
        srv("be", "s"),
        "0.0.0.0:80".parse().unwrap(),
    ));
    assert!(matches!(
        unspecified.to_text(),
        Err(EncodeError::NotUnicast(_))
    ));
    assert!(PemPayload::new("-----BEGIN CERTIFICATE-----\n\nabc").is_err());
    assert!(PemPayload::new("garbage").is_err());
}

#[test]
fn refuses_oversize_command() {
    let map = FilePath::new("/m").unwrap();
    let entries: Vec<_> = (0..2000)
        .map(|i| {
            (
                MapKey::new(format!("host{i}.example.com/path")).unwrap(),
                MapValue::new("backend").unwrap(),
            )
        })
        .collect();
    let mut buf = BytesMut::new();
    let err = Command::AddMapBulk(MapTarget::live(map), entries)
        .encode(DEFAULT_BUFSIZE, &mut buf)
        .unwrap_err();
    assert!(matches!(err, EncodeError::TooLong { .. }));
    assert!(buf.is_empty());
}
