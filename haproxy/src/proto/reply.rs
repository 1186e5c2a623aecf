//! Typed replies and the dispatch from a command to the parser of its reply.
//!
//! A reply body is what HAProxy printed for one command, without the prompt and without one
//! trailing LF. Every command has an expected shape; anything else is either a refusal that
//! HAProxy phrased (typed by [`Refusal`], text kept) or an unexpected reply (raw text kept).
//! Nothing unexpected is ever read as success.

use thiserror::Error;

use super::command::Command;
pub use super::lookup::{MapLookup, MapMatch};
use super::parse;
pub use super::parse::{
    AclEntry, AddrChange, InfoField, MapEntry, MapInfo, OpState, ServerAdmin, ServerConn,
    ServerState, ServersStateRows, StatRow, WeightInfo,
};
pub use super::refusal::Refusal;
use super::ssl;
pub use super::ssl::{CrtListLine, SslCaList, SslCertInfo, SslCertList, SslCertStatus};
use crate::version::Version;

/// A successful, typed reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The command printed nothing, as success looks for set/del/clear commands.
    Done,
    /// `show version`
    Version(Version),
    /// `show info`
    Info(Vec<InfoField>),
    /// `show stat`
    Stat(Vec<StatRow>),
    /// `show backend`
    Backends(Vec<String>),
    /// `show servers state`
    ServersState(ServersStateRows),
    /// `show servers conn`
    ServersConn(Vec<ServerConn>),
    /// `add server` succeeded.
    ServerAdded,
    /// `del server` succeeded.
    ServerDeleted,
    /// `set server … addr`
    AddrChanged(AddrChange),
    /// `get weight`
    Weight(WeightInfo),
    /// `show map` without argument.
    Maps(Vec<MapInfo>),
    /// `show map <file>`
    MapEntries(Vec<MapEntry>),
    /// `prepare map`: the new version.
    MapVersion(u32),
    /// `get map <file> <sample>`
    MapLookup(MapLookup),
    /// `show acl <file>`
    AclEntries(Vec<AclEntry>),
    /// `set ssl cert`: a transaction is open (created, or updated when one was already open
    /// for the same file) and holds the payload.
    SslTransaction,
    /// `commit ssl cert` succeeded.
    SslCommitted,
    /// `abort ssl cert`: the transaction was dropped.
    SslAborted,
    /// `new ssl cert|ca-file|crl-file`: an empty store exists.
    SslCertCreated,
    /// `del ssl cert|ca-file|crl-file`: the store is gone.
    SslCertDeleted,
    /// `show ssl cert`
    SslCerts(SslCertList),
    /// `show ssl cert <file>`
    SslCert(SslCertInfo),
    /// `add ssl crt-list` inserted the line and serves it.
    CrtListEntryAdded,
    /// `del ssl crt-list` removed the line.
    CrtListEntryDeleted,
    /// `show ssl crt-list <list>`
    CrtList(Vec<CrtListLine>),
    /// `show ssl ca-file` / `show ssl crl-file`
    SslCaFiles(SslCaList),
}

/// Why a reply is not the success the command expects.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReplyError {
    /// HAProxy refused the command and said why.
    #[error("haproxy refused `{command}`: {message}")]
    Refused {
        /// Which command (its stable name).
        command: &'static str,
        /// The kind of refusal.
        kind: Refusal,
        /// HAProxy's text.
        message: String,
    },
    /// The reply has a shape the parser does not know.
    #[error("unexpected reply to `{command}`: {raw:?}")]
    Unexpected {
        /// Which command.
        command: &'static str,
        /// The raw reply.
        raw: String,
    },
}

impl ReplyError {
    /// The refusal kind, if HAProxy refused.
    pub fn refusal(&self) -> Option<Refusal> {
        match self {
            ReplyError::Refused { kind, .. } => Some(*kind),
            ReplyError::Unexpected { .. } => None,
        }
    }
}

/// Recognises HAProxy's error messages.
pub fn classify(text: &str) -> Option<Refusal> {
    if let Some(kind) = ssl::classify(text) {
        return Some(kind);
    }
    let first = text.lines().next().unwrap_or("");
    let table: &[(&str, Refusal)] = &[
        ("No such backend.", Refusal::NoSuchBackend),
        ("Can't find backend.", Refusal::NoSuchBackend),
        ("No such server.", Refusal::NoSuchServer),
        ("Already exists a server", Refusal::ServerExists),
        (
            "Only servers in maintenance mode",
            Refusal::NotInMaintenance,
        ),
        ("Server still has connections", Refusal::HasConnections),
        (
            "This server cannot be removed at runtime",
            Refusal::StillReferenced,
        ),
        (
            "Backend must use a dynamic load balancing",
            Refusal::StaticAlgorithm,
        ),
        (
            "Backend is using a static LB algorithm",
            Refusal::StaticAlgorithm,
        ),
        ("Permission denied", Refusal::PermissionDenied),
        ("This command is restricted to", Refusal::PermissionDenied),
        ("Unknown command", Refusal::UnknownCommand),
        ("Key not found.", Refusal::KeyNotFound),
        ("entry not found.", Refusal::KeyNotFound),
        ("Unknown map identifier", Refusal::UnknownMap),
        ("Unknown ACL identifier", Refusal::UnknownAcl),
        ("usage:", Refusal::InvalidArgument),
        ("Require '", Refusal::InvalidArgument),
        ("invalid port", Refusal::InvalidArgument),
        ("Invalid addr", Refusal::InvalidArgument),
        ("Absolute weight", Refusal::InvalidArgument),
        ("unknown keyword", Refusal::InvalidArgument),
        ("weight of server", Refusal::InvalidArgument),
        ("'server' expects", Refusal::InvalidArgument),
        ("'set server", Refusal::InvalidArgument),
        ("'add map' expects", Refusal::InvalidArgument),
        ("Empty weight string", Refusal::InvalidArgument),
    ];
    if let Some((_, kind)) = table.iter().find(|(p, _)| first.starts_with(p)) {
        return Some(*kind);
    }
    if first.contains("option is not accepted for dynamic server")
        || first.contains("for tracking as it is a dynamic server")
        || (first.starts_with('\'') && first.contains("' expects "))
    {
        return Some(Refusal::InvalidArgument);
    }
    if text
        .lines()
        .any(|l| l.starts_with("Can't update ") || l.starts_with("Can't commit "))
    {
        return Some(Refusal::SslFailed);
    }
    None
}

fn refused(command: &Command, body: &str, fallback: Refusal) -> ReplyError {
    ReplyError::Refused {
        command: command.name(),
        kind: classify(body).unwrap_or(fallback),
        message: body.to_string(),
    }
}

fn unexpected(command: &Command, body: &str) -> ReplyError {
    match classify(body) {
        Some(kind) => ReplyError::Refused {
            command: command.name(),
            kind,
            message: body.to_string(),
        },
        None => ReplyError::Unexpected {
            command: command.name(),
            raw: body.to_string(),
        },
    }
}

/// Removes exactly one trailing LF: replies normally end in one, and the 2.6 replies that
/// lack it (missing-LF hazard) are then read the same way.
pub fn normalize(body: &[u8]) -> &[u8] {
    body.strip_suffix(b"\n").unwrap_or(body)
}

/// [`parse_reply`] of a framed reply the caller hands over: a `show servers state` reply
/// keeps its bytes rather than a copy (a megabyte per 10,000 servers, read at a full
/// observation's peak).
pub fn parse_frame(command: &Command, frame: bytes::Bytes) -> Result<Reply, ReplyError> {
    if let Command::ShowServersState(_) = command {
        let body = frame.slice(..normalize(&frame).len());
        if let Some(rows) = ServersStateRows::from_reply(body) {
            return Ok(Reply::ServersState(rows));
        }
    }
    parse_reply(command, normalize(&frame))
}

/// Parses the reply `body` (already framed and normalized) to `command`. Long by nature: one
/// arm per command, each naming the parser of its reply shape.
pub fn parse_reply(command: &Command, body: &[u8]) -> Result<Reply, ReplyError> {
    let Ok(text) = std::str::from_utf8(body) else {
        return Err(ReplyError::Unexpected {
            command: command.name(),
            raw: String::from_utf8_lossy(body).into_owned(),
        });
    };
    // Payload commands answer the payload lines with `+ ` prompts before the reply itself.
    let text = if command.has_payload() {
        strip_payload_prompts(text)
    } else {
        text
    };
    let exact = |want: &str, ok: Reply| {
        if text == want {
            Ok(ok)
        } else {
            Err(unexpected(command, text))
        }
    };
    let data = |r: Option<Reply>| r.ok_or_else(|| unexpected(command, text));
    match command {
        Command::ShowVersion => data(Version::parse(text).map(Reply::Version)),
        Command::ShowInfo => data(parse::info(text).map(Reply::Info)),
        Command::ShowStat | Command::ShowStatServers(_) => {
            data(parse::stat_csv(text).map(Reply::Stat))
        }
        Command::ShowBackend => data(parse::backends(text).map(Reply::Backends)),
        Command::ShowServersState(_) => {
            data(ServersStateRows::parse(text).map(Reply::ServersState))
        }
        Command::ShowServersConn(_) => data(parse::servers_conn(text).map(Reply::ServersConn)),
        Command::AddServer(_) => exact("New server registered.", Reply::ServerAdded),
        Command::DelServer(_) => exact("Server deleted.", Reply::ServerDeleted),
        Command::SetServerAddr(..) => match parse::addr_change(text) {
            Some(change) => Ok(Reply::AddrChanged(change)),
            None => Err(refused(command, text, Refusal::Other)),
        },
        Command::GetWeight(_) => data(parse::weight(text).map(Reply::Weight)),
        Command::ShowMaps => data(parse::map_list(text).map(Reply::Maps)),
        Command::ShowMap(_) => data(parse::map_entries(text).map(Reply::MapEntries)),
        Command::PrepareMap(_) => data(parse::map_version(text).map(Reply::MapVersion)),
        Command::GetMap(..) => data(MapLookup::parse(text).map(Reply::MapLookup)),
        Command::ShowAcl(_) => data(parse::acl_entries(text).map(Reply::AclEntries)),
        Command::SetSslCert(f, _) => match ssl::set_cert_file(text) {
            Some(named) if named == f.as_str() => Ok(Reply::SslTransaction),
            // 2.6.12 put the payload into the transaction open for another file.
            Some(_) => Err(refused(command, text, Refusal::SslOtherTransaction)),
            None => Err(refused(command, text, Refusal::SslFailed)),
        },
        Command::CommitSslCert(f) => {
            if ssl::is_committed(text, f.as_str()) {
                Ok(Reply::SslCommitted)
            } else {
                Err(refused(command, text, Refusal::SslFailed))
            }
        }
        Command::AbortSslCert(f) => exact(&ssl::abort_message(f.as_str()), Reply::SslAborted),
        Command::NewSslCert(f) => exact(&ssl::new_cert_message(f.as_str()), Reply::SslCertCreated),
        Command::DelSslCert(f) => exact(&ssl::del_cert_message(f.as_str()), Reply::SslCertDeleted),
        Command::AddSslCrtList(list, entry) => {
            if ssl::is_inserted(text, list.as_str(), entry.cert.as_str()) {
                Ok(Reply::CrtListEntryAdded)
            } else {
                Err(refused(command, text, Refusal::SslFailed))
            }
        }
        // HAProxy names the certificate without the line number in either form.
        Command::DelSslCrtList(list, cert) | Command::DelSslCrtListLine(list, cert, _) => exact(
            &ssl::del_crt_list_message(list.as_str(), cert.as_str()),
            Reply::CrtListEntryDeleted,
        ),
        Command::ShowSslCert(None) => data(ssl::ssl_cert_list(text).map(Reply::SslCerts)),
        Command::ShowSslCert(Some(_)) => data(ssl::ssl_cert_info(text).map(Reply::SslCert)),
        Command::ShowSslCrtList(_) => data(ssl::crt_list(text).map(Reply::CrtList)),
        Command::ShowSslCa(_) => data(ssl::ssl_ca_list(text).map(Reply::SslCaFiles)),
        Command::NewSslCa(k, f) => {
            exact(&ssl::new_ca_message(*k, f.as_str()), Reply::SslCertCreated)
        }
        Command::SetSslCa(k, f, _) => match ssl::set_ca_file(*k, text) {
            Some(named) if named == f.as_str() => Ok(Reply::SslTransaction),
            Some(_) => Err(refused(command, text, Refusal::SslOtherTransaction)),
            None => Err(refused(command, text, Refusal::SslFailed)),
        },
        Command::CommitSslCa(_, f) => {
            if ssl::is_committed(text, f.as_str()) {
                Ok(Reply::SslCommitted)
            } else {
                Err(refused(command, text, Refusal::SslFailed))
            }
        }
        Command::AbortSslCa(_, f) => exact(&ssl::abort_message(f.as_str()), Reply::SslAborted),
        Command::DelSslCa(k, f) => {
            exact(&ssl::del_ca_message(*k, f.as_str()), Reply::SslCertDeleted)
        }
        crate::empty_reply_commands!() => {
            if text.is_empty() {
                Ok(Reply::Done)
            } else {
                Err(refused(command, text, Refusal::Other))
            }
        }
    }
}

fn strip_payload_prompts(mut text: &str) -> &str {
    while let Some(rest) = text.strip_prefix("+ ") {
        text = rest;
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::{BackendName, ServerName, ServerRef};
    use crate::proto::command::{AddServer, AdminState};

    fn srv() -> ServerRef {
        ServerRef::new(
            BackendName::new("be").unwrap(),
            ServerName::new("s").unwrap(),
        )
    }

    #[test]
    fn refusals_are_typed() {
        let add = Command::AddServer(AddServer::new(srv(), "127.0.0.1:80".parse().unwrap()));
        let del = Command::DelServer(srv());
        let state = Command::SetServerState(srv(), AdminState::Ready);
        let table: Vec<(&Command, &str, Refusal)> = vec![
            (&add, "No such backend.", Refusal::NoSuchBackend),
            (
                &add,
                "Already exists a server with the same name in backend.",
                Refusal::ServerExists,
            ),
            (
                &add,
                "Backend must use a dynamic load balancing to support dynamic servers.",
                Refusal::StaticAlgorithm,
            ),
            (
                &add,
                "'cookie' option is not accepted for dynamic server",
                Refusal::InvalidArgument,
            ),
            (
                &del,
                "Only servers in maintenance mode can be deleted.",
                Refusal::NotInMaintenance,
            ),
            (
                &del,
                "Server still has connections attached to it, cannot remove it.",
                Refusal::HasConnections,
            ),
            (&del, "No such server.", Refusal::NoSuchServer),
            (&state, "Permission denied", Refusal::PermissionDenied),
            (&state, "something new", Refusal::Other),
        ];
        for (cmd, body, kind) in table {
            let err = parse_reply(cmd, body.as_bytes()).unwrap_err();
            assert_eq!(err.refusal(), Some(kind), "{body}");
        }
    }

    #[test]
    fn success_shapes() {
        let add = Command::AddServer(AddServer::new(srv(), "127.0.0.1:80".parse().unwrap()));
        assert_eq!(
            parse_reply(&add, b"New server registered."),
            Ok(Reply::ServerAdded)
        );
        assert_eq!(
            parse_reply(&Command::DelServer(srv()), b"Server deleted."),
            Ok(Reply::ServerDeleted)
        );
        let state = Command::SetServerState(srv(), AdminState::Ready);
        assert_eq!(parse_reply(&state, b""), Ok(Reply::Done));
    }

    #[test]
    fn unknown_data_is_unexpected_not_ok() {
        let err = parse_reply(&Command::ShowServersState(None), b"garbage\nmore").unwrap_err();
        assert!(matches!(err, ReplyError::Unexpected { .. }));
        let err = parse_reply(&Command::ShowVersion, &[0xff, 0xfe]).unwrap_err();
        assert!(matches!(err, ReplyError::Unexpected { .. }));
    }

    #[test]
    fn normalize_removes_one_lf() {
        assert_eq!(normalize(b"x\n\n"), b"x\n");
        assert_eq!(normalize(b"x"), b"x");
        assert_eq!(normalize(b""), b"");
    }
}
