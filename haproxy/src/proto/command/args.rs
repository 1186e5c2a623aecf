//! The typed arguments of runtime commands: server weights, states and options, map
//! targets, PEM payloads, crt-list lines and their client-certificate options.

use std::net::SocketAddr;
use std::time::Duration;

use super::EncodeError;
use crate::names::{FilePath, InvalidName, ServerRef, SniFilter};
use crate::proto::server_proto::ServerProtocol;

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
    pub(super) fn as_str(self) -> &'static str {
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
pub struct PemPayload(pub(super) String);

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

pub(super) fn pick(kind: CaStore, ca: &'static str, crl: &'static str) -> &'static str {
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
