//! The haproxy.cfg lines of Gateway API routes, rendered only while some route exists: the
//! `lua-load-per-thread` line, the request and response actions in the HTTP frontend, and
//! each HTTP backend's server timeout taken from the chosen rule.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::super::tls::TlsBind;
use super::{GatewayBind, GatewayFiles};

/// The Lua action's text (fixed: routes live in the maps it reads).
pub const LUA: &str = include_str!("gateway.lua");

/// The request action, first in the HTTP frontend after X-Forwarded-Proto: it sets
/// `txn.route` to a backend name (the Ingress lookups are then skipped), or answers.
pub const REQUEST_RULE: &str = "http-request lua.agent_gateway";

/// The response action, for rules with response header modifications.
pub const RESPONSE_RULE: &str =
    "http-response lua.agent_gateway_response if { var(txn.gw_rule) -m found }";

/// The server timeout of the rule that chose the backend (HAProxy 2.6 accepts
/// `set-timeout` in backends only).
pub const TIMEOUT_RULE: &str =
    "http-request set-timeout server var(txn.gw_timeout) if { var(txn.gw_timeout) -m found }";

/// The `global` line loading the Lua file, once per thread (so that its map lookups and
/// caches need no locks).
pub fn global_line(files: &GatewayFiles) -> String {
    format!("lua-load-per-thread {}", files.lua)
}

/// Every haproxy.cfg line (indented as rendered) this feature adds, but the guard on the
/// first Ingress lookup, for checks that a rendering holds nothing else.
pub fn rendered_lines(files: &GatewayFiles) -> Vec<String> {
    [
        global_line(files),
        REQUEST_RULE.into(),
        RESPONSE_RULE.into(),
        TIMEOUT_RULE.into(),
    ]
    .into_iter()
    .map(|l| format!("    {l}"))
    .collect()
}

/// The binds of Gateway listeners alone, each named for the Lua action (`so_name`): plain,
/// or TLS with the HTTPS frontend's certificates (a TLS bind without them is left out:
/// translation asks for the HTTPS set-up with every HTTPS listener). `proxy` is the shared
/// binds' ` accept-proxy` (or empty).
pub(in crate::config) fn render_binds(
    out: &mut String,
    binds: &BTreeSet<GatewayBind>,
    tls: Option<&TlsBind>,
    proxy: &str,
) {
    for b in binds {
        let name = b.name();
        match (b.tls, tls) {
            (false, _) => {
                let _ = writeln!(out, "    bind {} name {name}{proxy}", b.addr);
            }
            (true, Some(t)) => {
                let _ = writeln!(
                    out,
                    "    bind {} name {name} ssl crt {} crt-list {} alpn h2,http/1.1{proxy}",
                    b.addr, t.default_cert, t.crt_list
                );
            }
            (true, None) => {}
        }
    }
}

/// A bind line of a Gateway's own bind (its name starts `http@` or `https@`).
pub(in crate::config) fn is_bind_line(line: &str) -> bool {
    line.starts_with("    bind ") && (line.contains(" name http@") || line.contains(" name https@"))
}
