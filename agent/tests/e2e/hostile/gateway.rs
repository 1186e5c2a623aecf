//! Gateway API objects in the hostile corpus: every hostile token in each user string of a
//! Gateway and an HTTPRoute (host names, paths, header and query names and values, header
//! modifiers, redirect targets, backend names), each refused with a named problem on the
//! object and field, or accepted where the spec allows it; and, for every case of the
//! corpus, nothing but printable ASCII in the Gateway maps' entries.

use haproxy::config::gateway::{ActionKind, GatewayRoutes, HostPattern, PathMatch, PathRewrite};
use serde_json::{Value, json};

use super::{Case, Expect, TOKENS, Token};
use haproxy_agent::problem::ProblemKind;
use haproxy_agent::store::Object;

/// Our class and a Gateway `shop/gw` with an HTTP listener (`host` its host name).
fn gateway(host: Option<&str>) -> Vec<Object> {
    let class = json!({"metadata": {"name": "haproxy-gw"},
                       "spec": {"controllerName": haproxy_agent::translate::gateway::DEFAULT_CONTROLLER}});
    let gw = json!({"metadata": {"namespace": "shop", "name": "gw"},
                    "spec": {"gatewayClassName": "haproxy-gw", "listeners": [
                        {"name": "http", "protocol": "HTTP", "port": 80, "hostname": host}]}});
    vec![
        Object::GatewayClass(serde_json::from_value(class).expect("a GatewayClass")),
        Object::Gateway(serde_json::from_value(gw).expect("a Gateway")),
    ]
}

/// HTTPRoute `shop/hroute` to `hsvc:80`, with `patch` applied to its rule (or its spec).
fn route(spec: Value, rule: Value) -> Object {
    let mut r = json!({"matches": [{"path": {"type": "PathPrefix", "value": "/gw"}}],
                       "backendRefs": [{"name": "hsvc", "port": 80}]});
    merge(&mut r, rule);
    let mut s = json!({"parentRefs": [{"name": "gw"}], "rules": [r]});
    merge(&mut s, spec);
    let v = json!({"metadata": {"namespace": "shop", "name": "hroute"}, "spec": s});
    Object::HttpRoute(serde_json::from_value(v).expect("an HTTPRoute"))
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(a), Value::Object(b)) = (into.as_object_mut(), from) {
        a.extend(b);
    }
}

/// An HTTP token (RFC 7230 `tchar`s only).
fn token_ok(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A field of the Gateway world: where the token goes and what it must give.
struct Field {
    label: &'static str,
    kind: ProblemKind,
    field: &'static str,
    /// The objects with the token in the field.
    objects: fn(&str) -> Vec<Object>,
    /// True when the spec allows the token there.
    accepts: fn(&Token) -> bool,
}

fn with_route(t: &str, spec: Value, rule: Value) -> Vec<Object> {
    let _ = t;
    let mut out = gateway(None);
    out.push(route(spec, rule));
    out
}

fn host_and_path_fields() -> Vec<Field> {
    vec![
        Field {
            label: "HTTPRoute hostname",
            kind: ProblemKind::HttpRoute,
            field: "spec.hostnames[0]",
            objects: |t| {
                with_route(
                    t,
                    json!({"hostnames": [format!("ho{t}stile.example.com")]}),
                    json!({}),
                )
            },
            accepts: |_| false,
        },
        Field {
            label: "Gateway listener hostname",
            kind: ProblemKind::Gateway,
            field: "spec.listeners[0].hostname",
            objects: |t| gateway(Some(&format!("ho{t}stile.example.com"))),
            accepts: |_| false,
        },
        Field {
            label: "Gateway spec.addresses value",
            kind: ProblemKind::Gateway,
            field: "spec.addresses",
            objects: |t| {
                let mut out = gateway(None);
                if let Object::Gateway(g) = &mut out[1] {
                    let a = json!([{"type": "IPAddress", "value": format!("10.0.0.1{t}")}]);
                    g.spec.addresses = serde_json::from_value(a).ok();
                }
                out
            },
            accepts: |_| false,
        },
        Field {
            label: "HTTPRoute path",
            kind: ProblemKind::HttpRoute,
            field: "spec.rules[0].matches[0].path.value",
            objects: |t| {
                let m = json!({"matches": [{"path": {"type": "PathPrefix", "value": format!("/pa{t}th")}}]});
                with_route(t, json!({}), m)
            },
            accepts: |t| {
                t.text
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && b != b'#' && b != b'?')
            },
        },
    ]
}

fn match_and_filter_fields() -> Vec<Field> {
    vec![
        Field {
            label: "HTTPRoute header match name",
            kind: ProblemKind::HttpRoute,
            field: "spec.rules[0].matches[0].headers[0].name",
            objects: |t| {
                let m = json!({"matches": [{"headers": [{"name": format!("X-Ho{t}stile"), "value": "v"}]}]});
                with_route(t, json!({}), m)
            },
            accepts: |t| token_ok(t.text),
        },
        Field {
            label: "HTTPRoute header match value",
            kind: ProblemKind::HttpRoute,
            field: "spec.rules[0].matches[0].headers[0].value",
            objects: |t| {
                let m = json!({"matches": [{"headers": [{"name": "x-h", "value": format!("va{t}lue")}]}]});
                with_route(t, json!({}), m)
            },
            accepts: |t| {
                t.text
                    .bytes()
                    .all(|b| (0x20..0x7f).contains(&b) || b == b'\t')
            },
        },
        Field {
            label: "HTTPRoute query parameter name",
            kind: ProblemKind::HttpRoute,
            field: "spec.rules[0].matches[0].queryParams[0].name",
            objects: |t| {
                let m = json!({"matches": [{"queryParams": [{"name": format!("q{t}p"), "value": "v"}]}]});
                with_route(t, json!({}), m)
            },
            accepts: |t| {
                t.text
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && !b"&=#%?".contains(&b))
            },
        },
        Field {
            label: "RequestHeaderModifier value",
            kind: ProblemKind::HttpRoute,
            field: "spec.rules[0].filters[0].requestHeaderModifier.set[0].value",
            objects: |t| {
                let f = json!({"filters": [{"type": "RequestHeaderModifier", "requestHeaderModifier":
                    {"set": [{"name": "X-Set", "value": format!("va{t}lue")}]}}]});
                with_route(t, json!({}), f)
            },
            accepts: |t| {
                t.text
                    .bytes()
                    .all(|b| (0x20..0x7f).contains(&b) || b == b'\t')
            },
        },
        Field {
            label: "ResponseHeaderModifier name",
            kind: ProblemKind::HttpRoute,
            field: "spec.rules[0].filters[0].responseHeaderModifier.add[0].name",
            objects: |t| {
                let f = json!({"filters": [{"type": "ResponseHeaderModifier", "responseHeaderModifier":
                    {"add": [{"name": format!("X-A{t}dd"), "value": "v"}]}}]});
                with_route(t, json!({}), f)
            },
            accepts: |t| token_ok(t.text),
        },
        Field {
            label: "RequestRedirect hostname",
            kind: ProblemKind::HttpRoute,
            field: "spec.rules[0].filters[0].requestRedirect.hostname",
            objects: |t| {
                let f = json!({"filters": [{"type": "RequestRedirect", "requestRedirect":
                    {"hostname": format!("re{t}dir.example.com")}}]});
                with_route(t, json!({}), f)
            },
            accepts: |_| false,
        },
        Field {
            label: "URLRewrite path",
            kind: ProblemKind::HttpRoute,
            field: "spec.rules[0].filters[0].urlRewrite.path.replaceFullPath",
            objects: |t| {
                let f = json!({"filters": [{"type": "URLRewrite", "urlRewrite":
                    {"path": {"type": "ReplaceFullPath", "replaceFullPath": format!("/re{t}write")}}}]});
                with_route(t, json!({}), f)
            },
            accepts: |t| {
                t.text
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && b != b'#' && b != b'?')
            },
        },
        Field {
            label: "backendRef name",
            kind: ProblemKind::HttpRoute,
            field: "spec.rules[0].backendRefs[0]",
            objects: |t| {
                let b = json!({"backendRefs": [{"name": format!("hs{t}vc"), "port": 80}]});
                with_route(t, json!({}), b)
            },
            accepts: |_| false,
        },
    ]
}

/// Every token in every Gateway field.
pub(super) fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for f in host_and_path_fields()
        .into_iter()
        .chain(match_and_filter_fields())
    {
        for t in TOKENS {
            let accepted = (f.accepts)(t);
            out.push(Case {
                name: format!("gateway {} × {}", f.label, t.label),
                objects: (f.objects)(t.text),
                values: if accepted {
                    Vec::new()
                } else {
                    vec![t.text.to_string()]
                },
                default_backend_service: None,
                expect: if accepted {
                    Expect::Accepted(f.label)
                } else {
                    let object = if f.kind == ProblemKind::Gateway {
                        "shop/gw"
                    } else {
                        "shop/hroute"
                    };
                    Expect::Problem {
                        kind: f.kind,
                        object: object.to_string(),
                        field: Some(f.field.to_string()),
                    }
                },
            });
        }
    }
    out
}

/// Every string of the Gateway maps' entries is printable ASCII (spaces and tabs in
/// header values): nothing reaches them unvalidated.
pub(super) fn check_strings(name: &str, routes: &GatewayRoutes) {
    let mut strings: Vec<&str> = Vec::new();
    for k in routes.hosts.keys() {
        if let HostPattern::Exact(h) | HostPattern::Wildcard(h) = &k.host {
            strings.push(h);
        }
    }
    for (id, c) in &routes.candidates {
        strings.push(&id.0);
        let m = &c.matches;
        strings.push(match &m.path {
            PathMatch::Exact(p) | PathMatch::Prefix(p) | PathMatch::Regex(p) => p,
        });
        strings.extend(m.method.as_deref());
        for v in m.headers.iter().chain(&m.query) {
            strings.extend([v.name.as_str(), v.value.as_str()]);
        }
        let a = &c.action;
        for ops in [&a.request_headers, &a.response_headers] {
            for (n, v) in ops.set.iter().chain(&ops.add) {
                strings.extend([n.as_str(), v.as_str()]);
            }
            strings.extend(ops.remove.iter().map(String::as_str));
        }
        let (host, path) = match &a.kind {
            ActionKind::Redirect(r) => {
                strings.extend(r.scheme.as_deref());
                (r.hostname.as_deref(), r.path.as_ref())
            }
            ActionKind::Forward(f) => (f.rewrite_host.as_deref(), f.rewrite_path.as_ref()),
        };
        strings.extend(host);
        if let Some(PathRewrite::Full(p) | PathRewrite::Prefix(p)) = path {
            strings.push(p);
        }
    }
    for s in strings {
        assert!(
            s.bytes().all(|b| (0x20..0x7f).contains(&b) || b == b'\t'),
            "{name}: {s:?} reached the Gateway maps"
        );
    }
}
