//! The store's form of a Service: what translation (type, ports) and the status writer
//! (addresses) read, without k8s-openapi's room for the rest (~1 KB inline per Service with
//! one port, where these take ~250 bytes). Field names are k8s-openapi's, so readers read it
//! as they read a `Service`; it converts back to the stripped `Service`.

use k8s_openapi::api::core::v1::{self as core, LoadBalancerStatus};

use super::Meta;

/// A stripped Service.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoredService {
    /// Its metadata, as stripped.
    pub metadata: Meta,
    /// `spec`, what is read of it.
    pub spec: Option<ServiceSpec>,
    /// `status.loadBalancer`, when it lists anything (a `LoadBalancer` Service's published
    /// addresses); boxed, as most Services have none.
    pub load_balancer: Option<Box<LoadBalancerStatus>>,
}

/// What is read of a Service's `spec`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceSpec {
    /// `type`.
    pub type_: Option<String>,
    /// `ports`.
    pub ports: Option<Vec<ServicePort>>,
    /// `clusterIP`.
    pub cluster_ip: Option<String>,
    /// `externalIPs`.
    pub external_ips: Option<Vec<String>>,
    /// `externalName`.
    pub external_name: Option<String>,
}

/// What is read of one of a Service's `ports`: its target port is the EndpointSlices'.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServicePort {
    /// `name`.
    pub name: Option<String>,
    /// `port`.
    pub port: i32,
    /// `appProtocol`.
    pub app_protocol: Option<String>,
}

impl From<core::Service> for StoredService {
    /// Keeps what is read: the spec's type, ports (name, number, application protocol),
    /// cluster IP, external IPs and external name, and the load balancer's status.
    fn from(s: core::Service) -> Self {
        let spec = s.spec.map(|spec| ServiceSpec {
            type_: spec.type_,
            ports: spec.ports.map(|ports| {
                ports
                    .into_iter()
                    .map(|p| ServicePort {
                        name: p.name,
                        port: p.port,
                        app_protocol: p.app_protocol,
                    })
                    .collect()
            }),
            cluster_ip: spec.cluster_ip,
            external_ips: spec.external_ips,
            external_name: spec.external_name,
        });
        let load_balancer = s
            .status
            .and_then(|st| st.load_balancer)
            .filter(|lb| lb.ingress.as_ref().is_some_and(|i| !i.is_empty()))
            .map(Box::new);
        Self {
            metadata: s.metadata.into(),
            spec,
            load_balancer,
        }
    }
}

impl From<StoredService> for core::Service {
    fn from(s: StoredService) -> Self {
        Self {
            metadata: s.metadata.into(),
            spec: s.spec.map(|spec| core::ServiceSpec {
                type_: spec.type_,
                ports: spec.ports.map(|ports| {
                    ports
                        .into_iter()
                        .map(|p| core::ServicePort {
                            name: p.name,
                            port: p.port,
                            app_protocol: p.app_protocol,
                            ..Default::default()
                        })
                        .collect()
                }),
                cluster_ip: spec.cluster_ip,
                external_ips: spec.external_ips,
                external_name: spec.external_name,
                ..Default::default()
            }),
            status: s.load_balancer.map(|lb| core::ServiceStatus {
                load_balancer: Some(*lb),
                conditions: None,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn service(v: serde_json::Value) -> core::Service {
        serde_json::from_value(v).expect("a Service")
    }

    /// Each case: a Service, and the Service the store's form gives back (what is read).
    #[test]
    fn keeps_what_is_read_and_gives_it_back() {
        let meta = json!({"name": "web", "namespace": "a", "uid": "u-1", "resourceVersion": "7",
            "labels": {"app": "web"}, "annotations": {"haproxy-agent.io/x": "1", "other/y": "2"}});
        let kept_meta = json!({"name": "web", "namespace": "a", "resourceVersion": "7",
            "annotations": {"haproxy-agent.io/x": "1"}});
        let cases = [
            (
                "no spec",
                json!({"metadata": meta}),
                json!({"metadata": kept_meta}),
            ),
            (
                "ports keep name, number and appProtocol; not protocol, targetPort, nodePort",
                json!({"metadata": {"name": "web"}, "spec": {"type": "NodePort",
                    "selector": {"app": "web"}, "sessionAffinity": "ClientIP",
                    "ports": [{"name": "h", "port": 80, "targetPort": 8080, "protocol": "TCP",
                               "nodePort": 30080, "appProtocol": "kubernetes.io/h2c"},
                              {"port": 443}]}}),
                json!({"metadata": {"name": "web"}, "spec": {"type": "NodePort",
                    "ports": [{"name": "h", "port": 80, "appProtocol": "kubernetes.io/h2c"},
                              {"port": 443}]}}),
            ),
            (
                "addresses for the status writer",
                json!({"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer",
                    "clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1"],
                    "externalIPs": ["192.0.2.1"], "ipFamilies": ["IPv4"]},
                    "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.2"}]},
                               "conditions": []}}),
                json!({"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer",
                    "clusterIP": "10.0.0.1", "externalIPs": ["192.0.2.1"]},
                    "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.2"}]}}}),
            ),
            (
                "an external name; an empty load balancer status is none",
                json!({"metadata": {"name": "ext"}, "spec": {"type": "ExternalName",
                    "externalName": "db.example.com"}, "status": {"loadBalancer": {}}}),
                json!({"metadata": {"name": "ext"}, "spec": {"type": "ExternalName",
                    "externalName": "db.example.com"}}),
            ),
        ];
        for (name, given, want) in cases {
            let stored = StoredService::from(service(given));
            assert_eq!(core::Service::from(stored), service(want), "{name}");
        }
    }
}
