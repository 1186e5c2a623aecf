//! Strategic merge patch, as far as `kubectl apply` and `kubectl patch` use it on the kinds
//! served: a merge patch whose lists are merged by key where Kubernetes declares a
//! `patchMergeKey` (Service `spec.ports` by `port`, `metadata.ownerReferences` by `uid`) and
//! replaced elsewhere (EndpointSlice `endpoints` and `ports`, Ingress `rules` and `tls` are
//! atomic lists), with the directives kubectl sends: `$patch` (`replace`, `delete`),
//! `$setElementOrder/…` and `$retainKeys` (accepted, order and retention not enforced) and
//! `$deleteFromPrimitiveList/…`.

use serde_json::{Map, Value};

use crate::kube_api::resources::Kind;

/// The lists merged by key: (kind, or `*` for every kind; dotted path; merge key).
const MERGE_KEYS: [(&str, &str, &str); 2] = [
    ("Service", "spec.ports", "port"),
    ("*", "metadata.ownerReferences", "uid"),
];

/// Applies a strategic merge `patch` to an object of `kind`.
pub(crate) fn merge(target: &mut Value, patch: &Value, kind: &Kind) {
    merge_at(target, patch, kind.kind, "");
}

fn merge_key(kind: &str, path: &str) -> Option<&'static str> {
    MERGE_KEYS
        .iter()
        .find(|(k, p, _)| (*k == kind || *k == "*") && *p == path)
        .map(|(_, _, key)| *key)
}

fn merge_at(target: &mut Value, patch: &Value, kind: &str, path: &str) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if patch.get("$patch").and_then(Value::as_str) == Some("replace") {
        *target = without_directives(patch);
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let map = target.as_object_mut().expect("made an object above");
    for (key, value) in patch {
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Some(gone)) = (map.get_mut(field), value.as_array()) {
                list.retain(|v| !gone.contains(v));
            }
            continue;
        }
        if key.starts_with('$') {
            continue;
        }
        let child = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        match (value, merge_key(kind, &child)) {
            (Value::Null, _) => {
                map.remove(key);
            }
            (Value::Array(items), Some(merge_key)) => {
                let entry = map.entry(key.clone()).or_insert(Value::Array(Vec::new()));
                if !entry.is_array() {
                    *entry = Value::Array(Vec::new());
                }
                let list = entry.as_array_mut().expect("made a list above");
                merge_list(list, items, merge_key, kind, &child);
            }
            (Value::Object(_), _) => {
                merge_at(
                    map.entry(key.clone()).or_insert(Value::Null),
                    value,
                    kind,
                    &child,
                );
            }
            _ => {
                map.insert(key.clone(), value.clone());
            }
        }
    }
}

/// Merges `items` into `list` element by element, matched on `key`.
fn merge_list(list: &mut Vec<Value>, items: &[Value], key: &str, kind: &str, path: &str) {
    let directive = |item: &Value| {
        item.get("$patch")
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    if items
        .iter()
        .any(|i| directive(i).as_deref() == Some("replace"))
    {
        *list = items
            .iter()
            .filter(|i| directive(i).is_none())
            .map(without_directives_value)
            .collect();
        return;
    }
    for item in items {
        let id = &item[key];
        let found = list.iter().position(|e| &e[key] == id);
        match (directive(item).as_deref(), found) {
            (Some("delete"), Some(i)) => {
                list.remove(i);
            }
            (Some("delete"), None) => {}
            (_, Some(i)) => merge_at(&mut list[i], item, kind, path),
            (_, None) => list.push(without_directives_value(item)),
        }
    }
}

fn without_directives(map: &Map<String, Value>) -> Value {
    Value::Object(
        map.iter()
            .filter(|(k, _)| !k.starts_with('$'))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}

fn without_directives_value(v: &Value) -> Value {
    match v {
        Value::Object(map) => without_directives(map),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn ports_merge_by_port_endpoints_are_replaced_and_directives_apply() {
        let svc = Kind::by_name("Service").unwrap();
        let mut obj = json!({"metadata": {"finalizers": ["a", "b"]},
            "spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}});
        merge(
            &mut obj,
            &json!({
            "$setElementOrder/ports": [{"port": 80}, {"port": 443}, {"port": 9000}],
            "metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]},
            "spec": {"ports": [{"port": 80, "targetPort": 9090}, {"port": 443, "$patch": "delete"},
                               {"port": 9000}]}}),
            svc,
        );
        assert_eq!(
            obj,
            json!({"metadata": {"finalizers": ["b"]},
            "spec": {"ports": [{"port": 80, "targetPort": 9090}, {"port": 9000}]}})
        );

        let slice = Kind::by_name("EndpointSlice").unwrap();
        let mut obj = json!({"endpoints": [{"addresses": ["127.0.0.1"]}], "ports": [{"port": 1}]});
        merge(
            &mut obj,
            &json!({"endpoints": [{"addresses": ["127.0.0.1"]},
                                              {"addresses": ["127.0.0.2"]}]}),
            slice,
        );
        assert_eq!(obj["endpoints"].as_array().unwrap().len(), 2);
        assert_eq!(obj["ports"], json!([{"port": 1}]));
        merge(
            &mut obj,
            &json!({"ports": {"$patch": "replace"}, "addressType": null}),
            slice,
        );
        assert_eq!(obj["ports"], json!({}));
    }
}
