//! The backend options' annotations: balancing, timeouts, session affinity (cookies),
//! canary weights; each value checked and turned into the model's type.

use haproxy::config::{
    Balance, CookieAttrs, CookieName, CookiePath, HashOn, SameSite, Timeout, Token,
};

use crate::cli::parse_duration;

use super::{
    CANARY_SERVICE, CANARY_WEIGHT, Canary, Parsed, Reader, STICKY_COOKIE, ValueError, is_dns_label,
};

pub(super) fn duration(v: &str) -> Result<Timeout, ValueError> {
    let d = parse_duration(v).map_err(ValueError::Duration)?;
    Ok(Timeout::new(d)?)
}

/// ingress-nginx's timeouts are whole seconds; a duration with a unit is taken too.
pub(crate) fn seconds_or_duration(v: &str) -> Result<Timeout, ValueError> {
    match v.trim().parse::<u64>() {
        Ok(s) => Ok(Timeout::new(std::time::Duration::from_secs(s))?),
        Err(_) => duration(v),
    }
}

/// `upstream-hash-by`: one nginx variable, as a consistent hash.
pub(super) fn hash_on(v: &str) -> Result<HashOn, ValueError> {
    let token = |name: &str| Token::new(name).map_err(ValueError::from);
    let v = v.trim();
    let name = v
        .strip_prefix("${")
        .and_then(|n| n.strip_suffix('}'))
        .or_else(|| v.strip_prefix('$'))
        .ok_or_else(|| ValueError::NotHashVariable(v.to_string()))?;
    Ok(match name {
        "request_uri" => HashOn::PathAndQuery,
        "uri" | "document_uri" => HashOn::Path,
        "remote_addr" | "binary_remote_addr" => HashOn::Source,
        "host" | "http_host" => HashOn::Header(token("host")?),
        _ => {
            if let Some(h) = name.strip_prefix("http_") {
                HashOn::Header(token(&h.replace('_', "-"))?)
            } else if let Some(c) = name.strip_prefix("cookie_") {
                HashOn::Cookie(token(c)?)
            } else if let Some(a) = name.strip_prefix("arg_") {
                HashOn::QueryParam(token(a)?)
            } else {
                return Err(ValueError::UnhashedVariable(v.to_string()));
            }
        }
    })
}

pub(super) fn balance<'a>(r: &mut Reader<'a>, out: &mut Parsed) {
    if let Some((key, v)) = r.get("upstream-hash-by") {
        match hash_on(v) {
            Ok(on) => {
                out.explicit_balance = true;
                out.options.balance = Balance::Hash(on);
                // ingress-nginx: upstream-hash-by takes precedence over load-balance.
                if let Some((lb, _)) = r.get("load-balance") {
                    r.shadowed_by(lb, key);
                }
                return;
            }
            Err(e) => r.invalid(key, e),
        }
    }
    let Some((key, v)) = r.get("load-balance") else {
        return;
    };
    out.explicit_balance = true;
    out.options.balance = match v.trim() {
        "leastconn" => Balance::Leastconn,
        "roundrobin" | "round_robin" => Balance::Roundrobin,
        "random" => Balance::Random,
        "first" => Balance::First,
        "ewma" => {
            r.differs(
                key,
                "HAProxy has no EWMA balancing; leastconn (fewest active connections) is used",
            );
            Balance::Leastconn
        }
        other => {
            out.explicit_balance = false;
            r.invalid(
                key,
                format!("{other:?} is not one of round_robin, leastconn, ewma, random, first"),
            );
            return;
        }
    };
}

pub(super) fn read_timeout<'a>(
    r: &mut Reader<'a>,
    name: &str,
    parse: fn(&str) -> Result<Timeout, ValueError>,
) -> Option<(&'a str, Timeout)> {
    let (key, v) = r.get(name)?;
    match parse(v) {
        Ok(t) => Some((key, t)),
        Err(e) => {
            r.invalid(key, e);
            None
        }
    }
}

pub(super) fn timeouts<'a>(r: &mut Reader<'a>, out: &mut Parsed) {
    let server = read_timeout(r, "timeout-server", duration);
    let connect = read_timeout(r, "timeout-connect", duration);
    let nginx_connect = read_timeout(r, "proxy-connect-timeout", seconds_or_duration);
    let nginx_read = read_timeout(r, "proxy-read-timeout", seconds_or_duration);
    let nginx_send = read_timeout(r, "proxy-send-timeout", seconds_or_duration);
    let shadow = |r: &mut Reader<'a>, by: &str, what: Option<(&'a str, Timeout)>| {
        if let Some((key, _)) = what {
            r.shadowed_by(key, by);
        }
    };
    out.options.timeout_connect = match (connect, nginx_connect) {
        (Some((key, t)), other) => {
            shadow(r, key, other);
            Some(t)
        }
        (None, other) => other.map(|(_, t)| t),
    };
    out.options.timeout_server = match (server, nginx_read, nginx_send) {
        (Some((key, t)), read, send) => {
            shadow(r, key, read);
            shadow(r, key, send);
            Some(t)
        }
        (None, Some((rk, rt)), Some((sk, st))) => {
            if rt != st {
                let why = "HAProxy has one inactivity timeout (`timeout server`) for both \
                           directions; the larger of proxy-read-timeout and proxy-send-timeout \
                           is used";
                r.differs(rk, why);
                r.differs(sk, why);
            }
            Some(rt.max(st))
        }
        (None, Some((key, t)), None) | (None, None, Some((key, t))) => {
            r.differs(
                key,
                "HAProxy's `timeout server` is one inactivity timeout for both directions",
            );
            Some(t)
        }
        (None, None, None) => None,
    };
}

/// Without `affinity: cookie`: the cookie attributes serve `sticky-cookie` when it is set,
/// else they, the cookie's name and mode (`unused`) are named as having no effect.
fn without_affinity<'a>(
    r: &mut Reader<'a>,
    out: &mut Parsed,
    unused: impl Iterator<Item = (&'a str, &'a str)>,
) {
    let attrs = [
        "session-cookie-path",
        "session-cookie-domain",
        "session-cookie-max-age",
        "session-cookie-expires",
        "session-cookie-samesite",
        "session-cookie-secure",
    ];
    if out.options.sticky.is_some() {
        // Our sticky-cookie takes the same attributes.
        out.options.cookie_attrs = cookie_attrs(r);
    } else {
        let attrs: Vec<&str> = attrs
            .iter()
            .filter_map(|a| r.get(a))
            .map(|(k, _)| k)
            .collect();
        for key in attrs {
            r.differs(
                key,
                "no effect without affinity: cookie (as in ingress-nginx)",
            );
        }
    }
    for (key, _) in unused {
        r.differs(
            key,
            "no effect without affinity: cookie (as in ingress-nginx)",
        );
    }
}

/// `affinity: cookie` and its `session-cookie-*` settings, or our `sticky-cookie`.
pub(super) fn affinity<'a>(r: &mut Reader<'a>, out: &mut Parsed) {
    if let Some((key, c)) = r.get("sticky-cookie") {
        match CookieName::new(c.to_string()) {
            Ok(name) => out.options.sticky = Some(name),
            Err(e) => r.invalid(key, e.to_string()),
        }
    }
    let affinity = match r.get("affinity") {
        None => false,
        Some((_, "cookie")) => true,
        Some((key, v)) => {
            r.invalid(key, format!("{v:?} is not cookie (the only affinity type)"));
            false
        }
    };
    let name = r.get("session-cookie-name");
    let mode = r.get("affinity-mode");
    if !affinity {
        without_affinity(r, out, name.into_iter().chain(mode));
        return;
    }
    if let Some((key, v)) = mode {
        match v {
            "persistent" => {}
            "balanced" => r.differs(
                key,
                "HAProxy keeps every session on its server: sessions are not moved to new \
                 servers after a scale-up (ingress-nginx's persistent mode)",
            ),
            _ => r.invalid(key, format!("{v:?} is not balanced or persistent")),
        }
    }
    let cookie = match name {
        None => CookieName::new("INGRESSCOOKIE".to_string()).expect("a valid cookie name"),
        Some((key, v)) => match CookieName::new(v.to_string()) {
            Ok(c) => c,
            Err(e) => {
                r.invalid(key, e.to_string());
                return;
            }
        },
    };
    match &out.options.sticky {
        Some(_) => {
            if let Some((key, _)) = r.get("affinity") {
                r.shadowed_by(key, STICKY_COOKIE);
            }
        }
        None => out.options.sticky = Some(cookie),
    }
    out.options.cookie_attrs = cookie_attrs(r);
}

/// `session-cookie-path`, `-domain`, `-max-age`, `-expires`, `-samesite`, `-secure`.
pub(super) fn cookie_attrs(r: &mut Reader<'_>) -> CookieAttrs {
    let mut attrs = CookieAttrs::default();
    if let Some((key, v)) = r.get("session-cookie-path") {
        match CookiePath::new(v.trim()) {
            Ok(p) if p.as_str().starts_with('/') => attrs.path = Some(p),
            Ok(_) => r.invalid(key, format!("{v:?} is not an absolute path")),
            Err(e) => r.invalid(key, e.to_string()),
        }
    }
    if let Some((key, v)) = r.get("session-cookie-domain") {
        match CookiePath::new(v.trim()) {
            Ok(d) if !d.as_str().contains('/') => attrs.domain = Some(d),
            Ok(_) => r.invalid(key, format!("{v:?} is not a domain")),
            Err(e) => r.invalid(key, e.to_string()),
        }
    }
    let seconds = |r: &mut Reader<'_>, name: &str| -> Option<u32> {
        let (key, v) = r.get(name)?;
        v.trim()
            .parse::<u32>()
            .map_err(|_| r.invalid(key, format!("{v:?} is not a number of seconds")))
            .ok()
    };
    let max_age = seconds(r, "session-cookie-max-age");
    let expires = seconds(r, "session-cookie-expires");
    attrs.max_age = match (max_age, expires) {
        (Some(m), _) => Some(m),
        (None, Some(e)) => {
            if let Some((key, _)) = r.get("session-cookie-expires") {
                r.differs(
                    key,
                    "sent as Max-Age (HAProxy cannot compute an Expires date per response); \
                     browsers treat both the same",
                );
            }
            Some(e)
        }
        (None, None) => None,
    };
    if let Some((key, v)) = r.get("session-cookie-samesite") {
        match v.trim().to_ascii_lowercase().as_str() {
            "none" => attrs.same_site = Some(SameSite::None),
            "lax" => attrs.same_site = Some(SameSite::Lax),
            "strict" => attrs.same_site = Some(SameSite::Strict),
            _ => r.invalid(key, format!("{v:?} is not None, Lax or Strict")),
        }
    }
    attrs.secure = r.flag("session-cookie-secure", false);
    attrs
}

pub(super) fn canary<'a>(r: &mut Reader<'a>, out: &mut Parsed) {
    match (r.get("canary-service"), r.get("canary-weight")) {
        (Some((skey, svc)), weight) => {
            let percent = match weight.map(|(k, w)| (k, w.trim().parse::<u8>())) {
                None => Err((skey, format!("{CANARY_WEIGHT} is missing"))),
                Some((_, Ok(p))) if p <= 100 => Ok(p),
                Some((k, _)) => Err((
                    k,
                    format!(
                        "{:?} is not a whole percentage from 0 to 100",
                        weight.map(|(_, w)| w).unwrap_or_default()
                    ),
                )),
            };
            match (is_dns_label(svc), percent) {
                (false, _) => r.invalid(skey, format!("{svc:?} is not a Service name")),
                (true, Err((k, e))) => r.invalid(k, e),
                (true, Ok(percent)) => {
                    out.canary = Some(Canary {
                        service: svc.to_string(),
                        percent,
                    })
                }
            }
        }
        (None, Some((key, _))) => r.invalid(key, format!("set without {CANARY_SERVICE}; ignored")),
        (None, None) => {}
    }
}
