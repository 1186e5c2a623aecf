//! One conformance test against the agent: its manifests and echo backends, the statuses it
//! waits for, and its requests, each until 3 answers in a row meet the expectation (the
//! suite's eventual-consistency rule) or the deadline passes.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, bail};
use futures_util::future::join_all;
use integration::gwconf::cases::{
    Accepted, ConditionCheck, Expect, Scheme, TestCase, Then, Weights,
};
use integration::gwconf::check::{backend_of, check_weights};
use integration::gwconf::manifests::{self, ServiceDecl};
use integration::gwconf::{
    CONSECUTIVE, CONSECUTIVE_FAILURES, ConformanceEcho, Echoed, Observed, StatusVerdict,
    TestResult, Verdict, check, check_accepted, check_conditions,
};
use tokio::time::Instant;

use crate::support::{Agent, Options};

/// Tries of a weighted split before it fails (the suite's `MaxTestRetries`).
const WEIGHT_TRIES: usize = 10;
/// Pause between failed tries of one expectation (the suite waits 1 s; this is a poll).
const RETRY: Duration = Duration::from_millis(100);
/// Reasons kept per test in the report.
const MAX_REASONS: usize = 5;

/// A running agent with the test's manifests and one echo per Service.
struct Setup {
    agent: Agent,
    /// Kept alive while the test runs.
    _echoes: Vec<ConformanceEcho>,
    /// The test's own manifest files: (file name in the manifests dir, text).
    test_files: Vec<(String, String)>,
}

/// Runs one test; every outcome (a set-up error too) is a [`TestResult`].
pub async fn run_test(case: &TestCase, dir: &Path, deadline: Duration) -> TestResult {
    let mut result = TestResult {
        test: case.test.clone(),
        core: case.is_core(),
        features: case.features.clone(),
        verdict: Verdict::NotRun,
        reasons: Vec::new(),
        requests_passed: 0,
        requests: case.requests.len()
            + case.then.as_ref().map_or(0, |t| t.requests.len())
            + usize::from(case.weights.is_some()),
    };
    if let Some(why) = &case.not_run {
        result.reasons.push(why.clone());
        return result;
    }
    let mut reasons = Vec::new();
    match setup(case, dir).await {
        Ok(setup) => run_phases(case, &setup, deadline, &mut result, &mut reasons).await,
        Err(e) => reasons.push(format!("set-up failed: {e:#}")),
    }
    if let Some(note) = &case.note
        && !reasons.is_empty()
    {
        reasons.insert(0, format!("note: {note}"));
    }
    result.verdict = if reasons.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Fail
    };
    if reasons.len() > MAX_REASONS {
        let more = reasons.len() - MAX_REASONS + 1;
        reasons.truncate(MAX_REASONS - 1);
        reasons.push(format!("(and {more} more)"));
    }
    result.reasons = reasons;
    result
}

async fn run_phases(
    case: &TestCase,
    setup: &Setup,
    deadline: Duration,
    result: &mut TestResult,
    reasons: &mut Vec<String>,
) {
    reasons.extend(statuses(&setup.agent, &case.accepted, &case.conditions, deadline).await);
    let to = To {
        agent: &setup.agent,
        own: case.own_addresses,
        gateway: case.accepted.first().map(|a| a.gateway.clone()),
    };
    let (passed, failed) = requests(&to, &case.requests, deadline).await;
    result.requests_passed += passed;
    reasons.extend(failed);
    if let Some(w) = &case.weights {
        match weights(&to, w).await {
            Ok(()) => result.requests_passed += 1,
            Err(e) => reasons.push(format!("weights: {e}")),
        }
    }
    if let Some(then) = &case.then {
        if let Err(e) = change(setup, then) {
            reasons.push(format!("changing the manifests failed: {e:#}"));
            return;
        }
        let after = |f: String| format!("after the change: {f}");
        reasons.extend(
            statuses(&setup.agent, &[], &then.conditions, deadline)
                .await
                .into_iter()
                .map(after),
        );
        let (passed, failed) = requests(&to, &then.requests, deadline).await;
        result.requests_passed += passed;
        reasons.extend(failed.into_iter().map(after));
    }
}

/// Starts an echo per Service (or per Service another borrows), writes the manifests and
/// starts the agent.
async fn setup(case: &TestCase, dir: &Path) -> anyhow::Result<Setup> {
    let upstream = manifests::upstream(dir, case)?;
    let texts: Vec<&str> = upstream.iter().map(|(_, t)| t.as_str()).collect();
    let services = manifests::services(&texts)?;
    let echo_of = manifests::echo_of(case, &services);
    let mut echoes: BTreeMap<String, ConformanceEcho> = BTreeMap::new();
    for source in echo_of.values() {
        if echoes.contains_key(source) {
            continue;
        }
        let decl = services
            .iter()
            .find(|s| s.key() == *source)
            .with_context(|| {
                format!("{}: no Service {source} to take endpoints from", case.test)
            })?;
        echoes.insert(source.clone(), ConformanceEcho::start(decl.placement())?);
    }
    let port_of = |s: &ServiceDecl| echoes[&echo_of[&s.key()]].addr().port();
    let slices: Vec<String> = services
        .iter()
        .map(|s| manifests::endpoint_slice(s, port_of(s)))
        .collect();
    let mut files = vec![
        (
            "00-gatewayclass.yaml".to_string(),
            manifests::gateway_class(),
        ),
        ("30-endpoints.yaml".to_string(), slices.join("---\n")),
        ("40-secrets.yaml".to_string(), manifests::suite_secrets()),
    ];
    files.extend(upstream.iter().cloned());
    let test_files = upstream
        .into_iter()
        .filter(|(name, _)| name.starts_with("20-"))
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let mut options = Options::default();
    if case.own_addresses {
        options.extra = vec!["--gateway-address-pool".into(), address_pool()];
    }
    let agent = Agent::start(&refs, options).await?;
    Ok(Setup {
        agent,
        _echoes: echoes.into_values().collect(),
        test_files,
    })
}

/// Waits for every status expectation; what still does not hold at the deadline.
async fn statuses(
    agent: &Agent,
    accepted: &[Accepted],
    conditions: &[ConditionCheck],
    deadline: Duration,
) -> Vec<String> {
    if accepted.is_empty() && conditions.is_empty() {
        return Vec::new();
    }
    let until = Instant::now() + deadline;
    loop {
        let state = match agent.debug_state().await {
            Ok(s) => s,
            Err(e) => return vec![format!("/debug/state: {e:#}")],
        };
        let verdicts: Vec<StatusVerdict> = accepted
            .iter()
            .map(|a| check_accepted(&state, a))
            .chain(conditions.iter().map(|c| check_conditions(&state, c)))
            .collect();
        if verdicts.contains(&StatusVerdict::Unavailable) {
            return vec![
                "statuses: /debug/state renders no Gateway API statuses (`gateway_api`): \
                 the status expectations cannot be checked"
                    .to_string(),
            ];
        }
        let fails: Vec<String> = verdicts
            .into_iter()
            .filter_map(|v| match v {
                StatusVerdict::Fails(e) => Some(format!("status: {e}")),
                _ => None,
            })
            .collect();
        if fails.is_empty() || Instant::now() >= until {
            return fails;
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// Runs the expectations side by side (as the suite's parallel subtests do): how many held,
/// and why the others did not.
async fn requests(to: &To<'_>, expects: &[Expect], deadline: Duration) -> (usize, Vec<String>) {
    let outcomes = join_all(expects.iter().map(|e| eventually(to, e, deadline))).await;
    let mut passed = 0;
    let mut failed = Vec::new();
    for (e, outcome) in expects.iter().zip(outcomes) {
        match outcome {
            Ok(()) => passed += 1,
            Err(why) => failed.push(format!("{}: {why}", e.label())),
        }
    }
    (passed, failed)
}

/// Repeats the request until enough answers in a row meet the expectation; the last
/// mismatch when the deadline passes first.
async fn eventually(to: &To<'_>, want: &Expect, deadline: Duration) -> Result<(), String> {
    let needed = if want.failure {
        CONSECUTIVE_FAILURES
    } else {
        CONSECUTIVE
    };
    let until = Instant::now() + deadline;
    let mut in_a_row = 0;
    loop {
        let outcome = match send(to, want).await {
            Ok((got, host)) => check(want, &got, &host),
            Err(e) => Err(format!("request failed: {e:#}")),
        };
        match outcome {
            Ok(()) => {
                in_a_row += 1;
                if in_a_row >= needed {
                    return Ok(());
                }
            }
            Err(e) => {
                in_a_row = 0;
                if Instant::now() >= until {
                    return Err(e);
                }
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

/// Where a test's requests go.
struct To<'a> {
    agent: &'a Agent,
    /// Gateways have addresses of their own (`TestCase::own_addresses`).
    own: bool,
    /// The Gateway of a request that names none (the first the test waits for).
    gateway: Option<String>,
}

impl To<'_> {
    /// The address to send `want` to, and the address the suite would name in a Host
    /// header (the Gateway's address and the listener's declared port).
    async fn target(&self, want: &Expect) -> anyhow::Result<(SocketAddr, SocketAddr)> {
        let (shared, default_port) = match want.scheme {
            Scheme::Http => (self.agent.http, 80),
            Scheme::Https => (self.agent.https, 443),
        };
        let declared = want.port.unwrap_or(default_port);
        let port = if declared == default_port {
            shared.port()
        } else {
            declared
        };
        let ip = if self.own {
            let gateway = want.gateway.as_ref().or(self.gateway.as_ref());
            let gateway = gateway.context("the request names no Gateway")?;
            gateway_address(self.agent, gateway).await?
        } else {
            shared.ip()
        };
        Ok((
            SocketAddr::new(ip, port),
            SocketAddr::new(ip, if self.own { declared } else { port }),
        ))
    }
}

/// The first of Gateway `name`'s `status.addresses`, as `/debug/state` shows it.
async fn gateway_address(agent: &Agent, name: &str) -> anyhow::Result<std::net::IpAddr> {
    let (ns, n) = integration::gwconf::cases::qualified(name);
    let state = agent.debug_state().await?;
    let value = state["gateway_api"]["gateways"][format!("{ns}/{n}")]["addresses"][0]["value"]
        .as_str()
        .with_context(|| format!("Gateway {ns}/{n} has no status.addresses yet"))?;
    Ok(value.parse()?)
}

/// Addresses no other test's agent uses (loopback, one block of 16 per agent: the base
/// manifests have 4 Gateways, a test adds a few).
fn address_pool() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let second = 100 + std::process::id() % 100;
    let (third, fourth) = ((n / 15) % 256, (n % 15) * 16 + 1);
    (0..16)
        .map(|i| format!("127.{second}.{third}.{}", fourth + i))
        .collect::<Vec<_>>()
        .join(",")
}

/// Sends one request as the suite would; the response and the Host header sent.
async fn send(to: &To<'_>, want: &Expect) -> anyhow::Result<(Observed, String)> {
    let (bind, named) = to.target(want).await?;
    let scheme_port_default = match want.scheme {
        Scheme::Http => 80,
        Scheme::Https => 443,
    };
    let host = match &want.host {
        Some(h) => h.clone(),
        None => default_host(named, scheme_port_default),
    };
    let set: Vec<String> = want
        .backend_sets
        .iter()
        .map(|(k, v)| format!("{k}:{v}"))
        .collect();
    let set = set.join(",");
    match want.scheme {
        Scheme::Http => {
            let mut req = integration::Req::new(want.method(), &host, &want.path)
                .header(integration::gwconf::echo::SET_HEADER, &set);
            for (k, v) in &want.headers {
                req = req.header(k, v);
            }
            let reply = integration::request(bind, req).await?;
            Ok((
                Observed {
                    status: reply.status,
                    headers: reply.headers,
                    body: reply.body,
                },
                host,
            ))
        }
        Scheme::Https => {
            if want.method() != "GET" || !want.headers.is_empty() || !set.is_empty() {
                bail!("HTTPS requests here are GETs without extra headers");
            }
            let (status, headers, body) =
                integration::tls::https_get_sni(bind, &host, &host, &want.path, None).await?;
            Ok((
                Observed {
                    status,
                    headers,
                    body,
                },
                host,
            ))
        }
    }
}

/// The Host the suite sends without one: the Gateway's address, without the scheme's
/// default port.
fn default_host(bind: SocketAddr, default_port: u16) -> String {
    if bind.port() == default_port {
        bind.ip().to_string()
    } else {
        bind.to_string()
    }
}

/// `WEIGHT_TRIES` tries of `want.requests` requests; Ok when one split is within tolerance.
async fn weights(to: &To<'_>, want: &Weights) -> Result<(), String> {
    let mut last = String::new();
    for _ in 0..WEIGHT_TRIES {
        let mut counts: BTreeMap<String, u32> = BTreeMap::new();
        for _ in 0..want.requests {
            let (got, host) = send(to, &want.request)
                .await
                .map_err(|e| format!("{e:#}"))?;
            check(&want.request, &got, &host)?;
            let echoed: Echoed = serde_json::from_str(&got.body).map_err(|e| e.to_string())?;
            let backend =
                backend_of(&echoed.pod, want.backends.keys()).unwrap_or_else(|| echoed.pod.clone());
            *counts.entry(backend).or_default() += 1;
        }
        match check_weights(&counts, want) {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Rewrites the test's manifest files without the removed objects and with the replaced
/// ones in their new version.
fn change(setup: &Setup, then: &Then) -> anyhow::Result<()> {
    let mut replaced = vec![false; then.replace.len()];
    for (name, text) in &setup.test_files {
        let mut new = text.clone();
        for o in &then.remove {
            new = manifests::without(&new, &o.kind, &o.name)?;
        }
        for (i, r) in then.replace.iter().enumerate() {
            let without = manifests::without(&new, &r.object.kind, &r.object.name)?;
            if without != new {
                new = format!("{without}---\n{}", manifests::template(&r.yaml));
                replaced[i] = true;
            }
        }
        if new != *text {
            setup.agent.write_manifest(name, &new)?;
        }
    }
    if let Some(i) = replaced.iter().position(|r| !r) {
        bail!(
            "{} {} is not in the test's manifests",
            then.replace[i].object.kind,
            then.replace[i].object.name
        );
    }
    Ok(())
}
