//! The derived conformance tables: one YAML file per upstream test, read into typed
//! expectations (requests and what must come back; statuses that must hold).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::Deserialize;

/// The namespace most conformance objects live in; a bare name in a table means one there.
pub const INFRA_NS: &str = "gateway-conformance-infra";

/// Features of the GATEWAY-HTTP profile's core: a test needing only these is a core test.
pub const CORE_FEATURES: [&str; 3] = ["Gateway", "HTTPRoute", "ReferenceGrant"];

/// One upstream test, as data.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TestCase {
    /// The upstream `ShortName`.
    pub test: String,
    /// The upstream file it is derived from (`conformance/tests/<file>.go`).
    pub source: String,
    /// Upstream features without the `Support` prefix.
    pub features: Vec<String>,
    /// Upstream manifests (under `upstream/tests/`) applied on top of the base.
    pub manifests: Vec<String>,
    /// Why the test cannot run against the agent here (it is recorded, not skipped).
    pub not_run: Option<String>,
    /// What differs here from a cluster and may decide the outcome (shown in the report).
    pub note: Option<String>,
    /// Services without a selector whose EndpointSlices the upstream test fills from another
    /// Service's pods: Service -> the Service whose echo serves them (`ns/name` or name).
    pub endpoints_from: BTreeMap<String, String>,
    /// Gateways that must be accepted with routes attached before requests are checked.
    pub accepted: Vec<Accepted>,
    /// Status conditions that must hold.
    pub conditions: Vec<ConditionCheck>,
    /// Requests and what must come back, each 3 times in a row.
    pub requests: Vec<Expect>,
    /// A weighted distribution to check.
    pub weights: Option<Weights>,
    /// After all that: objects removed from the manifests, then more requests.
    pub then: Option<Then>,
    /// Each Gateway has an address of its own, as in a cluster (the agent runs with
    /// `--gateway-address-pool`); requests go to the `status.addresses` of the Gateway
    /// they name.
    pub own_addresses: bool,
}

/// A second phase: objects removed or replaced (as the upstream test patches them), then
/// statuses and requests checked again.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Then {
    /// Objects taken out of the test's manifests.
    pub remove: Vec<ObjectRef>,
    /// Objects replaced by a new version (the upstream patch applied to the fixture).
    pub replace: Vec<Replacement>,
    /// Status conditions that must hold afterwards.
    pub conditions: Vec<ConditionCheck>,
    /// Requests checked afterwards.
    pub requests: Vec<Expect>,
}

/// A new version of an object of the test's manifests.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replacement {
    /// The object replaced.
    #[serde(flatten)]
    pub object: ObjectRef,
    /// Its new YAML (placeholders as upstream writes them).
    pub yaml: String,
}

/// An object of the test's manifests.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectRef {
    /// Its kind.
    pub kind: String,
    /// `ns/name` or name.
    pub name: String,
}

impl TestCase {
    /// True when every feature it needs is a core feature of GATEWAY-HTTP.
    pub fn is_core(&self) -> bool {
        self.features
            .iter()
            .all(|f| CORE_FEATURES.contains(&f.as_str()))
    }
}

/// `GatewayAndHTTPRoutesMustBeAccepted` (+ `HTTPRouteMustHaveResolvedRefsConditionsTrue`):
/// the Gateway has an address, its listeners are `Accepted`, `Programmed` and
/// `ResolvedRefs`, each route's parent status for it is `Accepted`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Accepted {
    /// The Gateway (`ns/name` or name).
    pub gateway: String,
    /// Routes that must be accepted by it.
    #[serde(default)]
    pub routes: Vec<String>,
    /// Whether the routes' `ResolvedRefs` must be `True` too.
    #[serde(default = "yes")]
    pub resolved_refs: bool,
}

fn yes() -> bool {
    true
}

/// Kinds a [`ConditionCheck`] looks at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum StatusKind {
    /// A GatewayClass.
    GatewayClass,
    /// A Gateway (or one of its listeners with `listener`).
    #[default]
    Gateway,
    /// An HTTPRoute's status for one parent.
    HTTPRoute,
}

/// Conditions one object (or listener, or route parent) must have.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConditionCheck {
    /// What kind of object.
    pub kind: StatusKind,
    /// The object (`ns/name` or name; a GatewayClass by name).
    pub name: String,
    /// For a Gateway: the listener to look at.
    pub listener: Option<String>,
    /// For an HTTPRoute: the parent Gateway (`ns/name` or name).
    pub parent: Option<String>,
    /// Condition type -> `True`, `False`, or `<status>/<reason>`.
    pub conditions: BTreeMap<String, String>,
    /// For a listener (or a whole Gateway: the sum): attached routes.
    pub attached_routes: Option<i64>,
    /// For a whole Gateway: the names of its listener statuses, exactly.
    pub listeners: Option<Vec<String>>,
    /// For a listener: the route kinds it must list as supported.
    pub supported_kinds: Option<Vec<String>>,
    /// For an HTTPRoute: no parent of it is accepted.
    pub no_accepted_parents: bool,
}

/// Which bind a request goes to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// The HTTP bind.
    #[default]
    Http,
    /// The HTTPS bind, SNI = the host.
    Https,
}

impl Scheme {
    /// `http` or `https`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// One request and what must come back.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Expect {
    /// Scheme (bind) of the request.
    pub scheme: Scheme,
    /// The Host header (empty: the bind's `ip:port`, as the suite sends the Gateway address).
    pub host: Option<String>,
    /// Path and query.
    pub path: String,
    /// Method (`GET` when absent).
    pub method: Option<String>,
    /// Request headers.
    pub headers: BTreeMap<String, String>,
    /// Headers the echo is asked to set on its response.
    pub backend_sets: BTreeMap<String, String>,
    /// Accepted status codes (200 when empty).
    pub status: Vec<u16>,
    /// The Service that must answer (`ns/name` or name).
    pub backend: Option<String>,
    /// The request as the backend must see it (default: as sent).
    pub backend_request: Option<BackendRequest>,
    /// Response headers.
    pub response: Option<ResponseCheck>,
    /// Where a redirect must point.
    pub redirect: Option<Redirect>,
    /// `MakeRequestAndExpectFailure`: anything but 200 (5 times in a row).
    pub failure: bool,
    /// The Gateway the request goes to (`ns/name` or name), at its `status.addresses`
    /// (cases with `own_addresses`; otherwise every Gateway is the agent's binds).
    pub gateway: Option<String>,
    /// The listener port the request is for (80 for HTTP, 443 for HTTPS when absent; those
    /// are the agent's `--http-bind`/`--https-bind` ports, any other the port itself).
    pub port: Option<u16>,
}

impl Expect {
    /// The method sent.
    pub fn method(&self) -> &str {
        self.method.as_deref().unwrap_or("GET")
    }

    /// The accepted status codes.
    pub fn statuses(&self) -> Vec<u16> {
        if self.status.is_empty() {
            vec![200]
        } else {
            self.status.clone()
        }
    }

    /// A short name for reports.
    pub fn label(&self) -> String {
        let host = self.host.as_deref().unwrap_or("<gateway>");
        let mut s = format!(
            "{} {}://{host}{}",
            self.method(),
            self.scheme.as_str(),
            self.path
        );
        if !self.headers.is_empty() {
            let h: Vec<String> = self
                .headers
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            s.push_str(&format!(" [{}]", h.join(", ")));
        }
        s
    }
}

/// The request as the backend must see it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackendRequest {
    /// Path and query (default: the request's).
    pub path: Option<String>,
    /// Host header (unchecked when absent).
    pub host: Option<String>,
    /// Method (default: the request's).
    pub method: Option<String>,
    /// Headers that must be present with these values (values of repeated headers joined
    /// with `,`).
    pub headers: BTreeMap<String, String>,
    /// Headers that must be absent.
    pub absent: Vec<String>,
}

/// Response headers.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResponseCheck {
    /// Present with these values.
    pub headers: BTreeMap<String, String>,
    /// Absent.
    pub absent: Vec<String>,
}

/// Parts of a redirect's `Location` (absent: the suite's defaults).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Redirect {
    /// Scheme (default: the request's).
    pub scheme: Option<String>,
    /// Host name, without port (default: not checked).
    pub host: Option<String>,
    /// Port (default: none or the scheme's).
    pub port: Option<String>,
    /// Path (default: the request's, without query).
    pub path: Option<String>,
}

/// A weighted split: of `requests` requests, each backend's share within `tolerance` of its
/// weight's share.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Weights {
    /// The request.
    pub request: Expect,
    /// Backend -> weight.
    pub backends: BTreeMap<String, u32>,
    /// How many requests.
    pub requests: u32,
    /// Allowed deviation of a share (0.05: ±5 percentage points of the whole).
    pub tolerance: f64,
}

/// `ns/name`, a bare name being in [`INFRA_NS`].
pub fn qualified(name: &str) -> (String, String) {
    match name.split_once('/') {
        Some((ns, n)) => (ns.to_string(), n.to_string()),
        None => (INFRA_NS.to_string(), name.to_string()),
    }
}

/// The data directory: upstream manifests, NOTICE and the derived tables.
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/gateway-conformance")
}

/// Every table under `dir/cases`, sorted by test name; a file that does not parse, a test
/// named twice or a manifest that does not exist is an error.
pub fn load_cases(dir: &Path) -> anyhow::Result<Vec<TestCase>> {
    let mut out: Vec<TestCase> = Vec::new();
    let cases = dir.join("cases");
    for entry in std::fs::read_dir(&cases).with_context(|| format!("read {}", cases.display()))? {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path)?;
        let case: TestCase =
            serde_yaml_ng::from_str(&text).with_context(|| format!("parse {}", path.display()))?;
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        if stem != case.test {
            bail!(
                "{} names test {}: file and test names differ",
                path.display(),
                case.test
            );
        }
        for m in &case.manifests {
            let p = dir.join("upstream/tests").join(m);
            if !p.is_file() {
                bail!("{}: manifest {} is not in the data", case.test, p.display());
            }
        }
        out.push(case);
    }
    out.sort_by(|a, b| a.test.cmp(&b.test));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gwconf::manifests;

    #[test]
    fn every_table_loads_and_the_core_profile_is_complete() {
        let dir = data_dir();
        let cases = load_cases(&dir).expect("the tables load");
        let core: Vec<&str> = cases
            .iter()
            .filter(|c| c.is_core())
            .map(|c| c.test.as_str())
            .collect();
        // GATEWAY-HTTP core at v1.6.1: 25 HTTPRoute tests and 12 Gateway tests.
        assert_eq!(core.len(), 37, "{core:?}");
        assert_eq!(core.iter().filter(|t| t.starts_with("Gateway")).count(), 12);
        for case in &cases {
            let runs = !case.requests.is_empty()
                || !case.conditions.is_empty()
                || case.weights.is_some()
                || case.then.is_some();
            assert!(
                runs != case.not_run.is_some(),
                "{}: a table either checks something or says why it cannot run",
                case.test
            );
            assert!(case.source.ends_with(".go"), "{}", case.test);
        }
    }

    #[test]
    fn the_manifests_template_cleanly_and_every_service_gets_an_echo() {
        let dir = data_dir();
        for case in load_cases(&dir).expect("the tables load") {
            let files = manifests::upstream(&dir, &case).expect("manifests read");
            for (name, text) in &files {
                assert!(
                    !text.contains("{GATEWAY_"),
                    "{}: {name} keeps a placeholder",
                    case.test
                );
            }
            let texts: Vec<&str> = files.iter().map(|(_, t)| t.as_str()).collect();
            let services = manifests::services(&texts).expect("services parse");
            assert!(services.iter().any(|s| s.name == "infra-backend-v1"));
            let echo_of = manifests::echo_of(&case, &services);
            for source in echo_of.values() {
                assert!(
                    services.iter().any(|s| s.key() == *source),
                    "{}: {source} is not a Service",
                    case.test
                );
            }
        }
    }
}
