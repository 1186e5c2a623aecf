//! A rule's `filters` -> the header operations, redirect and rewrite of its action, each
//! value checked. A bad value leaves the rule out; a filter the agent does not implement
//! makes the rule answer 500 (the spec: such a filter must not be skipped).

use haproxy::config::gateway::{HeaderOps, PathRewrite, Redirect};

use super::{hostnames, validate};
use crate::gateway_api::{
    HeaderModifier, HttpRouteFilter, PathModifier, RequestRedirect, UrlRewrite,
};

/// What a rule's filters ask for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(in crate::translate) struct Filters {
    /// `RequestHeaderModifier`.
    pub request_headers: HeaderOps,
    /// `ResponseHeaderModifier`.
    pub response_headers: HeaderOps,
    /// `RequestRedirect`.
    pub redirect: Option<Redirect>,
    /// `URLRewrite.hostname`.
    pub rewrite_host: Option<String>,
    /// `URLRewrite.path`.
    pub rewrite_path: Option<PathRewrite>,
    /// A filter that is not implemented (field, why): the rule answers 500.
    pub unsupported: Option<(String, String)>,
}

/// A filter value that leaves the rule out: (field, why).
pub(in crate::translate) type Refused = (String, String);

/// Reads the filters of rule `field` (`spec.rules[i]`).
pub(in crate::translate) fn read(
    field: &str,
    filters: &[HttpRouteFilter],
) -> Result<Filters, Refused> {
    let mut out = Filters::default();
    let mut seen: Vec<&str> = Vec::new();
    for (i, f) in filters.iter().enumerate() {
        let at = format!("{field}.filters[{i}]");
        let refuse = |why: &str| Err((at.clone(), why.to_string()));
        if seen.contains(&f.type_.as_str()) {
            return refuse("a filter type may appear once in a rule");
        }
        seen.push(&f.type_);
        match f.type_.as_str() {
            "RequestHeaderModifier" => match &f.request_header_modifier {
                Some(m) => out.request_headers = header_ops(&at, "requestHeaderModifier", m)?,
                None => return refuse("requestHeaderModifier is missing"),
            },
            "ResponseHeaderModifier" => match &f.response_header_modifier {
                Some(m) => out.response_headers = header_ops(&at, "responseHeaderModifier", m)?,
                None => return refuse("responseHeaderModifier is missing"),
            },
            "RequestRedirect" => match &f.request_redirect {
                Some(r) => out.redirect = Some(redirect(&at, r)?),
                None => return refuse("requestRedirect is missing"),
            },
            "URLRewrite" => match &f.url_rewrite {
                Some(r) => rewrite(&at, r, &mut out)?,
                None => return refuse("urlRewrite is missing"),
            },
            "RequestMirror" | "CORS" | "ExtensionRef" => {
                let why = format!(
                    "filter {} is not supported: the rule answers 500 (the spec forbids skipping it)",
                    f.type_
                );
                out.unsupported.get_or_insert((at, why));
            }
            other => {
                let why = format!(
                    "filter type {:?} is unknown: the rule answers 500",
                    hostnames::truncate(other)
                );
                out.unsupported.get_or_insert((format!("{at}.type"), why));
            }
        }
    }
    if out.redirect.is_some() && (out.rewrite_host.is_some() || out.rewrite_path.is_some()) {
        return Err((
            format!("{field}.filters"),
            "RequestRedirect and URLRewrite cannot be combined (IncompatibleFilters)".into(),
        ));
    }
    Ok(out)
}

fn header_ops(at: &str, name: &str, m: &HeaderModifier) -> Result<HeaderOps, Refused> {
    let mut ops = HeaderOps::default();
    let mut names: Vec<String> = Vec::new();
    for (list, which) in [(&m.set, "set"), (&m.add, "add")] {
        for (i, h) in list.iter().enumerate() {
            let f = format!("{at}.{name}.{which}[{i}]");
            validate::header_name(&h.name).map_err(|w| (format!("{f}.name"), w.to_string()))?;
            validate::header_value(&h.value).map_err(|w| (format!("{f}.value"), w.to_string()))?;
            let lower = h.name.to_ascii_lowercase();
            if names.contains(&lower) {
                return Err((
                    format!("{f}.name"),
                    format!("header {} is named twice", h.name),
                ));
            }
            names.push(lower);
            let pair = (h.name.clone(), h.value.clone());
            if which == "set" {
                ops.set.push(pair)
            } else {
                ops.add.push(pair)
            }
        }
    }
    for (i, r) in m.remove.iter().enumerate() {
        validate::header_name(r)
            .map_err(|w| (format!("{at}.{name}.remove[{i}]"), w.to_string()))?;
        ops.remove.push(r.to_ascii_lowercase());
    }
    Ok(ops)
}

fn path_modifier(at: &str, p: &PathModifier) -> Result<PathRewrite, Refused> {
    let value = |v: &Option<String>, f: &str| -> Result<String, Refused> {
        let v = v
            .clone()
            .ok_or_else(|| (format!("{at}.path"), format!("{f} is missing")))?;
        validate::path(&v).map_err(|w| (format!("{at}.path.{f}"), w.to_string()))?;
        Ok(v)
    };
    match p.type_.as_str() {
        "ReplaceFullPath" => Ok(PathRewrite::Full(value(
            &p.replace_full_path,
            "replaceFullPath",
        )?)),
        "ReplacePrefixMatch" => Ok(PathRewrite::Prefix(value(
            &p.replace_prefix_match,
            "replacePrefixMatch",
        )?)),
        other => Err((
            format!("{at}.path.type"),
            format!(
                "path type {:?} is not ReplaceFullPath or ReplacePrefixMatch",
                hostnames::truncate(other)
            ),
        )),
    }
}

fn redirect(at: &str, r: &RequestRedirect) -> Result<Redirect, Refused> {
    let at = format!("{at}.requestRedirect");
    let scheme = match r.scheme.as_deref() {
        None => None,
        Some(s @ ("http" | "https")) => Some(s.to_string()),
        Some(s) => {
            let why = format!("scheme {:?} is not http or https", hostnames::truncate(s));
            return Err((format!("{at}.scheme"), why));
        }
    };
    let hostname = match r.hostname.as_deref() {
        None => None,
        Some(h) => match hostnames::parse(h, false) {
            Ok(p) => Some(hostnames::show(&p)),
            Err(why) => return Err((format!("{at}.hostname"), why.to_string())),
        },
    };
    let port = match r.port {
        None => None,
        Some(p) => match u16::try_from(p) {
            Ok(p) if p > 0 => Some(p),
            _ => {
                return Err((
                    format!("{at}.port"),
                    format!("port {p} is out of range 1-65535"),
                ));
            }
        },
    };
    let status = match r.status_code {
        None => 302,
        Some(c @ (301 | 302 | 303 | 307 | 308)) => c as u16,
        Some(c) => {
            let why = format!("status code {c} is not 301, 302, 303, 307 or 308");
            return Err((format!("{at}.statusCode"), why));
        }
    };
    let path = r.path.as_ref().map(|p| path_modifier(&at, p)).transpose()?;
    Ok(Redirect {
        scheme,
        hostname,
        port,
        path,
        status,
    })
}

fn rewrite(at: &str, r: &UrlRewrite, out: &mut Filters) -> Result<(), Refused> {
    let at = format!("{at}.urlRewrite");
    if let Some(h) = &r.hostname {
        let p =
            hostnames::parse(h, false).map_err(|w| (format!("{at}.hostname"), w.to_string()))?;
        out.rewrite_host = Some(hostnames::show(&p));
    }
    out.rewrite_path = r.path.as_ref().map(|p| path_modifier(&at, p)).transpose()?;
    Ok(())
}
