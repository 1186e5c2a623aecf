//! The TCP services' ConfigMap in the hostile corpus: every hostile token in the port key
//! and in each field of the value (namespace, Service, port, both PROXY fields), each a
//! named problem on the ConfigMap and its entry.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;

use super::{Case, Expect, TOKENS, meta};
use haproxy_agent::problem::ProblemKind;
use haproxy_agent::store::{Object, ObjectKey};

/// The ConfigMap `--tcp-services-configmap` names in the corpus (set for a case that has
/// it).
pub(super) fn key() -> ObjectKey {
    ObjectKey::new("shop", "tcp-services")
}

fn object(data: BTreeMap<String, String>) -> Object {
    let k = key();
    Object::ConfigMap(ConfigMap {
        metadata: meta(&k.namespace, &k.name),
        data: Some(data),
        ..Default::default()
    })
}

/// The ConfigMap `--udp-services-configmap` names in the corpus.
pub(super) fn udp_key() -> ObjectKey {
    ObjectKey::new("shop", "udp-services")
}

/// Every token in a UDP entry's key and value: each entry is named (HAProxy 2.6 has no UDP),
/// and nothing of it is rendered.
fn udp_cases() -> Vec<Case> {
    let k = udp_key();
    TOKENS
        .iter()
        .map(|t| {
            let (entry, value) = (
                format!("53{}", t.text),
                format!("kube-system/dns:5{}3", t.text),
            );
            Case {
                name: format!("udp-services entry × {}", t.label),
                objects: vec![Object::ConfigMap(ConfigMap {
                    metadata: meta(&k.namespace, &k.name),
                    data: Some(BTreeMap::from([(entry.clone(), value.clone())])),
                    ..Default::default()
                })],
                values: vec![entry.clone(), value, t.text.to_string()],
                default_backend_service: None,
                expect: Expect::Problem {
                    kind: ProblemKind::ConfigMap,
                    object: k.to_string(),
                    field: Some(format!("data[{entry}]")),
                },
            }
        })
        .collect()
}

/// Every token in the key and in each field of the value (TCP), and in a UDP entry.
pub(super) fn cases() -> Vec<Case> {
    type Wrap = fn(&str) -> (String, String);
    let fields: [(&str, Wrap); 6] = [
        ("port key", |t| (format!("54{t}32"), "shop/hsvc:80".into())),
        ("namespace", |t| ("5432".into(), format!("sh{t}op/hsvc:80"))),
        ("service", |t| ("5432".into(), format!("shop/hs{t}vc:80"))),
        ("service port", |t| {
            ("5432".into(), format!("shop/hsvc:8{t}0"))
        }),
        ("decode field", |t| {
            ("5432".into(), format!("shop/hsvc:80:PRO{t}XY"))
        }),
        ("encode field", |t| {
            ("5432".into(), format!("shop/hsvc:80::PRO{t}XY"))
        }),
    ];
    let mut out = Vec::new();
    for (what, wrap) in fields {
        for t in TOKENS {
            let (entry, value) = wrap(t.text);
            out.push(Case {
                name: format!("tcp-services {what} × {}", t.label),
                objects: vec![object(BTreeMap::from([(entry.clone(), value.clone())]))],
                values: vec![entry.clone(), value, t.text.to_string()],
                default_backend_service: None,
                expect: Expect::Problem {
                    kind: ProblemKind::ConfigMap,
                    object: key().to_string(),
                    field: Some(format!("data[{entry}]")),
                },
            });
        }
    }
    out.extend(udp_cases());
    out
}
