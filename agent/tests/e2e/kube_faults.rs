//! API server faults, through the test Kubernetes API server's controls: objects that do
//! not decode in a list and in a watch, requests answered 500 (all of a resource's, or the
//! next few), and slow answers. Each is named (a problem in `/debug/state`), HAProxy keeps
//! serving what it had, changes to good objects still arrive, and it all clears when the
//! fault does.

use integration::KubeApi;
use serde_json::{Value, json};

use crate::kube::{HOST, agent_for, ingress, live, names, pods, service, slice, watches_open};
use crate::support::{Agent, CONVERGE, eventually};

const SLICES: &str = "/apis/discovery.k8s.io/v1/endpointslices";

/// Whether `/debug/state` lists a problem with these fields (`field` `None`: any).
async fn has_problem(
    agent: &Agent,
    kind: &str,
    object: &str,
    reason: &str,
    field: Option<&str>,
) -> bool {
    let Ok(state) = agent.debug_state().await else {
        return false;
    };
    state["problems"].as_array().is_some_and(|list| {
        list.iter().any(|p| {
            p["kind"] == kind
                && p["object"] == object
                && p["reason"] == reason
                && field.is_none_or(|f| p["field"] == f)
        })
    })
}

/// Problems of this reason in `/debug/state`.
async fn problems_of(agent: &Agent, reason: &str) -> Vec<Value> {
    let state = agent.debug_state().await.unwrap_or_default();
    state["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["reason"] == reason)
        .cloned()
        .collect()
}

fn broken_ingress() -> Value {
    let mut ing = ingress("shop", "broken", "haproxy", "broken.test", "web");
    ing["spec"] = json!("not an object");
    ing
}

fn broken_slice() -> Value {
    let mut s = slice("shop", "web-bad", "web", 8080, &pods(1));
    s["endpoints"] = json!("none");
    s
}

async fn wait_servers(agent: &Agent, n: usize, what: &str) {
    let want = names(&pods(n), 8080);
    if let Err(e) = eventually(what, CONVERGE, async || {
        live(agent, "shop_web_80").await == want
    })
    .await
    {
        let have = live(agent, "shop_web_80").await;
        panic!("{e}: {have:?}\n{}", agent.log_tail());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_objects_in_lists_and_watches_are_named_and_the_rest_keeps_serving() {
    let api = KubeApi::start().await.unwrap();
    api.apply(service("shop", "web")).unwrap();
    api.apply(slice("shop", "web-1", "web", 8080, &pods(2)))
        .unwrap();
    api.apply(ingress("shop", "web", "haproxy", HOST, "web"))
        .unwrap();
    // In the first lists: kube's typed list would fail whole on either, for ever.
    api.apply(broken_ingress()).unwrap();
    api.apply(broken_slice()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let agent = agent_for(&api, &dir).await;
    wait_servers(&agent, 2, "the good slice served beside a malformed one").await;
    assert_eq!(agent.healthz().await.unwrap(), 200);
    for (kind, object, field) in [
        ("Ingress", "shop/broken", "spec"),
        ("EndpointSlice", "shop/web-bad", "endpoints"),
    ] {
        assert!(
            has_problem(&agent, kind, object, "malformed", Some(field)).await,
            "{kind} {object} named at {field}: {:?}",
            problems_of(&agent, "malformed").await
        );
    }
    assert!(
        agent.log().contains("does not decode"),
        "{}",
        agent.log_tail()
    );
    watches_open(&api).await;

    // In a watch: the good Ingress turns malformed; its last good version stays served,
    // and later changes of good objects still arrive on the same watches.
    let mut bad_web = ingress("shop", "web", "haproxy", HOST, "web");
    bad_web["spec"]["rules"][0]["host"] = json!(7);
    api.apply(bad_web).unwrap();
    eventually("the malformed update named", CONVERGE, async || {
        has_problem(
            &agent,
            "Ingress",
            "shop/web",
            "malformed",
            Some("spec.rules[0].host"),
        )
        .await
    })
    .await
    .unwrap();
    api.apply(slice("shop", "web-1", "web", 8080, &pods(3)))
        .unwrap();
    wait_servers(&agent, 3, "an endpoint change after the malformed event").await;
    let map = agent.map("prefix.map").await.unwrap();
    assert_eq!(
        map.get(&format!("{HOST}/")).map(String::as_str),
        Some("shop_web_80"),
        "{map:?}"
    );

    // A relist (410 after a compaction) with malformed items in it keeps the last good
    // versions and brings the change made behind the compaction.
    api.pause();
    api.apply(slice("shop", "web-1", "web", 8080, &pods(4)))
        .unwrap();
    api.compact();
    api.drop_watches();
    api.resume();
    wait_servers(
        &agent,
        4,
        "the change behind the compaction, through the relist",
    )
    .await;
    let map = agent.map("prefix.map").await.unwrap();
    assert!(
        map.contains_key(&format!("{HOST}/")),
        "the kept Ingress: {map:?}"
    );
    assert!(has_problem(&agent, "Ingress", "shop/web", "malformed", None).await);

    // Fixed or deleted: every problem resolves; the fixed Ingress is served as it is now.
    api.apply(ingress("shop", "web", "haproxy", "web2.test", "web"))
        .unwrap();
    api.apply(ingress("shop", "broken", "haproxy", "broken.test", "web"))
        .unwrap();
    api.delete("EndpointSlice", "shop", "web-bad").unwrap();
    eventually("no malformed problem left", CONVERGE, async || {
        problems_of(&agent, "malformed").await.is_empty()
    })
    .await
    .unwrap();
    eventually("the fixed Ingresses routed", CONVERGE, async || {
        let map = agent.map("prefix.map").await.unwrap_or_default();
        map.contains_key("web2.test/") && map.contains_key("broken.test/")
    })
    .await
    .unwrap();
    assert_eq!(agent.reloads().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_and_slow_api_requests_are_named_and_haproxy_keeps_serving() {
    let api = KubeApi::start().await.unwrap();
    api.apply(service("shop", "web")).unwrap();
    api.apply(slice("shop", "web-1", "web", 8080, &pods(2)))
        .unwrap();
    api.apply(ingress("shop", "web", "haproxy", HOST, "web"))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let agent = agent_for(&api, &dir).await;
    wait_servers(&agent, 2, "the first servers").await;
    watches_open(&api).await;

    // Every EndpointSlice request answered 500, the open watches cut: named, and HAProxy
    // keeps its servers; Ingress changes still arrive.
    api.fail_requests(500, |r| r.path.ends_with("/endpointslices"));
    api.drop_watches();
    api.apply(slice("shop", "web-1", "web", 8080, &pods(3)))
        .unwrap();
    let named = eventually("the failing watch named", CONVERGE, async || {
        has_problem(&agent, "ApiServer", "EndpointSlice", "unavailable", None).await
    })
    .await;
    if let Err(e) = named {
        panic!(
            "{e}: {:?}",
            agent.debug_state().await.unwrap_or_default()["problems"]
        );
    }
    assert_eq!(agent.healthz().await.unwrap(), 200, "HAProxy still serves");
    assert_eq!(live(&agent, "shop_web_80").await, names(&pods(2), 8080));
    api.apply(ingress("shop", "web", "haproxy", "during.test", "web"))
        .unwrap();
    eventually("an Ingress change during the fault", CONVERGE, async || {
        agent
            .map("prefix.map")
            .await
            .unwrap_or_default()
            .contains_key("during.test/")
    })
    .await
    .unwrap();
    assert_eq!(live(&agent, "shop_web_80").await, names(&pods(2), 8080));

    // Cleared: the change made during the fault arrives, the problem resolves.
    api.stop_failing();
    wait_servers(&agent, 3, "the change made while requests failed").await;
    eventually("the problem resolved", CONVERGE, async || {
        problems_of(&agent, "unavailable").await.is_empty()
    })
    .await
    .unwrap();

    // The next two requests fail: the watcher gets through on its own (after kube's
    // backoff, 0.8 s then 1.6 s, each with jitter).
    let from = api.requests().len();
    api.fail_next(2, 500, |r| r.path.ends_with("/endpointslices"));
    api.drop_watches();
    api.apply(slice("shop", "web-1", "web", 8080, &pods(4)))
        .unwrap();
    wait_servers(&agent, 4, "the change after two failed requests").await;
    let tried = api.requests()[from..]
        .iter()
        .filter(|r| r.path == SLICES)
        .count();
    assert!(
        tried >= 3,
        "two failed requests and one that worked: {tried}"
    );

    // Slow answers (each EndpointSlice request waits 1.5 s): changes arrive late, not lost.
    api.delay_requests(std::time::Duration::from_millis(1500), |r| {
        r.path.ends_with("/endpointslices")
    });
    api.drop_watches();
    api.apply(slice("shop", "web-1", "web", 8080, &pods(5)))
        .unwrap();
    wait_servers(&agent, 5, "the change through a slow API server").await;
    api.stop_delaying();
    assert_eq!(agent.healthz().await.unwrap(), 200);
    assert_eq!(agent.reloads().await.unwrap(), 0);
}
