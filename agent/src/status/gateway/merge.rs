//! What to write to a Gateway API object's status: the wanted status (translation's) with
//! each condition's `lastTransitionTime` kept when its status did not change (now
//! otherwise), a Gateway's published addresses, and other controllers' route parents kept.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use super::super::address::LbAddress;
use crate::gateway_api::{
    GatewayClassStatus, GatewayStatus, GatewayStatusAddress, ListenerStatus, RouteParentStatus,
    RouteStatus,
};

/// Now, to the second (what the API keeps of a time).
pub(crate) fn now() -> Time {
    let now = k8s_openapi::jiff::Timestamp::now();
    Time(k8s_openapi::jiff::Timestamp::from_second(now.as_second()).unwrap_or(now))
}

/// `wanted`, each condition keeping the time of the current one of its type when that one
/// has the same status.
pub(crate) fn keep_times(
    wanted: &[Condition],
    current: &[Condition],
    now: &Time,
) -> Vec<Condition> {
    wanted
        .iter()
        .map(|w| {
            let same = current
                .iter()
                .find(|c| c.type_ == w.type_)
                .filter(|c| c.status == w.status);
            Condition {
                last_transition_time: same
                    .map_or_else(|| now.clone(), |c| c.last_transition_time.clone()),
                ..w.clone()
            }
        })
        .collect()
}

/// A GatewayClass's status.
pub(crate) fn class(
    current: Option<&GatewayClassStatus>,
    wanted: &GatewayClassStatus,
    now: &Time,
) -> GatewayClassStatus {
    let current = current.map_or(&[][..], |c| &c.conditions);
    GatewayClassStatus {
        conditions: keep_times(&wanted.conditions, current, now),
    }
}

/// The addresses of `status.addresses`: an IP address as `IPAddress`, a name as `Hostname`.
pub(crate) fn addresses(published: &[LbAddress]) -> Vec<GatewayStatusAddress> {
    published
        .iter()
        .filter_map(|a| match (&a.ip, &a.hostname) {
            (Some(ip), _) => Some(("IPAddress", ip)),
            (None, Some(host)) => Some(("Hostname", host)),
            (None, None) => None,
        })
        .map(|(type_, value)| GatewayStatusAddress {
            type_: Some(type_.to_string()),
            value: value.clone(),
        })
        .collect()
}

/// A Gateway's status; `addresses` `None` keeps the current ones (the publish Service is
/// not known yet).
pub(crate) fn gateway(
    current: Option<&GatewayStatus>,
    wanted: &GatewayStatus,
    addresses: Option<Vec<GatewayStatusAddress>>,
    now: &Time,
) -> GatewayStatus {
    let listeners = wanted
        .listeners
        .iter()
        .map(|l| {
            let before = current
                .and_then(|c| c.listeners.iter().find(|b| b.name == l.name))
                .map_or(&[][..], |b| &b.conditions);
            ListenerStatus {
                conditions: keep_times(&l.conditions, before, now),
                ..l.clone()
            }
        })
        .collect();
    GatewayStatus {
        addresses: addresses
            .unwrap_or_else(|| current.map(|c| c.addresses.clone()).unwrap_or_default()),
        conditions: keep_times(
            &wanted.conditions,
            current.map_or(&[][..], |c| &c.conditions),
            now,
        ),
        listeners,
    }
}

/// An HTTPRoute's status: the parents of other controllers as they are, then ours as
/// wanted (none when `wanted` is `None`: the route no longer attaches to a Gateway of
/// ours). `None` when there is nothing of ours to write or clear.
pub(crate) fn route(
    current: Option<&RouteStatus>,
    wanted: Option<&RouteStatus>,
    controller: &str,
    now: &Time,
) -> Option<RouteStatus> {
    let parents = current.map_or(&[][..], |c| &c.parents);
    let ours = |p: &&RouteParentStatus| p.controller_name == controller;
    if wanted.is_none() && !parents.iter().any(|p| ours(&p)) {
        return None;
    }
    let mut out: Vec<RouteParentStatus> = parents.iter().filter(|p| !ours(p)).cloned().collect();
    for w in wanted.map_or(&[][..], |w| &w.parents) {
        let before = parents
            .iter()
            .filter(ours)
            .find(|p| p.parent_ref == w.parent_ref)
            .map_or(&[][..], |p| &p.conditions);
        out.push(RouteParentStatus {
            parent_ref: w.parent_ref.clone(),
            controller_name: controller.to_string(),
            conditions: keep_times(&w.conditions, before, now),
        });
    }
    Some(RouteStatus { parents: out })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway_api::ParentReference;

    fn at(second: i64) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(second).unwrap())
    }

    fn cond(type_: &str, status: &str, second: i64) -> Condition {
        Condition {
            type_: type_.into(),
            status: status.into(),
            reason: "R".into(),
            message: String::new(),
            observed_generation: Some(2),
            last_transition_time: at(second),
        }
    }

    #[test]
    fn a_condition_keeps_its_time_unless_its_status_changed() {
        let now = at(1000);
        let current = [
            cond("Accepted", "True", 10),
            cond("Programmed", "False", 20),
        ];
        let wanted = [
            cond("Accepted", "True", 0),
            cond("Programmed", "True", 0),
            cond("ResolvedRefs", "True", 0),
        ];
        let got: Vec<(String, i64)> = keep_times(&wanted, &current, &now)
            .into_iter()
            .map(|c| (c.type_, c.last_transition_time.0.as_second()))
            .collect();
        assert_eq!(
            got,
            [
                ("Accepted".into(), 10),
                ("Programmed".into(), 1000),
                ("ResolvedRefs".into(), 1000)
            ]
        );
        assert_eq!(now.0.subsec_nanosecond(), 0);
        assert_eq!(super::now().0.subsec_nanosecond(), 0);
    }

    #[test]
    fn gateway_addresses_and_listeners() {
        let published = [
            LbAddress::parse("203.0.113.7"),
            LbAddress::parse("lb.example.com"),
        ];
        let addrs = addresses(&published);
        assert_eq!(
            addrs
                .iter()
                .map(|a| (a.type_.as_deref().unwrap(), a.value.as_str()))
                .collect::<Vec<_>>(),
            [("IPAddress", "203.0.113.7"), ("Hostname", "lb.example.com")]
        );
        let listener = |second| ListenerStatus {
            name: "http".into(),
            attached_routes: 1,
            conditions: vec![cond("Accepted", "True", second)],
            ..Default::default()
        };
        let current = GatewayStatus {
            addresses: addrs.clone(),
            conditions: vec![cond("Accepted", "True", 5)],
            listeners: vec![listener(6)],
        };
        let wanted = GatewayStatus {
            addresses: Vec::new(),
            conditions: vec![cond("Accepted", "True", 0)],
            listeners: vec![listener(0)],
        };
        let same = gateway(Some(&current), &wanted, Some(addrs.clone()), &at(99));
        assert_eq!(same, current, "nothing changed: nothing to write");
        let kept = gateway(Some(&current), &wanted, None, &at(99));
        assert_eq!(
            kept.addresses, addrs,
            "an unknown publish Service keeps them"
        );
        let fresh = gateway(None, &wanted, Some(Vec::new()), &at(99));
        assert_eq!(
            fresh.listeners[0].conditions[0].last_transition_time,
            at(99)
        );
    }

    #[test]
    fn route_parents_of_other_controllers_are_kept() {
        let parent = |name: &str, controller: &str, second| RouteParentStatus {
            parent_ref: ParentReference {
                name: name.into(),
                ..Default::default()
            },
            controller_name: controller.into(),
            conditions: vec![cond("Accepted", "True", second)],
        };
        let ours = "haproxy-agent.io/gateway-controller";
        let current = RouteStatus {
            parents: vec![
                parent("gw", ours, 7),
                parent("other", "x.io/c", 8),
                parent("gone", ours, 9),
            ],
        };
        let wanted = RouteStatus {
            parents: vec![parent("gw", "ignored", 0), parent("new", ours, 0)],
        };
        let got = route(Some(&current), Some(&wanted), ours, &at(50)).unwrap();
        let seen: Vec<(&str, &str, i64)> = got
            .parents
            .iter()
            .map(|p| {
                (
                    p.parent_ref.name.as_str(),
                    p.controller_name.as_str(),
                    p.conditions[0].last_transition_time.0.as_second(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [("other", "x.io/c", 8), ("gw", ours, 7), ("new", ours, 50)]
        );
        // No longer ours: our parents are cleared, the others stay.
        let cleared = route(Some(&current), None, ours, &at(50)).unwrap();
        assert_eq!(cleared.parents.len(), 1);
        // Never ours, nothing wanted: nothing to write.
        assert!(route(Some(&cleared), None, ours, &at(50)).is_none());
        assert!(route(None, None, ours, &at(50)).is_none());
        let class_status = class(
            None,
            &GatewayClassStatus {
                conditions: vec![cond("Accepted", "True", 0)],
            },
            &at(3),
        );
        assert_eq!(class_status.conditions[0].last_transition_time, at(3));
    }
}
