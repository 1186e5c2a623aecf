//! Gateway API object types (gateway.networking.k8s.io): the typed subset the agent reads.
//!
//! Our own types rather than the `gateway-api` crate: its 0.22 release builds on
//! k8s-openapi 0.28 (the workspace is on 0.29) and pulls schemars in. Fields the agent does
//! not implement are kept as raw JSON (`serde_json::Value`) where a user may set them, so
//! translation can name them as unsupported instead of dropping them silently.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

/// The API group.
pub const GROUP: &str = "gateway.networking.k8s.io";

/// Conditions, as every Gateway API status carries them.
pub type Conditions = Vec<Condition>;

/// Implements `kube::Resource` for one of the object types; each child module invokes it
/// beside its type.
macro_rules! resource {
    ($ty:ident, $kind:literal, $version:literal, $plural:literal, $scope:ty) => {
        impl kube::core::Resource for $ty {
            type DynamicType = ();
            type Scope = $scope;

            fn kind(_: &()) -> std::borrow::Cow<'_, str> {
                std::borrow::Cow::Borrowed($kind)
            }
            fn group(_: &()) -> std::borrow::Cow<'_, str> {
                std::borrow::Cow::Borrowed($crate::gateway_api::GROUP)
            }
            fn version(_: &()) -> std::borrow::Cow<'_, str> {
                std::borrow::Cow::Borrowed($version)
            }
            fn plural(_: &()) -> std::borrow::Cow<'_, str> {
                std::borrow::Cow::Borrowed($plural)
            }
            fn meta(&self) -> &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                &self.metadata
            }
            fn meta_mut(
                &mut self,
            ) -> &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                &mut self.metadata
            }
        }
    };
}

mod gateway;
mod http_route;
mod reference_grant;

pub use gateway::*;
pub use http_route::*;
pub use reference_grant::*;

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Resource;

    #[test]
    fn an_httproute_of_the_conformance_suite_parses() {
        let yaml = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: gateway-conformance-infra}
spec:
  parentRefs: [{name: same-namespace, sectionName: http}]
  hostnames: ["*.example.com"]
  rules:
  - matches:
    - path: {type: PathPrefix, value: /v2}
      headers: [{name: version, value: two}]
      queryParams: [{type: RegularExpression, name: q, value: "^a.*"}]
      method: GET
    filters:
    - type: URLRewrite
      urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /one}}
    - type: RequestMirror
      requestMirror: {backendRef: {name: m, port: 8080}}
    backendRefs: [{name: infra-backend-v1, port: 8080, weight: 70}]
"#;
        let r: HttpRoute = serde_yaml_ng::from_str(yaml).expect("parses");
        assert_eq!(r.spec.parent_refs[0].section_name.as_deref(), Some("http"));
        let rule = &r.spec.rules[0];
        assert_eq!(
            rule.matches[0].query_params[0].type_.as_deref(),
            Some("RegularExpression")
        );
        let rw = rule.filters[0].url_rewrite.as_ref().unwrap();
        assert_eq!(
            rw.path.as_ref().unwrap().replace_prefix_match.as_deref(),
            Some("/one")
        );
        assert!(rule.filters[1].request_mirror.is_some());
        assert_eq!(rule.backend_refs[0].weight, Some(70));
        assert_eq!(HttpRoute::plural(&()), "httproutes");
        assert_eq!(
            ReferenceGrant::api_version(&()),
            "gateway.networking.k8s.io/v1beta1"
        );
    }
}
