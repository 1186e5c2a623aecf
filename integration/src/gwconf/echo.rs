//! A loopback backend that answers like the Gateway API conformance echo server: a JSON
//! description of the request it received (path with query, host, method, headers) and of
//! where it runs (namespace, pod, service, port).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HOST, HeaderName, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// The request header whose `name:value` pairs (comma-separated) the echo sets on its
/// response, as the conformance echo does.
pub const SET_HEADER: &str = "x-echo-set-header";

/// Where an echo runs, as the conformance echo reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    /// The Service's namespace.
    pub namespace: String,
    /// The "pod": the Deployment's name and a suffix (the suite checks the prefix).
    pub pod: String,
    /// The Service.
    pub service: String,
}

/// What the echo answers: the request as the backend saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Echoed {
    /// Path and query, as received.
    pub path: String,
    /// The Host header (`:authority` in HTTP/2).
    pub host: String,
    /// The method.
    pub method: String,
    /// `HTTP/1.1` or `HTTP/2.0`.
    pub proto: String,
    /// Every header, by name as received (lower case), values in order.
    pub headers: BTreeMap<String, Vec<String>>,
    /// The port the echo listens on.
    pub http_port: String,
    /// Namespace of the Service.
    pub namespace: String,
    /// The "pod" name.
    pub pod: String,
    /// The Service.
    pub service: String,
}

/// An HTTP/1.1 and h2c (prior knowledge) server on loopback answering every request `200`
/// with an [`Echoed`] JSON body (`content-type: application/json`) and the headers asked for
/// in [`SET_HEADER`]. Dropping it stops accepting and aborts open connections.
#[derive(Debug)]
pub struct ConformanceEcho {
    addr: SocketAddr,
    placement: Placement,
    task: JoinHandle<()>,
}

impl ConformanceEcho {
    /// Starts one on `127.0.0.1:<ephemeral>`; it listens when this returns. Must be called
    /// within a tokio runtime.
    pub fn start(placement: Placement) -> anyhow::Result<ConformanceEcho> {
        let std_listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        std_listener.set_nonblocking(true)?;
        let listener = TcpListener::from_std(std_listener)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(placement.clone());
        let task = tokio::spawn(serve(listener, shared));
        Ok(ConformanceEcho {
            addr,
            placement,
            task,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where it says it runs.
    pub fn placement(&self) -> &Placement {
        &self.placement
    }
}

impl Drop for ConformanceEcho {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(listener: TcpListener, placement: Arc<Placement>) {
    let port = listener
        .local_addr()
        .map(|a| a.port().to_string())
        .unwrap_or_default();
    let port: Arc<str> = Arc::from(port);
    let mut conns = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let (placement, port) = (placement.clone(), port.clone());
        conns.spawn(async move {
            let service =
                service_fn(move |req| std::future::ready(answer(&req, &placement, &port)));
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        while conns.try_join_next().is_some() {}
    }
}

/// The echo's answer to one request (pure apart from the request it reads).
fn answer(
    req: &Request<Incoming>,
    placement: &Placement,
    port: &str,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in req.headers() {
        headers
            .entry(name.as_str().to_string())
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    let host = req
        .headers()
        .get(HOST)
        .map(|h| String::from_utf8_lossy(h.as_bytes()).into_owned())
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let echoed = Echoed {
        path: req
            .uri()
            .path_and_query()
            .map_or_else(|| req.uri().path().to_string(), |p| p.as_str().to_string()),
        host,
        method: req.method().as_str().to_string(),
        proto: format!("{:?}", req.version()),
        headers,
        http_port: port.to_string(),
        namespace: placement.namespace.clone(),
        pod: placement.pod.clone(),
        service: placement.service.clone(),
    };
    let mut response = Response::new(Full::new(Bytes::from(
        serde_json::to_vec(&echoed).expect("an echo serializes"),
    )));
    let out = response.headers_mut();
    for (name, value) in set_headers(req.headers().get_all(SET_HEADER).iter()) {
        out.append(name, value);
    }
    out.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

/// The `name:value` pairs of the [`SET_HEADER`] values, comma-separated; a pair that is not
/// a valid header is left out.
fn set_headers<'a>(
    values: impl Iterator<Item = &'a HeaderValue>,
) -> Vec<(HeaderName, HeaderValue)> {
    let mut out = Vec::new();
    for value in values {
        let Ok(text) = value.to_str() else { continue };
        for pair in text.split(',') {
            let Some((name, value)) = pair.trim().split_once(':') else {
                continue;
            };
            if let (Ok(n), Ok(v)) = (
                HeaderName::try_from(name.trim()),
                HeaderValue::from_str(value.trim()),
            ) {
                out.push((n, v));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn it_answers_json_about_the_request_and_sets_the_headers_asked_for() {
        let echo = ConformanceEcho::start(Placement {
            namespace: "gateway-conformance-infra".into(),
            pod: "infra-backend-v1-abc".into(),
            service: "infra-backend-v1".into(),
        })
        .unwrap();
        let req = crate::Req::new("PATCH", "example.com:8080", "/p?q=1")
            .header("X-Multi", "a")
            .header("x-multi", "b")
            .header(SET_HEADER, "X-Back: one,X-Back: two");
        let reply = crate::request(echo.addr(), req).await.unwrap();
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("content-type"), Some("application/json"));
        let backs: Vec<&str> = reply
            .headers
            .iter()
            .filter(|(n, _)| n == "x-back")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(backs, ["one", "two"]);
        let echoed: Echoed = serde_json::from_str(&reply.body).unwrap();
        assert_eq!(echoed.path, "/p?q=1");
        assert_eq!(echoed.host, "example.com:8080");
        assert_eq!(echoed.method, "PATCH");
        assert_eq!(echoed.proto, "HTTP/1.1");
        assert_eq!(echoed.headers["x-multi"], ["a", "b"]);
        assert_eq!(echoed.namespace, "gateway-conformance-infra");
        assert_eq!(echoed.pod, "infra-backend-v1-abc");
        assert_eq!(echoed.http_port, echo.addr().port().to_string());
    }

    #[test]
    fn set_header_pairs_are_split_and_bad_ones_left_out() {
        let v = [HeaderValue::from_static("X-A: one, x-b:two,bad,:x")];
        let got: Vec<(String, String)> = set_headers(v.iter())
            .into_iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_string()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("x-a".to_string(), "one".to_string()),
                ("x-b".to_string(), "two".to_string())
            ]
        );
    }
}
