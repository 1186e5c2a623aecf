//! Integration tests against real HAProxy processes and real backends, in one test binary.

mod commands;
mod gateway;
mod gateway_binds;
mod gateway_runtime;
mod gateway_support;
mod harness;
mod kube_api;
mod kube_api_gateway;
mod kubectl;
mod reload;
mod routing;
mod runtime;
mod shape;
mod tls;
