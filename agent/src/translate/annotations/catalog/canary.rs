//! The catalog's names from `backend-protocol` to `custom-http-errors`: backend protocols,
//! canaries, CORS, custom headers and error pages.

use super::{
    BUFFERING, Entry, NOT_NGINX, PROTO_RELOADS, RUNTIME_ROUTE, SNIPPET, honoured, ours, refused,
    unsupported,
};

/// This group's names, sorted (the catalog is the groups in order).
pub(super) const ENTRIES: &[Entry] = &[
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
];
