//! The fixed frontend rules that read a route's policy from the map value (redirects,
//! rewrites, headers, limits, CORS) and the stick tables the limits count in.

use super::{LIMIT_TABLES, MAX_POLICY_LEN, RedirectCode};

/// The frontend rules that apply a route's policy, after the route lookup set `txn.route`
/// (and before `use_backend`). Fixed text: the policies themselves are in the maps.
pub(in crate::config) fn frontend_rules() -> Vec<String> {
    let mut out = redirect_rules();
    out.extend(rewrite_rules());
    out.extend(limit_rules());
    out.extend(cors_rules());
    out
}

/// Field `n` of the route's map value (0 is the backend).
fn field(n: u8) -> String {
    format!("var(txn.route),field({n},|)")
}

/// The condition that field `n` is set.
fn set(n: u8) -> String {
    format!("{{ {} -m len gt 0 }}", field(n))
}

/// A number from field `n`, as an integer variable the arithmetic compares against.
fn number(var: &str, n: u8) -> String {
    format!(
        "http-request set-var({var}) {},add(0) if {}",
        field(n),
        set(n)
    )
}

/// from-to-www-redirect (the host's twin answers 308 to the host, same path and query),
/// the route's own redirect and the application root.
fn redirect_rules() -> Vec<String> {
    let www = 3 + 21; // the field after backend, flags and the 21 before it
    let mut out = vec![
        format!(
            "http-request redirect prefix https://%[{}] code 308 if {{ ssl_fc }} {}",
            field(www),
            set(www)
        ),
        format!(
            "http-request redirect prefix http://%[{}] code 308 if !{{ ssl_fc }} {}",
            field(www),
            set(www)
        ),
        format!(
            "http-request set-var(txn.redirect) {} if {}",
            field(3),
            set(3)
        ),
    ];
    for code in RedirectCode::ALL {
        out.push(format!(
            "http-request redirect location %[var(txn.redirect),bytes(3)] code {code} if \
             {{ var(txn.redirect),bytes(0,3) -m str {code} }}"
        ));
    }
    out.push(format!(
        "http-request redirect location %[{}] code 302 if {{ path / }} {}",
        field(4),
        set(4)
    ));
    out
}

/// X-Forwarded-Prefix, the path rewrite, the upstream Host and the body size limit.
fn rewrite_rules() -> Vec<String> {
    vec![
        format!(
            "http-request set-header X-Forwarded-Prefix %[{}] if {}",
            field(5),
            set(5)
        ),
        format!("http-request set-path %[{}] if {}", field(6), set(6)),
        format!("http-request set-header Host %[{}] if {}", field(7), set(7)),
        number("txn.max_body", 8),
        "http-request deny deny_status 413 if { var(txn.max_body) -m found } \
         { req.hdr_val(content-length),sub(txn.max_body) gt 0 }"
            .into(),
    ]
}

/// The rate and connection limits: the client address and limit key tracked in the
/// [`LIMIT_TABLES`], and `503` past a limit.
fn limit_rules() -> Vec<String> {
    let mut out = vec![
        format!(
            "http-request set-var(txn.limit_id) {} if {}",
            field(9),
            set(9)
        ),
        "http-request set-var(txn.limit_key) src,concat(|,txn.limit_id) if \
         { var(txn.limit_id) -m found } !{ var(txn.limit_exempt) -m found }"
            .into(),
    ];
    for (i, (table, _)) in LIMIT_TABLES.iter().enumerate() {
        out.push(format!(
            "http-request track-sc{i} var(txn.limit_key) table {table} if \
             {{ var(txn.limit_key) -m found }}"
        ));
    }
    let limits = [
        ("txn.limit_1s", 10, "sc_http_req_rate(0)"),
        ("txn.limit_10s", 11, "sc_http_req_rate(1)"),
        ("txn.limit_1m", 12, "sc_http_req_rate(2)"),
        ("txn.limit_conn", 13, "sc_conn_cur(0)"),
    ];
    for (var, n, counter) in limits {
        out.push(number(var, n));
        out.push(format!(
            "http-request deny deny_status 503 if {{ var({var}) -m found }} \
             {{ {counter},sub({var}) gt 0 }}"
        ));
    }
    out
}

/// CORS: the allowed origin for this request (`*`, or the request's own `Origin` when it is
/// the one allowed), a `204` answer to a preflight, and the headers on other responses.
fn cors_rules() -> Vec<String> {
    let mut out = vec![
        format!(
            "http-request set-var(txn.cors_allow) {} if {} {{ req.hdr(origin) -m found }}",
            field(14),
            set(14)
        ),
        "http-request set-var(txn.cors_origin) str(*) if { var(txn.cors_allow) -m str * }".into(),
        "http-request set-var(txn.cors_origin) req.hdr(origin) if { var(txn.cors_allow) -m found } \
         !{ var(txn.cors_allow) -m str * } { req.hdr(origin),strcmp(txn.cors_allow) eq 0 }"
            .into(),
        // Several origins: matched in the allow ACL file by the address-list rules.
        "http-request set-var(txn.cors_origin) req.hdr(origin) if { var(txn.cors_listed) -m found }"
            .into(),
    ];
    let vars = [
        ("txn.cors_methods", 15),
        ("txn.cors_headers", 16),
        ("txn.cors_expose", 17),
        ("txn.cors_credentials", 18),
        ("txn.cors_max_age", 19),
    ];
    for (var, n) in vars {
        out.push(format!(
            "http-request set-var({var}) {} if {{ var(txn.cors_origin) -m found }} {}",
            field(n),
            set(n)
        ));
    }
    let preflight = "hdr Access-Control-Allow-Origin %[var(txn.cors_origin)] \
                     hdr Access-Control-Allow-Methods %[var(txn.cors_methods)] \
                     hdr Access-Control-Allow-Headers %[var(txn.cors_headers)] \
                     hdr Access-Control-Max-Age %[var(txn.cors_max_age)]";
    out.push(format!(
        "http-request return status 204 {preflight} hdr Access-Control-Allow-Credentials true \
         if METH_OPTIONS {{ var(txn.cors_origin) -m found }} \
         {{ var(txn.cors_credentials) -m str true }}"
    ));
    out.push(format!(
        "http-request return status 204 {preflight} if METH_OPTIONS \
         {{ var(txn.cors_origin) -m found }}"
    ));
    let headers = [
        ("Access-Control-Allow-Origin", "txn.cors_origin"),
        ("Access-Control-Allow-Methods", "txn.cors_methods"),
        ("Access-Control-Allow-Headers", "txn.cors_headers"),
        ("Access-Control-Expose-Headers", "txn.cors_expose"),
        ("Access-Control-Max-Age", "txn.cors_max_age"),
    ];
    for (name, var) in headers {
        out.push(format!(
            "http-response set-header {name} %[var({var})] if {{ var({var}) -m found }}"
        ));
    }
    out.push(
        "http-response set-header Access-Control-Allow-Credentials true if \
         { var(txn.cors_credentials) -m str true }"
            .into(),
    );
    out
}

/// The stick-table sections the limits count in (always rendered, so a first limit is not
/// a reload).
pub(in crate::config) fn limit_tables() -> String {
    let mut out = String::new();
    for (name, store) in LIMIT_TABLES {
        out.push_str(&format!(
            "\nbackend {name}\n    stick-table type string len {} size 100k expire 2m store \
             {store}\n",
            MAX_POLICY_LEN + 64
        ));
    }
    out
}
