//! Table tests of the suite's comparison rules.

use super::*;
use crate::gwconf::cases::{BackendRequest, Redirect, ResponseCheck};

fn echo_reply(path: &str, ns: &str, pod: &str, headers: &[(&str, &str)]) -> Observed {
    let echoed = Echoed {
        path: path.to_string(),
        host: "example.com".to_string(),
        method: "GET".to_string(),
        proto: "HTTP/1.1".to_string(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), vec![v.to_string()]))
            .collect(),
        http_port: "3000".to_string(),
        namespace: ns.to_string(),
        pod: pod.to_string(),
        service: String::new(),
    };
    Observed {
        status: 200,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("x-set".into(), "a".into()),
            ("x-set".into(), "b".into()),
        ],
        body: serde_json::to_string(&echoed).unwrap(),
    }
}

fn expect(path: &str, backend: Option<&str>) -> Expect {
    Expect {
        path: path.to_string(),
        backend: backend.map(str::to_string),
        ..Expect::default()
    }
}

#[test]
fn a_200_from_the_expected_backend_passes_and_others_say_why_not() {
    let ok = echo_reply("/v2", INFRA, "infra-backend-v2-abc", &[("version", "two")]);
    let mut want = expect("/v2", Some("infra-backend-v2"));
    want.headers.insert("Version".into(), "two".into());
    assert_eq!(check(&want, &ok, "h"), Ok(()));

    let other = echo_reply("/v2", INFRA, "infra-backend-v1-abc", &[("version", "two")]);
    assert!(
        check(&want, &other, "h")
            .unwrap_err()
            .contains("infra-backend-v2")
    );
    let wrong_ns = echo_reply(
        "/v2",
        "other",
        "infra-backend-v2-abc",
        &[("version", "two")],
    );
    assert!(
        check(&want, &wrong_ns, "h")
            .unwrap_err()
            .contains("namespace")
    );
    let no_header = echo_reply("/v2", INFRA, "infra-backend-v2-abc", &[]);
    assert!(
        check(&want, &no_header, "h")
            .unwrap_err()
            .contains("Version")
    );
    let wrong_path = echo_reply("/v3", INFRA, "infra-backend-v2-abc", &[("version", "two")]);
    assert!(check(&want, &wrong_path, "h").unwrap_err().contains("path"));
    let not_echo = Observed {
        status: 200,
        body: "hello".into(),
        ..Observed::default()
    };
    assert!(check(&want, &not_echo, "h").unwrap_err().contains("echo"));
}

const INFRA: &str = "gateway-conformance-infra";

#[test]
fn statuses_default_to_200_and_timeouts_stand_for_each_other() {
    let want = expect("/", None);
    let got = Observed {
        status: 404,
        ..Observed::default()
    };
    assert!(check(&want, &got, "h").unwrap_err().contains("404"));
    let want404 = Expect {
        status: vec![404],
        ..expect("/", None)
    };
    assert_eq!(check(&want404, &got, "h"), Ok(()));
    let want504 = Expect {
        status: vec![504],
        ..expect("/", None)
    };
    let got408 = Observed {
        status: 408,
        ..Observed::default()
    };
    assert_eq!(check(&want504, &got408, "h"), Ok(()));
    let failure = Expect {
        failure: true,
        ..expect("/", None)
    };
    assert_eq!(check(&failure, &got, "h"), Ok(()));
    let ok = echo_reply("/", INFRA, "x", &[]);
    assert!(check(&failure, &ok, "h").is_err());
}

#[test]
fn backend_request_and_response_headers_are_compared_case_insensitively() {
    let got = echo_reply("/new?q=1", INFRA, "infra-backend-v1-x", &[("x-added", "v")]);
    let mut want = expect("/old?q=1", Some("infra-backend-v1"));
    want.backend_request = Some(BackendRequest {
        path: Some("/new?q=1".into()),
        headers: [("X-Added".to_string(), "v".to_string())].into(),
        absent: vec!["X-Removed".into()],
        ..BackendRequest::default()
    });
    want.response = Some(ResponseCheck {
        headers: [("X-Set".to_string(), "a,b".to_string())].into(),
        absent: vec!["x-gone".into()],
    });
    assert_eq!(check(&want, &got, "h"), Ok(()));
    want.backend_request
        .as_mut()
        .unwrap()
        .absent
        .push("x-added".into());
    assert!(check(&want, &got, "h").unwrap_err().contains("absent"));
}

fn redirect(status: u16, location: &str) -> Observed {
    Observed {
        status,
        headers: vec![("Location".into(), location.into())],
        body: String::new(),
    }
}

#[test]
fn redirects_compare_scheme_host_port_and_path_with_the_suites_defaults() {
    let mut want = Expect {
        status: vec![302],
        redirect: Some(Redirect {
            host: Some("example.org".into()),
            ..Redirect::default()
        }),
        ..expect("/hostname-redirect", None)
    };
    assert_eq!(
        check(
            &want,
            &redirect(302, "http://example.org/hostname-redirect"),
            "h"
        ),
        Ok(())
    );
    assert_eq!(
        check(
            &want,
            &redirect(302, "http://example.org:80/hostname-redirect?x=1"),
            "h"
        ),
        Ok(())
    );
    assert!(
        check(
            &want,
            &redirect(302, "http://example.org:8080/hostname-redirect"),
            "h"
        )
        .unwrap_err()
        .contains("port")
    );
    assert!(
        check(
            &want,
            &redirect(302, "https://example.org/hostname-redirect"),
            "h"
        )
        .unwrap_err()
        .contains("scheme")
    );
    want.redirect = Some(Redirect {
        scheme: Some("https".into()),
        port: Some("8443".into()),
        path: Some("/new".into()),
        ..Redirect::default()
    });
    assert_eq!(
        check(&want, &redirect(302, "https://anything:8443/new"), "h"),
        Ok(())
    );
    assert!(
        check(&want, &redirect(302, "https://anything:8443/old"), "h")
            .unwrap_err()
            .contains("path")
    );
    // A relative Location resolves against the request.
    want.redirect = Some(Redirect::default());
    assert_eq!(
        check(&want, &redirect(302, "/hostname-redirect"), "127.0.0.1:80"),
        Ok(())
    );
}
