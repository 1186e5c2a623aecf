//! Objects from the API server that may not decode: one malformed item must not fail a
//! whole list (kube's typed list decodes every item or none) nor be lost silently in a watch.

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::{Deserialize, DeserializeOwned, Deserializer};
use serde_json::Value;

/// An object of kind `K` as the API server sent it: decoded, or named as malformed.
#[derive(Debug, Clone)]
pub enum Tolerant<K> {
    /// It decoded.
    Good(K),
    /// It did not (boxed: rare, and larger than most objects' top level).
    Bad(Box<Malformed>),
}

/// What is known of an object that did not decode.
#[derive(Debug, Clone, PartialEq)]
pub struct Malformed {
    /// Its name, namespace and resourceVersion, read field by field (each absent when not a
    /// string).
    pub meta: ObjectMeta,
    /// The field that did not decode (`spec.rules[0].host`), when serde names one.
    pub field: Option<String>,
    /// Why.
    pub error: String,
}

impl<'de, K: DeserializeOwned> Deserialize<'de> for Tolerant<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Any JSON value decodes: only the step to `K` may fail, and that failure is data.
        let value = Value::deserialize(deserializer)?;
        Ok(decode(&value))
    }
}

/// `value` as a `K`, or what is wrong with it.
pub fn decode<K: DeserializeOwned>(value: &Value) -> Tolerant<K> {
    match serde_path_to_error::deserialize::<_, K>(value) {
        Ok(k) => Tolerant::Good(k),
        Err(e) => {
            let path = e.path().to_string();
            let text = |field: &str| {
                value
                    .get("metadata")
                    .and_then(|m| m.get(field))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            };
            Tolerant::Bad(Box::new(Malformed {
                meta: ObjectMeta {
                    name: text("name"),
                    namespace: text("namespace"),
                    resource_version: text("resourceVersion"),
                    ..ObjectMeta::default()
                },
                field: (path != ".").then_some(path),
                error: e.into_inner().to_string(),
            }))
        }
    }
}

impl<K> kube::Resource for Tolerant<K>
where
    K: kube::Resource<DynamicType = ()>,
{
    type DynamicType = ();
    type Scope = K::Scope;

    fn kind(dt: &()) -> Cow<'_, str> {
        K::kind(dt)
    }
    fn group(dt: &()) -> Cow<'_, str> {
        K::group(dt)
    }
    fn version(dt: &()) -> Cow<'_, str> {
        K::version(dt)
    }
    fn plural(dt: &()) -> Cow<'_, str> {
        K::plural(dt)
    }
    fn meta(&self) -> &ObjectMeta {
        match self {
            Tolerant::Good(k) => k.meta(),
            Tolerant::Bad(m) => &m.meta,
        }
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        match self {
            Tolerant::Good(k) => k.meta_mut(),
            Tolerant::Bad(m) => &mut m.meta,
        }
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::discovery::v1::EndpointSlice;
    use k8s_openapi::api::networking::v1::Ingress;
    use kube::core::{ObjectList, WatchEvent};
    use serde_json::json;

    use super::*;

    fn ingress(name: &str, spec: Value) -> Value {
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
               "metadata": {"name": name, "namespace": "shop", "resourceVersion": "7"},
               "spec": spec})
    }

    #[test]
    fn one_bad_item_leaves_the_rest_of_a_list() {
        // kube decodes a list through `ObjectList` (flattened, so buffered): the same path.
        let list = json!({"apiVersion": "networking.k8s.io/v1", "kind": "IngressList",
            "metadata": {"resourceVersion": "9"},
            "items": [ingress("a", json!({})), ingress("b", json!("not an object")),
                      ingress("c", json!({"rules": [{"host": 7}]}))]});
        let text = serde_json::to_string(&list).unwrap();
        let typed: Result<ObjectList<Ingress>, _> = serde_json::from_str(&text);
        assert!(typed.is_err(), "the typed list fails whole");
        let got: ObjectList<Tolerant<Ingress>> = serde_json::from_str(&text).unwrap();
        assert_eq!(got.items.len(), 3);
        assert!(
            matches!(&got.items[0], Tolerant::Good(i) if i.metadata.name.as_deref() == Some("a"))
        );
        let Tolerant::Bad(b) = &got.items[1] else {
            panic!("b is malformed: {:?}", got.items[1])
        };
        assert_eq!(b.meta.name.as_deref(), Some("b"));
        assert_eq!(b.meta.namespace.as_deref(), Some("shop"));
        assert_eq!(b.meta.resource_version.as_deref(), Some("7"));
        assert_eq!(b.field.as_deref(), Some("spec"));
        assert!(b.error.contains("invalid type"), "{}", b.error);
        let Tolerant::Bad(c) = &got.items[2] else {
            panic!("c is malformed")
        };
        assert_eq!(c.field.as_deref(), Some("spec.rules[0].host"));
    }

    #[test]
    fn a_bad_watch_event_is_an_event() {
        let slice = json!({"type": "MODIFIED", "object": {
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "web-1", "namespace": "shop", "resourceVersion": "12"},
            "addressType": "IPv4", "endpoints": "none"}});
        let text = serde_json::to_string(&slice).unwrap();
        assert!(serde_json::from_str::<WatchEvent<EndpointSlice>>(&text).is_err());
        let got: WatchEvent<Tolerant<EndpointSlice>> = serde_json::from_str(&text).unwrap();
        let WatchEvent::Modified(Tolerant::Bad(b)) = got else {
            panic!("{got:?}")
        };
        assert_eq!(b.field.as_deref(), Some("endpoints"));
        assert_eq!(
            kube::ResourceExt::resource_version(&Tolerant::<EndpointSlice>::Bad(b)),
            Some("12".into())
        );
    }

    #[test]
    fn metadata_that_is_not_an_object_is_named_without_a_name() {
        let got = decode::<Ingress>(&json!({"metadata": "x", "spec": {}}));
        let Tolerant::Bad(b) = got else { panic!() };
        assert_eq!(b.meta.name, None);
        assert_eq!(b.field.as_deref(), Some("metadata"));
    }
}
