//! A HAProxy backend built from a resolved Service port and the backend options an Ingress
//! asked for: one server per endpoint.

use haproxy::BackendName;
use haproxy::config::{Backend, Server, ServerAddr, ServerMode};
use haproxy::proto::Weight;

use super::annotations::BackendOptions;
use super::endpoints::{self, EndpointState, ResolvedService};

/// The backend for a resolved Service port, with one server per endpoint (weight 1).
pub(super) fn backend_of(resolved: &ResolvedService, opts: &BackendOptions) -> Backend {
    let mut backend = empty_backend(resolved.backend.clone(), opts);
    // Collected: sized to the servers, where inserting one by one leaves the vector's room.
    backend.servers = resolved
        .endpoints
        .iter()
        .map(|ep| {
            let server = server(ep, 1);
            (server.name.clone(), server)
        })
        .collect();
    opts.upstream.apply(&mut backend, resolved.app_protocol);
    backend
}

pub(super) fn empty_backend(name: BackendName, opts: &BackendOptions) -> Backend {
    let mut backend = Backend::new(name);
    backend.balance = opts.balance.clone();
    backend.timeout_server = opts.timeout_server;
    backend.timeout_connect = opts.timeout_connect;
    backend.health_check = opts.health_check.clone();
    backend.sticky = opts.sticky_for(&backend.name);
    backend.send_proxy = opts.send_proxy;
    backend
}

pub(super) fn server(ep: &endpoints::ResolvedEndpoint, weight: u16) -> Server {
    Server {
        name: ep.server_name(),
        addr: ServerAddr::new(ep.addr).expect("resolved endpoints are unicast with a port"),
        weight: Weight::new(u32::from(weight)).expect("weights are at most 256"),
        state: match ep.state {
            EndpointState::Ready => ServerMode::Ready,
            EndpointState::Drain => ServerMode::Drain,
        },
        backup: false,
    }
}
