//! A command's CLI text: its words, each escaped as the CLI's word splitter expects, then
//! the payload of the commands that carry one.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::args::{check_crt_list_cert, check_option_path};
use super::{Command, EncodeError, MapTarget};
use crate::names::escape_cli_word;

impl Command {
    /// The command as CLI text: one line without its final LF, followed for payload commands
    /// by the payload lines and the empty line that ends it.
    ///
    /// Long on purpose: one arm per variant, in the enum's order, so each command's words
    /// can be checked against HAProxy's management guide in one table.
    pub fn to_text(&self) -> Result<String, EncodeError> {
        let mut s = String::with_capacity(64);
        let w = |s: &mut String, word: &str| {
            s.push(' ');
            escape_cli_word(word, s);
        };
        match self {
            Command::ShowVersion => s.push_str("show version"),
            Command::ShowInfo => s.push_str("show info"),
            Command::ShowStat => s.push_str("show stat"),
            Command::ShowStatServers(be) => {
                s.push_str("show stat");
                w(&mut s, be.as_str());
                s.push_str(" 4 -1");
            }
            Command::ShowBackend => s.push_str("show backend"),
            Command::ShowServersState(be) => {
                s.push_str("show servers state");
                if let Some(be) = be {
                    w(&mut s, be.as_str());
                }
            }
            Command::ShowServersConn(be) => {
                s.push_str("show servers conn");
                if let Some(be) = be {
                    w(&mut s, be.as_str());
                }
            }
            Command::AddServer(a) => {
                check_addr(&a.addr)?;
                s.push_str("add server");
                w(&mut s, &a.server.to_string());
                w(&mut s, &a.addr.to_string());
                if let Some(weight) = a.weight {
                    let _ = write!(s, " weight {}", weight.get());
                }
                if let Some(m) = a.maxconn {
                    let _ = write!(s, " maxconn {m}");
                }
                if let Some(m) = a.maxqueue {
                    let _ = write!(s, " maxqueue {m}");
                }
                if let Some(c) = a.check {
                    let _ = write!(
                        s,
                        " check inter {} rise {} fall {}",
                        ms(c.inter),
                        c.rise.max(1),
                        c.fall.max(1)
                    );
                }
                if let Some(d) = a.slowstart {
                    let _ = write!(s, " slowstart {}", ms(d));
                }
                if a.backup {
                    s.push_str(" backup");
                }
                if let Some(p) = a.send_proxy {
                    w(&mut s, p.keyword());
                }
                a.protocol.write_keywords(&mut s, a.check.is_some());
            }
            Command::DelServer(r) => {
                s.push_str("del server");
                w(&mut s, &r.to_string());
            }
            Command::SetServerState(r, st) => {
                s.push_str("set server");
                w(&mut s, &r.to_string());
                let _ = write!(s, " state {}", st.as_str());
            }
            Command::SetServerAddr(r, addr) => {
                check_addr(addr)?;
                s.push_str("set server");
                w(&mut s, &r.to_string());
                let _ = write!(s, " addr {} port {}", addr.ip(), addr.port());
            }
            Command::SetServerWeight(r, weight) => {
                s.push_str("set server");
                w(&mut s, &r.to_string());
                let _ = write!(s, " weight {}", weight.get());
            }
            Command::GetWeight(r) => {
                s.push_str("get weight");
                w(&mut s, &r.to_string());
            }
            Command::EnableHealth(r) => {
                s.push_str("enable health");
                w(&mut s, &r.to_string());
            }
            Command::ShutdownSessionsServer(r) => {
                s.push_str("shutdown sessions server");
                w(&mut s, &r.to_string());
            }
            Command::ShowMaps => s.push_str("show map"),
            Command::ShowMap(t) => {
                s.push_str("show map");
                push_target(&mut s, t);
            }
            Command::AddMap(t, k, v) => {
                s.push_str("add map");
                push_target(&mut s, t);
                w(&mut s, k.as_str());
                w(&mut s, v.as_str());
            }
            Command::AddMapBulk(t, entries) => {
                if entries.is_empty() {
                    return Err(EncodeError::EmptyBulk);
                }
                s.push_str("add map");
                push_target(&mut s, t);
                s.push_str(" <<");
                // Payload lines are raw: no escapes. Keys hold no whitespace and values no
                // control characters, so `key value` splits back exactly.
                for (k, v) in entries {
                    let _ = write!(s, "\n{} {}", k.as_str(), v.as_str());
                }
                s.push('\n');
            }
            Command::SetMap(f, k, v) => {
                s.push_str("set map");
                w(&mut s, f.as_str());
                w(&mut s, k.as_str());
                w(&mut s, v.as_str());
            }
            Command::DelMap(f, k) => {
                s.push_str("del map");
                w(&mut s, f.as_str());
                w(&mut s, k.as_str());
            }
            Command::ClearMap(t) => {
                s.push_str("clear map");
                push_target(&mut s, t);
            }
            Command::PrepareMap(f) => {
                s.push_str("prepare map");
                w(&mut s, f.as_str());
            }
            Command::CommitMap(f, v) => {
                let _ = write!(s, "commit map @{v}");
                w(&mut s, f.as_str());
            }
            Command::GetMap(f, sample) => {
                s.push_str("get map");
                w(&mut s, f.as_str());
                w(&mut s, sample.as_str());
            }
            Command::ShowAcl(f) => {
                s.push_str("show acl");
                w(&mut s, f.as_str());
            }
            Command::AddAcl(f, p) => {
                s.push_str("add acl");
                w(&mut s, f.as_str());
                w(&mut s, p.as_str());
            }
            Command::DelAcl(f, p) => {
                s.push_str("del acl");
                w(&mut s, f.as_str());
                w(&mut s, p.as_str());
            }
            Command::ClearAcl(f) => {
                s.push_str("clear acl");
                w(&mut s, f.as_str());
            }
            Command::SetSslCert(f, pem) => {
                s.push_str("set ssl cert");
                w(&mut s, f.as_str());
                s.push_str(" <<\n");
                s.push_str(&pem.0);
                s.push('\n');
            }
            Command::CommitSslCert(f) => {
                s.push_str("commit ssl cert");
                w(&mut s, f.as_str());
            }
            Command::AbortSslCert(f) => {
                s.push_str("abort ssl cert");
                w(&mut s, f.as_str());
            }
            Command::NewSslCert(f) => {
                s.push_str("new ssl cert");
                w(&mut s, f.as_str());
            }
            Command::DelSslCert(f) => {
                s.push_str("del ssl cert");
                w(&mut s, f.as_str());
            }
            Command::AddSslCrtList(list, entry) => {
                check_crt_list_cert(&entry.cert)?;
                if let Some(auth) = &entry.auth {
                    check_option_path(&auth.ca_file)?;
                    if let Some(crl) = &auth.crl_file {
                        check_option_path(crl)?;
                    }
                }
                s.push_str("add ssl crt-list");
                w(&mut s, list.as_str());
                // One raw payload line (no escapes): paths hold no whitespace and filters
                // only `[a-z0-9.*-]`, so HAProxy's crt-list parser reads it back exactly.
                s.push_str(" <<\n");
                s.push_str(&entry.line());
                s.push('\n');
            }
            Command::DelSslCrtList(list, cert) => {
                check_crt_list_cert(cert)?;
                s.push_str("del ssl crt-list");
                w(&mut s, list.as_str());
                w(&mut s, cert.as_str());
            }
            Command::DelSslCrtListLine(list, cert, line) => {
                check_crt_list_cert(cert)?;
                s.push_str("del ssl crt-list");
                w(&mut s, list.as_str());
                w(&mut s, &format!("{}:{line}", cert.as_str()));
            }
            Command::ShowSslCert(f) => {
                s.push_str("show ssl cert");
                if let Some(f) = f {
                    w(&mut s, f.as_str());
                }
            }
            Command::ShowSslCrtList(list) => {
                s.push_str("show ssl crt-list -n");
                w(&mut s, list.as_str());
            }
            Command::NewSslCa(_, f)
            | Command::CommitSslCa(_, f)
            | Command::AbortSslCa(_, f)
            | Command::DelSslCa(_, f) => {
                s.push_str(self.name());
                w(&mut s, f.as_str());
            }
            Command::SetSslCa(_, f, pem) => {
                s.push_str(self.name());
                w(&mut s, f.as_str());
                s.push_str(" <<\n");
                s.push_str(&pem.0);
                s.push('\n');
            }
            Command::ShowSslCa(_) => s.push_str(self.name()),
        }
        Ok(s)
    }
}

fn check_addr(addr: &SocketAddr) -> Result<(), EncodeError> {
    if addr.port() == 0 {
        return Err(EncodeError::PortZero(*addr));
    }
    let ip = addr.ip();
    let bad = ip.is_unspecified()
        || ip.is_multicast()
        || matches!(ip, IpAddr::V4(v4) if v4.is_broadcast());
    if bad {
        return Err(EncodeError::NotUnicast(ip));
    }
    Ok(())
}

fn ms(d: Duration) -> String {
    format!("{}ms", d.as_millis().max(1))
}

fn push_target(s: &mut String, t: &MapTarget) {
    if let Some(v) = t.version {
        let _ = write!(s, " @{v}");
    }
    s.push(' ');
    escape_cli_word(t.file.as_str(), s);
}
