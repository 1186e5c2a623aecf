//! The front door through real HAProxy: PROXY protocol headers (v1 and v2, written by hand)
//! naming the client to an allowlist, PROXY protocol to the pods (servers added at runtime
//! too), and the JSON access log.

use std::net::SocketAddr;

use integration::EchoServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::{
    Agent, CONVERGE, Ep, Options, backend, eventually, ingress, route, service, slice,
};

pub(crate) const N: &str = "nginx.ingress.kubernetes.io/";
pub(crate) const HOST: &str = "front.test";

pub(crate) fn web_service(port: u16, addrs: &[&str]) -> String {
    let eps: Vec<Ep<'_>> = addrs.iter().map(|a| Ep::ready(a)).collect();
    [service("web", 80, port), slice("web-1", "web", port, &eps)].join("---\n")
}

pub(crate) fn files<'a>(list: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    list.iter().map(|(n, t)| (*n, t.as_str())).collect()
}

/// A PROXY protocol v1 header from `src` (to 127.0.0.1:80).
fn proxy_v1(src: SocketAddr) -> Vec<u8> {
    format!("PROXY TCP4 {} 127.0.0.1 {} 80\r\n", src.ip(), src.port()).into_bytes()
}

/// A PROXY protocol v2 header (PROXY command, TCP over IPv4) from `src`.
fn proxy_v2(src: SocketAddr) -> Vec<u8> {
    let SocketAddr::V4(v4) = src else {
        panic!("IPv4 only")
    };
    let mut out = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    out.extend([0x21, 0x11, 0, 12]);
    out.extend(v4.ip().octets());
    out.extend([127, 0, 0, 1]);
    out.extend(v4.port().to_be_bytes());
    out.extend(80u16.to_be_bytes());
    out
}

/// Sends `head` then a GET of `path` on one connection; the status.
async fn raw_get(addr: SocketAddr, head: &[u8], path: &[u8], extra: &[u8]) -> u16 {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut req = head.to_vec();
    req.extend(b"GET ");
    req.extend(path);
    req.extend(b" HTTP/1.1\r\nHost: ");
    req.extend(HOST.as_bytes());
    req.extend(b"\r\n");
    req.extend(extra);
    req.extend(b"Connection: close\r\n\r\n");
    s.write_all(&req).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(CONVERGE, s.read_to_end(&mut out))
        .await
        .expect("a reply in time")
        .unwrap();
    let text = String::from_utf8_lossy(&out);
    text.get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"))
}

/// --use-proxy-protocol: the address of a hand-written PROXY v1 or v2 header is the client
/// the allowlist judges (allowed: 200, another: 403), and the access log names it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_protocol_v1_and_v2_name_the_client_for_the_allowlist() {
    let web = EchoServer::start("web").unwrap();
    let allow = ingress(
        "allow",
        &[(&format!("{N}whitelist-source-range"), "10.1.2.3/32")],
        &[route("/a", "web", 80)],
    );
    let list = [
        ("web.yaml", web_service(web.addr().port(), &["127.0.0.1"])),
        ("allow.yaml", allow),
    ];
    let options = Options {
        extra: vec!["--use-proxy-protocol".into()],
        ..Options::default()
    };
    let agent = Agent::start(&files(&list), options).await.unwrap();
    let allowed: SocketAddr = "10.1.2.3:40000".parse().unwrap();
    let other: SocketAddr = "10.9.9.9:40001".parse().unwrap();
    for (version, header) in [
        ("v1", proxy_v1 as fn(SocketAddr) -> Vec<u8>),
        ("v2", proxy_v2),
    ] {
        let got = raw_get(agent.http, &header(allowed), b"/a", b"").await;
        assert_eq!(got, 200, "{version}: the allowed client");
        let got = raw_get(agent.http, &header(other), b"/a", b"").await;
        assert_eq!(got, 403, "{version}: a client outside the list");
    }
    // Without a header the connection is refused (HAProxy closes it): the bind takes only
    // PROXY-protocol connections.
    let plain = integration::request(agent.http, integration::Req::new("GET", HOST, "/a")).await;
    assert!(plain.is_err() || plain.unwrap().status >= 400);
    let lines = eventually_access_lines(&agent, 4).await;
    let clients: Vec<&str> = lines.iter().filter_map(|l| l["client"].as_str()).collect();
    assert!(
        clients.contains(&"10.1.2.3") && clients.contains(&"10.9.9.9"),
        "{clients:?}"
    );
}

/// The access log lines in the agent's output (HAProxy's stdout under --spawn-haproxy),
/// each parsed as JSON (a line that does not parse fails the test), once at least `n`.
async fn eventually_access_lines(agent: &Agent, n: usize) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    eventually("access log lines", CONVERGE, || {
        out = agent
            .log()
            .lines()
            .filter(|l| l.starts_with("{\"time\":"))
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
            .collect();
        std::future::ready(out.len() >= n)
    })
    .await
    .unwrap();
    out
}

/// A server on `addr` that first reads a PROXY header: it answers a request with the
/// header's version and source and its own address (`v2 127.0.0.1:5 at 127.0.0.2`).
async fn proxy_reader(addr: SocketAddr) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let l = TcpListener::bind(addr).await.unwrap();
    let addr = l.local_addr().unwrap();
    let task = tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") || got.len() < 16 {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend(&buf[..n]),
                    }
                }
                let body = format!("{} at {}", describe_proxy(&got), addr.ip());
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(reply.as_bytes()).await;
            });
        }
    });
    (addr, task)
}

fn describe_proxy(got: &[u8]) -> String {
    if let Some(line) = got.strip_prefix(b"PROXY ") {
        let line = String::from_utf8_lossy(line);
        let w: Vec<&str> = line.split(' ').collect();
        return format!("v1 {}:{}", w[1], w[3]);
    }
    if got.starts_with(b"\r\n\r\n\0\r\nQUIT\n") && got.len() >= 28 && got[13] == 0x11 {
        let ip = std::net::Ipv4Addr::new(got[16], got[17], got[18], got[19]);
        let port = u16::from_be_bytes([got[24], got[25]]);
        return format!("v2 {ip}:{port}");
    }
    "none".into()
}

/// haproxy-agent.io/backend-proxy-protocol: the pods get a PROXY header (v1, then v2 after a
/// reload); a pod added at runtime gets it too, with no reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_proxy_protocol_reaches_servers_added_at_runtime() {
    let (pod, _task) = proxy_reader("127.0.0.1:0".parse().unwrap()).await;
    let port = pod.port();
    let (_, _second) = proxy_reader(SocketAddr::from(([127, 0, 0, 2], port))).await;
    let annotated = |v: &str| {
        ingress(
            "pp",
            &[("haproxy-agent.io/backend-proxy-protocol", v)],
            &[route("/", "web", 80)],
        )
    };
    let list = [
        ("web.yaml", web_service(port, &["127.0.0.1"])),
        ("pp.yaml", annotated("v1")),
    ];
    let agent = Agent::start(&files(&list), Options::default())
        .await
        .unwrap();
    let body = || async {
        integration::request(agent.http, integration::Req::new("GET", HOST, "/"))
            .await
            .map(|r| r.body)
            .unwrap_or_default()
    };
    assert!(
        body().await.starts_with("v1 127.0.0.1:"),
        "{}",
        body().await
    );
    agent.write_manifest("pp.yaml", &annotated("v2")).unwrap();
    eventually("v2 to the pod", CONVERGE, || async {
        body().await.starts_with("v2 127.0.0.1:")
    })
    .await
    .unwrap();
    let reloads = agent.reloads().await.unwrap();
    agent
        .write_manifest("web.yaml", &web_service(port, &["127.0.0.1", "127.0.0.2"]))
        .unwrap();
    let be = backend("web", 80);
    eventually("the new server", CONVERGE, || async {
        agent.servers(&be).await.is_ok_and(|s| s.len() == 2)
    })
    .await
    .unwrap();
    // Both servers answer with the v2 header: the runtime-added one carries send-proxy-v2.
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..20 {
        let b = body().await;
        assert!(b.starts_with("v2 "), "{b}");
        seen.insert(b.rsplit(' ').next().unwrap().to_string());
    }
    assert_eq!(seen.len(), 2, "both servers took requests: {seen:?}");
    assert_eq!(
        agent.reloads().await.unwrap(),
        reloads,
        "an endpoint change reloaded"
    );
}

/// The access log: one JSON object a request on HAProxy's stdout, with the request's
/// status, path, backend and server; hostile bytes (quotes, backslashes, DEL, a path a
/// parser refuses) stay inside JSON strings. `--access-log=false` writes none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_log_is_one_json_object_per_request() {
    let web = EchoServer::start("web").unwrap();
    let list = [
        ("web.yaml", web_service(web.addr().port(), &["127.0.0.1"])),
        (
            "web-ing.yaml",
            ingress("web", &[], &[route("/a", "web", 80)]),
        ),
    ];
    let agent = Agent::start(&files(&list), Options::default())
        .await
        .unwrap();
    assert_eq!(raw_get(agent.http, b"", b"/a/ok?x=1", b"").await, 200);
    assert_eq!(raw_get(agent.http, b"", b"/nowhere", b"").await, 404);
    let hostile = b"X-Request-ID: \"id\\\x7f\r\nUser-Agent: \"><script>\r\n";
    assert_eq!(raw_get(agent.http, b"", b"/a/q\"uo\\te", b"").await, 200);
    // HAProxy passes the DEL on; the echo server may refuse it (400): either way, logged.
    let hostile_status = raw_get(agent.http, b"", b"/a/h", hostile).await;
    assert_eq!(raw_get(agent.http, b"", b"/a/\x01bad", b"").await, 400);
    let lines = eventually_access_lines(&agent, 5).await;
    let find = |uri: &str| {
        lines
            .iter()
            .find(|l| l["uri"] == uri)
            .unwrap_or_else(|| panic!("no line for {uri}: {lines:#?}"))
    };
    let ok = find("/a/ok?x=1");
    assert_eq!(ok["status"], 200);
    assert_eq!(ok["method"], "GET");
    assert_eq!(ok["host"], HOST);
    assert_eq!(ok["backend"], backend("web", 80));
    assert_eq!(ok["server"], web.addr().to_string());
    assert_eq!(ok["client"], "127.0.0.1");
    assert_eq!(ok["termination"], "----");
    for field in [
        "tq",
        "tw",
        "tc",
        "tr",
        "ta",
        "bytes_in",
        "bytes_out",
        "client_port",
    ] {
        assert!(ok[field].is_i64(), "{field}: {ok}");
    }
    let missing = find("/nowhere");
    assert_eq!(missing["status"], 404);
    assert_eq!(missing["backend"], "_default_404");
    assert_eq!(find("/a/q\"uo\\te")["status"], 200);
    let with_id = find("/a/h");
    assert_eq!(with_id["status"], hostile_status);
    assert_eq!(with_id["request_id"], "\"id\\\u{7f}");
    assert!(lines.iter().any(|l| l["status"] == 400), "{lines:#?}");
    drop(agent);

    let off = Options {
        extra: vec!["--access-log=false".into()],
        ..Options::default()
    };
    let agent = Agent::start(&files(&list), off).await.unwrap();
    assert_eq!(raw_get(agent.http, b"", b"/a/ok", b"").await, 200);
    assert!(
        !agent.log().lines().any(|l| l.starts_with("{\"time\":")),
        "no access log"
    );
}
