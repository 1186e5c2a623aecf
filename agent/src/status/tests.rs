//! Two agents (each a Kubernetes source filling its own store, plus `status::run`, with its
//! own `kube::Client`) against one test API server. The server tells the clients apart by
//! their bearer token (`KubeApi::client_as`), so its change log says who wrote what; every
//! test ends by checking that no Ingress status write (made or merely attempted) came from
//! anyone but the Lease holder of record at that moment.

use std::time::{Duration, Instant};

use integration::{KubeApi, wait_until};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::*;
use crate::translate::class::CONTROLLER_NAME;

pub(super) const DEADLINE: Duration = Duration::from_secs(15);
const LEASE_NS: &str = "ingress";
const LEASE: &str = "haproxy-agent-leader";
const DURATION: Duration = Duration::from_secs(2);

pub(super) struct Agent {
    pub identity: String,
    stop: watch::Sender<bool>,
    status: JoinHandle<()>,
    source: JoinHandle<()>,
}

impl Agent {
    fn start(api: &KubeApi, identity: &str, publish: Publish) -> Agent {
        let (_, statuses) = watch::channel(Default::default());
        Self::start_with(api, identity, Some(publish), statuses)
    }

    /// An agent whose Gateway API statuses are `statuses` (translation's, made by hand).
    pub(super) fn start_with(
        api: &KubeApi,
        identity: &str,
        publish: Option<Publish>,
        statuses: watch::Receiver<std::sync::Arc<crate::translate::gateway::Statuses>>,
    ) -> Agent {
        let client = api.client_as(identity).expect("a client");
        let store = Store::new();
        let (stop, rx) = watch::channel(false);
        let until = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        let source = tokio::spawn(crate::source::kube::run(
            client.clone(),
            None,
            Vec::new(),
            store.clone(),
            watch::channel(Vec::new()).0,
            until(rx.clone()),
        ));
        let config = StatusConfig {
            publish,
            lease: LeaseConfig {
                duration: DURATION,
                renew_every: Duration::from_millis(500),
                ..LeaseConfig::new(LEASE_NS, LEASE, identity)
            },
            ingress_class: "haproxy".into(),
            gateway_controller_name: GATEWAY_CONTROLLER.into(),
        };
        let status = tokio::spawn(run(client, store, config, statuses, until(rx)));
        Agent {
            identity: identity.into(),
            stop,
            status,
            source,
        }
    }

    /// Completes its shutdown future and waits until `run` has returned.
    pub(super) async fn stop(&mut self) {
        self.stop.send_replace(true);
        tokio::time::timeout(DEADLINE, &mut self.status)
            .await
            .expect("status::run returns after shutdown")
            .expect("status::run does not panic");
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.status.abort();
        self.source.abort();
    }
}

/// The controller name of the agents' Gateway API objects.
pub(super) const GATEWAY_CONTROLLER: &str = "haproxy-agent.io/gateway-controller";

pub(super) fn lb_service(ip: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Service",
           "metadata": {"namespace": LEASE_NS, "name": "lb"},
           "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.10"},
           "status": {"loadBalancer": {"ingress": [{"ip": ip}]}}})
}

fn ingress(name: &str, class: Option<&str>) -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
           "metadata": {"namespace": "default", "name": name},
           "spec": {"ingressClassName": class,
                    "defaultBackend": {"service": {"name": "web", "port": {"number": 80}}}}})
}

fn ingress_class(default: bool) -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
           "metadata": {"name": "haproxy", "annotations":
               {"ingressclass.kubernetes.io/is-default-class": default.to_string()}},
           "spec": {"controller": CONTROLLER_NAME}})
}

/// A server with our IngressClass, the Ingress `default/web` of our class, and the
/// LoadBalancer Service `ingress/lb` at `ip`.
async fn server(ip: &str) -> KubeApi {
    let api = KubeApi::start().await.expect("the test api server starts");
    api.apply(ingress_class(false)).unwrap();
    api.apply(ingress("web", Some("haproxy"))).unwrap();
    api.apply(lb_service(ip)).unwrap();
    api
}

fn service_publish() -> Publish {
    Publish::Service(ObjectKey::new(LEASE_NS, "lb"))
}

/// `status.loadBalancer.ingress` of `default/NAME`, as `ip` or `hostname` strings.
fn status_of(api: &KubeApi, name: &str) -> Vec<String> {
    let obj = api
        .get("Ingress", "default", name)
        .unwrap()
        .unwrap_or_default();
    obj["status"]["loadBalancer"]["ingress"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|a| {
                    a["ip"]
                        .as_str()
                        .or(a["hostname"].as_str())
                        .unwrap_or("?")
                        .to_string()
                })
                .collect()
        })
        .unwrap_or_default()
}

fn lease(api: &KubeApi) -> Value {
    api.get("Lease", LEASE_NS, LEASE)
        .unwrap()
        .unwrap_or_default()
}

fn holder(api: &KubeApi) -> Option<String> {
    lease(api)["spec"]["holderIdentity"]
        .as_str()
        .map(str::to_string)
}

async fn wait_status(api: &KubeApi, name: &str, want: &[&str]) {
    wait_until(
        &format!("{name}'s status is {want:?}"),
        DEADLINE,
        async || status_of(api, name) == want,
    )
    .await
    .unwrap();
}

pub(super) async fn wait_holder(api: &KubeApi, among: &[&Agent]) -> String {
    let mut found = None;
    wait_until("one agent holds the lease", DEADLINE, async || {
        found = holder(api).filter(|h| among.iter().any(|a| a.identity == *h));
        found.is_some()
    })
    .await
    .unwrap();
    found.unwrap()
}

/// The Lease's holder of record at each Lease change: `(when, holder)`, oldest first.
pub(super) fn holders(api: &KubeApi) -> Vec<(Instant, Option<String>)> {
    api.writes()
        .iter()
        .filter(|w| w.kind == "Lease")
        .map(|w| {
            let h = (w.change != "DELETED")
                .then(|| {
                    w.object["spec"]["holderIdentity"]
                        .as_str()
                        .map(str::to_string)
                })
                .flatten();
            (w.at, h)
        })
        .collect()
}

pub(super) fn holder_at(holders: &[(Instant, Option<String>)], at: Instant) -> Option<String> {
    holders
        .iter()
        .rev()
        .find(|(t, _)| *t <= at)
        .and_then(|(_, h)| h.clone())
}

/// Every Ingress status write by an agent, and every attempt (a PATCH or PUT arriving at an
/// Ingress's status), came from the Lease holder of record at that moment. Returns how many
/// status writes each user made.
fn assert_one_writer_at_a_time(api: &KubeApi) -> std::collections::BTreeMap<String, usize> {
    let holders = holders(api);
    let mut counts = std::collections::BTreeMap::new();
    for w in api.writes().iter().filter(|w| w.kind == "Ingress") {
        let Some(user) = &w.user else { continue };
        assert_eq!(
            holder_at(&holders, w.at).as_ref(),
            Some(user),
            "{user} wrote {}'s status (rv {}) without holding the lease",
            w.name,
            w.resource_version
        );
        *counts.entry(user.clone()).or_insert(0) += 1;
    }
    for r in api.requests() {
        if (r.method == "PATCH" || r.method == "PUT")
            && r.path.contains("/ingresses/")
            && r.path.ends_with("/status")
        {
            assert_eq!(
                holder_at(&holders, r.at),
                r.user,
                "{} {} arrived while the lease was not its sender's",
                r.method,
                r.path
            );
        }
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_one_replica_writes_the_status() {
    let api = server("203.0.113.7").await;
    let a = Agent::start(&api, "agent-a", service_publish());
    let b = Agent::start(&api, "agent-b", service_publish());
    wait_status(&api, "web", &["203.0.113.7"]).await;
    let leader = wait_holder(&api, &[&a, &b]).await;
    let spec = &lease(&api)["spec"];
    assert_eq!(spec["leaseDurationSeconds"], 2);
    assert_eq!(spec["leaseTransitions"], 0);
    assert!(spec["acquireTime"].is_string() && spec["renewTime"].is_string());

    // Several renewals later, the status was still written exactly once: no write storm.
    let written = Instant::now();
    wait_until("four renewals", DEADLINE, async || {
        holders(&api).iter().filter(|(t, _)| *t > written).count() >= 4
    })
    .await
    .unwrap();
    let counts = assert_one_writer_at_a_time(&api);
    assert_eq!(counts, [(leader.clone(), 1)].into(), "{counts:?}");
    let attempts = api
        .requests()
        .iter()
        .filter(|r| r.method != "GET" && r.path.ends_with("/ingresses/web/status"))
        .count();
    assert_eq!(attempts, 1, "not even a repeated no-op write");
    assert_eq!(holder(&api), Some(leader));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_leader_hands_over_at_once_and_the_next_follows_changes() {
    let api = server("203.0.113.7").await;
    let mut a = Agent::start(&api, "agent-a", service_publish());
    let mut b = Agent::start(&api, "agent-b", service_publish());
    wait_status(&api, "web", &["203.0.113.7"]).await;
    let first = wait_holder(&api, &[&a, &b]).await;
    let (leader, follower) = if first == a.identity {
        (&mut a, &mut b)
    } else {
        (&mut b, &mut a)
    };
    let stopped = Instant::now();
    leader.stop().await;
    let next = wait_holder(&api, &[follower]).await;
    // Released, not expired: the follower's next attempt takes it.
    assert!(
        stopped.elapsed() < DURATION,
        "takeover took {:?}",
        stopped.elapsed()
    );
    assert_eq!(lease(&api)["spec"]["leaseTransitions"], 1);

    api.apply(lb_service("203.0.113.8")).unwrap();
    wait_status(&api, "web", &["203.0.113.8"]).await;
    let counts = assert_one_writer_at_a_time(&api);
    assert_eq!(counts, [(first, 1), (next, 1)].into(), "{counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_leader_is_replaced_only_after_the_lease_duration() {
    let api = server("203.0.113.7").await;
    let a = Agent::start(&api, "agent-a", service_publish());
    let b = Agent::start(&api, "agent-b", service_publish());
    wait_status(&api, "web", &["203.0.113.7"]).await;
    let first = wait_holder(&api, &[&a, &b]).await;
    let (leader, follower) = if first == a.identity { (a, b) } else { (b, a) };
    drop(leader); // aborted: no release
    wait_holder(&api, &[&follower]).await;
    let holders = holders(&api);
    let last_renewal = holders
        .iter()
        .rfind(|(_, h)| *h == Some(first.clone()))
        .unwrap()
        .0;
    let takeover = holders.last().unwrap().0;
    assert!(
        takeover - last_renewal >= DURATION,
        "taken over {:?} after the last renewal",
        takeover - last_renewal
    );
    api.apply(lb_service("203.0.113.8")).unwrap();
    wait_status(&api, "web", &["203.0.113.8"]).await;
    assert_one_writer_at_a_time(&api);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_ingresses_of_our_class_are_written_and_leavers_are_cleared() {
    let api = server("203.0.113.7").await;
    api.apply(ingress("other", Some("nginx"))).unwrap();
    api.apply(ingress("classless", None)).unwrap();
    let mut foreign = ingress("foreign", Some("nginx"));
    foreign["status"] = json!({"loadBalancer": {"ingress": [{"ip": "192.0.2.99"}]}});
    api.apply(foreign).unwrap();
    let publish = parse_publish_address("lb.example.com,198.51.100.1").unwrap();
    let _a = Agent::start(&api, "agent-a", publish);
    let ours = ["198.51.100.1", "lb.example.com"];
    wait_status(&api, "web", &ours).await;
    let obj = api.get("Ingress", "default", "web").unwrap().unwrap();
    assert_eq!(
        obj["status"]["loadBalancer"]["ingress"],
        json!([{"ip": "198.51.100.1"}, {"hostname": "lb.example.com"}])
    );

    // Without a class, an Ingress is ours once our IngressClass is the default.
    api.apply(ingress_class(true)).unwrap();
    wait_status(&api, "classless", &ours).await;
    // One that leaves our class while showing our addresses is cleared.
    let mut web = api.get("Ingress", "default", "web").unwrap().unwrap();
    web["spec"]["ingressClassName"] = "nginx".into();
    api.apply(web).unwrap();
    wait_status(&api, "web", &[]).await;

    assert!(status_of(&api, "other").is_empty());
    assert_eq!(status_of(&api, "foreign"), ["192.0.2.99"]);
    for r in api.requests() {
        assert!(
            !r.path.ends_with("/other/status") && !r.path.ends_with("/foreign/status"),
            "{} {}: not ours",
            r.method,
            r.path
        );
    }
    let counts = assert_one_writer_at_a_time(&api);
    assert_eq!(
        counts["agent-a"], 3,
        "web, classless, web cleared: {counts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_writes_fail_steps_down_and_the_other_takes_over() {
    let api = server("203.0.113.7").await;
    let a = Agent::start(&api, "agent-a", service_publish());
    let b = Agent::start(&api, "agent-b", service_publish());
    wait_status(&api, "web", &["203.0.113.7"]).await;
    let leader = wait_holder(&api, &[&a, &b]).await;
    let follower = if leader == a.identity { &b } else { &a };

    // Every write of the leader fails (500: kube does not retry it); its reads still work.
    let failing = leader.clone();
    api.fail_requests(500, move |r| {
        r.user.as_deref() == Some(failing.as_str()) && r.method != "GET"
    });
    api.apply(lb_service("203.0.113.9")).unwrap();
    let next = wait_holder(&api, &[follower]).await;
    wait_status(&api, "web", &["203.0.113.9"]).await;

    // Back to working, the old leader stays a follower of the fresh lease.
    api.stop_failing();
    api.apply(lb_service("203.0.113.10")).unwrap();
    wait_status(&api, "web", &["203.0.113.10"]).await;
    assert_eq!(holder(&api), Some(next.clone()));
    let counts = assert_one_writer_at_a_time(&api);
    assert_eq!(counts, [(leader, 1), (next, 2)].into(), "{counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_taken_by_another_holder_stops_writing_until_it_expires() {
    let api = server("203.0.113.7").await;
    let a = Agent::start(&api, "agent-a", service_publish());
    let b = Agent::start(&api, "agent-b", service_publish());
    wait_status(&api, "web", &["203.0.113.7"]).await;
    let leader = wait_holder(&api, &[&a, &b]).await;

    let mut taken = lease(&api);
    taken["spec"]["holderIdentity"] = "intruder".into();
    taken["spec"]["renewTime"] = "2030-01-01T00:00:00.000000Z".into();
    api.apply(taken).unwrap();
    let intruded = Instant::now();
    // Two lease reads by the leader after that: its first attempt saw the intruder, and
    // ended, before the second began.
    let lease_path = format!("/apis/coordination.k8s.io/v1/namespaces/{LEASE_NS}/leases/{LEASE}");
    wait_until("the leader read the lease twice", DEADLINE, async || {
        let reads = api.requests().into_iter().filter(|r| {
            r.at > intruded
                && r.method == "GET"
                && r.path == lease_path
                && r.user.as_deref() == Some(leader.as_str())
        });
        reads.count() >= 2
    })
    .await
    .unwrap();

    api.apply(lb_service("203.0.113.8")).unwrap();
    wait_status(&api, "web", &["203.0.113.8"]).await;
    let holders = holders(&api);
    let intrusion = holders
        .iter()
        .rfind(|(_, h)| h.as_deref() == Some("intruder"))
        .unwrap()
        .0;
    let takeover = holders
        .iter()
        .find(|(t, h)| *t > intrusion && h.is_some())
        .unwrap();
    assert!(
        takeover.0 - intrusion >= DURATION,
        "{:?}",
        takeover.0 - intrusion
    );
    assert_one_writer_at_a_time(&api);
}
