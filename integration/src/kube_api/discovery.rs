//! Discovery, built from the kinds table: `/api`, `/apis`, `/api/v1`, `/apis/{group}/{version}`
//! and `/version`, the legacy documents kubectl falls back to. kubectl 1.30+ asks first for
//! the aggregated `APIGroupDiscoveryList` but accepts plain `application/json` in the same
//! `Accept`, so these answers are what a server without aggregated discovery sends.

use serde_json::{Value, json};

use super::resources::{KINDS, Kind};

/// The verbs of every kind (the server has no `deletecollection`).
const VERBS: [&str; 7] = [
    "create", "delete", "get", "list", "patch", "update", "watch",
];

/// The discovery document at `path`, if it is one, of the kinds `served` says are.
pub(crate) fn document(path: &str, served: &dyn Fn(&Kind) -> bool) -> Option<Value> {
    let path = path.strip_suffix('/').unwrap_or(path);
    match path.split('/').skip(1).collect::<Vec<_>>().as_slice() {
        ["version"] => Some(json!({
            "major": "1", "minor": "33", "gitVersion": "v1.33.0-haproxy-agent-test",
            "platform": "linux/amd64",
        })),
        ["api"] => Some(json!({
            "kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}],
        })),
        ["apis"] => {
            Some(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups(served)}))
        }
        ["api", version] => resource_list("", version, served),
        ["apis", group] => groups(served).into_iter().find(|g| g["name"] == *group),
        ["apis", group, version] => resource_list(group, version, served),
        _ => None,
    }
}

/// Every named group with its versions (the first one of the table preferred).
fn groups(served: &dyn Fn(&Kind) -> bool) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for kind in KINDS.iter().filter(|k| !k.group.is_empty() && served(k)) {
        let version = json!({"groupVersion": kind.api_version(), "version": kind.version});
        match out.iter_mut().find(|g| g["name"] == kind.group) {
            Some(group) => {
                let versions = group["versions"].as_array_mut().expect("made an array");
                if !versions.contains(&version) {
                    versions.push(version);
                }
            }
            None => out.push(json!({"name": kind.group, "versions": [version],
                                    "preferredVersion": version})),
        }
    }
    out
}

fn resource_list(group: &str, version: &str, served: &dyn Fn(&Kind) -> bool) -> Option<Value> {
    let kinds: Vec<&Kind> = KINDS
        .iter()
        .filter(|k| k.group == group && k.version == version && served(k))
        .collect();
    let first = kinds.first()?;
    let mut resources = Vec::new();
    for kind in kinds.iter() {
        resources.push(json!({
            "name": kind.plural,
            "singularName": kind.kind.to_ascii_lowercase(),
            "namespaced": kind.namespaced,
            "kind": kind.kind,
            "verbs": VERBS,
            "shortNames": kind.short_names,
        }));
        if kind.status {
            resources.push(json!({
                "name": format!("{}/status", kind.plural),
                "singularName": "",
                "namespaced": kind.namespaced,
                "kind": kind.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
    }
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": first.api_version(),
        "resources": resources,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document_all(path: &str) -> Option<Value> {
        document(path, &|_| true)
    }

    #[test]
    fn gateway_api_group_has_two_versions_unless_unserved() {
        let group = document_all("/apis/gateway.networking.k8s.io").unwrap();
        assert_eq!(group["preferredVersion"]["version"], "v1");
        assert_eq!(group["versions"][1]["version"], "v1beta1");
        let v1 = document_all("/apis/gateway.networking.k8s.io/v1").unwrap();
        let names: Vec<&str> = v1["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "gatewayclasses",
                "gatewayclasses/status",
                "gateways",
                "gateways/status",
                "httproutes",
                "httproutes/status"
            ]
        );
        let unserved = |k: &Kind| k.group != "gateway.networking.k8s.io";
        assert!(document("/apis/gateway.networking.k8s.io/v1", &unserved).is_none());
        let groups = document("/apis", &unserved).unwrap();
        assert!(
            !groups.to_string().contains("gateway.networking.k8s.io"),
            "{groups}"
        );
    }

    #[test]
    fn documents() {
        let groups = document_all("/apis").unwrap();
        let names: Vec<_> = groups["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"networking.k8s.io") && names.contains(&"discovery.k8s.io"));
        let net = document_all("/apis/networking.k8s.io/v1").unwrap();
        let ing = &net["resources"][0];
        assert_eq!(
            (ing["name"].as_str(), ing["shortNames"][0].as_str()),
            (Some("ingresses"), Some("ing"))
        );
        assert_eq!(net["resources"][1]["name"], "ingresses/status");
        let core = document_all("/api/v1").unwrap();
        assert_eq!(core["groupVersion"], "v1");
        assert!(document_all("/apis/networking.k8s.io/v2").is_none());
        assert_eq!(document_all("/api").unwrap()["versions"][0], "v1");
        assert!(document_all("/api/v1/services").is_none());
    }
}
