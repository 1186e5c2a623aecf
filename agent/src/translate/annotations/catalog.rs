//! Every annotation name the agent recognises, and what it does with each: the one table
//! that translation, `haproxy-agent check` and docs/annotations.md agree on.

/// The prefixes read, strongest first: when two carry the same name, the first one wins and
/// the other is named as shadowed. The classic controller's `ingress.kubernetes.io/` is read
/// with ingress-nginx's meanings.
pub const PREFIXES: [&str; 3] = [
    "haproxy-agent.io/",
    "nginx.ingress.kubernetes.io/",
    "ingress.kubernetes.io/",
];

/// Whether an annotation is acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Read and honoured (values are checked by the parser, which may name a difference).
    Honoured,
    /// Recognised, not done: why, or what to use instead.
    Unsupported(&'static str),
    /// Never rendered, on purpose: why.
    Refused(&'static str),
    /// Honoured for these values (lower-case), which are what happens here anyway;
    /// unsupported for others (why).
    Values(&'static [&'static str], &'static str),
}

/// One recognised annotation name (without its prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The name after the prefix.
    pub name: &'static str,
    /// Whether it is acted on.
    pub support: Support,
    /// What it becomes in HAProxy (empty when unsupported).
    pub becomes: &'static str,
    /// What changing it costs: `no` (runtime), `yes` (a verified reload), or when.
    pub reloads: &'static str,
    /// For names only read under `haproxy-agent.io/`: why the name is unsupported under the
    /// other prefixes.
    pub ours_only: Option<&'static str>,
}

const fn honoured(name: &'static str, becomes: &'static str, reloads: &'static str) -> Entry {
    Entry {
        name,
        support: Support::Honoured,
        becomes,
        reloads,
        ours_only: None,
    }
}

const fn ours(
    name: &'static str,
    becomes: &'static str,
    reloads: &'static str,
    elsewhere: &'static str,
) -> Entry {
    Entry {
        name,
        support: Support::Honoured,
        becomes,
        reloads,
        ours_only: Some(elsewhere),
    }
}

const fn unsupported(name: &'static str, why: &'static str) -> Entry {
    Entry {
        name,
        support: Support::Unsupported(why),
        becomes: "",
        reloads: "",
        ours_only: None,
    }
}

const fn values(
    name: &'static str,
    ok: &'static [&'static str],
    becomes: &'static str,
    why: &'static str,
) -> Entry {
    Entry {
        name,
        support: Support::Values(ok, why),
        becomes,
        reloads: "—",
        ours_only: None,
    }
}

const fn refused(name: &'static str, why: &'static str) -> Entry {
    Entry {
        name,
        support: Support::Refused(why),
        becomes: "",
        reloads: "",
        ours_only: None,
    }
}

const SNIPPET: &str = "raw configuration from an object is never rendered: ingress-nginx itself \
     disabled snippets by default after CVE-2025-1974 (IngressNightmare)";
const BUFFERING: &str = "an nginx buffering setting: HAProxy streams bodies and has no \
     per-route buffer to size";
const EXT_AUTH: &str = "external authentication (an auth subrequest) is not done here";
const MTLS_RELOADS: &str = "no: `add/del ssl crt-list` lines, `new/set/commit ssl \
     ca-file|crl-file` stores (a renewed CA is a new store), a route map field";
const PROTO_RELOADS: &str = "yes, reason `backend_protocol` (a `default-server` line); \
     endpoint changes stay runtime";
const TRACING: &str = "per-Ingress tracing and metrics backends are not done here";
const MODSEC: &str = "HAProxy has no ModSecurity module here";
const NOT_NGINX: &str = "ingress-nginx has no such annotation; it is read under \
     haproxy-agent.io/ only";
const AUTH_RELOADS: &str = "yes for a new user list, a changed user, password or realm \
     (HAProxy 2.6 has no runtime command for userlists), reason `userlists`; no for a route \
     joining a list that exists (it rides in the route map value)";
const RUNTIME_ROUTE: &str = "no: it rides in the route map value";
const SOURCE_ALLOW: &str = "clients outside these networks (comma-separated CIDRs or \
     addresses, IPv4 or IPv6, matched against the connection's source) get `403` on the \
     Ingress's routes; the entries are patterns of a fixed ACL file, the route map value names \
     the list (`allowlist-source-range` wins over its older name `whitelist-source-range`)";
const SOURCE_RELOADS: &str = "no: entries are `add acl`/`del acl`, and a new or removed list \
     is a route map update (the ACL files and rules are always there)";

/// Every recognised name, sorted.
pub const CATALOG: &[Entry] = &[
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
    honoured(
        "backend-protocol",
        "`HTTP` (the default): HTTP/1.1; `HTTPS`: HTTP/1.1 over TLS (`ssl alpn http/1.1`); \
         `GRPC` and `H2C`: HTTP/2 in clear text (`proto h2`); `GRPCS`: HTTP/2 over TLS (`ssl \
         alpn h2`); TLS settings from the proxy-ssl annotations. It wins over the Service \
         port's `appProtocol` (`kubernetes.io/h2c`, `https`, `kubernetes.io/ws`, \
         `kubernetes.io/wss`, `http` are honoured). Servers added at runtime carry the same \
         keywords. `AUTO_HTTP`, `FCGI` and `AJP` are unsupported (HTTP/1.1 is used)",
        PROTO_RELOADS,
    ),
    ours(
        "backend-proxy-protocol",
        "`v1` or `v2`: the PROXY protocol to the pods (`default-server send-proxy` or \
         `send-proxy-v2` in the Ingress's backends, and the keyword on every server added at \
         runtime)",
        "yes (`backend_protocol`: a `default-server` line); endpoints still change at runtime",
        NOT_NGINX,
    ),
    honoured(
        "canary",
        "`\"true\"`: the Ingress's routes join the routes of the same hosts and paths of an \
         Ingress without it (the main one), whose map value then names the canary backend and \
         its rule; its other annotations but those of its own backend (balancing, affinity, \
         timeouts) are not applied, as in ingress-nginx; a canary without a main route is \
         named and takes no requests",
        "no, once the canary's backend exists: a map update (a new Service is a new backend)",
    ),
    honoured(
        "canary-by-cookie",
        "requests whose cookie of this name is `always` go to the canary, `never` to the main \
         backend; other values fall through to the weight",
        "no: the cookie name is in the map value; a name no canary used before adds a frontend \
         rule (a reload)",
    ),
    honoured(
        "canary-by-header",
        "requests whose header of this name is `always` go to the canary, `never` to the main \
         backend (or, with canary-by-header-value, equal to that value go to the canary); other \
         values fall through to the cookie and then the weight",
        "no: the header name is in the map value; a name no canary used before adds a frontend \
         rule (a reload)",
    ),
    honoured(
        "canary-by-header-pattern",
        "a regular expression (PCRE, unanchored, case-sensitive, as ingress-nginx's \
         `ngx.re.match`): requests whose canary-by-header value matches it go to the canary; \
         ignored when canary-by-header-value is set; `always`/`never` are then not special. \
         Refused (named, the canary takes no requests): the syntax PCRE2 and the regex crate \
         read differently (lookarounds, back-references, \\p classes, flags other than i), \
         `\\A`/`\\z`, `#`, tabs",
        "no: the pattern is an entry of a runtime ACL file (`add acl`/`del acl`) and its id \
         rides in the route map value",
    ),
    honoured(
        "canary-by-header-value",
        "the header value (compared exactly) that sends a request to the canary",
        RUNTIME_ROUTE,
    ),
    ours(
        "canary-service",
        "a second Service in the same namespace takes \
         `canary-weight` percent of each path's requests (one backend holding both Services' \
         servers, weighted)",
        "yes, when first set (a new backend)",
        NOT_NGINX,
    ),
    honoured(
        "canary-weight",
        "on a canary Ingress: a request goes to the canary when a random draw from 1 to \
         canary-weight-total is at most this (0 by default); with haproxy-agent.io/canary-service: \
         the canary's percentage, held whatever the pod counts by server weights",
        "no: a map update (canary Ingress) or server weights (canary-service)",
    ),
    honoured(
        "canary-weight-total",
        "the weight's scale (100 by default, at most 1000000)",
        RUNTIME_ROUTE,
    ),
    unsupported("client-body-buffer-size", BUFFERING),
    refused("configuration-snippet", SNIPPET),
    unsupported(
        "connection-proxy-header",
        "HAProxy manages the Connection header to servers itself",
    ),
    honoured(
        "cors-allow-credentials",
        "`Access-Control-Allow-Credentials: true` on preflights and responses (default `true`)",
        RUNTIME_ROUTE,
    ),
    honoured(
        "cors-allow-headers",
        "`Access-Control-Allow-Headers` (ingress-nginx's default list)",
        RUNTIME_ROUTE,
    ),
    honoured(
        "cors-allow-methods",
        "`Access-Control-Allow-Methods` (default `GET, PUT, POST, DELETE, PATCH, OPTIONS`)",
        RUNTIME_ROUTE,
    ),
    honoured(
        "cors-allow-origin",
        "`*` (the default), one origin `http(s)://host[:port]` echoed when the request's `Origin` \
         is it, or several (comma-separated) kept in the allow ACL file and each echoed; a `*.` \
         wildcard origin matches any one label there, as in ingress-nginx",
        RUNTIME_ROUTE,
    ),
    honoured(
        "cors-expose-headers",
        "`Access-Control-Expose-Headers` on responses",
        RUNTIME_ROUTE,
    ),
    honoured(
        "cors-max-age",
        "`Access-Control-Max-Age` (default 1728000)",
        RUNTIME_ROUTE,
    ),
    unsupported(
        "custom-headers",
        "response headers from a ConfigMap are not done",
    ),
    honoured(
        "custom-http-errors",
        "when a route's upstream answers one of these codes (comma-separated, 400 to 599), a \
         Lua `http-response` action asks the error backend (the `default-backend` \
         annotation's Service at its first port, else `--default-backend-service`) for `/` \
         with `X-Code`, `X-Format`, `X-Original-URI`, `X-Namespace`, `X-Ingress-Name`, \
         `X-Service-Name`, `X-Service-Port`, `X-Request-ID` and the request's Host, and the \
         client gets that page with its status; other codes pass untouched. Without a \
         default backend it is a named problem. HAProxy's own answers (503 with no server \
         up, 504 on a timeout) are not replaced, the error backend is asked with GET and no \
         body, and a page above 12 KiB leaves the upstream's answer in place",
        "no for other codes (the route map value); yes once when the first route uses it or \
         the last one stops (the Lua action and its internal frontend, reason \
         `custom_errors`), and for a new error backend (another `default-backend` also makes \
         new `_fallback_` backends)",
    ),
    honoured(
        "default-backend",
        "the Service's pods (its first port) join each of the Ingress's backends as `backup` \
         servers, which HAProxy uses only while none of the route's own servers is up, in a \
         backend of its own (`<backend>_fallback_<service>`); with custom-http-errors it \
         also serves the error pages",
        "yes, when first set (a new backend); its endpoints change at runtime",
    ),
    honoured(
        "denylist-source-range",
        "clients in these networks get `403` on the Ingress's routes, before the allow list \
         is looked at; entries as in `allowlist-source-range`",
        SOURCE_RELOADS,
    ),
    unsupported(
        "disable-proxy-intercept-errors",
        "there is no global custom-http-errors here to turn off: only the Ingress's own \
         custom-http-errors annotation intercepts (leave it out instead)",
    ),
    unsupported("enable-access-log", "per-Ingress access logs are not done"),
    honoured(
        "enable-cors",
        "HAProxy answers preflight `OPTIONS` requests from an allowed origin with `204` and the `Access-Control-*` headers, and adds them to other responses",
        RUNTIME_ROUTE,
    ),
    unsupported("enable-global-auth", EXT_AUTH),
    values(
        "enable-influxdb",
        &["false"],
        "`false`: nothing to do",
        "per-Ingress tracing and metrics backends are not done here",
    ),
    values(
        "enable-modsecurity",
        &["false"],
        "`false`: nothing to do",
        "HAProxy has no ModSecurity module here",
    ),
    values(
        "enable-opentelemetry",
        &["false"],
        "`false`: nothing to do",
        "per-Ingress tracing and metrics backends are not done here",
    ),
    values(
        "enable-opentracing",
        &["false"],
        "`false`: nothing to do",
        "per-Ingress tracing and metrics backends are not done here",
    ),
    values(
        "enable-owasp-core-rules",
        &["false"],
        "`false`: nothing to do",
        "HAProxy has no ModSecurity module here",
    ),
    unsupported("enable-rewrite-log", "rewrites are not done yet"),
    honoured(
        "force-ssl-redirect",
        "`308` to `https://` for this Ingress's paths even when the host has no TLS here",
        "no: the flag rides in the route map value",
    ),
    honoured(
        "from-to-www-redirect",
        "each rule's host twin (`www.` added, or removed from a `www.` host) answers `308` to \
         the rule's host with the same scheme, path and query; the twin's routes yield to any \
         other Ingress's route for the same host and path (ingress-nginx drops the redirect \
         for the whole twin host once any Ingress routes it)",
        RUNTIME_ROUTE,
    ),
    unsupported(
        "global-rate-limit",
        "removed from ingress-nginx; rate limits are not done yet",
    ),
    unsupported(
        "global-rate-limit-ignored-cidrs",
        "removed from ingress-nginx; rate limits are not done yet",
    ),
    unsupported(
        "global-rate-limit-key",
        "removed from ingress-nginx; rate limits are not done yet",
    ),
    unsupported(
        "global-rate-limit-window",
        "removed from ingress-nginx; rate limits are not done yet",
    ),
    ours(
        "health-check-interval",
        "`check inter` of the HTTP health check",
        "yes",
        NOT_NGINX,
    ),
    ours(
        "health-check-path",
        "`option httpchk` with `GET <path>` on every server",
        "yes",
        NOT_NGINX,
    ),
    unsupported(
        "http2-push-preload",
        "removed from ingress-nginx; HTTP/2 push is not done",
    ),
    unsupported("influxdb-host", TRACING),
    unsupported("influxdb-measurement", TRACING),
    unsupported("influxdb-port", TRACING),
    unsupported("influxdb-server-name", TRACING),
    honoured(
        "limit-allowlist",
        "the newer name of limit-whitelist (clients the request limits do not count)",
        "no: entries are `add acl`/`del acl` in the allow file",
    ),
    honoured(
        "limit-burst-multiplier",
        "the burst of limit-rps, as a multiple of it (default 5)",
        RUNTIME_ROUTE,
    ),
    honoured(
        "limit-connections",
        "more requests in progress at once from one client address than this get `503`",
        RUNTIME_ROUTE,
    ),
    unsupported("limit-rate", "bandwidth limits are not done"),
    unsupported("limit-rate-after", "bandwidth limits are not done"),
    honoured(
        "limit-rpm",
        "more requests from one client address than this in any sliding minute get `503` \
         (nginx lets a first burst of limit-burst-multiplier times it through)",
        RUNTIME_ROUTE,
    ),
    honoured(
        "limit-rps",
        "per client address: more than rps × limit-burst-multiplier requests in one second, \
         or more than rps × max(10, multiplier) in ten seconds, get `503`: a burst, then about \
         rps sustained, counted over sliding windows in stick tables",
        RUNTIME_ROUTE,
    ),
    honoured(
        "limit-whitelist",
        "clients in these networks (CIDRs or addresses, as in allowlist-source-range) are not \
         counted by the Ingress's request limits; `limit-allowlist`, its newer name, wins",
        "no: entries are `add acl`/`del acl` in the allow file",
    ),
    honoured(
        "load-balance",
        "the backend's `balance`: `round_robin`/`roundrobin`, `leastconn`, `random`, `first`; \
         `ewma` becomes `leastconn` (named as a difference)",
        "yes",
    ),
    unsupported("mirror-host", "request mirroring is not done"),
    unsupported("mirror-request-body", "request mirroring is not done"),
    unsupported("mirror-target", "request mirroring is not done"),
    refused("modsecurity-snippet", SNIPPET),
    unsupported("modsecurity-transaction-id", MODSEC),
    unsupported("opentelemetry-operation-name", TRACING),
    unsupported("opentelemetry-trust-incoming-span", TRACING),
    unsupported("opentracing-trust-incoming-span", TRACING),
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
    honoured(
        "rewrite-target",
        "the path sent to the pods is replaced by this one, the query kept; `$1`..`$9` are the \
         capture groups of the path regex (a `$N` the path lacks is named as invalid). As in \
         ingress-nginx it makes the Ingress's paths regexes, and so every path of its hosts \
         (see use-regex)",
        RUNTIME_ROUTE,
    ),
    unsupported("satisfy", "authentication is not done yet"),
    honoured(
        "server-alias",
        "the Ingress's routes of every rule with a host are also routed under each alias \
         (comma-separated hosts, `*.` wildcards allowed); an alias another Ingress already \
         routes is a conflict named on the newer one, as ingress-nginx ignores it",
        RUNTIME_ROUTE,
    ),
    refused("server-snippet", SNIPPET),
    values(
        "service-upstream",
        &["false"],
        "`false`: the agent balances over the pods' endpoints",
        "routing to the ClusterIP (`true`) is not done: the agent always balances over the \
         pods' endpoints",
    ),
    unsupported(
        "session-cookie-change-on-failure",
        "HAProxy's `option redispatch` already moves a session off a dead server",
    ),
    unsupported(
        "session-cookie-conditional-samesite-none",
        "per-browser SameSite=None is not done: SameSite=None goes to every browser",
    ),
    honoured(
        "session-cookie-domain",
        "the sticky cookie's `domain`",
        "yes",
    ),
    honoured(
        "session-cookie-expires",
        "sent as `Max-Age` (HAProxy cannot compute an `Expires` date per response)",
        "yes",
    ),
    honoured(
        "session-cookie-max-age",
        "the sticky cookie's `Max-Age`, seconds",
        "yes",
    ),
    honoured(
        "session-cookie-name",
        "the sticky cookie's name (default `INGRESSCOOKIE`) with `affinity: cookie`",
        "yes",
    ),
    honoured(
        "session-cookie-path",
        "the sticky cookie's `Path` (after HAProxy's own `path=/`, which browsers then ignore)",
        "yes",
    ),
    honoured(
        "session-cookie-samesite",
        "the sticky cookie's `SameSite` (`None`, `Lax`, `Strict`)",
        "yes",
    ),
    honoured(
        "session-cookie-secure",
        "the sticky cookie's `Secure`",
        "yes",
    ),
    unsupported(
        "ssl-ciphers",
        "ciphers are per bind in HAProxy, not per host",
    ),
    honoured(
        "ssl-passthrough",
        "`true`, with `--enable-ssl-passthrough` (without it: named, TLS terminated as usual): \
         the HTTPS port's TCP frontend sends a connection whose SNI is a rule host of the \
         Ingress to the pods, which terminate TLS (`mode tcp` backend \
         `<ns>_<svc>_<port>_passthrough`, servers from the EndpointSlices); other hosts share \
         the port through HAProxy's TLS termination. A rule's backend is its `/` path's, else \
         its first path's, else the Ingress's defaultBackend: on TLS no HTTP is seen (as in \
         ingress-nginx). Plain HTTP to the hosts is served by the Ingress's rules as HTTP \
         routes, as ingress-nginx's HTTP server: redirected to HTTPS (`308`) when `spec.tls` \
         lists the host (ssl-redirect) or force-ssl-redirect is set, else proxied to the pods \
         in plain HTTP. `spec.tls` adds no certificate (the pods terminate TLS): a secretName \
         is named unused. A rule needs an exact host (the SNI). A host another Ingress \
         terminates: passthrough wins on the HTTPS port, named on the other",
        "no: a host is a `sni.map` entry and its HTTP routes map entries; a Service port's \
         first passthrough backend (and its HTTP backend) reloads (`new_backend`)",
    ),
    unsupported(
        "ssl-prefer-server-ciphers",
        "ciphers are per bind in HAProxy, not per host",
    ),
    honoured(
        "ssl-redirect",
        "`308` to `https://` for this Ingress's paths on hosts with TLS (default `true`)",
        "no: the flag rides in the route map value",
    ),
    ours(
        "sticky-cookie",
        "sticky sessions with this cookie name",
        "yes",
        NOT_NGINX,
    ),
    refused("stream-snippet", SNIPPET),
    honoured(
        "temporal-redirect",
        "every request of the Ingress's routes gets `302` (or temporal-redirect-code) to this URL",
        RUNTIME_ROUTE,
    ),
    honoured(
        "temporal-redirect-code",
        "the temporal redirect's status: 301, 302, 303, 307 or 308",
        RUNTIME_ROUTE,
    ),
    ours(
        "timeout-connect",
        "`timeout connect` of the Ingress's backends",
        "yes",
        NOT_NGINX,
    ),
    ours(
        "timeout-server",
        "`timeout server` of the Ingress's backends",
        "yes",
        NOT_NGINX,
    ),
    honoured(
        "upstream-hash-by",
        "a consistent hash (`hash-type consistent`, so servers still join at runtime) of one \
         nginx variable: `$request_uri` (`balance uri whole`), `$uri` (`balance uri`), \
         `$remote_addr` (`balance source`), `$host`/`$http_<name>` (`balance hdr(<name>)`), \
         `$cookie_<name>` (`balance hash req.cook(<name>)`), `$arg_<name>` \
         (`balance url_param <name>`); wins over load-balance; combinations are named invalid",
        "yes",
    ),
    unsupported("upstream-hash-by-subset", "hash balancing is not done yet"),
    unsupported(
        "upstream-hash-by-subset-size",
        "hash balancing is not done yet",
    ),
    honoured(
        "upstream-vhost",
        "the `Host` header sent to the pods",
        RUNTIME_ROUTE,
    ),
    honoured(
        "use-regex",
        "the Ingress's paths are regexes, case-insensitive, anchored at the start and matched \
         as a prefix (nginx `location ~* \"^<path>\"`), in the regex map (`map_regm`), longest \
         path first, first match wins. As in ingress-nginx, ALL paths of a host with one regex \
         path (of any Ingress) are then matched as regexes: `Prefix /foo` also matches `/foobar` \
         and `/FOO`. Only syntax PCRE2 and RE2 read alike is accepted (no lookarounds, \
         back-references, `\\p` classes)",
        "no: a regex route is a map entry",
    ),
    honoured("whitelist-source-range", SOURCE_ALLOW, SOURCE_RELOADS),
    honoured(
        "x-forwarded-prefix",
        "the `X-Forwarded-Prefix` header sent to the pods",
        RUNTIME_ROUTE,
    ),
];

/// The entry for a name (without prefix).
pub fn entry(name: &str) -> Option<&'static Entry> {
    CATALOG
        .binary_search_by(|e| e.name.cmp(name))
        .ok()
        .map(|i| &CATALOG[i])
}

/// Splits a recognised annotation key into its prefix and name.
pub fn split(key: &str) -> Option<(&'static str, &str)> {
    PREFIXES
        .iter()
        .find_map(|p| key.strip_prefix(p).map(|name| (*p, name)))
}

/// The catalog as the Markdown table of docs/annotations.md (between its `catalog` markers).
pub fn markdown_table() -> String {
    let mut out = String::from(
        "| name | status | in HAProxy, or why not | a change reloads |\n|---|---|---|---|\n",
    );
    for e in CATALOG {
        let (status, what) = match (e.support, e.ours_only) {
            (Support::Honoured, None) => ("honoured", e.becomes),
            (Support::Honoured, Some(_)) => ("honoured, `haproxy-agent.io/` only", e.becomes),
            (Support::Unsupported(why), _) => ("unsupported", why),
            (Support::Refused(why), _) => ("**refused**", why),
            (Support::Values(_, _), _) => ("honoured for some values", e.becomes),
        };
        let reloads = if e.reloads.is_empty() {
            "—"
        } else {
            e.reloads
        };
        out.push_str(&format!(
            "| `{}` | {status} | {what} | {reloads} |\n",
            e.name
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/annotations.md carries the catalog as it is; `UPDATE_DOCS=1` rewrites it.
    #[test]
    fn docs_carry_the_catalog() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/annotations.md");
        let doc = std::fs::read_to_string(path).unwrap();
        let (start, end) = ("<!-- catalog:start -->\n", "<!-- catalog:end -->");
        let (a, b) = (
            doc.find(start).expect("a start marker") + start.len(),
            doc.find(end).expect("an end marker"),
        );
        let want = markdown_table();
        if doc[a..b] != want {
            if std::env::var_os("UPDATE_DOCS").is_some() {
                std::fs::write(path, format!("{}{want}{}", &doc[..a], &doc[b..])).unwrap();
            } else {
                panic!(
                    "docs/annotations.md's table is not the catalog's; rerun with UPDATE_DOCS=1"
                );
            }
        }
    }

    #[test]
    fn catalog_is_sorted_and_unique() {
        for w in CATALOG.windows(2) {
            assert!(w[0].name < w[1].name, "{} then {}", w[0].name, w[1].name);
        }
        for e in CATALOG {
            if e.support == Support::Honoured {
                assert!(!e.becomes.is_empty() && !e.reloads.is_empty(), "{}", e.name);
            }
        }
    }

    #[test]
    fn split_prefers_the_longest_meaningful_prefix() {
        assert_eq!(
            split("nginx.ingress.kubernetes.io/rewrite-target"),
            Some(("nginx.ingress.kubernetes.io/", "rewrite-target"))
        );
        assert_eq!(
            split("ingress.kubernetes.io/ssl-redirect"),
            Some(("ingress.kubernetes.io/", "ssl-redirect"))
        );
        assert_eq!(split("example.com/x"), None);
        assert_eq!(split("kubernetes.io/ingress.class"), None);
    }
}
