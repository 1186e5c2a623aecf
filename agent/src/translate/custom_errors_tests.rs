//! Table tests of custom-http-errors in translation: the error backend each route's policy
//! names, and how sharing that backend with another Ingress's routes settles options.

use haproxy::config::Balance;
use serde_json::{Value, json};

use super::*;
use crate::store::{Object, Store};

pub(super) fn settings(default_service: Option<&str>) -> Settings {
    Settings {
        default_backend_service: default_service.map(|s| ObjectKey::new("a", s)),
        ..crate::translate::tls::tests::settings()
    }
}

fn service(name: &str) -> Vec<Object> {
    let svc = json!({"metadata": {"namespace": "a", "name": name},
                     "spec": {"ports": [{"name": "http", "port": 80}, {"name": "x", "port": 81}]}});
    let slice = json!({"metadata": {"namespace": "a", "name": format!("{name}-1"),
                                    "labels": {"kubernetes.io/service-name": name}},
                       "addressType": "IPv4", "ports": [{"name": "http", "port": 8080}],
                       "endpoints": [{"addresses": ["10.0.0.1"]}]});
    vec![
        Object::Service(serde_json::from_value(svc).expect("a Service")),
        Object::EndpointSlice(serde_json::from_value(slice).expect("a slice")),
    ]
}

/// Ingress `name`, created at minute `age`, routing `/<name>` to `svc` port `port`.
fn ingress(name: &str, age: u8, annotations: Value, svc: &str, port: Value) -> Object {
    let v = json!({
        "metadata": {"namespace": "a", "name": name, "annotations": annotations,
                     "creationTimestamp": format!("2026-01-01T00:0{age}:00Z")},
        "spec": {"ingressClassName": "haproxy", "rules": [{"http": {"paths": [{
            "path": format!("/{name}"), "pathType": "Prefix",
            "backend": {"service": {"name": svc, "port": port}}}]}}]},
    });
    Object::Ingress(serde_json::from_value(v).expect("an Ingress"))
}

fn translate_all(objects: Vec<Object>, default_service: Option<&str>) -> Translation {
    let store = Store::new();
    store.replace_all(objects);
    translate(&store.snapshot(), &settings(default_service)).expect("a translation")
}

fn errors_of(t: &Translation, path: &str) -> Option<String> {
    t.config
        .routes
        .iter()
        .find(|r| r.path.as_str() == path)
        .and_then(|r| r.policy.custom_errors.as_ref())
        .map(ToString::to_string)
}

const CODES: &str = "nginx.ingress.kubernetes.io/custom-http-errors";
const DEFAULT: &str = "nginx.ingress.kubernetes.io/default-backend";

#[test]
fn routes_name_the_error_backend_and_their_own_service() {
    let mut objects = [service("web"), service("errors"), service("fallback")].concat();
    objects.push(ingress(
        "annotated",
        0,
        json!({CODES: "503,404", DEFAULT: "errors"}),
        "web",
        json!({"name": "http"}),
    ));
    objects.push(ingress(
        "global",
        1,
        json!({CODES: "500"}),
        "web",
        json!({"number": 80}),
    ));
    let table = [
        // (--default-backend-service, /annotated, /global)
        (None, Some("404,503/a_errors_80/a/annotated/web/http"), None),
        (
            Some("fallback"),
            Some("404,503/a_errors_80/a/annotated/web/http"),
            Some("500/a_fallback_80/a/global/web/80"),
        ),
    ];
    for (default, annotated, global) in table {
        let t = translate_all(objects.clone(), default);
        assert_eq!(
            errors_of(&t, "/annotated").as_deref(),
            annotated,
            "{default:?}"
        );
        assert_eq!(errors_of(&t, "/global").as_deref(), global, "{default:?}");
        let errors = BackendName::new("a_errors_80").expect("a name");
        assert!(t.config.backends.contains_key(&errors), "{default:?}");
        let missing: Vec<&Problem> = t
            .problems
            .iter()
            .filter(|p| p.message.contains("needs a default backend"))
            .collect();
        assert_eq!(missing.len(), usize::from(default.is_none()), "{missing:?}");
        assert_eq!(t.problems.len(), missing.len(), "{:?}", t.problems);
    }
}

#[test]
fn the_error_backend_takes_no_options_and_never_conflicts() {
    let lb = "haproxy-agent.io/load-balance";
    let with_errors = |age| {
        ingress(
            "pages",
            age,
            json!({CODES: "404", DEFAULT: "errors", lb: "first"}),
            "web",
            json!({"number": 80}),
        )
    };
    let routed = |age| {
        ingress(
            "direct",
            age,
            json!({lb: "roundrobin"}),
            "errors",
            json!({"number": 80}),
        )
    };
    let errors = BackendName::new("a_errors_80").expect("a name");
    let base = [service("web"), service("errors")].concat();
    // The error pages' user first: the backend has no annotation's options, and the route's
    // Ingress is told its settings are not kept.
    let t = translate_all(
        [base.clone(), vec![with_errors(0), routed(1)]].concat(),
        None,
    );
    assert_eq!(t.config.backends[&errors].balance, Balance::default());
    assert_eq!(t.problems.len(), 1, "{:?}", t.problems);
    assert!(t.problems[0].object == "a/direct", "{:?}", t.problems);
    // The route's Ingress first: its options, and no problem for the error pages.
    let t = translate_all([base, vec![with_errors(1), routed(0)]].concat(), None);
    assert_eq!(t.config.backends[&errors].balance, Balance::Roundrobin);
    assert_eq!(t.problems, vec![]);
}
