//! Tests of manifest parsing.

use super::*;

const ALL_KINDS: &str = "\
# six kinds and an empty document
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  namespace: shop
spec:
  ingressClassName: haproxy
  rules:
  - host: shop.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: web
            port:
              number: 80
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: haproxy
spec:
  controller: haproxy-agent.io/ingress
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  ports:
  - name: http
    port: 80
    targetPort: 8080
---
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  a: b
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-abc
  namespace: shop
addressType: IPv4
endpoints:
- addresses: [10.0.0.1]
ports:
- name: http
  port: 8080
---
apiVersion: v1
kind: Secret
metadata:
  name: tls
  namespace: shop
type: kubernetes.io/tls
stringData:
  tls.crt: CERT
";

const LIST: &str = "\
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata:
    name: a
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: ignored
- apiVersion: v1
  kind: Service
  metadata:
    name: b
    namespace: other
";

const SYNTAX_IN_THIRD: &str = "\
apiVersion: v1
kind: Service
metadata: {name: a}
---
apiVersion: v1
kind: Service
metadata: {name: b}
---
apiVersion: v1
kind: Service
metadata:
  name: c: d
";

const WRONG_TYPE: &str = "\
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  ports:
  - name: http
    port: \"abc\"
";

const OLD_INGRESS: &str = "\
apiVersion: v1
kind: Service
metadata: {name: fine}
---
apiVersion: extensions/v1beta1
kind: Ingress
metadata:
  name: old
spec:
  backend:
    serviceName: web
    servicePort: 80
";

/// Beyond the four kinds: a ReferenceGrant of v1, and a kind not followed.
const MORE_GATEWAY_KINDS: &str = "\
---
apiVersion: gateway.networking.k8s.io/v1
kind: ReferenceGrant
metadata: {name: g1, namespace: infra}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: not-followed}
";

/// `Ok(kind key, …)` or `Err((problem object suffix, message fragment))`.
type Expect = Result<&'static [&'static str], (&'static str, &'static str)>;

#[test]
fn parses_or_reports_with_file_and_line() {
    let gateway_kinds = format!(
        "{}{MORE_GATEWAY_KINDS}",
        integration::kube_api::GATEWAY_MANIFESTS
    );
    let cases: &[(&str, &str, Expect)] = &[
        (
            "all kinds",
            ALL_KINDS,
            Ok(&[
                "Ingress shop/web",
                "IngressClass haproxy",
                "Service shop/web",
                "ConfigMap default/settings",
                "EndpointSlice shop/web-abc",
                "Secret shop/tls",
            ]),
        ),
        (
            "gateway api kinds",
            &gateway_kinds,
            Ok(&[
                "GatewayClass haproxy",
                "Gateway infra/gw",
                "HTTPRoute default/r",
                "ReferenceGrant infra/g",
                "ReferenceGrant infra/g1",
            ]),
        ),
        (
            "httproute of an older version",
            "apiVersion: gateway.networking.k8s.io/v1beta1\nkind: HTTPRoute\nmetadata: {name: x}\n",
            Err((":1", "write it as gateway.networking.k8s.io/v1")),
        ),
        (
            "gateway listener port of the wrong type",
            "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: x}\nspec:\n  listeners:\n  - {name: a, port: eighty, protocol: HTTP}\n",
            Err((":6", "spec.listeners[0].port: invalid type")),
        ),
        ("empty file", "", Ok(&[])),
        ("only comments", "# nothing\n---\n# here\n", Ok(&[])),
        ("list", LIST, Ok(&["Service default/a", "Service other/b"])),
        (
            "empty list",
            "apiVersion: v1\nkind: List\nitems: []\n",
            Ok(&[]),
        ),
        (
            "knative service is another kind",
            "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: x}\n",
            Ok(&[]),
        ),
        (
            "syntax error in the third document",
            SYNTAX_IN_THIRD,
            Err((":12", "mapping values")),
        ),
        (
            "wrong field type",
            WRONG_TYPE,
            Err((":8", "spec.ports[0].port: invalid type")),
        ),
        (
            "extensions/v1beta1 ingress",
            OLD_INGRESS,
            Err((":5", "docs/migrating.md")),
        ),
        (
            "networking v1beta1 ingress",
            "apiVersion: networking.k8s.io/v1beta1\nkind: Ingress\nmetadata: {name: x}\n",
            Err((":1", "no longer served")),
        ),
        (
            "missing name",
            "apiVersion: v1\nkind: Service\nmetadata:\n  namespace: a\n",
            Err((":1", "without metadata.name")),
        ),
        (
            "missing name in a list item",
            "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n",
            Err((":4", "items[0]: Secret without metadata.name")),
        ),
        (
            "missing kind",
            "apiVersion: v1\nmetadata: {name: x}\n",
            Err((":1", "kind missing")),
        ),
        (
            "not a mapping",
            "- a\n- b\n",
            Err((":1", "invalid type: sequence")),
        ),
        // Found by fuzzing (translate_render): these problems had an empty message.
        (
            "a tagged document",
            "# a comment\n!spec:\n  kind: Ingress\n",
            Err((":2", "a document tagged !spec: is not a Kubernetes object")),
        ),
        (
            "a scalar with an unknown tag",
            "!!x~0",
            Err((":1", "not a Kubernetes object")),
        ),
    ];
    let path = Path::new("/m/objects.yaml");
    for (name, text, expect) in cases {
        let got = parse_manifests(path, text);
        match (expect, got) {
            (Ok(keys), Ok(objects)) => {
                let got: Vec<String> = objects
                    .iter()
                    .map(|o| format!("{} {}", o.kind(), o.key()))
                    .collect();
                assert_eq!(&got, keys, "{name}");
            }
            (Err((at, fragment)), Err(problem)) => {
                assert_eq!(problem.kind, ProblemKind::ManifestFile, "{name}");
                assert_eq!(problem.object, format!("/m/objects.yaml{at}"), "{name}");
                assert!(
                    problem.message.contains(fragment),
                    "{name}: {:?} lacks {fragment:?}",
                    problem.message
                );
                assert!(!problem.message.contains(" at line "), "{name}: {problem}");
            }
            (expect, got) => panic!("{name}: expected {expect:?}, got {got:?}"),
        }
    }
}

#[test]
fn string_data_is_merged_into_data() {
    let objects = parse_manifests(Path::new("s.yaml"), ALL_KINDS).unwrap();
    let Some(Object::Secret(secret)) = objects.last() else {
        panic!("no secret: {objects:?}");
    };
    assert!(secret.string_data.is_none());
    let data = secret.data.as_ref().unwrap();
    assert_eq!(data["tls.crt"], ByteString(b"CERT".to_vec()));
}

#[test]
fn merge_keys_are_applied() {
    let merged = "\
apiVersion: v1
kind: List
items:
- &svc
  apiVersion: v1
  kind: Service
  metadata: {name: a}
  spec:
    ports: [{port: 80}]
- <<: *svc
  metadata: {name: b}
";
    let objects = parse_manifests(Path::new("m.yaml"), merged).unwrap();
    let ports: Vec<(String, i32)> = objects
        .iter()
        .map(|o| match o {
            Object::Service(s) => (
                o.key().to_string(),
                s.spec.as_ref().unwrap().ports.as_ref().unwrap()[0].port,
            ),
            _ => panic!("{o:?}"),
        })
        .collect();
    assert_eq!(ports, [("default/a".into(), 80), ("default/b".into(), 80)]);

    // Errors in a merged document are put on the line it starts on.
    let bad = "\
apiVersion: v1
kind: Secret
metadata: {name: s}
---
# a comment
base: &base {port: x}
apiVersion: v1
kind: Service
metadata: {name: a}
spec:
  ports:
  - <<: *base
";
    let problem = parse_manifests(Path::new("m.yaml"), bad).unwrap_err();
    assert_eq!(problem.object, "m.yaml:6");
    assert!(problem.message.contains("invalid type"), "{problem}");
}
