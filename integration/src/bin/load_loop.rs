//! load-loop: a constant request load from its own process, for benchmarks that change
//! HAProxy under traffic.
//!
//! Sends `GET PATH` with `Host: HOST` to `ADDR` at `RATE` requests per second, open loop:
//! request `i` is due at `start + i / RATE` whatever happened to the ones before, with at
//! most 1,024 in flight. Two kinds of client:
//! - **new connection** (the default): each request on a fresh connection, `Connection:
//!   close`;
//! - **keep-alive** (`--keep-alive`): each request on an idle persistent connection from a
//!   pool, a new one when none is idle. It does what careful clients do: a pooled connection
//!   already seen closed is dropped and replaced before sending; a request sent on a
//!   connection the server closes under it fails (it is not retried).
//!
//! `--mixed` alternates the two, request by request. Latency is counted from the moment a
//! request was due, so a stall delays and counts every request it holds up (no coordinated
//! omission). A request fails on a non-2xx status, a transport error or no complete response
//! within 5 s.
//!
//! Runs until its stdin reaches end of file (the parent closes it) or MAX_SECONDS pass,
//! then waits for the requests in flight and prints one JSON object on stdout: `sent`, `ok`,
//! `failed`, `duration_s`, `rate`, `latency_ms` (`p50`, `p90`, `p99`, `p999`, `max`, over
//! every request sent: a failed one counts at its timeout, `failure_counted_at_ms`, or at
//! the time it took if that was longer), `latency_ok_ms` (the same over successful requests
//! only), `errors` (the first ten failures, described), `failed_at_s` (seconds from start of
//! the first hundred failures), `by_name` (successes per `x-echo-name`) and `by_client`
//! (`sent`, `ok`, `failed`, `latency_ms`, `latency_ok_ms` for each kind of client used).
//!
//! Usage: `load-loop [--keep-alive | --mixed] ADDR HOST PATH RATE [MAX_SECONDS]`

use std::collections::BTreeMap;
use std::io::Read as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONNECTION, HOST, HeaderValue};
use hyper_util::rt::TokioIo;
use integration::http::REQUEST_TIMEOUT;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::{Mutex, Semaphore};
use tokio::time::{Instant, MissedTickBehavior};

const MAX_IN_FLIGHT: usize = 1024;
const KEPT_ERRORS: usize = 10;
const KEPT_FAILURE_TIMES: usize = 100;

/// A kind of client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    NewConnection = 0,
    KeepAlive = 1,
}

impl Client {
    fn key(self) -> &'static str {
        match self {
            Client::NewConnection => "new_connection",
            Client::KeepAlive => "keep_alive",
        }
    }
}

#[derive(Default)]
struct ClientTally {
    sent: u64,
    ok: u64,
    failed: u64,
    /// Every request's latency, a failure at its timeout (or later).
    latencies_us: Vec<u64>,
    /// Successful requests' latencies.
    ok_latencies_us: Vec<u64>,
}

#[derive(Default)]
struct Tally {
    clients: [ClientTally; 2],
    errors: Vec<String>,
    failed_at_s: Vec<f64>,
    by_name: BTreeMap<String, u64>,
}

impl ClientTally {
    /// Counts one request that took `took_us`: a failure at its timeout, or at the time it
    /// took if that was longer.
    fn record(&mut self, took_us: u64, ok: bool) {
        self.sent += 1;
        if ok {
            self.ok += 1;
            self.latencies_us.push(took_us);
            self.ok_latencies_us.push(took_us);
        } else {
            self.failed += 1;
            self.latencies_us
                .push(took_us.max(REQUEST_TIMEOUT.as_micros() as u64));
        }
    }
}

/// What a request got: status and `x-echo-name`.
struct Answer {
    status: u16,
    echo_name: Option<String>,
}

/// Idle persistent connections.
#[derive(Default)]
struct Pool {
    idle: std::sync::Mutex<Vec<SendRequest<Empty<Bytes>>>>,
}

impl Pool {
    /// An idle connection that is still open, else a new one.
    async fn take(&self, addr: SocketAddr) -> anyhow::Result<SendRequest<Empty<Bytes>>> {
        loop {
            let pooled = self.idle.lock().expect("pool lock").pop();
            let Some(mut sender) = pooled else { break };
            // Closed while idle (the server said so before anything was sent): drop it, as
            // any client would.
            if !sender.is_closed() && sender.ready().await.is_ok() {
                return Ok(sender);
            }
        }
        let stream = TcpStream::connect(addr).await.context("connect")?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("handshake")?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }

    /// `GET path` on a pooled connection; the connection goes back to the pool unless the
    /// response closes it.
    async fn get(&self, addr: SocketAddr, host: &str, path: &str) -> anyhow::Result<Answer> {
        let mut sender = self.take(addr).await?;
        let request = Request::get(path)
            .header(HOST, HeaderValue::from_str(host)?)
            .body(Empty::<Bytes>::new())?;
        let response = sender.send_request(request).await.context("send request")?;
        let status = response.status().as_u16();
        let closes = response
            .headers()
            .get(CONNECTION)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
        let echo_name = response
            .headers()
            .get("x-echo-name")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        response.into_body().collect().await.context("read body")?;
        if !closes {
            self.idle.lock().expect("pool lock").push(sender);
        }
        Ok(Answer { status, echo_name })
    }
}

async fn request(
    client: Client,
    pool: &Pool,
    addr: SocketAddr,
    host: &str,
    path: &str,
) -> anyhow::Result<Answer> {
    match client {
        Client::KeepAlive => tokio::time::timeout(REQUEST_TIMEOUT, pool.get(addr, host, path))
            .await
            .unwrap_or_else(|_| Err(anyhow::anyhow!("no response within {REQUEST_TIMEOUT:?}"))),
        Client::NewConnection => integration::get(addr, host, path).await.map(|r| Answer {
            status: r.status,
            echo_name: r.echo_name,
        }),
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i] as f64 / 1000.0
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn latency_json(mut us: Vec<u64>) -> Value {
    us.sort_unstable();
    json!({
        "p50": round3(percentile(&us, 0.5)),
        "p90": round3(percentile(&us, 0.9)),
        "p99": round3(percentile(&us, 0.99)),
        "p999": round3(percentile(&us, 0.999)),
        "max": round3(percentile(&us, 1.0)),
    })
}

/// The command line: `[--keep-alive | --mixed] ADDR HOST PATH RATE [MAX_SECONDS]`.
struct Args {
    clients: Vec<Client>,
    addr: SocketAddr,
    host: Arc<str>,
    path: Arc<str>,
    rate: f64,
    max: Duration,
}

impl Args {
    fn parse() -> anyhow::Result<Args> {
        let mut args: Vec<String> = std::env::args().collect();
        let clients: Vec<Client> = match args.get(1).map(String::as_str) {
            Some("--keep-alive") => vec![Client::KeepAlive],
            Some("--mixed") => vec![Client::NewConnection, Client::KeepAlive],
            _ => vec![Client::NewConnection],
        };
        if args.get(1).is_some_and(|a| a.starts_with("--")) {
            args.remove(1);
        }
        if !(5..=6).contains(&args.len()) {
            bail!("usage: load-loop [--keep-alive | --mixed] ADDR HOST PATH RATE [MAX_SECONDS]");
        }
        let rate: f64 = args[4].parse().context("RATE")?;
        if !(rate > 0.0 && rate <= 100_000.0) {
            bail!("RATE must be in (0, 100000]");
        }
        Ok(Args {
            clients,
            addr: args[1].parse().context("ADDR")?,
            host: Arc::from(args[2].as_str()),
            path: Arc::from(args[3].as_str()),
            rate,
            max: Duration::from_secs_f64(match args.get(5) {
                Some(s) => s.parse().context("MAX_SECONDS")?,
                None => 3600.0,
            }),
        })
    }
}

impl Tally {
    /// Counts one request sent by `client` at `due` and answered at `done` (`start`: when
    /// the run began).
    fn take(
        &mut self,
        client: Client,
        result: anyhow::Result<Answer>,
        (start, due, done): (Instant, Instant, Instant),
    ) {
        let took = done.saturating_duration_since(due).as_micros() as u64;
        let ok = matches!(&result, Ok(reply) if (200..300).contains(&reply.status));
        self.clients[client as usize].record(took, ok);
        match result {
            Ok(reply) if ok => {
                *self
                    .by_name
                    .entry(reply.echo_name.unwrap_or_default())
                    .or_default() += 1;
            }
            other => {
                if self.failed_at_s.len() < KEPT_FAILURE_TIMES {
                    let at = round3(due.saturating_duration_since(start).as_secs_f64());
                    self.failed_at_s.push(at);
                }
                if self.errors.len() < KEPT_ERRORS {
                    let what = match other {
                        Ok(reply) => format!("status {}", reply.status),
                        Err(e) => format!("{e:#}"),
                    };
                    self.errors.push(format!("{}: {what}", client.key()));
                }
            }
        }
    }

    /// The report: counts and latencies, over all requests and by client.
    fn json(&self, args: &Args, sent: u64, duration: Duration) -> Value {
        let mut by_client = serde_json::Map::new();
        for c in &args.clients {
            let ct = &self.clients[*c as usize];
            by_client.insert(
                c.key().to_string(),
                json!({
                    "sent": ct.sent,
                    "ok": ct.ok,
                    "failed": ct.failed,
                    "latency_ms": latency_json(ct.latencies_us.clone()),
                    "latency_ok_ms": latency_json(ct.ok_latencies_us.clone()),
                }),
            );
        }
        let all: Vec<u64> = self
            .clients
            .iter()
            .flat_map(|c| c.latencies_us.iter().copied())
            .collect();
        let all_ok: Vec<u64> = self
            .clients
            .iter()
            .flat_map(|c| c.ok_latencies_us.iter().copied())
            .collect();
        json!({
            "sent": sent,
            "ok": self.clients.iter().map(|c| c.ok).sum::<u64>(),
            "failed": self.clients.iter().map(|c| c.failed).sum::<u64>(),
            "duration_s": round3(duration.as_secs_f64()),
            "rate": args.rate,
            "latency_ms": latency_json(all),
            "latency_ok_ms": latency_json(all_ok),
            "failure_counted_at_ms": REQUEST_TIMEOUT.as_millis() as u64,
            "errors": self.errors,
            "failed_at_s": self.failed_at_s,
            "by_name": self.by_name,
            "by_client": by_client,
        })
    }
}

/// Stops the run on end of file (or an error) on stdin.
fn stop_on_stdin_eof() -> tokio::sync::watch::Receiver<bool> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = [0u8; 256];
        while let Ok(n) = stdin.read(&mut buf) {
            if n == 0 {
                break;
            }
        }
        let _ = stop_tx.send(true);
    });
    stop_rx
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse()?;
    let (addr, rate) = (args.addr, args.rate);
    let mut stop_rx = stop_on_stdin_eof();
    let pool = Arc::new(Pool::default());
    let tally = Arc::new(Mutex::new(Tally::default()));
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let start = Instant::now();
    let until = start + args.max;
    let period = Duration::from_secs_f64(1.0 / rate);
    let mut ticks = tokio::time::interval_at(start, period);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut sent = 0u64;
    let mut tasks = tokio::task::JoinSet::new();
    let kinds: Vec<&str> = args.clients.iter().map(|c| c.key()).collect();
    eprintln!(
        "load-loop: {rate} requests/s to http://{addr}{} (Host: {}), clients: {}",
        args.path,
        args.host,
        kinds.join(" + ")
    );
    loop {
        let due = tokio::select! {
            biased;
            _ = stop_rx.wait_for(|s| *s) => break,
            _ = tokio::time::sleep_until(until) => break,
            due = ticks.tick() => due,
        };
        let permit = tokio::select! {
            biased;
            _ = stop_rx.wait_for(|s| *s) => break,
            p = slots.clone().acquire_owned() => p?,
        };
        let client = args.clients[(sent % args.clients.len() as u64) as usize];
        sent += 1;
        let (host, path) = (args.host.clone(), args.path.clone());
        let (tally, pool) = (tally.clone(), pool.clone());
        tasks.spawn(async move {
            let result = request(client, &pool, addr, &host, &path).await;
            // Timed before the tally's lock is waited for.
            let done = Instant::now();
            tally.lock().await.take(client, result, (start, due, done));
            drop(permit);
        });
        // Reap finished tasks as we go, so the set stays small.
        while tasks.try_join_next().is_some() {}
    }
    let duration = start.elapsed();
    while tasks.join_next().await.is_some() {}
    println!("{}", tally.lock().await.json(&args, sent, duration));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_counts_at_its_timeout_in_every_request_percentiles() {
        let mut c = ClientTally::default();
        for _ in 0..99 {
            c.record(10_000, true);
        }
        c.record(2_000, false);
        assert_eq!((c.sent, c.ok, c.failed), (100, 99, 1));
        let all = latency_json(c.latencies_us.clone());
        let ok = latency_json(c.ok_latencies_us.clone());
        assert_eq!(all["max"], json!(REQUEST_TIMEOUT.as_millis() as f64));
        assert_eq!(all["p99"], json!(10.0));
        assert_eq!(ok["max"], json!(10.0));
    }

    #[test]
    fn a_failure_slower_than_the_timeout_counts_at_the_time_it_took() {
        let mut c = ClientTally::default();
        c.record(7_000_000, false);
        assert_eq!(latency_json(c.latencies_us)["max"], json!(7000.0));
        assert!(c.ok_latencies_us.is_empty());
    }
}
