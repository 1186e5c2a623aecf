//! The Gateway API kinds in the store: their manifest form, and the store's tests for them.

use kube::Resource;
use serde::Serialize;
use serde_json::Value;

/// The object as JSON with its `apiVersion` and `kind`, which the Gateway API types (ours,
/// not k8s-openapi's) do not serialize themselves: what a manifest or an API write carries.
pub fn with_type_meta<K>(object: &K) -> Value
where
    K: Resource<DynamicType = ()> + Serialize,
{
    let mut value = serde_json::to_value(object).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        map.insert("apiVersion".into(), K::api_version(&()).into());
        map.insert("kind".into(), K::kind(&()).into());
    }
    value
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;
    use crate::gateway_api::{Gateway, GatewayClass, HttpRoute, ReferenceGrant};
    use crate::store::{Changes, Kind, Object, ObjectKey, Shared, Store};

    fn meta(ns: Option<&str>, name: &str) -> ObjectMeta {
        ObjectMeta {
            namespace: ns.map(str::to_string),
            name: Some(name.into()),
            labels: Some([("app".to_string(), "x".to_string())].into()),
            managed_fields: Some(vec![Default::default()]),
            ..Default::default()
        }
    }

    #[test]
    fn gateway_kinds_are_stored_stripped_and_logged() {
        let store = Store::new();
        let g0 = store.snapshot().generation;
        store.apply(
            [
                Object::GatewayClass(GatewayClass {
                    metadata: meta(Some("ignored"), "ours"),
                    ..Default::default()
                }),
                Object::Gateway(Gateway {
                    metadata: meta(Some("a"), "gw"),
                    ..Default::default()
                }),
                Object::HttpRoute(HttpRoute {
                    metadata: meta(None, "r"),
                    ..Default::default()
                }),
                Object::ReferenceGrant(ReferenceGrant {
                    metadata: meta(Some("b"), "g"),
                    ..Default::default()
                }),
            ],
            [],
        );
        let snap = store.snapshot();
        let class = &snap.gateway_classes[&ObjectKey::new("", "ours")];
        assert!(class.metadata.labels.is_none() && class.metadata.managed_fields.is_none());
        assert!(snap.gateways.contains_key(&ObjectKey::new("a", "gw")));
        assert!(
            snap.http_routes
                .contains_key(&ObjectKey::new("default", "r"))
        );
        assert!(
            snap.reference_grants
                .contains_key(&ObjectKey::new("b", "g"))
        );
        assert_eq!(snap.len(), 4);
        let Changes::Some(changed) = snap.changes_since(g0) else {
            panic!("the log reaches back")
        };
        let kinds: Vec<Kind> = changed.iter().map(|(k, _)| *k).collect();
        assert_eq!(kinds, Kind::GATEWAY_API);
        // A relist of one kind leaves the others.
        store.replace_kind(Kind::HttpRoute, []);
        let snap = store.snapshot();
        assert!(snap.http_routes.is_empty() && snap.gateways.len() == 1);
        store.delete(Kind::Gateway, &ObjectKey::new("a", "gw"));
        assert!(store.snapshot().gateways.is_empty());
        // Clearing kinds the cluster stopped serving; nothing to clear publishes nothing.
        assert!(store.clear_kinds(&Kind::GATEWAY_API));
        let snap = store.snapshot();
        assert!(snap.gateway_classes.is_empty() && snap.reference_grants.is_empty());
        assert!(!store.clear_kinds(&Kind::GATEWAY_API));
        assert_eq!(store.snapshot().generation, snap.generation);
        let shared = Shared::from(Object::GatewayClass(GatewayClass {
            metadata: meta(None, "c"),
            ..Default::default()
        }));
        assert!(shared.is(Kind::GatewayClass, &ObjectKey::new("", "c")));
        assert_eq!(Kind::from_name("HTTPRoute"), Some(Kind::HttpRoute));
    }

    #[test]
    fn the_manifest_form_names_its_type() {
        let v = with_type_meta(&ReferenceGrant::default());
        assert_eq!(v["apiVersion"], "gateway.networking.k8s.io/v1beta1");
        assert_eq!(v["kind"], "ReferenceGrant");
        assert_eq!(with_type_meta(&HttpRoute::default())["kind"], "HTTPRoute");
    }
}
