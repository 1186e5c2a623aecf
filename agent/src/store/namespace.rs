//! The store's form of a Namespace: its name and labels, all that Gateway listeners'
//! `allowedRoutes.namespaces.selector` reads; a status or annotation change is no change.

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// Keeps of `ns` its name and labels.
pub(super) fn strip(ns: &mut Namespace) {
    let meta = std::mem::take(&mut ns.metadata);
    ns.metadata = ObjectMeta {
        name: meta.name,
        labels: meta.labels,
        ..Default::default()
    };
    ns.spec = None;
    ns.status = None;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Changes, Kind, Object, ObjectKey, Store};

    fn namespace(name: &str, team: &str, rv: &str) -> Object {
        Object::Namespace(
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": name, "labels": {"team": team}, "resourceVersion": rv,
                             "annotations": {"haproxy-agent.io/x": "y"}, "uid": "u"},
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            }))
            .unwrap(),
        )
    }

    #[test]
    fn namespaces_keep_name_and_labels_and_only_label_changes_count() {
        let store = Store::new();
        store.upsert(namespace("web", "a", "1"));
        let snap = store.snapshot();
        let ns = &snap.namespaces[&ObjectKey::new("", "web")];
        let want = ObjectMeta {
            name: Some("web".into()),
            labels: Some([("team".to_string(), "a".to_string())].into()),
            ..Default::default()
        };
        assert_eq!((&ns.metadata, &ns.spec, &ns.status), (&want, &None, &None));
        // A new resourceVersion (a status write) with the same labels changes nothing.
        let g = snap.generation;
        store.upsert(namespace("web", "a", "2"));
        assert_eq!(store.snapshot().changes_since(g), Changes::Some([].into()));
        store.upsert(namespace("web", "b", "3"));
        assert_eq!(
            store.snapshot().changes_since(g),
            Changes::Some([(Kind::Namespace, ObjectKey::new("", "web"))].into())
        );
        assert_eq!(Kind::from_name("Namespace"), Some(Kind::Namespace));
        store.delete(Kind::Namespace, &ObjectKey::new("", "web"));
        assert!(store.snapshot().namespaces.is_empty());
    }
}
