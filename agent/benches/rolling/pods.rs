//! The pods of the rolling replacement: echo servers on `127.0.0.1-10` (old) and
//! `127.0.0.11-20` (new), where each pod's replacement stands, and the objects naming them.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::bail;
use haproxy_agent::store::Object;
use integration::EchoServer;

use crate::common::{self, EpState, Rule, ingress, service, slice};

/// How many pods are replaced.
pub const PODS: usize = 10;
/// How long each pod takes to answer.
pub const ECHO_DELAY: Duration = Duration::from_millis(10);

/// Pod `i`'s old address.
pub fn old_ip(i: usize) -> IpAddr {
    IpAddr::from([127, 0, 0, 1 + i as u8])
}

/// Pod `i`'s new address.
pub fn new_ip(i: usize) -> IpAddr {
    IpAddr::from([127, 0, 0, 11 + i as u8])
}

/// HAProxy's name for the server at `ip:port`.
pub fn server_name(ip: IpAddr, port: u16) -> String {
    format!("{ip}:{port}")
}

/// A port free on all twenty pod addresses.
pub fn pod_port() -> anyhow::Result<u16> {
    for _ in 0..50 {
        let port = integration::free_port();
        let all: Result<Vec<_>, _> = (0..PODS)
            .flat_map(|i| [old_ip(i), new_ip(i)])
            .map(|ip| std::net::TcpListener::bind(SocketAddr::new(ip, port)))
            .collect();
        if all.is_ok() {
            return Ok(port);
        }
    }
    bail!("no port free on 127.0.0.1-20")
}

/// The pods: old ones running, new ones running (a new pod passed its readiness probe by
/// the time its endpoint is added).
pub struct Pods {
    pub port: u16,
    pub old: Vec<Option<EchoServer>>,
    _new: Vec<EchoServer>,
}

impl Pods {
    /// Starts the pods, retrying for a while when an address is still taken (the servers
    /// of a previous run close their listeners asynchronously after being dropped).
    pub async fn start(port: u16) -> anyhow::Result<Pods> {
        let mut attempts = 0;
        loop {
            match Self::try_start(port) {
                Ok(p) => return Ok(p),
                Err(e) if attempts >= 100 => return Err(e),
                Err(_) => {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }

    fn try_start(port: u16) -> anyhow::Result<Pods> {
        let old = (0..PODS)
            .map(|i| {
                EchoServer::start_on(
                    &format!("old-{i}"),
                    SocketAddr::new(old_ip(i), port),
                    ECHO_DELAY,
                )
                .map(Some)
            })
            .collect::<anyhow::Result<_>>()?;
        let new = (0..PODS)
            .map(|i| {
                EchoServer::start_on(
                    &format!("new-{i}"),
                    SocketAddr::new(new_ip(i), port),
                    ECHO_DELAY,
                )
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Pods {
            port,
            old,
            _new: new,
        })
    }
}

/// Where each pod's replacement stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    Before,
    NewReady,
    OldTerminating,
    OldGone,
}

/// The slice's endpoints at `progress`.
fn endpoints(progress: &[Progress; PODS]) -> Vec<(IpAddr, EpState)> {
    let mut out = Vec::new();
    for (i, p) in progress.iter().enumerate() {
        match p {
            Progress::Before => out.push((old_ip(i), EpState::Ready)),
            Progress::NewReady => {
                out.push((old_ip(i), EpState::Ready));
                out.push((new_ip(i), EpState::Ready));
            }
            Progress::OldTerminating => {
                out.push((old_ip(i), EpState::Terminating));
                out.push((new_ip(i), EpState::Ready));
            }
            Progress::OldGone => out.push((new_ip(i), EpState::Ready)),
        }
    }
    out
}

/// Service `web` and its Ingress, with the policy-heavy annotation set (and the load
/// generator exempt from the limits) when `policies`.
pub fn web(port: u16, policies: bool) -> Vec<Object> {
    let mut objects = common::with_policies(web_objects(port), policies);
    if policies {
        for o in &mut objects {
            if let Object::Ingress(ing) = o {
                ing.metadata.annotations.get_or_insert_default().insert(
                    "nginx.ingress.kubernetes.io/limit-whitelist".into(),
                    "127.0.0.0/8".into(),
                );
            }
        }
    }
    objects
}

/// Service `web` and its Ingress, as they are.
fn web_objects(port: u16) -> Vec<Object> {
    vec![
        service("web", 80, i32::from(port)),
        ingress(
            "web",
            None,
            &[Rule {
                path: "/",
                service: "web",
                port: 80,
            }],
        ),
    ]
}

/// Service `web`'s EndpointSlice at `progress`.
pub fn web_slice(port: u16, progress: &[Progress; PODS]) -> Object {
    slice("web-1", "web", i32::from(port), &endpoints(progress))
}
