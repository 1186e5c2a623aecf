//! The catalog's names from `default-backend` to `opentracing-trust-incoming-span`: default
//! backends, deny lists, the `enable-*` switches, rate and connection limits, health checks,
//! mirrors, tracing.

use super::{
    EXT_AUTH, Entry, MODSEC, NOT_NGINX, RUNTIME_ROUTE, SNIPPET, SOURCE_RELOADS, TRACING, honoured,
    ours, refused, unsupported, values,
};

/// This group's names, sorted (the catalog is the groups in order).
pub(super) const ENTRIES: &[Entry] = &[
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
];
