//! ingress-nginx's custom-http-errors: when a route's upstream answers one of the route's
//! codes, a Lua `http-response` action asks the error backend for a page (through an internal
//! frontend on a unix socket in the config directory) and sends that page, with its status,
//! instead. Which codes and which error backend ride in the route map value, so changing
//! them is a map update; the Lua file and the rules are fixed text, rendered only while some
//! route uses them (HAProxy without Lua keeps working for everyone else).
//!
//! Value field (see [`super::policy`]): `codes/backend/namespace/ingress/service/port`, e.g.
//! `404,503/apps_errors_80/apps/web/web/80`; the last four are sent as `X-Namespace`,
//! `X-Ingress-Name`, `X-Service-Name` and `X-Service-Port`.

use std::fmt;

use crate::names::BackendName;

use super::value::{ConfigPath, InvalidValue};

/// The Lua file, in the config directory.
pub const LUA_FILE: &str = "custom_errors.lua";
/// The internal frontend's socket, in the config directory (beside the Lua file, which
/// finds it there).
pub const SOCKET_FILE: &str = "errors.sock";
/// Longest socket path a unix socket address holds (`sun_path` less its final NUL).
pub const MAX_SOCKET_PATH: usize = 107;
/// Largest error page used, in bytes: a reply must fit in one HAProxy buffer (16 KiB by
/// default) with its headers; a larger page leaves the upstream's own response in place.
pub const MAX_PAGE: usize = 12 * 1024;

/// A status code list: 3-digit codes from 400 to 599, sorted, without duplicates.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ErrorCodes(Vec<u16>);

impl ErrorCodes {
    /// Validates a list (order and duplicates do not matter).
    pub fn new(codes: impl IntoIterator<Item = u16>) -> Result<Self, InvalidValue> {
        let mut v: Vec<u16> = codes.into_iter().collect();
        if v.is_empty() {
            return Err(InvalidValue::new("error codes", "", "it is empty"));
        }
        if let Some(c) = v.iter().find(|c| !(400..=599).contains(*c)) {
            return Err(InvalidValue::new(
                "error code",
                c.to_string(),
                "only codes from 400 to 599 are errors an upstream answers",
            ));
        }
        v.sort_unstable();
        v.dedup();
        Ok(Self(v))
    }

    /// The codes.
    pub fn codes(&self) -> &[u16] {
        &self.0
    }
}

/// A Kubernetes name or Service port sent to the error backend: 1 to 253 lower-case letters,
/// digits, `.` and `-` (never `/`, `|` or `,`, which separate the value's parts).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ErrorLabel(String);

impl ErrorLabel {
    /// Validates a name (`what` names it in the error).
    pub fn new(what: &'static str, s: &str) -> Result<Self, InvalidValue> {
        if s.is_empty() || s.len() > 253 {
            return Err(InvalidValue::new(what, s, "it must be 1 to 253 bytes"));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        {
            return Err(InvalidValue::new(
                what,
                s,
                "only lower-case letters, digits, . and - are allowed",
            ));
        }
        Ok(Self(s.to_string()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A route's custom error pages: its codes, the backend that serves the pages, and what the
/// error backend is told about the route.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CustomErrors {
    /// The upstream statuses replaced.
    pub codes: ErrorCodes,
    /// The backend asked for the page.
    pub backend: BackendName,
    /// `X-Namespace`: the route's namespace.
    pub namespace: ErrorLabel,
    /// `X-Ingress-Name`.
    pub ingress: ErrorLabel,
    /// `X-Service-Name`: the route's Service.
    pub service: ErrorLabel,
    /// `X-Service-Port`: its port, as the Ingress names it (number or name).
    pub port: ErrorLabel,
}

impl CustomErrors {
    /// Reads a value field back; `None` when it is not one [`fmt::Display`] writes.
    pub fn parse(s: &str) -> Option<Self> {
        let mut parts = s.split('/');
        let codes = parts.next()?;
        let codes = codes
            .split(',')
            .map(|c| (c.len() == 3).then(|| c.parse::<u16>().ok()).flatten())
            .collect::<Option<Vec<u16>>>()?;
        let out = Self {
            codes: ErrorCodes::new(codes).ok()?,
            backend: BackendName::new(parts.next()?).ok()?,
            namespace: ErrorLabel::new("namespace", parts.next()?).ok()?,
            ingress: ErrorLabel::new("ingress", parts.next()?).ok()?,
            service: ErrorLabel::new("service", parts.next()?).ok()?,
            port: ErrorLabel::new("port", parts.next()?).ok()?,
        };
        // Only the canonical form (sorted codes, no extra part) reads back.
        (parts.next().is_none() && out.to_string() == s).then_some(out)
    }
}

impl fmt::Display for CustomErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.codes.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{c}")?;
        }
        write!(
            f,
            "/{}/{}/{}/{}/{}",
            self.backend, self.namespace.0, self.ingress.0, self.service.0, self.port.0
        )
    }
}

/// Where the Lua file and the internal frontend's socket go: a directory whose socket path
/// fits a unix socket address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ErrorFiles {
    /// `<dir>/custom_errors.lua`.
    pub lua: ConfigPath,
    /// `<dir>/errors.sock`.
    pub socket: ConfigPath,
}

impl ErrorFiles {
    /// The files in `dir`.
    pub fn in_dir(dir: &std::path::Path) -> Result<Self, InvalidValue> {
        let socket = ConfigPath::from_path(&dir.join(SOCKET_FILE))?;
        if socket.as_str().len() > MAX_SOCKET_PATH {
            return Err(InvalidValue::new(
                "error socket path",
                socket.as_str(),
                "a unix socket path holds at most 107 bytes",
            ));
        }
        Ok(Self {
            lua: ConfigPath::from_path(&dir.join(LUA_FILE))?,
            socket,
        })
    }
}

/// The Lua action. Fixed text: the codes, the backend and the names come from the route's
/// map value (`txn.errors`), the request's URI, Accept, request id and Host from variables
/// the frontend set while the request was there. Headers with an empty value are not sent
/// (as nginx's `proxy_set_header`).
pub const LUA: &str = r#"-- haproxy-agent: ingress-nginx's custom-http-errors. Fixed text written by the agent:
-- the codes and the error backend come from the route map value (txn.errors).
local dir = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$")
local dst = "unix@" .. dir .. "/errors.sock"
local max_page = MAX_PAGE
local skip = { ["content-length"] = true, ["transfer-encoding"] = true,
  ["connection"] = true, ["keep-alive"] = true }

core.register_action("agent_custom_errors", { "http-res" }, function(txn)
  local spec = txn:get_var("txn.errors")
  if spec == nil then return end
  local codes, backend, ns, ingress, service, port =
    spec:match("^([%d,]+)/([^/]+)/([^/]+)/([^/]+)/([^/]+)/([^/]+)$")
  if codes == nil then return end
  local status = txn.sf:status()
  local hit = false
  for c in codes:gmatch("%d+") do
    if c == status then hit = true break end
  end
  if not hit then return end
  local headers = {}
  local function set(name, value)
    if value ~= nil and value ~= "" then headers[name] = { value } end
  end
  set("x-agent-error-backend", backend)
  set("x-code", status)
  set("x-format", txn:get_var("txn.errors_accept"))
  set("x-original-uri", txn:get_var("txn.errors_uri"))
  set("x-namespace", ns)
  set("x-ingress-name", ingress)
  set("x-service-name", service)
  set("x-service-port", port)
  set("x-request-id", txn:get_var("txn.errors_id"))
  set("host", txn:get_var("txn.errors_host"))
  local res = core.httpclient():get{ url = "http://errors/", dst = dst,
    headers = headers, timeout = 10000 }
  if res == nil or res.status == nil or res.status == 0 then return end
  if res.body ~= nil and #res.body > max_page then return end
  local reply = txn:reply{ status = res.status, body = res.body }
  for name, values in pairs(res.headers or {}) do
    if not skip[name] then
      local i = 0
      while values[i] ~= nil do
        reply:add_header(name, values[i])
        i = i + 1
      end
    end
  end
  txn:done(reply)
end)
"#;

/// The Lua file's text.
pub fn lua_text() -> String {
    LUA.replace("MAX_PAGE", &MAX_PAGE.to_string())
}

/// The frontend rules that keep what the error backend is told, while the request is there
/// (its URI before any rewrite), for routes with custom errors; `field` is the map value
/// field holding [`CustomErrors`]. A request without `X-Request-ID` gets one (as
/// ingress-nginx's), which the upstream sees too.
pub(super) fn request_rules(field: usize) -> Vec<String> {
    let on = "if { var(txn.errors) -m found }";
    vec![
        format!(
            "http-request set-var(txn.errors) var(txn.route),field({field},|) if \
             {{ var(txn.route),field({field},|) -m len gt 0 }}"
        ),
        format!(
            "http-request set-header X-Request-ID %[uuid] {on} !{{ req.hdr(x-request-id) -m found }}"
        ),
        format!("http-request set-var(txn.errors_uri) pathq {on}"),
        format!("http-request set-var(txn.errors_accept) req.hdr(accept) {on}"),
        format!("http-request set-var(txn.errors_id) req.hdr(x-request-id) {on}"),
        format!("http-request set-var(txn.errors_host) req.hdr(host) {on}"),
    ]
}

/// The response rule that runs the Lua action.
pub(super) const RESPONSE_RULE: &str =
    "http-response lua.agent_custom_errors if { var(txn.errors) -m found }";

/// The `global` line loading the Lua file.
pub(super) fn global_line(files: &ErrorFiles) -> String {
    format!("lua-load {}", files.lua)
}

/// The internal frontend the Lua asks: bound on a unix socket only the agent's user can
/// open, it sends each request to the backend the Lua names (never one of the agent's own
/// `_` sections; an unknown backend gets HAProxy's `503`).
pub(super) fn internal_frontend(files: &ErrorFiles) -> String {
    format!(
        "\nfrontend _errors\n    bind unix@{} mode 600\n    \
         http-request set-var(txn.error_backend) req.hdr(x-agent-error-backend)\n    \
         http-request del-header x-agent-error-backend\n    \
         use_backend %[var(txn.error_backend)] if {{ var(txn.error_backend) -m found }} \
         !{{ var(txn.error_backend) -m beg _ }}\n",
        files.socket
    )
}

/// Every haproxy.cfg line this feature adds (the section header `frontend _errors`
/// included), for checks that a rendering holds nothing else.
pub fn rendered_lines(files: &ErrorFiles, field: usize) -> Vec<String> {
    let mut out = vec![format!("    {}", global_line(files))];
    out.extend(request_rules(field).into_iter().map(|r| format!("    {r}")));
    out.push(format!("    {RESPONSE_RULE}"));
    out.extend(internal_frontend(files).lines().map(str::to_string));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(s: &str) -> ErrorLabel {
        ErrorLabel::new("t", s).unwrap()
    }

    fn sample(codes: &[u16]) -> CustomErrors {
        CustomErrors {
            codes: ErrorCodes::new(codes.iter().copied()).unwrap(),
            backend: BackendName::new("apps_errors_80").unwrap(),
            namespace: label("apps"),
            ingress: label("web.v2"),
            service: label("web"),
            port: label("http"),
        }
    }

    #[test]
    fn the_field_round_trips() {
        let table = [
            (&[404][..], "404/apps_errors_80/apps/web.v2/web/http"),
            (
                &[503, 404, 404],
                "404,503/apps_errors_80/apps/web.v2/web/http",
            ),
            (&[599, 400], "400,599/apps_errors_80/apps/web.v2/web/http"),
        ];
        for (codes, want) in table {
            let e = sample(codes);
            assert_eq!(e.to_string(), want);
            assert_eq!(CustomErrors::parse(want), Some(e));
        }
    }

    #[test]
    fn bad_values_are_refused() {
        for codes in [&[][..], &[399], &[600], &[200, 404], &[0]] {
            assert!(ErrorCodes::new(codes.iter().copied()).is_err(), "{codes:?}");
        }
        for s in ["", "A", "a/b", "a|b", "a,b", "a b", "a_b", &"a".repeat(254)] {
            assert!(ErrorLabel::new("t", s).is_err(), "{s:?}");
        }
        for s in [
            "",
            "404",
            "404/be/ns/ing/svc",
            "404/be/ns/ing/svc/80/extra",
            "503,404/be/ns/ing/svc/80",
            "404,404/be/ns/ing/svc/80",
            "0404/be/ns/ing/svc/80",
            "200/be/ns/ing/svc/80",
            "404/be/NS/ing/svc/80",
            "404/b e/ns/ing/svc/80",
        ] {
            assert_eq!(CustomErrors::parse(s), None, "{s:?}");
        }
    }

    #[test]
    fn files_fit_a_socket_address() {
        let f = ErrorFiles::in_dir(std::path::Path::new("/etc/haproxy")).unwrap();
        assert_eq!(f.lua.as_str(), "/etc/haproxy/custom_errors.lua");
        assert_eq!(f.socket.as_str(), "/etc/haproxy/errors.sock");
        let long = format!("/{}", "d".repeat(100));
        assert!(ErrorFiles::in_dir(std::path::Path::new(&long)).is_err());
    }

    #[test]
    fn the_lua_text_is_fixed() {
        let text = lua_text();
        assert!(text.contains("local max_page = 12288"), "{text}");
        assert!(!text.contains("MAX_PAGE"));
    }
}
