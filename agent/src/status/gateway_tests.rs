//! The Gateway API status writer against the test API server, with two agents (see
//! `tests.rs`) and hand-built statuses (translation's, as it will compute them): written by
//! the Lease holder only, only when different, times kept for unchanged conditions, other
//! controllers' route parents kept, ours cleared where no longer wanted.

use std::sync::Arc;
use std::time::Instant;

use integration::{KubeApi, wait_until};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use serde_json::{Value, json};
use tokio::sync::watch;

use super::tests::{
    Agent, DEADLINE, GATEWAY_CONTROLLER, holder_at, holders, lb_service, wait_holder,
};
use super::*;
use crate::gateway_api::{
    GatewayClassStatus, GatewayStatus, ListenerStatus, ParentReference, RouteParentStatus,
    RouteStatus,
};

const GROUP: &str = "gateway.networking.k8s.io/v1";
const OLD: &str = "2020-01-01T00:00:00Z";

fn condition(type_: &str, status: &str) -> Condition {
    Condition {
        type_: type_.into(),
        status: status.into(),
        reason: if status == "True" {
            type_.into()
        } else {
            "Pending".into()
        },
        message: String::new(),
        observed_generation: Some(1),
        last_transition_time: Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
    }
}

fn parent_ref(name: &str) -> ParentReference {
    ParentReference {
        name: name.into(),
        namespace: Some("infra".into()),
        ..Default::default()
    }
}

/// What translation would say: our class accepted, `infra/gw` accepted and programmed (or
/// not), route `default/r` accepted by it.
fn statuses(programmed: &str) -> Arc<Statuses> {
    let mut s = Statuses::default();
    s.classes.insert(
        ObjectKey::new("", "haproxy"),
        GatewayClassStatus {
            conditions: vec![condition("Accepted", "True")],
        },
    );
    s.gateways.insert(
        ObjectKey::new("infra", "gw"),
        GatewayStatus {
            addresses: Vec::new(),
            conditions: vec![
                condition("Accepted", "True"),
                condition("Programmed", programmed),
            ],
            listeners: vec![ListenerStatus {
                name: "http".into(),
                attached_routes: 1,
                conditions: vec![condition("Accepted", "True")],
                ..Default::default()
            }],
        },
    );
    s.routes.insert(
        ObjectKey::new("default", "r"),
        RouteStatus {
            parents: vec![RouteParentStatus {
                parent_ref: parent_ref("gw"),
                controller_name: GATEWAY_CONTROLLER.into(),
                conditions: vec![condition("Accepted", "True")],
            }],
        },
    );
    Arc::new(s)
}

fn route(name: &str, parents: Value) -> Value {
    json!({"apiVersion": GROUP, "kind": "HTTPRoute",
           "metadata": {"namespace": "default", "name": name},
           "spec": {"parentRefs": [{"name": "gw", "namespace": "infra"}]},
           "status": {"parents": parents}})
}

/// Our GatewayClass and Gateway (whose status says Accepted and Programmed since 2020), the
/// route `r` with another controller's parent, the route `stale` with one of ours.
fn objects(api: &KubeApi) {
    api.apply(
        json!({"apiVersion": GROUP, "kind": "GatewayClass", "metadata": {"name": "haproxy"},
                     "spec": {"controllerName": GATEWAY_CONTROLLER}}),
    )
    .unwrap();
    let old = |t: &str| {
        json!({"type": t, "status": "True", "reason": t, "message": "",
                               "observedGeneration": 1, "lastTransitionTime": OLD})
    };
    api.apply(json!({"apiVersion": GROUP, "kind": "Gateway",
                     "metadata": {"namespace": "infra", "name": "gw"},
                     "spec": {"gatewayClassName": "haproxy",
                              "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]},
                     "status": {"conditions": [old("Accepted"), old("Programmed")]}}))
        .unwrap();
    let other = json!({"parentRef": {"name": "theirs"}, "controllerName": "example.com/other",
                       "conditions": [old("Accepted")]});
    api.apply(route("r", json!([other]))).unwrap();
    let ours = json!({"parentRef": {"name": "gw", "namespace": "infra"},
                      "controllerName": GATEWAY_CONTROLLER, "conditions": [old("Accepted")]});
    api.apply(route("stale", json!([ours]))).unwrap();
}

fn get(api: &KubeApi, kind: &str, ns: &str, name: &str) -> Value {
    api.get(kind, ns, name).unwrap().unwrap_or_default()
}

/// `type=status@time` of each condition.
fn conditions(list: &Value) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            format!(
                "{}={}@{}",
                c["type"].as_str().unwrap_or(""),
                c["status"].as_str().unwrap_or(""),
                c["lastTransitionTime"].as_str().unwrap_or("")
            )
        })
        .collect()
}

/// Every Gateway API status write came from the Lease holder of record then; how many each
/// object got.
fn writes_by_holder(api: &KubeApi) -> std::collections::BTreeMap<String, usize> {
    let holders = holders(api);
    let mut counts = std::collections::BTreeMap::new();
    for w in api.writes() {
        let Some(user) = &w.user else { continue };
        if !["GatewayClass", "Gateway", "HTTPRoute"].contains(&w.kind) {
            continue;
        }
        assert_eq!(
            holder_at(&holders, w.at).as_ref(),
            Some(user),
            "{user} wrote {} {} without the lease",
            w.kind,
            w.name
        );
        *counts.entry(format!("{} {}", w.kind, w.name)).or_insert(0) += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lease_holder_writes_gateway_api_status_once_keeping_unchanged_times() {
    let api = KubeApi::start().await.unwrap();
    api.apply(lb_service("203.0.113.7")).unwrap();
    objects(&api);
    let (tx, rx) = watch::channel(statuses("True"));
    let publish = Some(Publish::Service(ObjectKey::new("ingress", "lb")));
    let a = Agent::start_with(&api, "agent-a", publish.clone(), rx.clone());
    let b = Agent::start_with(&api, "agent-b", publish, rx);
    wait_until("the Gateway's status", DEADLINE, async || {
        get(&api, "Gateway", "infra", "gw")["status"]["addresses"]
            == json!([{"type": "IPAddress", "value": "203.0.113.7"}])
    })
    .await
    .unwrap();
    wait_holder(&api, &[&a, &b]).await;
    let gw = get(&api, "Gateway", "infra", "gw");
    // Unchanged since 2020: the time is kept.
    assert_eq!(
        conditions(&gw["status"]["conditions"]),
        [
            format!("Accepted=True@{OLD}"),
            format!("Programmed=True@{OLD}")
        ]
    );
    assert_eq!(gw["status"]["listeners"][0]["attachedRoutes"], 1);
    let listener = conditions(&gw["status"]["listeners"][0]["conditions"]);
    assert!(
        !listener[0].ends_with(OLD) && !listener[0].ends_with("1970-01-01T00:00:00Z"),
        "{listener:?}"
    );
    wait_until("the class and routes", DEADLINE, async || {
        let class = get(&api, "GatewayClass", "", "haproxy");
        let r = get(&api, "HTTPRoute", "default", "r");
        let stale = get(&api, "HTTPRoute", "default", "stale");
        conditions(&class["status"]["conditions"]).len() == 1
            && r["status"]["parents"]
                .as_array()
                .is_some_and(|p| p.len() == 2)
            && stale["status"]["parents"] == json!([])
    })
    .await
    .unwrap();
    let r = get(&api, "HTTPRoute", "default", "r");
    assert_eq!(
        r["status"]["parents"][0]["controllerName"],
        "example.com/other"
    );
    assert_eq!(
        r["status"]["parents"][1]["controllerName"],
        GATEWAY_CONTROLLER
    );
    assert_eq!(
        r["status"]["parents"][1]["parentRef"],
        json!({"name": "gw", "namespace": "infra"})
    );
    assert_eq!(
        r["spec"]["parentRefs"][0]["name"], "gw",
        "the spec is untouched"
    );

    // Programmed turns False: its time is now, Accepted's stays.
    tx.send_replace(statuses("False"));
    wait_until("Programmed False", DEADLINE, async || {
        conditions(&get(&api, "Gateway", "infra", "gw")["status"]["conditions"])[1]
            .starts_with("Programmed=False@")
    })
    .await
    .unwrap();
    let now = conditions(&get(&api, "Gateway", "infra", "gw")["status"]["conditions"]);
    assert_eq!(now[0], format!("Accepted=True@{OLD}"));
    assert!(!now[1].ends_with(OLD), "{now:?}");

    // Several renewals later, each object was written once per change: no storm.
    let settled = Instant::now();
    wait_until("four renewals", DEADLINE, async || {
        holders(&api).iter().filter(|(t, _)| *t > settled).count() >= 4
    })
    .await
    .unwrap();
    let counts = writes_by_holder(&api);
    let want: std::collections::BTreeMap<String, usize> = [
        ("Gateway gw".to_string(), 2),
        ("GatewayClass haproxy".to_string(), 1),
        ("HTTPRoute r".to_string(), 1),
        ("HTTPRoute stale".to_string(), 1),
    ]
    .into();
    assert_eq!(counts, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_publish_flags_the_election_waits_for_gateway_api_status() {
    let api = KubeApi::start().await.unwrap();
    objects(&api);
    let (tx, rx) = watch::channel(Arc::new(Statuses::default()));
    let mut a = Agent::start_with(&api, "agent-a", None, rx);
    // Every watch of the source open (the agent is up), and still no Lease request.
    wait_until("the source's watches", DEADLINE, async || {
        api.watch_count() >= 10
    })
    .await
    .unwrap();
    let leases = |api: &KubeApi| {
        api.requests()
            .iter()
            .filter(|r| r.path.contains("/leases"))
            .count()
    };
    assert_eq!(
        leases(&api),
        0,
        "no Gateway API status to write: no election"
    );
    tx.send_replace(statuses("True"));
    wait_until("the Gateway's status", DEADLINE, async || {
        get(&api, "Gateway", "infra", "gw")["status"]["listeners"][0]["attachedRoutes"] == 1
    })
    .await
    .unwrap();
    assert!(leases(&api) > 0);
    // No publish flag: no addresses.
    assert!(
        get(&api, "Gateway", "infra", "gw")["status"]
            .get("addresses")
            .is_none()
    );
    a.stop().await;
}
