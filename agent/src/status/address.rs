//! The addresses in `status.loadBalancer.ingress`: what a Service publishes, what an Ingress
//! shows, in one sorted form so that equal lists compare equal.

use serde_json::{Value, json};

use crate::store::{StoredIngress, StoredService};

/// One entry of `status.loadBalancer.ingress`, ports left out.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LbAddress {
    /// A DNS name.
    pub hostname: Option<String>,
    /// An IP address.
    pub ip: Option<String>,
}

impl LbAddress {
    /// `ip` when `s` parses as an IP address, `hostname` otherwise.
    pub fn parse(s: &str) -> Self {
        if s.parse::<std::net::IpAddr>().is_ok() {
            Self {
                hostname: None,
                ip: Some(s.to_string()),
            }
        } else {
            Self {
                hostname: Some(s.to_string()),
                ip: None,
            }
        }
    }

    pub(crate) fn to_json(&self) -> Value {
        let mut v = json!({});
        if let Some(h) = &self.hostname {
            v["hostname"] = h.clone().into();
        }
        if let Some(ip) = &self.ip {
            v["ip"] = ip.clone().into();
        }
        v
    }
}

/// Sorted, without duplicates or empty entries.
pub(crate) fn normalized(mut list: Vec<LbAddress>) -> Vec<LbAddress> {
    for a in &mut list {
        a.hostname = a.hostname.take().filter(|h| !h.is_empty());
        a.ip = a.ip.take().filter(|i| !i.is_empty());
    }
    list.retain(|a| a.hostname.is_some() || a.ip.is_some());
    list.sort();
    list.dedup();
    list
}

/// The addresses a Service publishes, as ingress-nginx's `--publish-service` reads them:
/// - `ExternalName`: its `externalName`, as a hostname;
/// - `ClusterIP` (the default type): its `clusterIP` (none when headless);
/// - `NodePort`: its `externalIPs`, or its `clusterIP` when it has none;
/// - `LoadBalancer`: its `status.loadBalancer.ingress` (IP and hostname), plus its
///   `externalIPs`; none while the load balancer is pending.
pub fn service_addresses(svc: &StoredService) -> Vec<LbAddress> {
    let spec = svc.spec.clone().unwrap_or_default();
    let cluster_ip = || {
        spec.cluster_ip
            .iter()
            .filter(|ip| ip.as_str() != "None")
            .map(|ip| LbAddress::parse(ip))
            .collect::<Vec<_>>()
    };
    let external_ips = || {
        spec.external_ips
            .iter()
            .flatten()
            .map(|ip| LbAddress::parse(ip))
            .collect::<Vec<_>>()
    };
    let list = match spec.type_.as_deref().unwrap_or("ClusterIP") {
        "ExternalName" => spec
            .external_name
            .iter()
            .map(|h| LbAddress {
                hostname: Some(h.clone()),
                ip: None,
            })
            .collect(),
        "NodePort" if spec.external_ips.as_ref().is_some_and(|e| !e.is_empty()) => external_ips(),
        "LoadBalancer" => {
            let mut list: Vec<LbAddress> = svc
                .load_balancer
                .iter()
                .flat_map(|lb| lb.ingress.iter().flatten())
                .map(|i| LbAddress {
                    hostname: i.hostname.clone(),
                    ip: i.ip.clone(),
                })
                .collect();
            for ip in external_ips() {
                if !list.iter().any(|a| a.ip == ip.ip) {
                    list.push(ip);
                }
            }
            list
        }
        _ => cluster_ip(),
    };
    normalized(list)
}

/// What an Ingress's status says now.
pub fn ingress_addresses(ingress: &StoredIngress) -> Vec<LbAddress> {
    normalized(
        ingress
            .status
            .iter()
            .filter_map(|s| s.load_balancer.as_ref())
            .flat_map(|lb| lb.ingress.iter().flatten())
            .map(|i| LbAddress {
                hostname: i.hostname.clone(),
                ip: i.ip.clone(),
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Service;
    use k8s_openapi::api::networking::v1::Ingress;
    use serde_json::from_value;

    fn addrs(list: &[(&str, &str)]) -> Vec<LbAddress> {
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
        list.iter()
            .map(|(h, ip)| LbAddress {
                hostname: opt(h),
                ip: opt(ip),
            })
            .collect()
    }

    #[test]
    fn service_addresses_follow_the_service_type() {
        let table: Vec<(Value, Vec<LbAddress>)> = vec![
            (
                json!({"spec": {"clusterIP": "10.0.0.1"}}),
                addrs(&[("", "10.0.0.1")]),
            ),
            (
                json!({"spec": {"type": "ClusterIP", "clusterIP": "None"}}),
                vec![],
            ),
            (
                json!({"spec": {"type": "ExternalName", "externalName": "db.example.com"}}),
                addrs(&[("db.example.com", "")]),
            ),
            (
                json!({"spec": {"type": "NodePort", "clusterIP": "10.0.0.1"}}),
                addrs(&[("", "10.0.0.1")]),
            ),
            (
                json!({"spec": {"type": "NodePort", "clusterIP": "10.0.0.1",
                                "externalIPs": ["198.51.100.2", "198.51.100.1"]}}),
                addrs(&[("", "198.51.100.1"), ("", "198.51.100.2")]),
            ),
            (
                json!({"spec": {"type": "LoadBalancer", "clusterIP": "10.0.0.1"}}),
                vec![],
            ),
            (
                json!({"spec": {"type": "LoadBalancer", "externalIPs": ["203.0.113.1", "198.51.100.9"]},
                       "status": {"loadBalancer": {"ingress": [
                           {"hostname": "lb.example.com"}, {"ip": "203.0.113.1", "ports": [{"port": 80, "protocol": "TCP"}]},
                           {"ip": "203.0.113.1"}]}}}),
                addrs(&[
                    ("", "198.51.100.9"),
                    ("", "203.0.113.1"),
                    ("lb.example.com", ""),
                ]),
            ),
        ];
        for (i, (svc, want)) in table.into_iter().enumerate() {
            let svc: Service = from_value(svc).unwrap();
            assert_eq!(service_addresses(&svc.into()), want, "case {i}");
        }
    }

    #[test]
    fn addresses_parse_and_serialize() {
        assert_eq!(
            LbAddress::parse("2001:db8::1").ip.as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(
            LbAddress::parse("lb.example.com").to_json(),
            json!({"hostname": "lb.example.com"})
        );
        let ingress: Ingress = from_value(json!({"status": {"loadBalancer": {"ingress": [
            {"ip": "192.0.2.2"}, {"ip": ""}, {"ip": "192.0.2.1"}]}}}))
        .unwrap();
        assert_eq!(
            ingress_addresses(&ingress.into()),
            addrs(&[("", "192.0.2.1"), ("", "192.0.2.2")])
        );
    }
}
