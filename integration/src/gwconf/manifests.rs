//! The manifests one conformance test runs with: our GatewayClass, the upstream base and
//! test manifests (class name templated), the Services' EndpointSlices pointing at loopback
//! echoes, and the TLS Secrets the suite creates at set-up.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;
use serde::Deserialize;
use serde_yaml_ng::Value;

use super::cases::{TestCase, qualified};
use super::echo::Placement;
use crate::tls::TestCert;

/// The GatewayClass the templated manifests name.
pub const CLASS_NAME: &str = "haproxy-agent";
/// The agent's default `--gateway-controller-name`.
pub const CONTROLLER_NAME: &str = "haproxy-agent.io/gateway-controller";

/// A Service the manifests declare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceDecl {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `spec.selector.app`, which names the Deployment whose pods serve it.
    pub app: Option<String>,
    /// Port names (`None`: unnamed).
    pub ports: Vec<Option<String>>,
}

impl ServiceDecl {
    /// `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Where its echo says it runs: pods are named after the Deployment the selector
    /// picks (or the Service, without one).
    pub fn placement(&self) -> Placement {
        let app = self.app.clone().unwrap_or_else(|| self.name.clone());
        Placement {
            namespace: self.namespace.clone(),
            pod: format!("{app}-7c9d5b6f4-conf"),
            service: self.name.clone(),
        }
    }
}

/// Replaces the suite's placeholders.
pub fn template(text: &str) -> String {
    text.replace("{GATEWAY_CLASS_NAME}", CLASS_NAME)
        .replace("{GATEWAY_CONTROLLER_NAME}", CONTROLLER_NAME)
}

/// Our GatewayClass.
pub fn gateway_class() -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata:\n  name: {CLASS_NAME}\n\
         spec:\n  controllerName: {CONTROLLER_NAME}\n"
    )
}

/// The upstream base manifests and the test's, templated: (file name, text).
pub fn upstream(dir: &Path, case: &TestCase) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let base = dir.join("upstream/base/manifests.yaml");
    let text =
        std::fs::read_to_string(&base).with_context(|| format!("read {}", base.display()))?;
    out.push(("10-base.yaml".to_string(), template(&text)));
    for (i, m) in case.manifests.iter().enumerate() {
        let path = dir.join("upstream/tests").join(m);
        let text = std::fs::read_to_string(&path)?;
        out.push((format!("20-test-{i}-{m}"), template(&text)));
    }
    Ok(out)
}

#[derive(Deserialize)]
struct Doc {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    metadata: Meta,
    #[serde(default)]
    spec: Value,
}

#[derive(Deserialize, Default)]
struct Meta {
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: Option<String>,
}

/// The Services declared in `texts` (YAML streams).
pub fn services(texts: &[&str]) -> anyhow::Result<Vec<ServiceDecl>> {
    let mut out = Vec::new();
    for text in texts {
        for doc in serde_yaml_ng::Deserializer::from_str(text) {
            let value = Value::deserialize(doc)?;
            if value.is_null() {
                continue;
            }
            let doc: Doc = serde_yaml_ng::from_value(value)?;
            if doc.kind != "Service" {
                continue;
            }
            let ports = doc.spec["ports"]
                .as_sequence()
                .map(|ps| {
                    ps.iter()
                        .map(|p| p["name"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            out.push(ServiceDecl {
                namespace: doc
                    .metadata
                    .namespace
                    .unwrap_or_else(|| "default".to_string()),
                name: doc.metadata.name,
                app: doc.spec["selector"]["app"].as_str().map(str::to_string),
                ports,
            });
        }
    }
    Ok(out)
}

/// Which Service's echo serves each Service: its own, or the one `endpoints_from` names.
pub fn echo_of(case: &TestCase, services: &[ServiceDecl]) -> BTreeMap<String, String> {
    services
        .iter()
        .map(|s| {
            let from = case
                .endpoints_from
                .iter()
                .find(|(k, _)| {
                    let (ns, n) = qualified(k);
                    ns == s.namespace && n == s.name
                })
                .map(|(_, v)| {
                    let (ns, n) = qualified(v);
                    format!("{ns}/{n}")
                });
            (s.key(), from.unwrap_or_else(|| s.key()))
        })
        .collect()
}

/// One EndpointSlice for `svc`, every port of it on `port` of `127.0.0.1`. Named
/// `<service>-conformance`, so it never replaces a slice the test's manifests declare
/// (those keep their upstream addresses and are left as they are).
pub fn endpoint_slice(svc: &ServiceDecl, port: u16) -> String {
    let mut out = format!(
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: {name}-conformance\n  \
         namespace: {ns}\n  labels:\n    kubernetes.io/service-name: {name}\naddressType: IPv4\nports:\n",
        name = svc.name,
        ns = svc.namespace
    );
    for p in &svc.ports {
        match p {
            Some(n) => out.push_str(&format!(
                "  - name: {n}\n    port: {port}\n    protocol: TCP\n"
            )),
            None => out.push_str(&format!("  - port: {port}\n    protocol: TCP\n")),
        }
    }
    out.push_str(
        "endpoints:\n  - addresses: [\"127.0.0.1\"]\n    conditions: {ready: true, serving: true, terminating: false}\n",
    );
    out
}

/// `text` (a YAML stream) without the documents of kind `kind` named `name` (`ns/name`
/// or name); documents are separated by `---` lines.
pub fn without(text: &str, kind: &str, name: &str) -> anyhow::Result<String> {
    let (ns, name) = qualified(name);
    let mut kept = Vec::new();
    for doc in split_documents(text) {
        let parsed: Option<Doc> = serde_yaml_ng::from_str(&doc).ok().flatten();
        let matches = parsed.is_some_and(|d| {
            d.kind == kind
                && d.metadata.name == name
                && d.metadata.namespace.as_deref().unwrap_or("default") == ns
        });
        if !matches {
            kept.push(doc);
        }
    }
    Ok(kept.join("---\n"))
}

fn split_documents(text: &str) -> Vec<String> {
    let mut docs = vec![String::new()];
    for line in text.lines() {
        if line.trim_end() == "---" {
            docs.push(String::new());
        } else if let Some(last) = docs.last_mut() {
            last.push_str(line);
            last.push('\n');
        }
    }
    docs
}

/// A TLS Secret.
fn tls_secret(namespace: &str, name: &str, cert: &TestCert) -> String {
    let encode = |b: &[u8]| openssl::base64::encode_block(b);
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {namespace}\n\
         type: kubernetes.io/tls\ndata:\n  tls.crt: {}\n  tls.key: {}\n",
        encode(cert.cert_pem().as_bytes()),
        encode(cert.key_pem().as_bytes())
    )
}

/// The Secrets the suite creates before the tests (the HTTP profile's): a self-signed
/// `tls-validity-checks-certificate` in the infra namespace for `*`, `*.org` and
/// `*.wildcard.org`, and `certificate` in the web-backend namespace for `*`.
pub fn suite_secrets() -> String {
    let validity = TestCert::self_signed("gateway-conformance", &["*", "*.org", "*.wildcard.org"]);
    let web = TestCert::self_signed("gateway-conformance", &["*"]);
    [
        tls_secret(
            super::cases::INFRA_NS,
            "tls-validity-checks-certificate",
            &validity,
        ),
        tls_secret("gateway-conformance-web-backend", "certificate", &web),
    ]
    .join("---\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  namespace: n\n\
        spec:\n  selector: {app: deploy-a}\n  ports:\n  - {name: http, port: 80}\n  - {port: 81}\n\
        ---\napiVersion: v1\nkind: ReferenceGrant\nmetadata:\n  name: g\n  namespace: n\n";

    #[test]
    fn services_are_read_with_their_port_names_and_selector() {
        let s = services(&[TWO]).unwrap();
        assert_eq!(
            s,
            vec![ServiceDecl {
                namespace: "n".into(),
                name: "a".into(),
                app: Some("deploy-a".into()),
                ports: vec![Some("http".into()), None],
            }]
        );
        assert!(s[0].placement().pod.starts_with("deploy-a-"));
        let slice = endpoint_slice(&s[0], 4000);
        assert!(
            slice.contains("  - name: http\n    port: 4000\n"),
            "{slice}"
        );
        assert!(slice.contains("  - port: 4000\n"), "{slice}");
        assert!(slice.contains("kubernetes.io/service-name: a"), "{slice}");
    }

    #[test]
    fn without_drops_only_the_named_object() {
        let out = without(TWO, "ReferenceGrant", "n/g").unwrap();
        assert!(!out.contains("ReferenceGrant"));
        assert!(out.contains("kind: Service"));
        assert_eq!(
            without(TWO, "ReferenceGrant", "other/g")
                .unwrap()
                .matches("kind:")
                .count(),
            2
        );
    }
}
