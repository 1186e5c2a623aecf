//! Typed runtime API commands and their encoding into one CLI line (plus payload).
//!
//! Callers never assemble command text: every word comes from a validated newtype or a
//! number, and is escaped here as the CLI's word splitter expects.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use thiserror::Error;

use super::server_proto::ServerProtocol;
use crate::names::{
    AclPattern, BackendName, FilePath, InvalidName, MapKey, MapValue, ServerRef, SniFilter,
    escape_cli_word,
};

/// HAProxy's default `tune.bufsize`: a command line plus its payload must fit in it.
pub const DEFAULT_BUFSIZE: usize = 16384;

/// A server weight, 0 to 256 as HAProxy allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Weight(u16);

impl Weight {
    /// The largest weight HAProxy accepts.
    pub const MAX: u16 = 256;

    /// Validates a weight.
    pub fn new(w: u32) -> Result<Self, EncodeError> {
        if w > u32::from(Self::MAX) {
            return Err(EncodeError::WeightOutOfRange(w));
        }
        Ok(Self(w as u16))
    }

    /// The weight as a number.
    pub fn get(self) -> u16 {
        self.0
    }
}

/// The administrative state `set server … state` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AdminState {
    /// Takes traffic.
    Ready,
    /// Keeps existing sessions and persistent clients, takes no new ones.
    Drain,
    /// Takes nothing; required before `del server`.
    Maint,
}

impl AdminState {
    fn as_str(self) -> &'static str {
        match self {
            AdminState::Ready => "ready",
            AdminState::Drain => "drain",
            AdminState::Maint => "maint",
        }
    }
}

/// Health check settings for a dynamic server (`check inter … rise … fall …`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HealthCheck {
    /// Interval between checks.
    pub inter: Duration,
    /// Consecutive successes to go up.
    pub rise: u8,
    /// Consecutive failures to go down.
    pub fall: u8,
}

/// `add server` with the keywords HAProxy 2.6 accepts for dynamic servers. The `enabled`
/// keyword is deliberately absent: on 2.6.12 it shows the server UP while load balancing
/// ignores it. A new server starts in maintenance; follow with `SetServerState(Ready)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AddServer {
    /// Where the server goes.
    pub server: ServerRef,
    /// Its address: an IP literal (HAProxy would take `999.1.1.1` as a hostname) and port.
    pub addr: SocketAddr,
    /// Initial weight (HAProxy's default is 1; `default-server` is ignored).
    pub weight: Option<Weight>,
    /// Per-server connection limit.
    pub maxconn: Option<u32>,
    /// Queue limit.
    pub maxqueue: Option<u32>,
    /// Health checks (enable them afterwards with `enable health`).
    pub check: Option<HealthCheck>,
    /// Slow start ramp.
    pub slowstart: Option<Duration>,
    /// Backup server.
    pub backup: bool,
    /// PROXY protocol to the server.
    pub send_proxy: Option<SendProxy>,
    /// HTTP/2 and TLS to the server (the backend's `default-server` keywords, which `add
    /// server` would ignore).
    pub protocol: ServerProtocol,
}

/// Which PROXY protocol version HAProxy speaks to a backend's servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SendProxy {
    /// Version 1, text (`send-proxy`).
    V1,
    /// Version 2, binary (`send-proxy-v2`).
    V2,
}

impl SendProxy {
    /// The server keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            SendProxy::V1 => "send-proxy",
            SendProxy::V2 => "send-proxy-v2",
        }
    }
}

impl AddServer {
    /// A server with defaults: no keywords.
    pub fn new(server: ServerRef, addr: SocketAddr) -> Self {
        Self {
            server,
            addr,
            weight: None,
            maxconn: None,
            maxqueue: None,
            check: None,
            slowstart: None,
            backup: false,
            send_proxy: None,
            protocol: ServerProtocol::default(),
        }
    }
}

/// Which map a map command addresses, and whether a prepared version.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MapTarget {
    /// The map file, exactly as the configuration names it.
    pub file: FilePath,
    /// A version from `prepare map`, for an atomic swap.
    pub version: Option<u32>,
}

impl MapTarget {
    /// The live version of a map.
    pub fn live(file: FilePath) -> Self {
        Self {
            file,
            version: None,
        }
    }
}

/// PEM text for `set ssl cert`: certificate(s) and key, no empty line (which would end the
/// payload early), no control characters but newlines.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PemPayload(String);

impl PemPayload {
    /// Validates PEM text for use as a CLI payload.
    pub fn new(pem: impl Into<String>) -> Result<Self, EncodeError> {
        let pem = pem.into();
        let pem = pem.replace("\r\n", "\n");
        let body = pem.trim_end_matches('\n');
        if body.is_empty()
            || !body.starts_with("-----BEGIN ")
            || body.split('\n').any(|l| l.trim().is_empty())
            || body.chars().any(|c| c.is_control() && c != '\n')
        {
            return Err(EncodeError::BadPayload);
        }
        Ok(Self(body.to_string()))
    }

    /// The PEM text, without a final newline.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One crt-list line as the agent writes it into the crt-list file and sends it with `add
/// ssl crt-list`: a certificate file, its client-certificate options if any, and its SNI
/// filters. Without filters HAProxy serves the certificate for the names in its own CN and
/// SANs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CrtListEntry {
    /// The certificate file, exactly as HAProxy names its store.
    pub cert: FilePath,
    /// Client certificates asked of the clients of these names (the line's SSL options).
    pub auth: Option<ClientAuth>,
    /// SNI filters, sorted and without duplicates when built by [`CrtListEntry::new`].
    pub sni: Vec<SniFilter>,
}

impl CrtListEntry {
    /// An entry with `sni` sorted and deduplicated. Refuses a certificate path that a
    /// crt-list line or `del ssl crt-list` would misread: one holding `:` (taken as
    /// `<cert>:<line>`), or starting with `#` (a comment) or `[` (options).
    pub fn new(
        cert: FilePath,
        sni: impl IntoIterator<Item = SniFilter>,
    ) -> Result<Self, InvalidName> {
        check_crt_list_cert(&cert)?;
        let mut sni: Vec<SniFilter> = sni.into_iter().collect();
        sni.sort();
        sni.dedup();
        Ok(Self {
            cert,
            auth: None,
            sni,
        })
    }

    /// The same entry asking for client certificates as `auth` says.
    pub fn with_auth(mut self, auth: Option<ClientAuth>) -> Self {
        self.auth = auth;
        self
    }

    /// The crt-list line, without a final LF: `<cert> [[<options>]] [<sni>...]`.
    pub fn line(&self) -> String {
        let mut line = self.cert.as_str().to_string();
        if let Some(auth) = &self.auth {
            line.push_str(" [");
            line.push_str(&auth.options());
            line.push(']');
        }
        for sni in &self.sni {
            line.push(' ');
            line.push_str(sni.as_str());
        }
        line
    }
}

/// How a crt-list line verifies client certificates (`verify required|optional`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ClientVerify {
    /// A client without a certificate signed by the CA is refused in the handshake.
    Required,
    /// A client may send no certificate; one it sends must be signed by the CA.
    Optional,
}

impl ClientVerify {
    /// The keyword after `verify`.
    pub fn keyword(self) -> &'static str {
        match self {
            Self::Required => "required",
            Self::Optional => "optional",
        }
    }
}

/// The client-certificate options of a crt-list line: `verify <mode> ca-file <ca>
/// [crl-file <crl>]`, in the order HAProxy 2.6.12 prints them back.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientAuth {
    /// Whether a certificate is required.
    pub verify: ClientVerify,
    /// The CA bundle client certificates must chain to (a `ca-file` store).
    pub ca_file: FilePath,
    /// Revoked certificates (a `crl-file` store).
    pub crl_file: Option<FilePath>,
}

impl ClientAuth {
    /// The options text, without brackets.
    pub fn options(&self) -> String {
        let mut s = format!(
            "verify {} ca-file {}",
            self.verify.keyword(),
            self.ca_file.as_str()
        );
        if let Some(crl) = &self.crl_file {
            s.push_str(" crl-file ");
            s.push_str(crl.as_str());
        }
        s
    }

    /// Reads options as [`ClientAuth::options`] writes them; `None` for anything else.
    pub fn parse(options: &str) -> Option<Self> {
        let words: Vec<&str> = options.split(' ').collect();
        let (verify, ca, crl) = match words.as_slice() {
            ["verify", v, "ca-file", ca] => (v, ca, None),
            ["verify", v, "ca-file", ca, "crl-file", crl] => (v, ca, Some(crl)),
            _ => return None,
        };
        let verify = match *verify {
            "required" => ClientVerify::Required,
            "optional" => ClientVerify::Optional,
            _ => return None,
        };
        let path = |p: &str| {
            FilePath::new(p)
                .ok()
                .filter(|f| check_option_path(f).is_ok())
        };
        Some(Self {
            verify,
            ca_file: path(ca)?,
            crl_file: match crl {
                Some(c) => Some(path(c)?),
                None => None,
            },
        })
    }
}

/// Checks that a `ca-file`/`crl-file` path survives the bracketed options of a crt-list
/// line (no `]`, which would end them).
pub fn check_option_path(path: &FilePath) -> Result<(), InvalidName> {
    match path.as_str().chars().find(|&c| c == ']' || c == '[') {
        Some(ch) => Err(InvalidName::BadChar {
            what: "crt-list option path",
            value: path.as_str().to_string(),
            ch,
        }),
        None => Ok(()),
    }
}

/// The two kinds of verification stores HAProxy 2.6 changes at runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CaStore {
    /// `ca-file`: CA certificates.
    CaFile,
    /// `crl-file`: certificate revocation lists.
    CrlFile,
}

impl CaStore {
    /// The keyword of the commands (`new ssl <kw>` …).
    pub fn keyword(self) -> &'static str {
        match self {
            Self::CaFile => "ca-file",
            Self::CrlFile => "crl-file",
        }
    }

    /// How HAProxy names the kind in its replies (`CA`, `CRL`).
    pub fn label(self) -> &'static str {
        match self {
            Self::CaFile => "CA",
            Self::CrlFile => "CRL",
        }
    }
}

fn pick(kind: CaStore, ca: &'static str, crl: &'static str) -> &'static str {
    match kind {
        CaStore::CaFile => ca,
        CaStore::CrlFile => crl,
    }
}

/// Checks that a certificate path survives a crt-list line and `del ssl crt-list`.
pub fn check_crt_list_cert(cert: &FilePath) -> Result<(), InvalidName> {
    let s = cert.as_str();
    let bad = s
        .chars()
        .find(|&c| c == ':')
        .or_else(|| s.chars().next().filter(|c| matches!(c, '#' | '[')));
    match bad {
        Some(ch) => Err(InvalidName::BadChar {
            what: "crt-list certificate path",
            value: s.to_string(),
            ch,
        }),
        None => Ok(()),
    }
}

/// A runtime API command.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Command {
    /// `show version`
    ShowVersion,
    /// `show info`
    ShowInfo,
    /// `show stat`
    ShowStat,
    /// `show stat <backend> 4 -1`: the rows of one backend's servers only.
    ShowStatServers(BackendName),
    /// `show backend`
    ShowBackend,
    /// `show servers state [<backend>]`
    ShowServersState(Option<BackendName>),
    /// `show servers conn [<backend>]`
    ShowServersConn(Option<BackendName>),
    /// `add server …`
    AddServer(AddServer),
    /// `del server <be>/<srv>`
    DelServer(ServerRef),
    /// `set server <be>/<srv> state ready|drain|maint`
    SetServerState(ServerRef, AdminState),
    /// `set server <be>/<srv> addr <ip> port <port>`
    SetServerAddr(ServerRef, SocketAddr),
    /// `set server <be>/<srv> weight <n>`
    SetServerWeight(ServerRef, Weight),
    /// `get weight <be>/<srv>`
    GetWeight(ServerRef),
    /// `enable health <be>/<srv>`
    EnableHealth(ServerRef),
    /// `shutdown sessions server <be>/<srv>`
    ShutdownSessionsServer(ServerRef),
    /// `show map`: the list of maps.
    ShowMaps,
    /// `show map [@ver] <file>`: one map's entries.
    ShowMap(MapTarget),
    /// `add map [@ver] <file> <key> <value>`
    AddMap(MapTarget, MapKey, MapValue),
    /// `add map [@ver] <file> <<` with `key value` lines as payload.
    AddMapBulk(MapTarget, Vec<(MapKey, MapValue)>),
    /// `set map <file> <key> <value>`
    SetMap(FilePath, MapKey, MapValue),
    /// `del map <file> <key>`
    DelMap(FilePath, MapKey),
    /// `clear map [@ver] <file>`
    ClearMap(MapTarget),
    /// `prepare map <file>`
    PrepareMap(FilePath),
    /// `commit map @<ver> <file>`
    CommitMap(FilePath, u32),
    /// `get map <file> <sample>`: which entry of a map the sample matches, by the map's own
    /// match method (`str`, `beg`, `regm`, … as the config's first use of the file set it).
    GetMap(FilePath, MapKey),
    /// `show acl <file>`: one ACL file's patterns.
    ShowAcl(FilePath),
    /// `add acl <file> <pattern>` (a pattern already there is listed twice).
    AddAcl(FilePath, AclPattern),
    /// `del acl <file> <pattern>`: every entry with that pattern.
    DelAcl(FilePath, AclPattern),
    /// `clear acl <file>`
    ClearAcl(FilePath),
    /// `set ssl cert <file> <<` + PEM: opens (or updates) the one transaction HAProxy 2.6
    /// has for all certificates; nothing is served until `commit ssl cert`.
    ///
    /// On 2.6.12 the payload is only parsed here: a key that does not match the certificate,
    /// or a missing key, is refused by the commit, not by this command. While a transaction
    /// is open for another file, 2.6.12 puts this payload into *that* transaction and replies
    /// `Transaction updated for certificate <other>!`; the reply is then a
    /// [`super::Refusal::SslOtherTransaction`] and the caller must `abort ssl cert <other>`.
    SetSslCert(FilePath, PemPayload),
    /// `commit ssl cert <file>`: applies the transaction to every bind using the file. A
    /// failed commit (key mismatch, no key) leaves the transaction open: abort it.
    CommitSslCert(FilePath),
    /// `abort ssl cert <file>`
    AbortSslCert(FilePath),
    /// `new ssl cert <file>`: an empty certificate store, to fill with `set ssl cert` +
    /// `commit ssl cert` and attach with `add ssl crt-list`. On 2.6.12 this brings a
    /// brand-new certificate online for its SNI names without a reload.
    NewSslCert(FilePath),
    /// `del ssl cert <file>`: removes a store no crt-list line or bind uses any more
    /// (`del ssl crt-list` first).
    DelSslCert(FilePath),
    /// `add ssl crt-list <list> <<` + the entry's line: carries the SNI filters (the
    /// one-argument form `add ssl crt-list <list> <cert>` carries only the path, and the
    /// line then serves the certificate's own CN/SAN names). The certificate must be loaded
    /// and committed (an empty store is refused); new TLS handshakes with a matching SNI get
    /// it at once, on every bind using the list (checked on 2.6.12). The list may start
    /// empty: 2.6.12 loads an empty crt-list when the bind has a `crt` before it (a bind
    /// with only an empty crt-list fails `haproxy -c`: no certificate). Adding a cert that
    /// is already in the list adds a second line; the crt-list file is not written.
    AddSslCrtList(FilePath, CrtListEntry),
    /// `del ssl crt-list <list> <cert>`: removes the certificate's line; its SNI names fall
    /// back to the bind's default certificate, which is the first one on the bind line (its
    /// `crt`, or the first line of a `crt-list` written before any `crt`). 2.6.12 refuses
    /// when the cert is on several lines of the list, and when the line holds a bind's
    /// default certificate (unless `strict-sni`).
    DelSslCrtList(FilePath, FilePath),
    /// `del ssl crt-list <list> <cert>:<line>`: one of several lines of the same certificate
    /// (line numbers as `show ssl crt-list -n` prints them; 2.6.12 refuses the plain form
    /// when a certificate has more than one line).
    DelSslCrtListLine(FilePath, FilePath, u32),
    /// `show ssl cert [<file>]`: the loaded files, or one file's details.
    ShowSslCert(Option<FilePath>),
    /// `show ssl crt-list -n <list>`: the lines of a crt-list, with line numbers.
    ShowSslCrtList(FilePath),
    /// `new ssl ca-file|crl-file <file>`: an empty store, to fill with `set` + `commit` and
    /// name in a crt-list line's options.
    NewSslCa(CaStore, FilePath),
    /// `set ssl ca-file|crl-file <file> <<` + PEM: opens the store's transaction. 2.6.12
    /// takes a certificate as a `crl-file` payload (an empty list): check CRLs first.
    SetSslCa(CaStore, FilePath, PemPayload),
    /// `commit ssl ca-file|crl-file <file>`: every crt-list line naming the store verifies
    /// with the new contents.
    CommitSslCa(CaStore, FilePath),
    /// `abort ssl ca-file|crl-file <file>`
    AbortSslCa(CaStore, FilePath),
    /// `del ssl ca-file|crl-file <file>`: removes a store no line uses any more.
    DelSslCa(CaStore, FilePath),
    /// `show ssl ca-file|crl-file`: the stores of one kind.
    ShowSslCa(CaStore),
}

/// Why a command could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncodeError {
    /// The encoded command would not fit HAProxy's buffer; 2.6 would drop it and close.
    #[error("command is {len} bytes, HAProxy's buffer takes at most {max}")]
    TooLong {
        /// Encoded length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A weight above 256.
    #[error("weight {0} is out of range 0..=256")]
    WeightOutOfRange(u32),
    /// The port of a server address is 0.
    #[error("server address {0} has port 0")]
    PortZero(SocketAddr),
    /// An unspecified, multicast or broadcast address for a server.
    #[error("server address {0} is not a unicast address")]
    NotUnicast(IpAddr),
    /// A payload that would end early or carries control characters.
    #[error("payload is empty, holds an empty line or a control character")]
    BadPayload,
    /// A bulk map update without entries.
    #[error("bulk map update has no entries")]
    EmptyBulk,
    /// A certificate path that a crt-list line or `del ssl crt-list` would misread.
    #[error(transparent)]
    CrtListCert(#[from] InvalidName),
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

impl Command {
    /// True for commands that carry a payload after `<<`.
    pub fn has_payload(&self) -> bool {
        matches!(
            self,
            Command::AddMapBulk(..)
                | Command::SetSslCert(..)
                | Command::AddSslCrtList(..)
                | Command::SetSslCa(..)
        )
    }

    /// True for commands that only read state.
    pub fn is_read_only(&self) -> bool {
        matches!(
            self,
            Command::ShowVersion
                | Command::ShowInfo
                | Command::ShowStat
                | Command::ShowStatServers(_)
                | Command::ShowBackend
                | Command::ShowServersState(_)
                | Command::ShowServersConn(_)
                | Command::GetWeight(_)
                | Command::ShowMaps
                | Command::ShowMap(_)
                | Command::GetMap(..)
                | Command::ShowAcl(_)
                | Command::ShowSslCert(_)
                | Command::ShowSslCrtList(_)
                | Command::ShowSslCa(_)
        )
    }

    /// A short, stable name for metrics and logs (`add server`, `set map`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Command::ShowVersion => "show version",
            Command::ShowInfo => "show info",
            Command::ShowStat | Command::ShowStatServers(_) => "show stat",
            Command::ShowBackend => "show backend",
            Command::ShowServersState(_) => "show servers state",
            Command::ShowServersConn(_) => "show servers conn",
            Command::AddServer(_) => "add server",
            Command::DelServer(_) => "del server",
            Command::SetServerState(..) => "set server state",
            Command::SetServerAddr(..) => "set server addr",
            Command::SetServerWeight(..) => "set server weight",
            Command::GetWeight(_) => "get weight",
            Command::EnableHealth(_) => "enable health",
            Command::ShutdownSessionsServer(_) => "shutdown sessions server",
            Command::ShowMaps | Command::ShowMap(_) => "show map",
            Command::AddMap(..) | Command::AddMapBulk(..) => "add map",
            Command::SetMap(..) => "set map",
            Command::DelMap(..) => "del map",
            Command::ClearMap(_) => "clear map",
            Command::PrepareMap(_) => "prepare map",
            Command::CommitMap(..) => "commit map",
            Command::GetMap(..) => "get map",
            Command::ShowAcl(_) => "show acl",
            Command::AddAcl(..) => "add acl",
            Command::DelAcl(..) => "del acl",
            Command::ClearAcl(_) => "clear acl",
            Command::SetSslCert(..) => "set ssl cert",
            Command::CommitSslCert(_) => "commit ssl cert",
            Command::AbortSslCert(_) => "abort ssl cert",
            Command::NewSslCert(_) => "new ssl cert",
            Command::DelSslCert(_) => "del ssl cert",
            Command::AddSslCrtList(..) => "add ssl crt-list",
            Command::DelSslCrtList(..) | Command::DelSslCrtListLine(..) => "del ssl crt-list",
            Command::ShowSslCert(_) => "show ssl cert",
            Command::ShowSslCrtList(_) => "show ssl crt-list",
            Command::NewSslCa(k, _) => pick(*k, "new ssl ca-file", "new ssl crl-file"),
            Command::SetSslCa(k, ..) => pick(*k, "set ssl ca-file", "set ssl crl-file"),
            Command::CommitSslCa(k, _) => pick(*k, "commit ssl ca-file", "commit ssl crl-file"),
            Command::AbortSslCa(k, _) => pick(*k, "abort ssl ca-file", "abort ssl crl-file"),
            Command::DelSslCa(k, _) => pick(*k, "del ssl ca-file", "del ssl crl-file"),
            Command::ShowSslCa(k) => pick(*k, "show ssl ca-file", "show ssl crl-file"),
        }
    }

    /// The command as CLI text: one line without its final LF, followed for payload commands
    /// by the payload lines and the empty line that ends it.
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

    /// Encodes the command with its final LF into `dst`, refusing anything longer than
    /// `bufsize` before a byte is written.
    pub fn encode(&self, bufsize: usize, dst: &mut BytesMut) -> Result<(), EncodeError> {
        let text = self.to_text()?;
        let len = text.len() + 1;
        // HAProxy needs room for the line and its own bookkeeping; stay a little below.
        let max = bufsize.saturating_sub(64);
        if len > max {
            return Err(EncodeError::TooLong { len, max });
        }
        dst.reserve(len);
        dst.put_slice(text.as_bytes());
        dst.put_u8(b'\n');
        Ok(())
    }
}

fn push_target(s: &mut String, t: &MapTarget) {
    if let Some(v) = t.version {
        let _ = write!(s, " @{v}");
    }
    s.push(' ');
    escape_cli_word(t.file.as_str(), s);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::ServerName;

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
}
