//! A Gateway listener's own bind against the TCP services (`--tcp-services-configmap`): both
//! on one address and port cannot be bound, so the later object gives way, named. Later is
//! by `creationTimestamp`; a tie (manifests carry none) goes to the TCP service. The
//! Gateway's side is judged here; the TCP side gives way to the binds of the Gateways that
//! remain ([`yield_to_gateways`]).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};

use haproxy::config::gateway::GatewayBind;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::problem::{Problem, ProblemKind};
use crate::store::{ObjectKey, Snapshot};
use crate::translate::Settings;
use crate::translate::tcp_services::{TcpPart, port_key};

/// The TCP services' ConfigMap as the Gateway side sees it.
#[derive(Debug)]
pub(in crate::translate) struct TcpPorts<'a> {
    key: &'a ObjectKey,
    created: Option<&'a Time>,
    ip: IpAddr,
    ports: BTreeSet<u16>,
}

/// True when two binds would take the same socket (one port, one address or a wildcard).
fn overlaps(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port() && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

/// The ConfigMap's ports (its keys that are port numbers), `None` without one.
pub(in crate::translate) fn read<'a>(
    snapshot: &'a Snapshot,
    settings: &Settings,
) -> Option<TcpPorts<'a>> {
    let (key, cm) = snapshot
        .config_maps
        .get_key_value(settings.tcp_services.as_ref()?)?;
    let ports = cm
        .data
        .iter()
        .flatten()
        .filter_map(|(k, _)| port_key(k))
        .collect();
    Some(TcpPorts {
        key,
        created: cm.metadata.creation_timestamp.as_ref(),
        ip: settings.tcp_bind_ip(),
        ports,
    })
}

impl TcpPorts<'_> {
    /// Why bind `b` of a Gateway created at `created` gives way to a TCP service: one on its
    /// port and address, in a ConfigMap created before it (or as old).
    pub(in crate::translate) fn clash(
        &self,
        b: &GatewayBind,
        created: Option<&Time>,
    ) -> Option<String> {
        let port = b.addr.port();
        let tcp = SocketAddr::new(self.ip, port);
        if !self.ports.contains(&port) || !overlaps(tcp, b.addr) {
            return None;
        }
        let gateway_first = matches!((created, self.created), (Some(g), Some(c)) if g.0 < c.0);
        (!gateway_first).then(|| {
            format!(
                "{} is TCP service data[{port}]'s ({tcp}) of ConfigMap {}, which is not newer \
                 than this Gateway",
                b.addr, self.key
            )
        })
    }
}

/// Leaves out of `part` every TCP service whose bind a Gateway listener holds (`binds`:
/// those that did not give way, so of Gateways older than the ConfigMap `key`), each named.
pub(in crate::translate) fn yield_to_gateways(
    part: &mut TcpPart,
    key: &ObjectKey,
    binds: &BTreeSet<GatewayBind>,
) {
    let taken: BTreeMap<u16, SocketAddr> = part
        .services
        .iter()
        .filter_map(|(port, s)| {
            let b = binds.iter().find(|b| overlaps(b.addr, s.bind))?;
            Some((*port, b.addr))
        })
        .collect();
    for (port, addr) in taken {
        let Some(service) = part.services.remove(&port) else {
            continue;
        };
        part.backends.retain(|b| b.name != service.backend);
        let why = format!(
            "port {port}: {addr} is bound by a listener of a Gateway older than this \
             ConfigMap; this TCP service is not served"
        );
        part.problems.push(
            Problem::new(ProblemKind::ConfigMap, key.to_string(), why).at(format!("data[{port}]")),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(s: &str) -> Time {
        Time(s.parse().unwrap())
    }

    #[test]
    fn the_later_object_gives_way() {
        let key = ObjectKey::new("ingress", "tcp");
        let (old, new) = (time("2026-01-01T00:00:00Z"), time("2026-02-01T00:00:00Z"));
        let ports = |created| TcpPorts {
            key: &key,
            created,
            ip: "0.0.0.0".parse().unwrap(),
            ports: [9000].into(),
        };
        let bind = |addr: &str| GatewayBind {
            addr: addr.parse().unwrap(),
            tls: false,
        };
        let b = bind("10.0.0.5:9000");
        // The Gateway newer, as old, or either without a time: the Gateway gives way.
        for (cm, gw) in [
            (Some(&old), Some(&new)),
            (Some(&old), Some(&old)),
            (None, Some(&old)),
        ] {
            let why = ports(cm).clash(&b, gw).expect("a clash");
            assert!(
                why.contains("data[9000]") && why.contains("ingress/tcp"),
                "{why}"
            );
        }
        // The Gateway older: the TCP service gives way (below).
        assert_eq!(ports(Some(&new)).clash(&b, Some(&old)), None);
        // Another port: no clash.
        assert_eq!(
            ports(Some(&old)).clash(&bind("10.0.0.5:9001"), Some(&new)),
            None
        );
        // A TCP bind on one address, a Gateway on another: both bind.
        let one = TcpPorts {
            ip: "10.0.0.6".parse().unwrap(),
            ..ports(Some(&old))
        };
        assert_eq!(one.clash(&b, Some(&new)), None);
    }
}
