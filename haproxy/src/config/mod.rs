//! The config model and its deterministic rendering into haproxy.cfg and route maps, the
//! runtime map updates between two route sets, `haproxy -c` validation and atomic writes.
//!
//! - [`Config`] and its parts are built from validated types only; [`Config::problems`]
//!   checks them against each other.
//! - [`render`] gives haproxy.cfg (servers included) and the map files; [`structure`] gives
//!   the part that needs a reload to change (no servers, weights or route entries), and
//!   [`Sections`] the same as fingerprints per section, compared without rendering it all.
//! - [`route_maps`] turns [`Route`]s into exact/prefix map entries, and [`map_commands`] /
//!   [`map_swap_commands`] into the runtime commands that apply them without a reload;
//!   [`RouteIndex`] keeps the same entries current route by route, and
//!   [`map_entry_commands`] diffs only the keys a change touched.
//! - [`SourceLists`] (client address lists) live in two ACL files matched by prefix;
//!   [`acl_commands`] changes them at runtime.
//! - [`TlsBind`] and [`TlsFiles`] add HTTPS: certificate files and a crt-list, changed at
//!   runtime by [`tls_commands`].
//! - [`settings_entries`]: global values read per request from the settings map (HSTS), changed
//!   at runtime by [`LiveSettings::commands`].
//! - [`check_config`] runs `haproxy -c`; [`ConfigWriter`] installs a rendered config only
//!   after HAProxy accepted it, and keeps a last-good copy.
//!
//! Model, rendering and routes are pure; only `validate` and `writer` do IO.

/// Appends one indented line.
macro_rules! line {
    ($out:expr, $($arg:tt)*) => {{
        $out.push_str("    ");
        let _ = write!($out, $($arg)*);
        $out.push('\n');
    }};
}

mod canary;
mod client_cert;
mod custom_errors;
mod frontend;
pub mod gateway;
mod model;
mod passthrough;
mod policy;
mod regex_check;
mod regex_routes;
mod render;
mod route_host;
mod route_index;
mod route_maps;
mod route_target;
mod routes;
mod sections;
mod settings;
mod settings_map;
pub mod source_list;
mod tcp;
mod tls;
mod userlist;
mod validate;
mod value;
mod writer;

pub use canary::{
    CanaryName, CanaryNames, CanaryPattern, CanaryPatternId, CanaryRule, CanaryTarget,
    InvalidPattern, MAX_CANARY_NAME,
};
pub use client_cert::{
    CLIENT_CERT_FIELD, CLIENT_DN_FIELD, CLIENT_ERROR_FIELD, ClientCertPolicy, IGNORE_VERIFY_ERRORS,
    VERIFY_CA, VERIFY_KEY_PREFIX, VERIFY_NO_CA,
};
pub use custom_errors::{
    CustomErrors, ErrorCodes, ErrorFiles, ErrorLabel, LUA_FILE, MAX_PAGE, SOCKET_FILE, lua_text,
    rendered_lines,
};
pub use frontend::{frontend_bind_lines, passthrough_lines};
pub use model::{
    BUILTIN_404, Backend, Balance, CheckPath, Config, ConfigError, ConfigPath, CookieAttrs,
    CookieKey, CookieName, CookiePath, DefaultBackend, Defaults, Frontend, Global, HashOn,
    HttpCheck, InvalidValue, RouteMaps, SameSite, Server, ServerAddr, ServerMode, SocketMode,
    Sticky, Threads, Timeout, Timeouts, Token,
};
pub use passthrough::{
    HTTPS_SOCKET_FILE, PASSTHROUGH_FRONTEND, Passthrough, TERMINATE_BACKEND,
    passthrough_backend_name,
};
pub use policy::{
    CUSTOM_ERRORS_FIELD, Cors, LIMIT_TABLES, MAX_POLICY_LEN, PolicyRedirect, PolicyText, RateLimit,
    RedirectCode, RoutePolicy,
};
pub use regex_routes::{
    InvalidRegex, RegexPath, appends_in_order, check_plain_regex, in_regex_order, regex_order,
    render_regex_map,
};
pub use render::{Rendered, Structure, render, structure};
pub use route_index::{RouteIndex, Touched};
pub use routes::{
    HTTPS_FLAG, Host, MAX_PATH_LEN, MapEntries, MapKind, PathKind, Route, RouteConflict, RouteHost,
    RouteMapSet, RoutePath, RouteTarget, canary_names, map_commands, map_entry_commands,
    map_kind_swap_commands, map_swap_commands, render_map, route_maps,
};
pub use sections::{
    BackendPrint, HeadPrints, SectionPrint, Sections, backend_print, head_print, head_prints,
};
pub use settings::{
    ACCESS_LOG_FORMAT, Ciphers, GlobalSettings, HSTS_KEY, HeaderName, Hsts, LogTarget, SendProxy,
    TlsVersion, TlsVersions,
};
pub use settings_map::{LiveSettings, SettingsEntries, render_settings_map, settings_entries};
pub use source_list::{
    AclEntries, AclKind, Cidr, SourceLists, acl_commands, acl_patterns, cors_id, exempt_id,
    render_acl,
};
pub use tcp::{TCP_LOG_FORMAT, TcpService, tcp_backend_name};
pub use tls::{
    CERTS_DIR, CLIENT_CA_SUFFIX, CLIENT_CRL_SUFFIX, CertFingerprint, LiveCrtLine, LiveTls, TlsBind,
    TlsCert, TlsFiles, client_store_kind, default_cert_path, render_crt_list, secret_cert_path,
    tls_commands,
};
pub use userlist::{
    AUTH_DENIED, AuthId, BasicAuth, HashError, HashScheme, MAX_HASH_LEN, MAX_REALM_LEN,
    MAX_USER_LEN, PasswordHash, Realm, UserName,
};
pub use validate::{CHECK_TIMEOUT, ValidationError, check_config, check_config_within};
pub use writer::{ConfigWriter, FileDigests, WriteError, content_digest};
