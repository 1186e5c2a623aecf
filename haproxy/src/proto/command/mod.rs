//! Typed runtime API commands and their encoding into one CLI line (plus payload).
//!
//! Callers never assemble command text: every word comes from a validated newtype or a
//! number (their types in [`args`]), and is escaped as the CLI's word splitter expects
//! ([`text`]).

mod args;
mod text;

use std::net::{IpAddr, SocketAddr};

use bytes::{BufMut, BytesMut};
use thiserror::Error;

use crate::names::{AclPattern, BackendName, FilePath, InvalidName, MapKey, MapValue, ServerRef};
use args::pick;
pub use args::{
    AddServer, AdminState, CaStore, ClientAuth, ClientVerify, CrtListEntry, HealthCheck, MapTarget,
    PemPayload, SendProxy, Weight, check_crt_list_cert, check_option_path,
};

/// HAProxy's default `tune.bufsize`: a command line plus its payload must fit in it.
pub const DEFAULT_BUFSIZE: usize = 16384;

/// The pattern of the commands HAProxy answers with nothing when they succeed (any text is a
/// refusal), for exhaustive matches on [`Command`]: the reply parser's and those checking it.
#[macro_export]
macro_rules! empty_reply_commands {
    () => {
        $crate::proto::Command::SetServerState(..)
            | $crate::proto::Command::SetServerWeight(..)
            | $crate::proto::Command::EnableHealth(_)
            | $crate::proto::Command::ShutdownSessionsServer(_)
            | $crate::proto::Command::AddMap(..)
            | $crate::proto::Command::AddMapBulk(..)
            | $crate::proto::Command::SetMap(..)
            | $crate::proto::Command::DelMap(..)
            | $crate::proto::Command::ClearMap(_)
            | $crate::proto::Command::CommitMap(..)
            | $crate::proto::Command::AddAcl(..)
            | $crate::proto::Command::DelAcl(..)
            | $crate::proto::Command::ClearAcl(_)
    };
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

#[cfg(test)]
mod tests;
