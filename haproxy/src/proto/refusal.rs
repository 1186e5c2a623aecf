//! The kinds of refusal HAProxy phrases in its replies, named so callers react without matching text.

/// The kinds of refusal HAProxy phrases, so callers can react without matching text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// `No such backend.` / `Can't find backend.`
    NoSuchBackend,
    /// `No such server.`
    NoSuchServer,
    /// `Already exists a server with the same name in backend.`
    ServerExists,
    /// `Only servers in maintenance mode can be deleted.`
    NotInMaintenance,
    /// `Server still has connections attached to it, cannot remove it.`
    HasConnections,
    /// The server is referenced by other configuration (tracking).
    StillReferenced,
    /// The backend uses a static algorithm that refuses dynamic servers or weights.
    StaticAlgorithm,
    /// The socket's level does not allow the command.
    PermissionDenied,
    /// HAProxy does not know the command.
    UnknownCommand,
    /// A map key or entry is not present.
    KeyNotFound,
    /// No such map.
    UnknownMap,
    /// No such ACL file (`Unknown ACL identifier.`).
    UnknownAcl,
    /// An argument was refused (usage, range, keyword, address).
    InvalidArgument,
    /// A TLS certificate update failed (unreadable payload, no key, …).
    SslFailed,
    /// The certificate's private key does not match it (refused by `commit ssl cert`).
    SslKeyMismatch,
    /// No certificate store for that file.
    SslCertNotFound,
    /// `new ssl cert` for a file HAProxy already holds.
    SslCertExists,
    /// A store still used by a crt-list line or bind cannot be deleted.
    SslCertInUse,
    /// A store made by `new ssl cert` and never committed cannot be attached.
    SslCertEmpty,
    /// The one transaction of 2.6 is open for another file (abort that one first).
    SslOtherTransaction,
    /// `commit`/`abort ssl cert` without an open transaction.
    SslNoTransaction,
    /// Another CLI session holds the certificate lock: retry.
    SslLocked,
    /// No such crt-list.
    CrtListNotFound,
    /// The certificate has no line in that crt-list.
    CrtListEntryNotFound,
    /// The line holds the default certificate of a bind and cannot be deleted.
    CrtListDefaultCert,
    /// The certificate is on several lines of the crt-list; 2.6 wants `<cert>:<line>`.
    CrtListAmbiguous,
    /// Some other message.
    Other,
}
