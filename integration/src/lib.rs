//! Test support for the integration tests, the end-to-end tests, the benchmarks and the
//! soak: a real `haproxy-agent run` process ([`AgentProcess`]); real HAProxy processes in
//! master-worker mode ([`HaproxyProcess`]), echo backends that name themselves
//! ([`EchoServer`]), a plain HTTP client and load loop ([`get`], [`LoadLoop`]), a test
//! Kubernetes API server that a real `kube::Client` lists and watches ([`KubeApi`]), a TCP
//! echo ([`TcpEcho`]), HAProxy started from a rendered config ([`RenderedHaproxy`]), the
//! Gateway API conformance tables and echo ([`gwconf`]), and waiting on conditions with
//! deadlines ([`wait_until`]) instead of sleeping; Kubernetes objects typed and as manifest
//! text ([`fixtures`]); the benchmarks' and the soak's command line and percentiles
//! ([`figures`]), paired-trial statistics for the benchmarks ([`bench_stats`]), the soak's
//! oracle ([`soak_oracle`]), and the report pages filled from Markdown templates
//! ([`template`], [`soak_report`]).

pub mod agent_proc;
pub mod bench_stats;
pub mod echo;
pub mod figures;
pub mod fixtures;
pub mod grpc;
pub mod gwconf;
pub mod haproxy_proc;
pub mod http;
pub mod kube_api;
pub mod kubectl;
pub mod master;
pub mod module_graph;
mod port;
pub mod rendered;
pub mod soak_oracle;
pub mod soak_report;
pub mod tcp_echo;
pub mod template;
pub mod tls;
pub mod tls_conn;
pub mod wait;

pub use agent_proc::{AgentOptions, AgentProcess};
pub use echo::EchoServer;
pub use haproxy_proc::{HaproxyProcess, haproxy_binary, pid_exists};
pub use http::{HttpReply, LoadLoop, LoadStats, Req, get, get_many, request};
pub use kube_api::{KubeApi, RequestLogEntry, WriteLogEntry};
pub use kubectl::{Kubectl, kubectl_binary};
pub use port::free_port;
pub use rendered::{ConfigDir, RenderedHaproxy};
pub use tcp_echo::TcpEcho;
pub use wait::{wait_for, wait_until};
