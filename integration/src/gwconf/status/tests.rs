//! Status expectations against `/debug/state` shapes.

use std::collections::BTreeMap;

use serde_json::json;

use super::*;

fn state() -> Value {
    json!({
        "gateway_api": {
            "gatewayclasses": {"haproxy-agent": {"conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted"}]}},
            "gateways": {
                "gateway-conformance-infra/same-namespace": {
                    "addresses": [{"type": "IPAddress", "value": "127.0.0.1"}],
                    "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted"}],
                    "listeners": [{
                        "name": "http", "attachedRoutes": 1,
                        "conditions": [
                            {"type": "Accepted", "status": "True", "reason": "Accepted"},
                            {"type": "Programmed", "status": "True", "reason": "Programmed"},
                            {"type": "ResolvedRefs", "status": "True", "reason": "ResolvedRefs"}
                        ]
                    }]
                }
            },
            "httproutes": {
                "gateway-conformance-infra/matching": {"parents": [{
                    "parentRef": {"name": "same-namespace"},
                    "controllerName": "haproxy-agent.io/gateway-controller",
                    "conditions": [
                        {"type": "Accepted", "status": "True", "reason": "Accepted"},
                        {"type": "ResolvedRefs", "status": "False", "reason": "BackendNotFound"}
                    ]
                }]}
            }
        }
    })
}

fn conditions(kind: StatusKind, name: &str, c: &[(&str, &str)]) -> ConditionCheck {
    ConditionCheck {
        kind,
        name: name.to_string(),
        listener: None,
        parent: None,
        conditions: c
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        attached_routes: None,
        supported_kinds: None,
        listeners: None,
        no_accepted_parents: false,
    }
}

#[test]
fn conditions_are_found_by_kind_key_listener_and_parent() {
    let s = state();
    let class = conditions(
        StatusKind::GatewayClass,
        "haproxy-agent",
        &[("Accepted", "True")],
    );
    assert_eq!(check_conditions(&s, &class), StatusVerdict::Holds);
    let mut listener = conditions(
        StatusKind::Gateway,
        "same-namespace",
        &[("Programmed", "True")],
    );
    listener.listener = Some("http".into());
    listener.attached_routes = Some(1);
    assert_eq!(check_conditions(&s, &listener), StatusVerdict::Holds);
    let mut names = conditions(StatusKind::Gateway, "same-namespace", &[]);
    names.listeners = Some(vec!["http".into()]);
    assert_eq!(check_conditions(&s, &names), StatusVerdict::Holds);
    names.listeners = Some(vec!["http".into(), "https".into()]);
    assert!(
        matches!(check_conditions(&s, &names), StatusVerdict::Fails(e) if e.contains("listeners"))
    );
    listener.attached_routes = Some(2);
    assert!(
        matches!(check_conditions(&s, &listener), StatusVerdict::Fails(e) if e.contains("attachedRoutes"))
    );
    let mut route = conditions(
        StatusKind::HTTPRoute,
        "matching",
        &[("ResolvedRefs", "False/BackendNotFound")],
    );
    route.parent = Some("same-namespace".into());
    assert_eq!(check_conditions(&s, &route), StatusVerdict::Holds);
    route
        .conditions
        .insert("ResolvedRefs".into(), "False/InvalidKind".into());
    assert!(
        matches!(check_conditions(&s, &route), StatusVerdict::Fails(e) if e.contains("InvalidKind"))
    );
    let mut none = conditions(StatusKind::HTTPRoute, "other", &[]);
    none.no_accepted_parents = true;
    assert_eq!(check_conditions(&s, &none), StatusVerdict::Holds);
}

#[test]
fn accepted_needs_listeners_ready_and_each_route_accepted() {
    let s = state();
    let mut a = Accepted {
        gateway: "same-namespace".into(),
        routes: vec!["matching".into()],
        resolved_refs: false,
    };
    assert_eq!(check_accepted(&s, &a), StatusVerdict::Holds);
    a.resolved_refs = true;
    assert!(
        matches!(check_accepted(&s, &a), StatusVerdict::Fails(e) if e.contains("ResolvedRefs"))
    );
}

#[test]
fn without_the_section_statuses_are_unavailable_not_passed() {
    let s = json!({"backends": {}});
    let a = Accepted {
        gateway: "same-namespace".into(),
        routes: vec![],
        resolved_refs: true,
    };
    assert_eq!(check_accepted(&s, &a), StatusVerdict::Unavailable);
}
