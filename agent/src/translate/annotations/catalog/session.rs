//! The catalog's names from `rewrite-target` to `x-forwarded-prefix`: rewrites, session
//! cookies, TLS, timeouts, upstream hashing.

use super::{
    Entry, NOT_NGINX, RUNTIME_ROUTE, SNIPPET, SOURCE_ALLOW, SOURCE_RELOADS, honoured, ours,
    refused, unsupported, values,
};

/// This group's names, sorted (the catalog is the groups in order).
pub(super) const ENTRIES: &[Entry] = &[
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
