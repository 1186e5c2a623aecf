//! ingress-nginx's custom-http-errors through a real agent and HAProxy: an upstream answer
//! with a listed code is replaced by the error Service's page and status (the Service told
//! what happened in `X-…` headers), other answers pass untouched, a new code list is a map
//! update (no reload), and without a default backend it is a named problem.

use integration::{EchoServer, HttpReply, Req};

use crate::support::{Agent, CONVERGE, Ep, Options, eventually, ingress, service, slice};

const HOST: &str = "errors.example";
const N: &str = "nginx.ingress.kubernetes.io/";

/// The app (`web`, answering `/status/NNN` with NNN) and the error pages' Service
/// (`errors`, echoing what it was sent).
fn services(web: &EchoServer, errors: &EchoServer) -> String {
    let (w, e) = (web.addr().port(), errors.addr().port());
    [
        service("web", 80, w),
        slice("web-1", "web", w, &[Ep::ready("127.0.0.1")]),
        service("errors", 8080, e),
        slice("errors-1", "errors", e, &[Ep::ready("127.0.0.1")]),
    ]
    .join("---\n")
}

/// Ingress `shop`: everything on [`HOST`] to `web:80`, with these annotations.
fn shop(annotations: &[(&str, &str)]) -> String {
    let path = crate::support::IngressPath {
        host: Some(HOST),
        path: "/",
        service: "web",
        port: 80,
    };
    let keyed: Vec<(String, &str)> = annotations
        .iter()
        .map(|(k, v)| (format!("{N}{k}"), *v))
        .collect();
    let refs: Vec<(&str, &str)> = keyed.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    ingress("shop", &refs, &[path])
}

async fn get(agent: &Agent, path: &str, headers: &[(&str, &str)]) -> HttpReply {
    let mut req = Req::new("GET", HOST, path);
    for (k, v) in headers {
        req = req.header(k, v);
    }
    integration::request(agent.http, req)
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// What the error Service was sent, as it echoed it back.
fn sent<'a>(r: &'a HttpReply, header: &str) -> Option<&'a str> {
    r.header(&format!("x-echo-h-{header}"))
}

/// The error page replaces a listed code with every header ingress-nginx sends; other
/// answers pass; changing the codes is a map update.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listed_codes_get_the_error_services_page_and_new_codes_do_not_reload() {
    let web = EchoServer::start("web").unwrap();
    let errors = EchoServer::start("error-pages").unwrap();
    let annotations = [
        ("custom-http-errors", "404,503"),
        ("default-backend", "errors"),
    ];
    let agent = Agent::start(
        &[
            ("services.yaml", &services(&web, &errors)),
            ("shop.yaml", &shop(&annotations)),
        ],
        Options::default(),
    )
    .await
    .unwrap();
    let state = agent.debug_state().await.unwrap();
    assert_eq!(state["problems"], serde_json::json!([]), "{state:#}");

    let r = get(
        &agent,
        "/status/404/missing?q=1",
        &[("accept", "application/json")],
    )
    .await;
    assert_eq!(r.status, 200, "the error Service's status: {r:?}");
    assert_eq!(r.echo_name.as_deref(), Some("error-pages"), "{r:?}");
    assert_eq!(r.body, "error-pages");
    let told = [
        ("x-code", "404"),
        ("x-format", "application/json"),
        ("x-original-uri", "/status/404/missing?q=1"),
        ("x-namespace", "default"),
        ("x-ingress-name", "shop"),
        ("x-service-name", "web"),
        ("x-service-port", "80"),
    ];
    for (h, want) in told {
        assert_eq!(sent(&r, h), Some(want), "{h}: {r:?}");
    }
    assert!(
        sent(&r, "x-request-id").is_some_and(|id| id.len() >= 32),
        "a generated request id: {r:?}"
    );
    assert_eq!(
        r.header("x-echo-path"),
        Some("/"),
        "asked for / as nginx does"
    );
    assert_eq!(r.header("x-echo-host"), Some(HOST));
    assert_eq!(
        sent(&r, "x-agent-error-backend"),
        None,
        "internal header leaked"
    );

    // The client's own request id is passed on.
    let r = get(&agent, "/status/503", &[("x-request-id", "req-42")]).await;
    assert_eq!(r.echo_name.as_deref(), Some("error-pages"), "{r:?}");
    assert_eq!(
        (sent(&r, "x-code"), sent(&r, "x-request-id")),
        (Some("503"), Some("req-42"))
    );
    // 200 and a code not in the list pass untouched.
    let r = get(&agent, "/fine", &[]).await;
    assert_eq!((r.status, r.echo_name.as_deref()), (200, Some("web")));
    let r = get(&agent, "/status/500", &[]).await;
    assert_eq!((r.status, r.echo_name.as_deref()), (500, Some("web")));

    // 500 joins the list, 503 leaves it: a map update.
    let reloads = agent.reloads().await.unwrap();
    let changed = [
        ("custom-http-errors", "404,500"),
        ("default-backend", "errors"),
    ];
    agent.write_manifest("shop.yaml", &shop(&changed)).unwrap();
    eventually("500 gets the error page", CONVERGE, async || {
        get(&agent, "/status/500", &[]).await.echo_name.as_deref() == Some("error-pages")
    })
    .await
    .unwrap();
    let r = get(&agent, "/status/503", &[]).await;
    assert_eq!((r.status, r.echo_name.as_deref()), (503, Some("web")));
    assert_eq!(
        agent.reloads().await.unwrap(),
        reloads,
        "a new code list reloaded"
    );
}

/// Without a default backend the annotation is a named problem and nothing is rendered for
/// it; once the default-backend annotation names the error Service, the first use reloads
/// once, named `custom_errors`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_default_backend_it_is_a_problem_and_a_first_use_reloads_once() {
    let web = EchoServer::start("web").unwrap();
    let errors = EchoServer::start("error-pages").unwrap();
    let agent = Agent::start(
        &[
            ("services.yaml", &services(&web, &errors)),
            ("shop.yaml", &shop(&[("custom-http-errors", "404")])),
        ],
        Options::default(),
    )
    .await
    .unwrap();
    let state = agent.debug_state().await.unwrap();
    let problems = state["problems"].as_array().cloned().unwrap_or_default();
    assert!(
        problems.iter().any(|p| p["field"]
            == format!("metadata.annotations[{N}custom-http-errors]")
            && p["message"]
                .as_str()
                .is_some_and(|m| m.contains("needs a default backend"))),
        "{state:#}"
    );
    let r = get(&agent, "/status/404", &[]).await;
    assert_eq!((r.status, r.echo_name.as_deref()), (404, Some("web")));
    let cfg = std::fs::read_to_string(agent.config_dir.join("haproxy.cfg")).unwrap();
    assert!(!cfg.contains("lua-load"), "nothing rendered for it");

    let before = agent
        .metric("haproxy_agent_reloads_total{reason=\"custom_errors\"}")
        .await
        .unwrap();
    let annotations = [("custom-http-errors", "404"), ("default-backend", "errors")];
    agent
        .write_manifest("shop.yaml", &shop(&annotations))
        .unwrap();
    eventually("404 gets the error page", CONVERGE, async || {
        get(&agent, "/status/404", &[]).await.echo_name.as_deref() == Some("error-pages")
    })
    .await
    .unwrap();
    let reason = "haproxy_agent_reloads_total{reason=\"custom_errors\"}";
    eventually("a reload counted as custom_errors", CONVERGE, async || {
        agent.metric(reason).await.is_ok_and(|n| n == before + 1.0)
    })
    .await
    .unwrap();
    assert_eq!(agent.reloads().await.unwrap(), 1, "one reload in all");
    let state = agent.debug_state().await.unwrap();
    assert_eq!(state["problems"], serde_json::json!([]), "{state:#}");
}

/// Without the default-backend annotation the pages come from `--default-backend-service`,
/// which also still answers unmatched requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_global_default_backend_serves_the_pages_without_the_annotation() {
    let web = EchoServer::start("web").unwrap();
    let errors = EchoServer::start("error-pages").unwrap();
    let options = Options {
        extra: vec!["--default-backend-service".into(), "default/errors".into()],
        ..Options::default()
    };
    let agent = Agent::start(
        &[
            ("services.yaml", &services(&web, &errors)),
            ("shop.yaml", &shop(&[("custom-http-errors", "503")])),
        ],
        options,
    )
    .await
    .unwrap();
    let state = agent.debug_state().await.unwrap();
    assert_eq!(state["problems"], serde_json::json!([]), "{state:#}");
    let r = get(&agent, "/status/503?x=1", &[]).await;
    assert_eq!(r.echo_name.as_deref(), Some("error-pages"), "{r:?}");
    assert_eq!(
        (sent(&r, "x-code"), sent(&r, "x-original-uri")),
        (Some("503"), Some("/status/503?x=1"))
    );
    let r = get(&agent, "/status/404", &[]).await;
    assert_eq!((r.status, r.echo_name.as_deref()), (404, Some("web")));
    let other = Req::new("GET", "unrouted.example", "/");
    let r = integration::request(agent.http, other).await.unwrap();
    assert_eq!(
        r.echo_name.as_deref(),
        Some("error-pages"),
        "unmatched: {r:?}"
    );
}
