//! `--udp-services-configmap` (ingress-nginx's flag): accepted, but HAProxy 2.6 cannot proxy
//! UDP, so the ConfigMap's every entry is a named problem and nothing is served.

use crate::problem::{Problem, ProblemKind, ProblemReason};
use crate::store::Snapshot;

use super::Settings;

/// Why no entry is served.
const WHY: &str = "UDP services are not supported: HAProxy 2.6 proxies TCP only (no UDP \
                   frontend or backend; UDP came with 3.x's QUIC listeners, for HTTP/3 \
                   only); this entry is not served";

/// The problems of `--udp-services-configmap` (none when the flag is absent).
pub fn read(snapshot: &Snapshot, settings: &Settings) -> Vec<Problem> {
    let Some(key) = &settings.udp_services else {
        return Vec::new();
    };
    let problem = |message: String| Problem::new(ProblemKind::ConfigMap, key.to_string(), message);
    let Some(cm) = snapshot.config_maps.get(key) else {
        return vec![problem(
            "--udp-services-configmap: the ConfigMap does not exist (and HAProxy 2.6 could not \
             serve UDP anyway)"
                .into(),
        )];
    };
    cm.data
        .iter()
        .flatten()
        .map(|(name, _)| {
            problem(WHY.to_string())
                .because(ProblemReason::UnsupportedKey)
                .at(format!("data[{name}]"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Object, ObjectKey, Store};

    fn settings() -> Settings {
        let mut s = crate::translate::custom_errors_tests::settings(None);
        s.udp_services = Some(ObjectKey::new("ingress", "udp"));
        s
    }

    #[test]
    fn every_udp_entry_is_named_unsupported() {
        let store = Store::new();
        let cm: k8s_openapi::api::core::v1::ConfigMap = serde_json::from_value(serde_json::json!({
            "metadata": {"namespace": "ingress", "name": "udp"},
            "data": {"53": "kube-system/kube-dns:53", "5353": "x/y:1"}
        }))
        .unwrap();
        store.replace_all([Object::ConfigMap(cm)]);
        let problems = read(&store.snapshot(), &settings());
        let fields: Vec<_> = problems.iter().map(|p| p.field.clone()).collect();
        assert_eq!(fields, [Some("data[53]".into()), Some("data[5353]".into())]);
        assert!(
            problems
                .iter()
                .all(|p| p.message.contains("UDP services are not supported"))
        );
    }

    #[test]
    fn a_missing_udp_configmap_is_named_and_no_flag_is_silent() {
        let store = Store::new();
        let problems = read(&store.snapshot(), &settings());
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].message.contains("does not exist"),
            "{problems:?}"
        );
        let mut off = settings();
        off.udp_services = None;
        assert!(read(&store.snapshot(), &off).is_empty());
    }
}
