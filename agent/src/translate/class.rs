//! Which Ingresses are ours: `spec.ingressClassName`, the legacy
//! `kubernetes.io/ingress.class` annotation, or no class at all when our IngressClass is
//! marked as the cluster default.

use std::sync::Arc;

use imbl::OrdMap;

use k8s_openapi::api::networking::v1::IngressClass;

use crate::store::{ObjectKey, StoredIngress};

/// The controller name our IngressClass objects carry in `spec.controller`.
pub const CONTROLLER_NAME: &str = "haproxy-agent.io/ingress-controller";
/// The legacy class annotation.
pub const LEGACY_CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";
/// The annotation that makes an IngressClass the default.
pub const DEFAULT_CLASS_ANNOTATION: &str = "ingressclass.kubernetes.io/is-default-class";

/// The class `ingress` names: `spec.ingressClassName`, else the legacy annotation.
pub fn class_of(ingress: &StoredIngress) -> Option<&str> {
    ingress
        .spec
        .as_ref()
        .and_then(|s| s.ingress_class_name.as_deref())
        .or_else(|| {
            ingress
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(LEGACY_CLASS_ANNOTATION))
                .map(String::as_str)
        })
}

/// True when `ingress` belongs to the class `ours`.
pub fn is_ours(
    ingress: &StoredIngress,
    classes: &OrdMap<ObjectKey, Arc<IngressClass>>,
    ours: &str,
) -> bool {
    match class_of(ingress) {
        Some(c) => c == ours,
        None => our_class_is_default(classes, ours),
    }
}

fn our_class_is_default(classes: &OrdMap<ObjectKey, Arc<IngressClass>>, ours: &str) -> bool {
    classes.values().any(|c| {
        c.metadata.name.as_deref() == Some(ours)
            && c.spec.as_ref().and_then(|s| s.controller.as_deref()) == Some(CONTROLLER_NAME)
            && c.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(DEFAULT_CLASS_ANNOTATION))
                .is_some_and(|v| v == "true")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::networking::v1::{IngressClassSpec, IngressSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn ingress(class: Option<&str>, legacy: Option<&str>) -> StoredIngress {
        StoredIngress {
            metadata: crate::store::Meta {
                name: Some("i".into()),
                annotations: legacy
                    .map(|l| [(LEGACY_CLASS_ANNOTATION.to_string(), l.to_string())].into()),
                ..Default::default()
            },
            spec: Some(IngressSpec {
                ingress_class_name: class.map(str::to_string),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn class(name: &str, controller: &str, default: bool) -> (ObjectKey, Arc<IngressClass>) {
        let annotations =
            default.then(|| [(DEFAULT_CLASS_ANNOTATION.to_string(), "true".to_string())].into());
        (
            ObjectKey::new("", name),
            Arc::new(IngressClass {
                metadata: ObjectMeta {
                    name: Some(name.into()),
                    annotations,
                    ..Default::default()
                },
                spec: Some(IngressClassSpec {
                    controller: Some(controller.into()),
                    ..Default::default()
                }),
            }),
        )
    }

    #[test]
    fn class_selection_table() {
        let none = OrdMap::new();
        let default_ours = OrdMap::from_iter([class("haproxy", CONTROLLER_NAME, true)]);
        let default_other = OrdMap::from_iter([class("nginx", "k8s.io/ingress-nginx", true)]);
        let not_default = OrdMap::from_iter([class("haproxy", CONTROLLER_NAME, false)]);
        let table: Vec<(StoredIngress, &OrdMap<_, _>, bool)> = vec![
            (ingress(Some("haproxy"), None), &none, true),
            (ingress(Some("nginx"), None), &default_ours, false),
            (ingress(Some("haproxy"), Some("nginx")), &none, true),
            (ingress(None, Some("haproxy")), &none, true),
            (ingress(None, Some("nginx")), &default_ours, false),
            (ingress(None, None), &default_ours, true),
            (ingress(None, None), &default_other, false),
            (ingress(None, None), &not_default, false),
            (ingress(None, None), &none, false),
        ];
        for (i, (ing, classes, want)) in table.into_iter().enumerate() {
            assert_eq!(is_ours(&ing, classes, "haproxy"), want, "case {i}");
        }
    }
}
