//! Table tests of rules, backends, filters, certificates and the meeting with Ingresses.

use haproxy::config::gateway::{ActionKind, CandidateId, Listen, PathMatch, PathRewrite};

use super::tests::{GW, entry, gateway, problems, route, route_conditions, run};
use crate::store::ObjectKey;
use crate::translate::Translation;

/// The weighted backends of a candidate: (backend name or "500", weight).
fn backends(t: &Translation, id: &str) -> Vec<(String, u32)> {
    let c = &t.config.gateway.candidates[&CandidateId(id.into())];
    let ActionKind::Forward(f) = &c.action.kind else {
        panic!("{id} forwards")
    };
    f.backends
        .iter()
        .map(|b| {
            (
                b.backend.as_ref().map_or("500".into(), |n| n.to_string()),
                b.weight,
            )
        })
        .collect()
}

const GRANT: &str = r#"
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {namespace: infra, name: let-apps}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: apps}]
  to: [{group: "", kind: Service, name: v2}]
"#;

#[test]
fn backend_refs_resolve_or_answer_500_with_the_specs_reasons() {
    // (backendRefs, the shares, ResolvedRefs reason)
    type Case<'a> = (&'a str, &'a [(&'a str, u32)], &'a str);
    let cases: &[Case<'_>] = &[
        (
            "[{name: web, port: 8080, weight: 3}, {name: web, port: 8080, weight: 0}]",
            &[("apps_web_8080", 3), ("apps_web_8080", 0)],
            "ResolvedRefs",
        ),
        (
            "[{name: nope, port: 8080}]",
            &[("500", 1)],
            "BackendNotFound",
        ),
        (
            "[{name: web, port: 9999}]",
            &[("500", 1)],
            "BackendNotFound",
        ),
        ("[{name: web}]", &[("500", 1)], "BackendNotFound"),
        (
            "[{name: web, port: 8080, kind: Unknown}]",
            &[("500", 1)],
            "InvalidKind",
        ),
        (
            "[{name: web, port: 8080, group: example.com, kind: Service}]",
            &[("500", 1)],
            "InvalidKind",
        ),
        (
            "[{name: v1, namespace: infra, port: 8080}]",
            &[("500", 1)],
            "RefNotPermitted",
        ),
        (
            "[{name: v2, namespace: infra, port: 8080, weight: 2}]",
            &[("infra_v2_8080", 2)],
            "ResolvedRefs",
        ),
        (
            "[{name: web, port: 8080}, {name: nope, port: 8080}]",
            &[("apps_web_8080", 1), ("500", 1)],
            "BackendNotFound",
        ),
        ("[{name: web, port: 8080, weight: -1}]", &[], "ResolvedRefs"),
        ("[]", &[], "ResolvedRefs"),
    ];
    for (refs, shares, reason) in cases {
        let t =
            run(&(route("apps", "r", &format!("  rules: [{{backendRefs: {refs}}}]")) + GW + GRANT));
        let got = backends(&t, "apps/r/0/0");
        let want: Vec<(String, u32)> = shares.iter().map(|(n, w)| (n.to_string(), *w)).collect();
        assert_eq!(got, want, "{refs}");
        let resolved = route_conditions(&t, "apps/r")[1].clone();
        assert_eq!(resolved.2, *reason, "{refs}");
        assert_eq!(resolved.1 == "True", *reason == "ResolvedRefs", "{refs}");
        for (name, _) in shares.iter().filter(|(n, _)| *n != "500") {
            assert!(
                t.config.backends.keys().any(|b| b.as_str() == *name),
                "{refs}: backend {name}"
            );
        }
        if *reason != "ResolvedRefs" {
            assert!(
                problems(&t)
                    .iter()
                    .any(|p| p.starts_with("httproute apps/r spec.rules[0].backendRefs[")),
                "{refs}: {:?}",
                problems(&t)
            );
        }
    }
}

/// Ingress `apps/ing` routing each of `hosts` to `web:8080`.
fn ingress(hosts: &[&str]) -> String {
    let mut out = "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\n\
                   metadata: {namespace: apps, name: ing}\nspec:\n  ingressClassName: haproxy\n  rules:\n"
        .to_string();
    for h in hosts {
        out.push_str(&format!(
            "  - host: {h}\n    http: {{paths: [{{path: /, pathType: Prefix, backend: \
             {{service: {{name: web, port: {{number: 8080}}}}}}}}]}}\n"
        ));
    }
    out
}

#[test]
fn an_ingress_and_a_route_on_one_service_share_its_backend() {
    let ingress = ingress(&["ingress.example.com"]);
    let t = run(&(route(
        "apps",
        "r",
        "  rules: [{backendRefs: [{name: web, port: 8080}]}]",
    ) + GW
        + &ingress));
    let names: Vec<&str> = t.config.backends.keys().map(|b| b.as_str()).collect();
    assert_eq!(names, ["apps_web_8080"]);
    assert_eq!(
        backends(&t, "apps/r/0/0"),
        [("apps_web_8080".to_string(), 1)]
    );
    // The route serves any host; the Ingress's host goes on to the Ingress maps.
    assert_eq!(
        entry(&t, Listen::Http, "ingress.example.com").unwrap(),
        ["ingress"]
    );
    assert_eq!(entry(&t, Listen::Http, "*").unwrap(), ["apps/r/0/0"]);
}

#[test]
fn a_host_claimed_by_an_ingress_and_a_route_stays_the_ingresss() {
    let ingress = ingress(&["shop.example.com", "a.wild.example.com"]);
    let t = run(&(route(
        "apps",
        "r",
        "  hostnames: [shop.example.com, '*.wild.example.com']\n  rules: [{backendRefs: [{name: web, port: 8080}]}]",
    ) + GW
        + &ingress));
    assert_eq!(
        entry(&t, Listen::Http, "shop.example.com").unwrap(),
        ["ingress"]
    );
    assert_eq!(
        entry(&t, Listen::Http, "a.wild.example.com").unwrap(),
        ["ingress"]
    );
    assert_eq!(
        entry(&t, Listen::Http, "*.wild.example.com").unwrap(),
        ["apps/r/0/0"]
    );
    assert!(
        problems(&t).contains(&"httproute apps/r spec.hostnames".to_string()),
        "{:?}",
        problems(&t)
    );
}

#[test]
fn filters_become_actions_and_bad_or_unsupported_ones_are_named() {
    let rules = r#"  rules:
  - matches: [{path: {type: PathPrefix, value: /redirect}}]
    filters:
    - type: RequestRedirect
      requestRedirect: {scheme: https, hostname: example.org, port: 8443, statusCode: 301, path: {type: ReplacePrefixMatch, replacePrefixMatch: /new}}
  - matches: [{path: {type: PathPrefix, value: /rewrite}}]
    filters:
    - type: URLRewrite
      urlRewrite: {hostname: backend.example, path: {type: ReplaceFullPath, replaceFullPath: /full}}
    - type: RequestHeaderModifier
      requestHeaderModifier: {set: [{name: X-Set, value: a}], add: [{name: X-Add, value: b}], remove: [X-Gone]}
    - type: ResponseHeaderModifier
      responseHeaderModifier: {set: [{name: X-Resp, value: c}]}
    backendRefs: [{name: web, port: 8080}]
    timeouts: {request: 10s, backendRequest: 1m30s}
  - matches: [{path: {type: PathPrefix, value: /mirror}}]
    filters: [{type: RequestMirror, requestMirror: {backendRef: {name: web, port: 8080}}}]
    backendRefs: [{name: web, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /bad}}]
    filters: [{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: "X-Bad", value: "a\r\nb"}]}}]
    backendRefs: [{name: web, port: 8080}]
  - matches: [{path: {type: Exact, value: /exact}}]
    filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /p}}}]
    backendRefs: [{name: web, port: 8080}]
"#;
    let t = run(&(route("apps", "r", rules) + GW));
    let c = |id: &str| t.config.gateway.candidates[&CandidateId(id.into())].clone();
    let ActionKind::Redirect(r) = c("apps/r/0/0").action.kind else {
        panic!("a redirect")
    };
    assert_eq!(
        (r.scheme.as_deref(), r.hostname.as_deref(), r.port, r.status),
        (Some("https"), Some("example.org"), Some(8443), 301)
    );
    assert_eq!(r.path, Some(PathRewrite::Prefix("/new".into())));
    let rw = c("apps/r/1/0");
    let ActionKind::Forward(f) = &rw.action.kind else {
        panic!("a forward")
    };
    assert_eq!(f.rewrite_host.as_deref(), Some("backend.example"));
    assert_eq!(f.rewrite_path, Some(PathRewrite::Full("/full".into())));
    assert_eq!(f.timeout, Some(std::time::Duration::from_secs(90)));
    assert_eq!(
        rw.action.request_headers.set,
        [("X-Set".to_string(), "a".to_string())]
    );
    assert_eq!(
        rw.action.request_headers.add,
        [("X-Add".to_string(), "b".to_string())]
    );
    assert_eq!(rw.action.request_headers.remove, ["x-gone"]);
    assert_eq!(
        rw.action.response_headers.set,
        [("X-Resp".to_string(), "c".to_string())]
    );
    // RequestMirror: the rule answers 500.
    assert_eq!(backends(&t, "apps/r/2/0"), []);
    // A CR LF in a header value: the rule is left out; a prefix rewrite of an Exact match
    // leaves the match out.
    assert!(
        !t.config
            .gateway
            .candidates
            .contains_key(&CandidateId("apps/r/3/0".into()))
    );
    assert!(
        !t.config
            .gateway
            .candidates
            .contains_key(&CandidateId("apps/r/4/0".into()))
    );
    let p = problems(&t);
    for field in [
        "spec.rules[2].filters[0]",
        "spec.rules[3].filters[0].requestHeaderModifier.set[0].value",
        "spec.rules[4].matches[0].path",
    ] {
        assert!(
            p.contains(&format!("httproute apps/r {field}")),
            "{field}: {p:?}"
        );
    }
    let conditions = route_conditions(&t, "apps/r");
    assert!(conditions.contains(&("Accepted".into(), "True".into(), "Accepted".into())));
    assert!(conditions.contains(&(
        "PartiallyInvalid".into(),
        "True".into(),
        "UnsupportedValue".into()
    )));
}

#[test]
fn matches_are_normalised_and_checked() {
    let rules = r#"  rules:
  - matches:
    - path: {type: PathPrefix, value: /a/}
      headers: [{name: X-Version, value: two}, {type: RegularExpression, name: x-re, value: "^v[0-9]+$"}]
      queryParams: [{name: Q, value: "1"}]
      method: POST
    - path: {type: RegularExpression, value: "/re/[a-z]+"}
    - path: {type: PathPrefix, value: "/a//b"}
    - path: {type: Exact, value: "relative"}
    - method: BREW
    - headers: [{name: "bad name", value: x}]
    - headers: [{name: x, value: "\u0000"}]
    - queryParams: [{name: "a=b", value: x}]
    - headers: [{type: RegularExpression, name: x, value: "(?<=a)b"}]
    backendRefs: [{name: web, port: 8080}]
"#;
    let t = run(&(route("apps", "r", rules) + GW));
    let c = &t.config.gateway.candidates[&CandidateId("apps/r/0/0".into())];
    assert_eq!(c.matches.path, PathMatch::Prefix("/a".into()));
    assert_eq!(c.matches.headers[0].name, "x-version");
    assert!(c.matches.headers[1].regex);
    assert_eq!(c.matches.query[0].name, "Q");
    assert_eq!(c.matches.method.as_deref(), Some("POST"));
    let c1 = &t.config.gateway.candidates[&CandidateId("apps/r/0/1".into())];
    assert_eq!(c1.matches.path, PathMatch::Regex("/re/[a-z]+".into()));
    assert_eq!(t.config.gateway.candidates.len(), 2);
    let p = problems(&t);
    for field in [
        "spec.rules[0].matches[2].path.value",
        "spec.rules[0].matches[3].path.value",
        "spec.rules[0].matches[4].method",
        "spec.rules[0].matches[5].headers[0].name",
        "spec.rules[0].matches[6].headers[0].value",
        "spec.rules[0].matches[7].queryParams[0].name",
        "spec.rules[0].matches[8].headers[0].value",
    ] {
        assert!(
            p.contains(&format!("httproute apps/r {field}")),
            "{field}: {p:?}"
        );
    }
}

#[test]
fn https_listeners_serve_their_certificates_with_grants() {
    let (crt, key, _) = crate::translate::tls::tests::pair("shop.example.com");
    let secret = |ns: &str, name: &str| {
        format!(
            "---\napiVersion: v1\nkind: Secret\nmetadata: {{namespace: {ns}, name: {name}}}\n\
             type: kubernetes.io/tls\nstringData:\n  tls.crt: {}\n  tls.key: {}\n",
            crate::translate::tls::tests::quote(&crt),
            crate::translate::tls::tests::quote(&key)
        )
    };
    let listeners = "  - {name: a, protocol: HTTPS, port: 443, hostname: shop.example.com, tls: {certificateRefs: [{name: shop}]}}\n  \
                     - {name: b, protocol: HTTPS, port: 443, hostname: other.example.com, tls: {certificateRefs: [{name: c, namespace: certs}]}}\n  \
                     - {name: c, protocol: HTTPS, port: 443, hostname: third.example.com, tls: {certificateRefs: [{name: missing}]}}\n  \
                     - {name: d, protocol: HTTPS, port: 443, hostname: granted.example.com, tls: {certificateRefs: [{name: g, namespace: certs}]}}\n  \
                     - {name: e, protocol: HTTPS, port: 8443, hostname: port.example.com, tls: {certificateRefs: [{name: shop}]}}";
    let grant = r#"
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {namespace: certs, name: g}
spec:
  from: [{group: gateway.networking.k8s.io, kind: Gateway, namespace: infra}]
  to: [{group: "", kind: Secret, name: g}]
"#;
    let t = run(&[
        gateway("tls", listeners),
        secret("infra", "shop"),
        secret("certs", "c"),
        secret("certs", "g"),
        grant.to_string(),
    ]
    .concat());
    let lines: Vec<String> = t
        .config
        .tls
        .crt_list
        .iter()
        .map(|e| e.line().replace("/etc/haproxy/certs/", ""))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("infra_shop.pem") && l.contains("shop.example.com")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("certs_g.pem") && l.contains("granted.example.com")),
        "{lines:?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("certs_c.pem")),
        "{lines:?}"
    );
    assert!(t.config.frontends[0].tls.is_some(), "the HTTPS bind");
    let g = &t.gateway_status.gateways[&ObjectKey::new("infra", "tls")];
    let cond = |i: usize, ty: &str| {
        let c = g.listeners[i]
            .conditions
            .iter()
            .find(|c| c.type_ == ty)
            .unwrap();
        (c.status.clone(), c.reason.clone())
    };
    assert_eq!(
        cond(0, "ResolvedRefs"),
        ("True".into(), "ResolvedRefs".into())
    );
    assert_eq!(
        cond(1, "ResolvedRefs"),
        ("False".into(), "RefNotPermitted".into())
    );
    assert_eq!(
        cond(2, "ResolvedRefs"),
        ("False".into(), "InvalidCertificateRef".into())
    );
    assert_eq!(
        cond(3, "ResolvedRefs"),
        ("True".into(), "ResolvedRefs".into())
    );
    assert_eq!(
        cond(4, "Accepted"),
        ("False".into(), "PortUnavailable".into())
    );
    assert_eq!(g.conditions[0].reason, "ListenersNotValid");
    assert_eq!(g.conditions[0].status, "True");
}

#[test]
fn classes_and_gateways_of_other_controllers_are_left_alone() {
    let other = "---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n\
                 metadata: {namespace: infra, name: theirs}\nspec:\n  gatewayClassName: other\n  \
                 listeners: [{name: http, protocol: HTTP, port: 80}]\n";
    let t = run(&(GW.to_string() + other));
    let classes: Vec<String> = t
        .gateway_status
        .classes
        .keys()
        .map(|k| k.to_string())
        .collect();
    assert_eq!(classes, ["haproxy"]);
    let accepted = &t.gateway_status.classes[&ObjectKey::new("", "haproxy")].conditions[0];
    assert_eq!(
        (accepted.type_.as_str(), accepted.status.as_str()),
        ("Accepted", "True")
    );
    let gws: Vec<String> = t
        .gateway_status
        .gateways
        .keys()
        .map(|k| k.to_string())
        .collect();
    assert_eq!(gws, ["infra/gw"]);
    assert!(
        t.config.gateway.is_empty(),
        "a Gateway without routes serves nothing"
    );
}
