//! Table tests of namespace selectors.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::*;

/// A selector from its JSON form.
fn selector(json: serde_json::Value) -> LabelSelector {
    serde_json::from_value(json).expect("a selector")
}

/// Namespaces `web` (team a, env prod), `batch` (team b) and `bare` (no labels); `ghost`
/// has no Namespace object.
fn known() -> Namespaces {
    let mut out = Namespaces::new();
    for (name, labels) in [
        ("web", &[("team", "a"), ("env", "prod")][..]),
        ("batch", &[("team", "b")][..]),
        ("bare", &[][..]),
    ] {
        let labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some(labels),
                ..Default::default()
            },
            ..Default::default()
        };
        out.insert(ObjectKey::new("", name), Arc::new(ns));
    }
    out
}

#[test]
fn selectors_admit_the_namespaces_whose_labels_match() {
    use serde_json::json;
    let all = ["web", "batch", "bare", "ghost"];
    let table: Vec<(serde_json::Value, &[&str])> = vec![
        (json!({}), &all),
        (json!({"matchLabels": {"team": "a"}}), &["web"]),
        (json!({"matchLabels": {"team": "a", "env": "dev"}}), &[]),
        (json!({"matchLabels": {NAME_LABEL: "ghost"}}), &["ghost"]),
        (
            json!({"matchExpressions": [{"key": "team", "operator": "In", "values": ["a", "b"]}]}),
            &["web", "batch"],
        ),
        (
            json!({"matchExpressions": [{"key": "team", "operator": "NotIn", "values": ["a"]}]}),
            &["batch", "bare", "ghost"],
        ),
        (
            json!({"matchExpressions": [{"key": "team", "operator": "Exists"}]}),
            &["web", "batch"],
        ),
        (
            json!({"matchExpressions": [{"key": "team", "operator": "DoesNotExist"}]}),
            &["bare", "ghost"],
        ),
        (
            json!({"matchExpressions": [{"key": NAME_LABEL, "operator": "Exists"}]}),
            &all,
        ),
        (
            json!({"matchExpressions": [{"key": NAME_LABEL, "operator": "NotIn",
                                         "values": ["web"]}],
                   "matchLabels": {"team": "b"}}),
            &["batch"],
        ),
    ];
    let known = known();
    for (json, want) in table {
        let reqs = parse(&selector(json.clone())).expect("a valid selector");
        let got: Vec<&str> = all
            .iter()
            .copied()
            .filter(|ns| admits(&reqs, ns, &known))
            .collect();
        assert_eq!(got, want, "{json}");
    }
}

#[test]
fn invalid_selectors_are_named() {
    use serde_json::json;
    for (json, why) in [
        (
            json!({"matchLabels": {"a b": "x"}}),
            "matchLabels: \"a b\" is not a label key",
        ),
        (
            json!({"matchLabels": {"team": "-x"}}),
            "is not a label value",
        ),
        (
            json!({"matchLabels": {"UPPER.example/x": "y"}}),
            "is not a label key",
        ),
        (
            json!({"matchExpressions": [{"key": "team", "operator": "Has", "values": ["a"]}]}),
            "matchExpressions[0]: operator \"Has\" is not one of",
        ),
        (
            json!({"matchExpressions": [{"key": "team", "operator": "In"}]}),
            "operator In needs values",
        ),
        (
            json!({"matchExpressions": [{"key": "team", "operator": "Exists", "values": ["a"]}]}),
            "operator Exists takes no values",
        ),
        (
            json!({"matchExpressions": [{"key": "team", "operator": "In", "values": ["a;b"]}]}),
            "is not a label value",
        ),
    ] {
        let err = parse(&selector(json.clone()))
            .expect_err("invalid")
            .to_string();
        assert!(err.contains(why), "{json}: {err}");
    }
}
