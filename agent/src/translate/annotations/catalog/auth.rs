//! The catalog's names from `affinity` to `auth-url`: session affinity, source ranges, basic and
//! external authentication, client certificates.

use super::{
    AUTH_RELOADS, EXT_AUTH, Entry, MTLS_RELOADS, RUNTIME_ROUTE, SNIPPET, SOURCE_ALLOW,
    SOURCE_RELOADS, honoured, refused, unsupported, values,
};

/// This group's names, sorted (the catalog is the groups in order).
pub(super) const ENTRIES: &[Entry] = &[
    honoured(
        "affinity",
        "`cookie` only: `cookie <session-cookie-name> insert indirect nocache dynamic` with a \
         dynamic cookie key, so servers added at runtime join the affinity set",
        "yes",
    ),
    values(
        "affinity-canary-behavior",
        &["legacy"],
        "`legacy`: whether a request goes to the canary is decided anew each time",
        "keeping a session on the canary (`sticky`, ingress-nginx's default) is not done: \
         each request is decided anew (`legacy`)",
    ),
    honoured(
        "affinity-mode",
        "`persistent`: HAProxy's cookie stickiness never moves a session; `balanced` is \
         honoured with that difference",
        "no (no effect)",
    ),
    honoured("allowlist-source-range", SOURCE_ALLOW, SOURCE_RELOADS),
    honoured(
        "app-root",
        "a request for `/` on the Ingress's routes gets `302` to this path (relative \
         `Location`, where ingress-nginx sends an absolute URL)",
        RUNTIME_ROUTE,
    ),
    unsupported("auth-always-set-cookie", EXT_AUTH),
    unsupported("auth-cache-duration", EXT_AUTH),
    unsupported("auth-cache-key", EXT_AUTH),
    unsupported("auth-keepalive", EXT_AUTH),
    unsupported("auth-keepalive-requests", EXT_AUTH),
    unsupported("auth-keepalive-share-vars", EXT_AUTH),
    unsupported("auth-keepalive-timeout", EXT_AUTH),
    unsupported("auth-method", EXT_AUTH),
    unsupported("auth-proxy-set-headers", EXT_AUTH),
    honoured(
        "auth-realm",
        "the realm of `WWW-Authenticate: Basic realm=\"…\"` (printable ASCII without `\"` or \
         `\\`; without it `Authentication Required`, where ingress-nginx sends an empty realm, \
         which HAProxy cannot)",
        AUTH_RELOADS,
    ),
    unsupported("auth-request-redirect", EXT_AUTH),
    unsupported("auth-response-headers", EXT_AUTH),
    honoured(
        "auth-secret",
        "the Secret (`name` or `namespace/name`) whose users become a `userlist`; a missing \
         Secret or key fails closed (`503`, as ingress-nginx)",
        AUTH_RELOADS,
    ),
    honoured(
        "auth-secret-type",
        "`auth-file` (key `auth`: htpasswd lines) or `auth-map` (each key a user); hashes \
         HAProxy's crypt(3) checks: bcrypt (`htpasswd -B`), SHA-512/256 and MD5 crypt, \
         yescrypt, DES; Apache `$apr1$` (htpasswd's default), `{SHA}` and plain text are \
         named problems",
        AUTH_RELOADS,
    ),
    unsupported("auth-signin", EXT_AUTH),
    unsupported("auth-signin-redirect-param", EXT_AUTH),
    refused("auth-snippet", SNIPPET),
    honoured(
        "auth-tls-error-page",
        "a URL or path as ingress-nginx accepts (`[http[s]://]host[:port]` and/or `/` \
         segments of letters, digits, `-`, `_`, `.`; `@location` names are refused), with \
         `verify on`: a request without a client certificate, or with one that failed \
         verification (another CA, expired, revoked), is redirected there with `302` (nginx's \
         `error_page 495 496 = <url>`); the host's crt-list line then asks for the \
         certificate as `verify optional`, so the client gets to HTTP. With `optional` or \
         `off`: named, no effect",
        MTLS_RELOADS,
    ),
    honoured(
        "auth-tls-match-cn",
        "`CN=` and a regular expression (the whole value, as ingress-nginx: PCRE, unanchored, \
         case-sensitive) matched against the client certificate's subject DN in RFC 2253 form \
         (`CN=client1,O=Example`); a request without a matching certificate answers `403`. \
         Needs auth-tls-secret (else named, no effect) and a verify mode other than `off`. \
         A value without `CN=`, or a regex the canary patterns refuse (lookarounds, \
         back-references, `\\A`/`\\z`, `#`, tabs), is named and the routes answer `503`. \
         Difference: plain HTTP with ssl-redirect is redirected first (nginx answers `403`)",
        "no: the regex is an entry of the runtime pattern ACL file (`add acl`/`del acl`, \
         shared with canary-by-header-pattern) and its id rides in the route map value",
    ),
    honoured(
        "auth-tls-pass-certificate-to-upstream",
        "`true`: the routes send `ssl-client-cert`, the URL-encoded PEM (the base64 on one \
         line: HAProxy 2.6 has no PEM converter; nginx folds it at 64 columns)",
        MTLS_RELOADS,
    ),
    honoured(
        "auth-tls-secret",
        "`ns/name` or `name` with `ca.crt` (and optional `ca.crl`), checked with OpenSSL: the \
         Ingress's `spec.tls` hosts get a crt-list line `[verify … ca-file … crl-file …]` on \
         the shared HTTPS bind; its routes send `ssl-client-verify` (`SUCCESS`/`NONE`, \
         `FAILED:<code>` with `optional_no_ca`), \
         `ssl-client-subject-dn` and `ssl-client-issuer-dn` (RFC 2253); a TLS request whose SNI \
         is not its Host answers `421`, and with `verify on` one without a certificate (plain \
         HTTP) `403`. A missing or bad CA: the routes answer `503`. A host listed by two Ingresses keeps the older one's \
         settings (a named problem). While the hosts' client certificates are held to two or \
         more CAs (or CRLs), TLS session resumption is off on the shared bind (a session \
         verified for one CA would resume under another host's name; docs/operations.md): \
         the second distinct CA, or the last one gone, reloads once, reason \
         `global_settings`",
        MTLS_RELOADS,
    ),
    honoured(
        "auth-tls-verify-client",
        "`on` (default): `verify required`; `optional`: `verify optional`; `off`: no client \
         certificate; `optional_no_ca`: `verify optional`, and a certificate that fails \
         verification (another CA, expired, revoked) still reaches the routes, with \
         `ssl-client-verify: FAILED:<code>`. Verification is enforced per request, as nginx \
         does: the shared HTTPS bind ignores verification errors in the handshake \
         (`ca-ignore-err all crt-ignore-err all`; 2.6.12 refuses them on a crt-list line), \
         and a request whose certificate failed answers `400` (or the auth-tls-error-page \
         redirect) unless its SNI name is `optional_no_ca` (the runtime settings map's \
         `verify:<name>` entry). Differences: `<code>` is OpenSSL's verify error number \
         (`21`), where nginx sends its text; errors numbered 64 and above (key too small, \
         weak digest) cannot be ignored on 2.6 and are refused in the handshake in every \
         mode",
        "no: `add/del ssl crt-list` lines, `new/set/commit ssl ca-file|crl-file` stores, a \
         route map field; `optional` <-> `optional_no_ca` is a `set map` of the settings map",
    ),
    honoured(
        "auth-tls-verify-depth",
        "checked (1 to 255) but not enforced (named): HAProxy 2.6.12 refuses `verify-depth` on a \
         crt-list line and on a bind (measured: `unknown ssl keyword`, `unknown keyword`)",
        "no",
    ),
    honoured(
        "auth-type",
        "`basic`: routes answer `401` with the realm until the credentials match a user of \
         auth-secret (`http-request auth` + `http_auth(<userlist>)`); the `Authorization` \
         header is not forwarded, as ingress-nginx clears it; `digest` is unsupported and \
         fails closed (`503`)",
        AUTH_RELOADS,
    ),
    unsupported("auth-url", EXT_AUTH),
];
