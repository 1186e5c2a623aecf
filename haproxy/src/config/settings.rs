//! Global settings (the command line's and the ConfigMap's): the JSON access log, TLS
//! versions and ciphers, the forwarded-for header, PROXY protocol on the binds and to the
//! servers, and HSTS; rendered into `global`, `defaults`, the binds and fixed frontend rules.

use std::fmt;

use super::value::{ConfigPath, InvalidValue, check_chars as check};

pub use crate::proto::command::SendProxy;

/// Where HAProxy sends its access log.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LogTarget {
    /// HAProxy's standard output (`log stdout`): the container's log when HAProxy runs in
    /// the foreground, as it does in deploy/ and under `--spawn-haproxy`.
    Stdout,
    /// A Unix datagram socket (a log collector's), one JSON object per datagram.
    Socket(ConfigPath),
}

impl fmt::Display for LogTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogTarget::Stdout => f.write_str("stdout"),
            LogTarget::Socket(p) => p.fmt(f),
        }
    }
}

/// The settings that are neither a route's nor a backend's.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GlobalSettings {
    /// The access log, when on (`log <target> format raw local0` and [`ACCESS_LOG_FORMAT`]).
    pub access_log: Option<LogTarget>,
    /// The TLS versions of the HTTPS bind (`ssl-default-bind-options`).
    pub tls_versions: TlsVersions,
    /// The TLS 1.2 ciphers (`ssl-default-bind-ciphers`); OpenSSL's default when absent.
    pub ciphers: Option<Ciphers>,
    /// The header `option forwardfor` writes the client address into (X-Forwarded-For
    /// when absent).
    pub forwarded_for_header: Option<HeaderName>,
    /// Accept the PROXY protocol (v1 and v2) on the HTTP and HTTPS binds (`accept-proxy`):
    /// the client address is the one the load balancer in front reports.
    pub accept_proxy: bool,
    /// Believe the client's `X-Forwarded-For` (its last address becomes the client
    /// address) and `X-Forwarded-Proto` (passed on as sent), from any source, as
    /// ingress-nginx's `use-forwarded-headers`.
    pub use_forwarded_headers: bool,
    /// HSTS (the ConfigMap's `hsts*` keys) for the HTTPS responses no route gave one: not
    /// rendered into haproxy.cfg but into the settings map (see [`super::settings_map`]), so
    /// a change is a map update.
    pub hsts: Option<Hsts>,
}

/// The access log: one JSON object a request, see [`ACCESS_LOG_FORMAT`].
///
/// Every value a client controls (method, URI, host, request id) goes through HAProxy's
/// `json(utf8s)` converter, which escapes quotes, backslashes and control bytes and drops
/// invalid UTF-8; the rest are numbers, addresses, HAProxy's names for frontends, backends
/// and servers (validated identifiers) and its termination state letters. Measured on
/// HAProxy 2.6.12: `accept_date` and `%{+json}` do not exist there, so the time is `date`
/// (when the line is written, whole seconds) plus `accept_ms` (`%Ts%ms`, when the
/// connection was accepted, epoch milliseconds).
pub const ACCESS_LOG_FORMAT: &str = concat!(
    r#"{\"time\":\"%[date,utime(%Y-%m-%dT%H:%M:%SZ)]\",\"accept_ms\":%Ts%ms,"#,
    r#"\"client\":\"%ci\",\"client_port\":%cp,"#,
    r#"\"host\":\"%[var(txn.host),json(utf8s)]\","#,
    r#"\"method\":\"%[capture.req.method,json(utf8s)]\","#,
    r#"\"uri\":\"%[capture.req.uri,json(utf8s)]\","#,
    r#"\"status\":%ST,\"bytes_in\":%U,\"bytes_out\":%B,"#,
    r#"\"tq\":%Tq,\"tw\":%Tw,\"tc\":%Tc,\"tr\":%Tr,\"ta\":%Ta,"#,
    r#"\"frontend\":\"%f\",\"backend\":\"%b\",\"server\":\"%s\","#,
    r#"\"termination\":\"%tsc\",\"request_id\":\"%[var(txn.request_id),json(utf8s)]\"}"#,
);

/// A TLS protocol version, as HAProxy names it (`ssl-min-ver`, `ssl-max-ver`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TlsVersion {
    /// TLS 1.0.
    V1_0,
    /// TLS 1.1.
    V1_1,
    /// TLS 1.2.
    V1_2,
    /// TLS 1.3.
    V1_3,
}

impl TlsVersion {
    /// The keyword (`TLSv1.2`), which is also ingress-nginx's spelling.
    pub fn keyword(self) -> &'static str {
        match self {
            TlsVersion::V1_0 => "TLSv1",
            TlsVersion::V1_1 => "TLSv1.1",
            TlsVersion::V1_2 => "TLSv1.2",
            TlsVersion::V1_3 => "TLSv1.3",
        }
    }

    /// Reads `TLSv1`, `TLSv1.0` … `TLSv1.3` (any case).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "tlsv1" | "tlsv1.0" => TlsVersion::V1_0,
            "tlsv1.1" => TlsVersion::V1_1,
            "tlsv1.2" => TlsVersion::V1_2,
            "tlsv1.3" => TlsVersion::V1_3,
            _ => return None,
        })
    }
}

/// The TLS versions the HTTPS bind accepts, lowest to highest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TlsVersions {
    /// `ssl-min-ver`.
    pub min: TlsVersion,
    /// `ssl-max-ver`.
    pub max: TlsVersion,
}

impl Default for TlsVersions {
    /// TLS 1.2 and 1.3 (ingress-nginx's default `ssl-protocols`).
    fn default() -> Self {
        Self {
            min: TlsVersion::V1_2,
            max: TlsVersion::V1_3,
        }
    }
}

word!(
    /// An OpenSSL cipher list for TLS 1.2 and lower (`ssl-default-bind-ciphers`): letters,
    /// digits and `: + ! @ = _ . -`, at most 2048 bytes.
    Ciphers
);

impl Ciphers {
    /// Validates a cipher list.
    pub fn new(s: &str) -> Result<Self, InvalidValue> {
        check(
            "cipher list",
            s,
            2048,
            |c| c.is_ascii_alphanumeric() || ":+!@=_.-".contains(c),
            "only letters, digits and : + ! @ = _ . - are allowed",
        )?;
        Ok(Self(s.to_string()))
    }
}

word!(
    /// An HTTP header name written into haproxy.cfg: letters, digits and `-`, 1 to 64
    /// bytes, starting with a letter.
    HeaderName
);

impl HeaderName {
    /// Validates a header name.
    pub fn new(s: &str) -> Result<Self, InvalidValue> {
        check(
            "header name",
            s,
            64,
            |c| c.is_ascii_alphanumeric() || c == '-',
            "only letters, digits and - are allowed",
        )?;
        if !s.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return Err(InvalidValue::new(
                "header name",
                s,
                "it must start with a letter",
            ));
        }
        Ok(Self(s.to_string()))
    }

    /// Whether this is `X-Forwarded-For` (any case).
    pub fn is_x_forwarded_for(&self) -> bool {
        self.0.eq_ignore_ascii_case("x-forwarded-for")
    }
}

/// `Strict-Transport-Security` on HTTPS responses. It rides in each route's map value
/// (see [`super::RoutePolicy::hsts`]), so changing it is a map update, not a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hsts {
    /// `max-age`, seconds.
    pub max_age: u32,
    /// `includeSubDomains`.
    pub include_subdomains: bool,
    /// `preload`.
    pub preload: bool,
}

impl Hsts {
    /// The map value field: `<max-age>.<flags>`, flags `n` (none), `s` (includeSubDomains),
    /// `p` (preload) or `sp` (both).
    pub(super) fn field(&self) -> String {
        let flags = match (self.include_subdomains, self.preload) {
            (false, false) => "n",
            (true, false) => "s",
            (false, true) => "p",
            (true, true) => "sp",
        };
        format!("{}.{flags}", self.max_age)
    }

    /// Reads a field [`Hsts::field`] wrote.
    pub(super) fn parse(s: &str) -> Option<Self> {
        let (age, flags) = s.split_once('.')?;
        let (include_subdomains, preload) = match flags {
            "n" => (false, false),
            "s" => (true, false),
            "p" => (false, true),
            "sp" => (true, true),
            _ => return None,
        };
        Some(Self {
            max_age: age.parse().ok()?,
            include_subdomains,
            preload,
        })
    }
}

/// The key of the settings map's HSTS entry (its value is [`Hsts::field`]; see
/// [`super::settings_map`]).
pub const HSTS_KEY: &str = "hsts";

/// The frontend rules that send the route's HSTS header on HTTPS responses, the ones
/// HAProxy makes itself (redirects, denials) included; without a route's, the settings
/// map's (`settings`: a request no route takes). `field` is the value field number.
pub(super) fn hsts_rules(field: usize, settings: &super::value::ConfigPath) -> Vec<String> {
    let mut out = vec![
        format!(
            "http-request set-var(txn.hsts) var(txn.route),field({field},|) if \
             {{ ssl_fc }} {{ var(txn.route),field({field},|) -m len gt 0 }}"
        ),
        // No route's: the settings map's, read with a fixed key.
        format!(
            "http-request set-var(txn.hsts) str({HSTS_KEY}),map_str({settings}) if {{ ssl_fc }} \
             !{{ var(txn.hsts) -m found }}"
        ),
    ];
    for (flags, tail) in [
        ("n", ""),
        ("s", "; includeSubDomains"),
        ("p", "; preload"),
        ("sp", "; includeSubDomains; preload"),
    ] {
        out.push(format!(
            "http-after-response set-header Strict-Transport-Security \
             \"max-age=%[var(txn.hsts),field(1,.)]{tail}\" if \
             {{ var(txn.hsts),field(2,.) -m str {flags} }}"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked() {
        assert!(Ciphers::new("ECDHE-RSA-AES128-GCM-SHA256:!aNULL").is_ok());
        for bad in ["", "a b", "a\"b", "a$HOME", "a#b", &"A".repeat(2049)] {
            assert!(Ciphers::new(bad).is_err(), "{bad:?}");
        }
        assert!(HeaderName::new("X-Real-IP").is_ok());
        for bad in ["", "-x", "1x", "a b", "a_b", "a:b", "a\nb", &"a".repeat(65)] {
            assert!(HeaderName::new(bad).is_err(), "{bad:?}");
        }
        assert_eq!(TlsVersion::parse("tlsv1.3"), Some(TlsVersion::V1_3));
        assert_eq!(TlsVersion::parse("SSLv3"), None);
    }

    #[test]
    fn hsts_fields_round_trip() {
        for (i, p) in [(false, false), (true, false), (false, true), (true, true)] {
            let h = Hsts {
                max_age: 31536000,
                include_subdomains: i,
                preload: p,
            };
            assert_eq!(Hsts::parse(&h.field()), Some(h));
        }
        for bad in ["", "1", "1.x", "x.n", "1.sp.", "-1.n"] {
            assert_eq!(Hsts::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_log_format_has_no_unescaped_client_text() {
        // Every %[...] sample of client text ends in the JSON converter.
        for sample in ACCESS_LOG_FORMAT.split("%[").skip(1) {
            let sample = sample.split(']').next().unwrap();
            if sample.starts_with("date") {
                continue;
            }
            assert!(sample.ends_with(",json(utf8s)"), "{sample}");
        }
        assert!(!ACCESS_LOG_FORMAT.contains('\''));
    }
}
