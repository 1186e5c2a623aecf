//! Table tests of the Gateway API translation: objects in (YAML, as the conformance suite
//! writes them), host-map entries, candidates, backends, problems and statuses out.

use std::path::Path;

use haproxy::config::gateway::{HostEntry, HostKey, HostPattern, Listen};

use super::hostnames::{covers, intersect, parse};
use crate::source::manifests::parse_manifests;
use crate::store::{ObjectKey, Store};
use crate::translate::tls::tests::settings;
use crate::translate::{Translation, translate};

/// Our class, a Gateway `infra/gw` with an HTTP listener taking routes of any namespace,
/// and Services `infra/v1`..`v3` (port 8080) with an endpoint each.
pub(super) const BASE: &str = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: haproxy}
spec: {controllerName: haproxy-agent.io/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: other}
spec: {controllerName: example.com/other}
"#;

pub(super) const GW: &str = r#"
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {namespace: infra, name: gw, generation: 3}
spec:
  gatewayClassName: haproxy
  listeners:
  - {name: http, protocol: HTTP, port: 80, allowedRoutes: {namespaces: {from: All}}}
"#;

pub(super) fn services() -> String {
    let mut out = String::new();
    for (ns, name) in [
        ("infra", "v1"),
        ("infra", "v2"),
        ("infra", "v3"),
        ("apps", "web"),
    ] {
        out.push_str(&format!(
            "---\napiVersion: v1\nkind: Service\nmetadata: {{namespace: {ns}, name: {name}}}\n\
             spec: {{ports: [{{port: 8080, targetPort: 3000}}]}}\n---\n\
             apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n\
             metadata: {{namespace: {ns}, name: {name}-1, labels: {{kubernetes.io/service-name: {name}}}}}\n\
             addressType: IPv4\nports: [{{port: 3000}}]\nendpoints: [{{addresses: [10.0.0.1]}}]\n"
        ));
    }
    out
}

/// Translates BASE, the services and `docs`.
pub(super) fn run(docs: &str) -> Translation {
    let text = format!("{BASE}\n{}\n---\n{docs}", services());
    let objects = parse_manifests(Path::new("t.yaml"), &text).expect("the manifests parse");
    let store = Store::new();
    store.replace_all(objects);
    translate(&store.snapshot(), &settings()).expect("a translation")
}

pub(super) fn key(listen: Listen, host: &str) -> HostKey {
    let host = match host {
        "*" => HostPattern::Any,
        h => match h.strip_prefix("*.") {
            Some(s) => HostPattern::Wildcard(s.into()),
            None => HostPattern::Exact(h.into()),
        },
    };
    HostKey { listen, host }
}

/// The candidates of a host entry (`["ingress"]` for an Ingress marker), `None` when absent.
pub(super) fn entry(t: &Translation, listen: Listen, host: &str) -> Option<Vec<String>> {
    Some(match t.config.gateway.hosts.get(&key(listen, host))? {
        HostEntry::Ingress => vec!["ingress".to_string()],
        HostEntry::Rules { candidates, .. } => candidates.iter().map(|c| c.0.clone()).collect(),
    })
}

/// `(type, status, reason)` of a route's conditions for its first parent.
pub(super) fn route_conditions(t: &Translation, route: &str) -> Vec<(String, String, String)> {
    let (ns, name) = route.split_once('/').unwrap();
    let s = &t.gateway_status.routes[&ObjectKey::new(ns, name)];
    s.parents[0]
        .conditions
        .iter()
        .map(|c| (c.type_.clone(), c.status.clone(), c.reason.clone()))
        .collect()
}

pub(super) fn problems(t: &Translation) -> Vec<String> {
    t.problems
        .iter()
        .map(|p| {
            format!(
                "{} {} {}",
                p.kind.label(),
                p.object,
                p.field.clone().unwrap_or_default()
            )
        })
        .collect()
}

pub(super) fn route(ns: &str, name: &str, body: &str) -> String {
    format!(
        "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n\
         metadata: {{namespace: {ns}, name: {name}, generation: 2}}\nspec:\n  parentRefs: [{{namespace: infra, name: gw}}]\n{body}\n"
    )
}

#[test]
fn host_patterns_cover_and_intersect() {
    let p = |s: &str| parse(s, true).unwrap();
    // (a, b, a covers b)
    let cases = [
        ("*.example.com", "foo.example.com", true),
        ("*.example.com", "a.b.example.com", true),
        ("*.example.com", "example.com", false),
        ("*.example.com", "*.foo.example.com", true),
        ("*.foo.example.com", "*.example.com", false),
        ("foo.example.com", "foo.example.com", true),
        ("foo.example.com", "bar.example.com", false),
        ("*.example.com", "xexample.com", false),
    ];
    for (a, b, want) in cases {
        assert_eq!(covers(&p(a), &p(b)), want, "{a} covers {b}");
    }
    assert!(covers(&HostPattern::Any, &p("*.x.y")));
    // The conformance suite's intersections: listener, route -> served.
    let cases = [
        (
            "*.example.com",
            "test.example.com",
            Some("test.example.com"),
        ),
        (
            "test.example.com",
            "*.example.com",
            Some("test.example.com"),
        ),
        ("*.example.com", "example.com", None),
        ("*.example.com", "test.example.net", None),
        ("*.foo.com", "*.bar.foo.com", Some("*.bar.foo.com")),
    ];
    for (l, r, want) in cases {
        assert_eq!(intersect(&p(l), &p(r)), want.map(p), "{l} ∩ {r}");
    }
    for bad in [
        "",
        "*",
        "Foo.com",
        "a..b",
        "-a.com",
        "*.*.com",
        "foo.*.com",
        "1.2.3.4",
        "a_b.com",
    ] {
        assert!(parse(bad, true).is_err(), "{bad:?} is refused");
    }
    assert!(
        parse("*.example.com", false).is_err(),
        "no wildcard where none is allowed"
    );
}

/// A route created at `minute`.
pub(super) fn aged(ns: &str, name: &str, minute: u32, body: &str) -> String {
    route(ns, name, body).replacen(
        &format!("name: {name},"),
        &format!("name: {name}, creationTimestamp: '2026-01-01T00:{minute:02}:00Z',"),
        1,
    )
}

#[test]
fn precedence_orders_candidates_as_the_spec_says() {
    let web = "    backendRefs: [{name: web, port: 8080}]";
    let t = run(&[
        aged("apps", "b-old", 1, &format!("  rules:\n  - matches: [{{path: {{type: PathPrefix, value: /a}}}}]\n{web}")),
        aged("apps", "a-new", 5, &format!(
            "  rules:\n  - matches:\n    - path: {{type: PathPrefix, value: /a}}\n      headers: [{{name: x, value: '1'}}]\n    - path: {{type: Exact, value: /a}}\n    - path: {{type: PathPrefix, value: /a/b}}\n    - path: {{type: PathPrefix, value: /a}}\n      method: GET\n    - path: {{type: PathPrefix, value: /a}}\n      queryParams: [{{name: q, value: '1'}}]\n{web}"
        )),
        aged("apps", "c-same", 5, &format!(
            "  rules:\n  - matches: [{{path: {{type: PathPrefix, value: /a}}}}]\n{web}\n  - matches: [{{path: {{type: PathPrefix, value: /a/}}}}]\n{web}"
        )),
        GW.to_string(),
    ].concat());
    assert_eq!(problems(&t), Vec::<String>::new());
    assert_eq!(
        entry(&t, Listen::Http, "*").unwrap(),
        [
            "apps/a-new/0/1",  // Exact
            "apps/a-new/0/2",  // the longest prefix
            "apps/a-new/0/3",  // a method
            "apps/a-new/0/0",  // a header match
            "apps/a-new/0/4",  // a query match
            "apps/b-old/0/0",  // then the oldest route
            "apps/c-same/0/0", // then by name (a-new has none left), rule order
            "apps/c-same/1/0", // (/a/ is the prefix /a)
        ]
    );
}

pub(super) fn gateway(name: &str, listeners: &str) -> String {
    format!(
        "---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n\
         metadata: {{namespace: infra, name: {name}, generation: 4}}\n\
         spec:\n  gatewayClassName: haproxy\n  listeners:\n{listeners}\n"
    )
}

pub(super) fn on(section: &str, name: &str, path: &str, hosts: &str) -> String {
    format!(
        "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n\
         metadata: {{namespace: infra, name: {name}}}\nspec:\n  \
         parentRefs: [{{name: iso, sectionName: {section}}}]\n  hostnames: {hosts}\n  \
         rules:\n  - matches: [{{path: {{type: PathPrefix, value: {path}}}}}]\n    \
         backendRefs: [{{name: v1, port: 8080}}]\n"
    )
}

#[test]
fn listener_isolation_gives_each_listener_its_own_routes() {
    let listeners = "  - {name: empty, protocol: HTTP, port: 80}\n  \
                     - {name: wild, protocol: HTTP, port: 80, hostname: '*.example.com'}\n  \
                     - {name: foo, protocol: HTTP, port: 80, hostname: '*.foo.example.com'}\n  \
                     - {name: abc, protocol: HTTP, port: 80, hostname: abc.foo.example.com}";
    let t = run(&[
        gateway("iso", listeners),
        on("empty", "r-empty", "/empty", "[]"),
        on("wild", "r-wild", "/wild", "[]"),
        on("foo", "r-foo", "/foo", "[]"),
        on("abc", "r-abc", "/abc", "[]"),
        // Attached to the wildcard listener, with a host under the more specific
        // listener: isolation gives that host to the specific listener only.
        on("wild", "r-shadowed", "/shadowed", "[x.foo.example.com]"),
    ]
    .concat());
    let cases = [
        ("*", vec!["infra/r-empty/0/0"]),
        ("*.example.com", vec!["infra/r-wild/0/0"]),
        ("*.foo.example.com", vec!["infra/r-foo/0/0"]),
        ("abc.foo.example.com", vec!["infra/r-abc/0/0"]),
        ("x.foo.example.com", vec!["infra/r-foo/0/0"]),
    ];
    for (host, want) in cases {
        assert_eq!(entry(&t, Listen::Http, host).unwrap(), want, "{host}");
    }
    assert_eq!(t.config.gateway.hosts.len(), 5);
    let gw = &t.gateway_status.gateways[&ObjectKey::new("infra", "iso")];
    let attached: Vec<i32> = gw.listeners.iter().map(|l| l.attached_routes).collect();
    assert_eq!(attached, [1, 2, 1, 1]);
}

#[test]
fn a_more_specific_route_host_comes_first_and_keeps_the_wider_route_behind() {
    let t = run(&([
        route("apps", "wide", "  hostnames: ['*.example.com']\n  rules:\n  - backendRefs: [{name: web, port: 8080}]"),
        route("apps", "narrow", "  hostnames: [foo.example.com]\n  rules:\n  - matches: [{path: {type: PathPrefix, value: /x}}]\n    backendRefs: [{name: web, port: 8080}]"),
    ]
    .concat()
        + GW));
    assert_eq!(
        entry(&t, Listen::Http, "foo.example.com").unwrap(),
        ["apps/narrow/0/0", "apps/wide/0/0"]
    );
    assert_eq!(
        entry(&t, Listen::Http, "*.example.com").unwrap(),
        ["apps/wide/0/0"]
    );
    assert_eq!(
        entry(&t, Listen::Http, "*"),
        None,
        "no route serves other hosts"
    );
}

#[test]
fn attachment_reasons_are_the_specs() {
    let listeners = "  - {name: same, protocol: HTTP, port: 80, hostname: a.example.com}\n  \
                     - {name: kinds, protocol: HTTP, port: 80, hostname: b.example.com, allowedRoutes: {kinds: [{kind: GRPCRoute}]}}";
    let route = |name: &str, ns: &str, parent: &str, hosts: &str| {
        format!(
            "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n\
             metadata: {{namespace: {ns}, name: {name}}}\nspec:\n  parentRefs: [{parent}]\n  \
             hostnames: {hosts}\n  rules: [{{backendRefs: [{{name: v1, namespace: infra, port: 8080}}]}}]\n"
        )
    };
    let t = run(&[
        gateway("g", listeners),
        route("ok", "infra", "{name: g, sectionName: same}", "[]"),
        route(
            "other-ns",
            "apps",
            "{name: g, namespace: infra, sectionName: same}",
            "[]",
        ),
        route("no-section", "infra", "{name: g, sectionName: nope}", "[]"),
        route("no-port", "infra", "{name: g, port: 8080}", "[]"),
        route(
            "section-port",
            "infra",
            "{name: g, sectionName: same, port: 80}",
            "[]",
        ),
        route(
            "no-host",
            "infra",
            "{name: g, sectionName: same}",
            "[c.example.com]",
        ),
        route("kind", "infra", "{name: g, sectionName: kinds}", "[]"),
        route("not-ours", "infra", "{name: elsewhere}", "[]"),
    ]
    .concat());
    let accepted = |r: &str| route_conditions(&t, r)[0].clone();
    let reason = |r: &str| (accepted(r).1, accepted(r).2);
    let t2 = |s: &str, r: &str| (s.to_string(), r.to_string());
    assert_eq!(reason("infra/ok"), t2("True", "Accepted"));
    assert_eq!(reason("infra/section-port"), t2("True", "Accepted"));
    assert_eq!(
        reason("apps/other-ns"),
        t2("False", "NotAllowedByListeners")
    );
    assert_eq!(reason("infra/no-section"), t2("False", "NoMatchingParent"));
    assert_eq!(reason("infra/no-port"), t2("False", "NoMatchingParent"));
    assert_eq!(
        reason("infra/no-host"),
        t2("False", "NoMatchingListenerHostname")
    );
    assert_eq!(reason("infra/kind"), t2("False", "NotAllowedByListeners"));
    assert!(
        !t.gateway_status
            .routes
            .contains_key(&ObjectKey::new("infra", "not-ours"))
    );
    // Every condition carries the route's generation and the epoch.
    let s = &t.gateway_status.routes[&ObjectKey::new("infra", "ok")].parents[0];
    assert!(s.conditions.iter().all(|c| c.observed_generation.is_none()));
    assert_eq!(s.controller_name, super::DEFAULT_CONTROLLER);
    let g = &t.gateway_status.gateways[&ObjectKey::new("infra", "g")];
    assert_eq!(g.conditions[0].observed_generation, Some(4));
    assert_eq!(
        g.listeners
            .iter()
            .map(|l| l.attached_routes)
            .collect::<Vec<_>>(),
        [2, 0]
    );
    let kinds = &g.listeners[1];
    assert!(kinds.supported_kinds.is_empty());
    let resolved = kinds
        .conditions
        .iter()
        .find(|c| c.type_ == "ResolvedRefs")
        .unwrap();
    assert_eq!(
        (resolved.status.as_str(), resolved.reason.as_str()),
        ("False", "InvalidRouteKinds")
    );
}

#[test]
fn listener_problems_have_the_specs_reasons() {
    let listeners = "  - {name: a, protocol: HTTP, port: 80, hostname: a.example.com}\n  \
                     - {name: b, protocol: HTTP, port: 80, hostname: a.example.com}\n  \
                     - {name: a, protocol: HTTP, port: 80, hostname: c.example.com}\n  \
                     - {name: udp, protocol: UDP, port: 53}\n  \
                     - {name: bad-host, protocol: HTTP, port: 80, hostname: 'A_B.example.com'}\n  \
                     - {name: sel, protocol: HTTP, port: 80, hostname: s.example.com, allowedRoutes: {namespaces: {from: Selector}}}";
    let t = run(&gateway("g", listeners));
    let g = &t.gateway_status.gateways[&ObjectKey::new("infra", "g")];
    let cond = |i: usize, ty: &str| {
        let c = g.listeners[i]
            .conditions
            .iter()
            .find(|c| c.type_ == ty)
            .unwrap();
        (c.status.as_str(), c.reason.as_str())
    };
    assert_eq!(cond(0, "Accepted"), ("True", "Accepted"));
    assert_eq!(cond(0, "Conflicted"), ("False", "NoConflicts"));
    assert_eq!(cond(0, "Programmed"), ("True", "Programmed"));
    assert_eq!(cond(1, "Conflicted"), ("True", "HostnameConflict"));
    assert_eq!(cond(1, "Programmed"), ("False", "Invalid"));
    assert_eq!(cond(2, "Accepted"), ("False", "UnsupportedValue"));
    assert_eq!(cond(3, "Accepted"), ("False", "UnsupportedProtocol"));
    assert_eq!(cond(4, "Accepted"), ("False", "UnsupportedValue"));
    assert_eq!(cond(5, "Accepted"), ("True", "Accepted"));
    let p = problems(&t);
    for field in [
        "spec.listeners[1]",
        "spec.listeners[2].name",
        "spec.listeners[3].protocol",
        "spec.listeners[4].hostname",
        "spec.listeners[5].allowedRoutes.namespaces.selector",
    ] {
        assert!(
            p.contains(&format!("gateway infra/g {field}")),
            "{field}: {p:?}"
        );
    }
    assert_eq!(
        (
            g.conditions[0].status.as_str(),
            g.conditions[0].reason.as_str()
        ),
        ("True", "ListenersNotValid")
    );
}
