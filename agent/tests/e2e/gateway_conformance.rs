//! Gateway API conformance (GATEWAY-HTTP): the upstream suite's manifests and the
//! expectations derived from its tests (`integration::gwconf`, data in
//! `integration/tests/gateway-conformance/`) run against the agent with real HAProxy and
//! echo backends that answer like the suite's.
//!
//! The tests listed in [`EXPECTED_PASSING`] must pass. `scripts/gateway-conformance` runs
//! every test (`GATEWAY_CONFORMANCE_REPORT=<file>`) and writes the table in
//! docs/gateway-conformance.md from the report.

mod run;

use std::time::Duration;

use futures_util::StreamExt as _;
use integration::gwconf::{
    Report, TestResult, UPSTREAM_COMMIT, UPSTREAM_TAG, Verdict, data_dir, load_cases,
};

pub use run::run_test;

/// Tests that pass against this branch; each must keep passing.
const EXPECTED_PASSING: &[&str] = &[
    "GatewayInvalidParametersRef",
    "GatewayListenerUnsupportedProtocol",
    "GatewayWithAttachedRoutes",
    "GatewayInvalidRouteKind",
    "GatewayInvalidTLSConfiguration",
    "GatewayModifyListeners",
    "GatewaySecretInvalidReferenceGrant",
    "GatewaySecretMissingReferenceGrant",
    "GatewaySecretReferenceGrantAllInNamespace",
    "GatewaySecretReferenceGrantSpecific",
    "HTTPRouteCrossNamespace",
    "HTTPRouteExactPathMatching",
    "HTTPRouteHTTPSListener",
    "HTTPRouteHeaderMatching",
    "HTTPRouteHostnameIntersection",
    "HTTPRouteInvalidBackendRefUnknownKind",
    "HTTPRouteInvalidCrossNamespaceBackendRef",
    "HTTPRouteInvalidCrossNamespaceParentRef",
    "HTTPRouteInvalidNonExistentBackendRef",
    "HTTPRouteInvalidParentRefNotMatchingSectionName",
    "HTTPRouteInvalidReferenceGrant",
    "HTTPRouteListenerHostnameMatching",
    "HTTPRouteMatching",
    "HTTPRouteMatchingAcrossRoutes",
    "HTTPRouteMultipleGateways",
    "HTTPRouteNoBackendRefs",
    "HTTPRoutePartiallyInvalidViaInvalidReferenceGrant",
    "HTTPRoutePathMatchOrder",
    "HTTPRouteRedirectHostAndStatus",
    "HTTPRouteReferenceGrant",
    "HTTPRouteRequestHeaderModifier",
    "HTTPRouteServiceTypes",
    "HTTPRouteSimpleSameNamespace",
    "HTTPRouteWeight",
    "HTTPRoute303Redirect",
    "HTTPRoute307Redirect",
    "HTTPRoute308Redirect",
    "HTTPRouteMethodMatching",
    "HTTPRouteQueryParamMatching",
    "HTTPRouteRedirectPath",
    "HTTPRouteRedirectPort",
    "HTTPRouteRedirectPortAndScheme",
    "HTTPRouteRedirectScheme",
    "HTTPRouteResponseHeaderModifier",
    "HTTPRouteRewriteHost",
    "HTTPRouteRewritePath",
];

/// The suite's `MaxTimeToConsistency` (30 s); `GATEWAY_CONFORMANCE_DEADLINE_SECS` changes it.
const DEADLINE: Duration = Duration::from_secs(30);
/// Tests run at once (each has its own agent and HAProxy); `GATEWAY_CONFORMANCE_JOBS`.
const JOBS: usize = 4;

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.parse().ok()
}

/// Runs `names` (every test when `None`), `jobs` at a time, in name order.
async fn run_tests(names: Option<&[&str]>, deadline: Duration, jobs: usize) -> Vec<TestResult> {
    let dir = data_dir();
    let cases = load_cases(&dir).expect("the conformance tables load");
    let chosen: Vec<_> = cases
        .into_iter()
        .filter(|c| names.is_none_or(|n| n.contains(&c.test.as_str())))
        .collect();
    let mut results: Vec<TestResult> = futures_util::stream::iter(chosen.iter())
        .map(|case| run_test(case, &dir, deadline))
        .buffer_unordered(jobs.max(1))
        .collect()
        .await;
    results.sort_by(|a, b| a.test.cmp(&b.test));
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gateway_conformance_expected_tests_pass() {
    let known: Vec<String> = load_cases(&data_dir())
        .expect("the conformance tables load")
        .into_iter()
        .map(|c| c.test)
        .collect();
    for name in EXPECTED_PASSING {
        assert!(known.iter().any(|k| k == name), "{name} has no table");
    }
    let deadline =
        env_number("GATEWAY_CONFORMANCE_DEADLINE_SECS").map_or(DEADLINE, Duration::from_secs);
    let jobs = env_number("GATEWAY_CONFORMANCE_JOBS").map_or(JOBS, |n| n as usize);
    let report_path = std::env::var_os("GATEWAY_CONFORMANCE_REPORT");
    let names = if report_path.is_some() {
        None
    } else {
        Some(EXPECTED_PASSING)
    };
    let results = run_tests(names, deadline, jobs).await;
    if let Some(path) = report_path {
        let report = Report {
            upstream_tag: UPSTREAM_TAG.to_string(),
            upstream_commit: UPSTREAM_COMMIT.to_string(),
            results: results.clone(),
        };
        let json = serde_json::to_string_pretty(&report).expect("a report serializes");
        std::fs::write(&path, json).expect("write the conformance report");
    }
    let failing: Vec<&TestResult> = results
        .iter()
        .filter(|r| EXPECTED_PASSING.contains(&r.test.as_str()) && r.verdict != Verdict::Pass)
        .collect();
    assert!(
        failing.is_empty(),
        "expected to pass, did not: {failing:#?}"
    );
}

/// The runner itself, on a table whose outcome does not depend on Gateway API support: a
/// test that cannot run here is reported with its reason, never dropped; a test that runs
/// gets its agent, echoes and manifests and comes back with every request accounted for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_conformance_runner_reports_every_test_it_is_given() {
    let names = [
        "GatewayObservedGenerationBump",
        "HTTPRouteExactPathMatching",
    ];
    let results = run_tests(Some(&names), Duration::from_secs(5), 2).await;
    assert_eq!(
        results.iter().map(|r| r.test.as_str()).collect::<Vec<_>>(),
        names
    );
    let not_run = &results[0];
    assert_eq!(not_run.verdict, Verdict::NotRun);
    assert!(not_run.reasons[0].contains("generation"), "{not_run:?}");
    let ran = &results[1];
    assert!(ran.core);
    assert_eq!(ran.requests, 6, "{ran:?}");
    assert!(
        !ran.reasons.iter().any(|r| r.contains("set-up failed")),
        "the agent, echoes and manifests came up: {ran:#?}"
    );
    // Pass, or a failure that says why (a request or a status not met).
    assert!(
        ran.verdict == Verdict::Pass || (ran.verdict == Verdict::Fail && !ran.reasons.is_empty()),
        "{ran:#?}"
    );
    assert_eq!(
        ran.verdict == Verdict::Pass,
        ran.requests_passed == ran.requests && ran.reasons.is_empty()
    );
}
