//! The catalog's names from `permanent-redirect` to `proxy-ssl-verify-depth`: redirects and
//! the `proxy-*` settings (timeouts, body sizes, retries, TLS to the pods).

use super::{BUFFERING, Entry, PROTO_RELOADS, RUNTIME_ROUTE, honoured, unsupported, values};

/// This group's names, sorted (the catalog is the groups in order).
pub(super) const ENTRIES: &[Entry] = &[
    honoured(
        "permanent-redirect",
        "every request of the Ingress's routes gets `301` (or permanent-redirect-code) to this \
         URL; temporal-redirect wins when both are set",
        RUNTIME_ROUTE,
    ),
    honoured(
        "permanent-redirect-code",
        "the permanent redirect's status: 301, 302, 303, 307 or 308 (HAProxy has no 300, 304, \
         305 or 306 redirect)",
        RUNTIME_ROUTE,
    ),
    unsupported("preserve-trailing-slash", "redirects are not done yet"),
    honoured(
        "proxy-body-size",
        "a request whose `Content-Length` is above the size gets `413` (nginx sizes: bytes, \
         `k`, `m`, `g`; `0` is no limit); a chunked body without a length is not counted",
        RUNTIME_ROUTE,
    ),
    unsupported("proxy-buffer-size", BUFFERING),
    values(
        "proxy-buffering",
        &["off"],
        "`off`: HAProxy streams responses",
        "an nginx buffering setting: HAProxy streams bodies and has no per-route buffer to size",
    ),
    unsupported("proxy-buffers-number", BUFFERING),
    honoured(
        "proxy-connect-timeout",
        "`timeout connect` of the Ingress's backends (seconds, or a duration)",
        "yes",
    ),
    unsupported("proxy-cookie-domain", "cookie rewriting is not done"),
    unsupported("proxy-cookie-path", "cookie rewriting is not done"),
    values(
        "proxy-http-version",
        &["1.1"],
        "`1.1`: HAProxy speaks HTTP/1.1 to servers",
        "HAProxy speaks HTTP/1.1 to servers; `1.0` is not offered",
    ),
    unsupported("proxy-max-temp-file-size", BUFFERING),
    unsupported(
        "proxy-next-upstream",
        "HAProxy retries (`retries 3`, `option redispatch`) on connection failures only",
    ),
    unsupported(
        "proxy-next-upstream-timeout",
        "HAProxy retries on connection failures only",
    ),
    unsupported(
        "proxy-next-upstream-tries",
        "HAProxy retries on connection failures only",
    ),
    honoured(
        "proxy-read-timeout",
        "`timeout server` of the Ingress's backends; HAProxy has one inactivity timeout for \
         both directions, so the larger of read and send is used (named as a difference when \
         they differ)",
        "yes",
    ),
    unsupported(
        "proxy-redirect-from",
        "Location header rewriting is not done",
    ),
    unsupported("proxy-redirect-to", "Location header rewriting is not done"),
    values(
        "proxy-request-buffering",
        &["off"],
        "`off`: HAProxy streams request bodies",
        "an nginx buffering setting: HAProxy streams bodies and has no per-route buffer to size",
    ),
    honoured(
        "proxy-send-timeout",
        "`timeout server`, with proxy-read-timeout (the larger of the two)",
        "yes",
    ),
    unsupported(
        "proxy-ssl-ciphers",
        "not done: the servers are offered OpenSSL's default ciphers",
    ),
    honoured(
        "proxy-ssl-name",
        "a DNS name: with proxy-ssl-verify `on`, the name the servers' certificates must hold \
         (`verifyhost`); with proxy-ssl-server-name `on`, the SNI sent (`sni str(<name>)`)",
        PROTO_RELOADS,
    ),
    unsupported(
        "proxy-ssl-protocols",
        "not done: TLS to the servers uses OpenSSL's defaults (TLS 1.2 and 1.3)",
    ),
    honoured(
        "proxy-ssl-secret",
        "`namespace/name` (or `name`): a Secret whose `ca.crt` (PEM bundle) verifies the \
         servers with proxy-ssl-verify `on` (`verify required ca-file`), and whose `tls.crt` + \
         `tls.key`, when present, are the client certificate (`crt`); checked with OpenSSL and \
         written re-encoded, 0600; a missing Secret or bad `ca.crt` with verification on leaves \
         the backends without servers (`503`) rather than unverified",
        "yes, reason `backend_protocol`, also for a renewed CA or client certificate \
         (measured on 2.6.12: `set/commit ssl ca-file` succeeds but servers keep the CA they \
         were created with)",
    ),
    honoured(
        "proxy-ssl-server-name",
        "`on`: send proxy-ssl-name as SNI (without proxy-ssl-name no SNI is sent, where \
         ingress-nginx sends its upstream's internal name); `off` (the default): no SNI",
        PROTO_RELOADS,
    ),
    honoured(
        "proxy-ssl-verify",
        "`on`: the servers' certificates must chain to proxy-ssl-secret's `ca.crt` (and hold \
         proxy-ssl-name, when set), else the request fails (`503`, `SC` in HAProxy's log); \
         `off` (the default): `verify none`",
        PROTO_RELOADS,
    ),
    unsupported(
        "proxy-ssl-verify-depth",
        "HAProxy 2.6 servers have no verify-depth setting: the whole chain is verified up to \
         proxy-ssl-secret's CA",
    ),
];
