//! End-to-end tests of the `haproxy-agent` binary against real HAProxy processes, real
//! manifest files and echo backends on loopback, in one test binary.

mod annotations;
mod auth;
mod backend_protocol;
mod canary;
mod client_cert_no_ca;
mod client_certs;
mod configmap;
mod ctl;
mod custom_errors;
mod debugging;
mod deploy;
mod disk;
mod endpoints;
mod frontdoor;
mod gateway_conformance;
mod gateway_kube;
mod gateway_objects;
mod gateway_route;
mod health;
mod hostile;
mod kube;
mod kube_faults;
mod kubectl;
mod migration;
mod passthrough;
mod problems;
mod regex;
mod restart;
mod routes;
mod security;
mod support;
mod tcp_services;
mod tls;
