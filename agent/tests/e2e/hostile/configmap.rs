//! The global ConfigMap's keys in the hostile corpus: every hostile token in every key the
//! agent takes (and in a key's name), each a named problem on the ConfigMap and its key,
//! or accepted for a named reason.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;

use super::{Case, Expect, TOKENS, Token, meta};
use haproxy_agent::problem::ProblemKind;
use haproxy_agent::store::{Object, ObjectKey};

/// The ConfigMap `--configmap` names in the corpus.
pub(super) fn key() -> ObjectKey {
    ObjectKey::new("shop", "haproxy-config")
}

/// That ConfigMap, empty, as a manifest.
pub(super) const EMPTY_YAML: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: haproxy-config, namespace: shop}\n";

/// That ConfigMap with `data`.
pub(super) fn object(data: BTreeMap<String, String>) -> Object {
    let k = key();
    Object::ConfigMap(ConfigMap {
        metadata: meta(&k.namespace, &k.name),
        data: Some(data),
        ..Default::default()
    })
}

/// Only whitespace: `ssl-protocols` is a whitespace-separated list.
fn whitespace(t: &Token) -> Option<&'static str> {
    (!t.text.is_empty() && t.text.chars().all(char::is_whitespace)).then_some(
        "whitespace separates ssl-protocols' versions; only the version keywords reach \
         haproxy.cfg",
    )
}

fn refused(_: &Token) -> Option<&'static str> {
    None
}

/// The keys taken, each with the value around a token.
type Key = (
    &'static str,
    fn(&str) -> String,
    fn(&Token) -> Option<&'static str>,
);

const KEYS: [Key; 23] = [
    ("proxy-connect-timeout", |t| format!("6{t}0"), refused),
    ("proxy-read-timeout", |t| format!("6{t}0"), refused),
    ("proxy-send-timeout", |t| format!("6{t}0s"), refused),
    ("client-header-timeout", |t| format!("1{t}0"), refused),
    ("client-body-timeout", |t| format!("1{t}0"), refused),
    ("keep-alive", |t| format!("7{t}5"), refused),
    ("hsts", |t| format!("tr{t}ue"), refused),
    ("use-forwarded-headers", |t| format!("tr{t}ue"), refused),
    ("forwarded-for-header", |t| format!("X-{t}-IP"), refused),
    (
        "ssl-protocols",
        |t| format!("TLSv1.2{t}TLSv1.3"),
        whitespace,
    ),
    ("ssl-ciphers", |t| format!("HIGH:{t}:!aNULL"), refused),
    ("max-worker-connections", |t| format!("16{t}384"), refused),
    ("enable-access-log", |t| format!("fa{t}lse"), refused),
    ("disable-access-log", |t| format!("tr{t}ue"), refused),
    ("use-proxy-protocol", |t| format!("tr{t}ue"), refused),
    ("proxy-body-size", |t| format!("1{t}m"), refused),
    ("ssl-redirect", |t| format!("fa{t}lse"), refused),
    ("force-ssl-redirect", |t| format!("tr{t}ue"), refused),
    ("load-balance", |t| format!("round{t}robin"), refused),
    (
        "whitelist-source-range",
        |t| format!("10.0.{t}0.0/8"),
        refused,
    ),
    (
        "log-format-upstream",
        |t| format!("$remote_addr{t}"),
        refused,
    ),
    ("server-snippet", |t| format!("return 200{t};"), refused),
    ("limit-rps", |t| format!("1{t}0"), refused),
];

fn case(name: String, data: BTreeMap<String, String>, values: Vec<String>, expect: Expect) -> Case {
    Case {
        name,
        objects: vec![object(data)],
        values,
        default_backend_service: None,
        expect,
    }
}

fn problem(field: String) -> Expect {
    Expect::Problem {
        kind: ProblemKind::ConfigMap,
        object: key().to_string(),
        field: Some(field),
    }
}

/// Every token in every key's value, and in a key's name.
pub(super) fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for (name, wrap, accepts) in KEYS {
        for t in TOKENS {
            let value = wrap(t.text);
            let data = BTreeMap::from([(name.to_string(), value.clone())]);
            let label = format!("configmap data[{name}] × {}", t.label);
            out.push(match accepts(t) {
                Some(why) => case(label, data, Vec::new(), Expect::Accepted(why)),
                None => case(
                    label,
                    data,
                    vec![value, t.text.to_string()],
                    problem(format!("data[{name}]")),
                ),
            });
        }
    }
    for t in TOKENS {
        let name = format!("ho{}stile", t.text);
        let data = BTreeMap::from([(name.clone(), "1".to_string())]);
        out.push(case(
            format!("configmap key name × {}", t.label),
            data,
            vec![name.clone(), t.text.to_string()],
            problem(format!("data[{name}]")),
        ));
    }
    // With hsts off, its other keys are named (and none reaches HAProxy).
    for name in ["hsts-max-age", "hsts-include-subdomains", "hsts-preload"] {
        for t in TOKENS {
            let value = format!("6{}0", t.text);
            out.push(case(
                format!("configmap data[{name}] × {}", t.label),
                BTreeMap::from([(name.to_string(), value.clone())]),
                vec![value, t.text.to_string()],
                problem(format!("data[{name}]")),
            ));
        }
    }
    out
}
