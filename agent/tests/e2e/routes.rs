//! Route changes: a new path to an existing backend is a map entry, applied at runtime with
//! no reload; a new Service (a new backend) is exactly one reload.

use integration::EchoServer;

use crate::support::{
    Agent, CONVERGE, Ep, IngressPath, Options, backend, eventually, ingress, service, slice,
};

const HOST: &str = "routes.example";

fn at<'a>(path: &'a str, service: &'a str) -> IngressPath<'a> {
    IngressPath {
        host: Some(HOST),
        path,
        service,
        port: 80,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_path_is_a_map_entry_and_new_service_is_one_reload() {
    let web = EchoServer::start("web").unwrap();
    let other = EchoServer::start("other").unwrap();
    let web_objects = [
        service("web", 80, web.addr().port()),
        slice("web-1", "web", web.addr().port(), &[Ep::ready("127.0.0.1")]),
    ];
    let agent = Agent::start(
        &[
            ("web.yaml", &web_objects.join("---\n")),
            ("site.yaml", &ingress("site", &[], &[at("/a", "web")])),
        ],
        Options::default(),
    )
    .await
    .unwrap();
    let reloads = agent.reloads().await.unwrap();
    let web_be = backend("web", 80);
    assert_eq!(
        agent.get(HOST, "/a").await.unwrap().echo_name.as_deref(),
        Some("web")
    );
    assert_eq!(agent.get(HOST, "/b").await.unwrap().status, 404);

    // A new path to the same backend: map entries, no reload.
    let two_paths = ingress("site", &[], &[at("/a", "web"), at("/b", "web")]);
    agent.write_manifest("site.yaml", &two_paths).unwrap();
    let (exact_key, prefix_key) = (format!("{HOST}/b"), format!("{HOST}/b/"));
    eventually("/b is in the route maps", CONVERGE, async || {
        let (Ok(exact), Ok(prefix)) = (agent.map("exact.map").await, agent.map("prefix.map").await)
        else {
            return false;
        };
        exact.get(&exact_key) == Some(&web_be) && prefix.get(&prefix_key) == Some(&web_be)
    })
    .await
    .unwrap();
    for path in ["/b", "/b/deeper"] {
        let r = agent.get(HOST, path).await.unwrap();
        assert_eq!(
            (r.status, r.echo_name.as_deref()),
            (200, Some("web")),
            "{path}"
        );
    }
    // Element-wise prefix: /bx is not under /b.
    assert_eq!(agent.get(HOST, "/bx").await.unwrap().status, 404);
    assert_eq!(
        agent.get(HOST, "/a").await.unwrap().echo_name.as_deref(),
        Some("web")
    );
    assert_eq!(
        agent.reloads().await.unwrap(),
        reloads,
        "a new path reloaded"
    );

    // A new Service with its own Ingress: a new backend, exactly one reload.
    let other_objects = [
        service("other", 80, other.addr().port()),
        slice(
            "other-1",
            "other",
            other.addr().port(),
            &[Ep::ready("127.0.0.1")],
        ),
        ingress("other", &[], &[at("/c", "other")]),
    ];
    agent
        .write_manifest("other.yaml", &other_objects.join("---\n"))
        .unwrap();
    eventually("/c is served by the new Service", CONVERGE, async || {
        agent
            .get(HOST, "/c")
            .await
            .is_ok_and(|r| r.echo_name.as_deref() == Some("other"))
    })
    .await
    .unwrap();
    let other_be = backend("other", 80);
    let exact = agent.map("exact.map").await.unwrap();
    assert_eq!(
        exact.get(&format!("{HOST}/c")),
        Some(&other_be),
        "{exact:?}"
    );
    assert_eq!(
        agent.reloads().await.unwrap(),
        reloads + 1,
        "want exactly one reload"
    );
    // The agent counted that one reload (once HAProxy showed its new worker), for the new
    // backend, and no other (every reason is exported from the start, at 0).
    let mut reload_lines = Vec::new();
    eventually("the agent counts the reload", CONVERGE, async || {
        let Ok(metrics) = agent.metrics().await else {
            return false;
        };
        reload_lines = metrics
            .lines()
            .filter(|l| l.starts_with("haproxy_agent_reloads_total{") && !l.ends_with(" 0"))
            .map(str::to_string)
            .collect();
        !reload_lines.is_empty()
    })
    .await
    .unwrap();
    assert_eq!(reload_lines.len(), 1, "{reload_lines:?}");
    assert!(
        reload_lines[0].ends_with("{reason=\"new_backend\"} 1"),
        "{reload_lines:?}"
    );
    for path in ["/a", "/b"] {
        let r = agent.get(HOST, path).await.unwrap();
        assert_eq!(
            r.echo_name.as_deref(),
            Some("web"),
            "{path} after the reload"
        );
    }
    assert_eq!(agent.reloads().await.unwrap(), reloads + 1);

    // Removed again: its routes leave the live maps, and its backend, now unrouted, stays
    // until the next reload instead of causing one.
    agent.remove_manifest("other.yaml").unwrap();
    eventually("/c is no longer routed", CONVERGE, async || {
        agent.get(HOST, "/c").await.is_ok_and(|r| r.status == 404)
    })
    .await
    .unwrap();
    let exact = agent.map("exact.map").await.unwrap();
    assert!(!exact.contains_key(&format!("{HOST}/c")), "{exact:?}");
    for path in ["/a", "/b"] {
        let r = agent.get(HOST, path).await.unwrap();
        assert_eq!(
            r.echo_name.as_deref(),
            Some("web"),
            "{path} after removing /c"
        );
    }
    assert_eq!(
        agent.reloads().await.unwrap(),
        reloads + 1,
        "removing the last route to a backend reloaded"
    );
}
