//! Gateway API conformance (GATEWAY-HTTP) as data: the upstream suite's manifests, the
//! request -> expectation tables derived from its tests, echo backends that answer like the
//! suite's, and the pure checks; the runner that drives the agent is in the agent's e2e
//! tests (`gateway_conformance`).

pub mod cases;
pub mod check;
pub mod echo;
pub mod manifests;
pub mod status;

use serde::{Deserialize, Serialize};

pub use cases::{Expect, TestCase, data_dir, load_cases};
pub use check::{Observed, check};
pub use echo::{ConformanceEcho, Echoed, Placement};
pub use status::{StatusVerdict, check_accepted, check_conditions};

/// The upstream release the data is taken from.
pub const UPSTREAM_TAG: &str = "v1.6.1";
/// Its commit in kubernetes-sigs/gateway-api.
pub const UPSTREAM_COMMIT: &str = "8bb74df00e56ec8f944d48c25e6c1c9c2f6848e3";
/// Successes in a row an expectation needs (the suite's `RequiredConsecutiveSuccesses`).
pub const CONSECUTIVE: usize = 3;
/// Non-200 answers in a row `MakeRequestAndExpectFailure` needs.
pub const CONSECUTIVE_FAILURES: usize = 5;

/// How one test came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every expectation held.
    Pass,
    /// Some did not (or a status needed is not rendered yet).
    Fail,
    /// The test cannot run here; the reason says why.
    NotRun,
}

/// One test's result, as the report lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestResult {
    /// The upstream `ShortName`.
    pub test: String,
    /// Core test of the GATEWAY-HTTP profile (else extended).
    pub core: bool,
    /// Upstream features.
    pub features: Vec<String>,
    /// The outcome.
    pub verdict: Verdict,
    /// Why it failed or did not run (the first few reasons).
    pub reasons: Vec<String>,
    /// Request expectations that held, of all.
    pub requests_passed: usize,
    /// Request expectations.
    pub requests: usize,
}

/// A whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// [`UPSTREAM_TAG`].
    pub upstream_tag: String,
    /// [`UPSTREAM_COMMIT`].
    pub upstream_commit: String,
    /// Per test, by name.
    pub results: Vec<TestResult>,
}
