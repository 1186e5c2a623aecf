//! The Kubernetes manifests under deploy/ agree with each other and with the agent's command
//! line: every YAML document parses into its k8s-openapi type without losing a field, the
//! kustomizations list exactly the files there are, and in the pod the sockets, the config
//! directory, the ports, the probes and every `--flag` fit together. The Grafana dashboard
//! and the Dockerfile are checked against the metrics and the toolchain they depend on.
//!
//! The agent's flags come from its own clap command (`Cli::command()`); the
//! kustomizations are built with `kubectl kustomize` (see [`build`]).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, Namespace, PodSpec, Probe, Service, ServiceAccount, VolumeMount,
};
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The controller name the agent recognises in IngressClass objects.
const CONTROLLER: &str = "haproxy-agent.io/ingress-controller";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the agent crate lives in the workspace")
        .to_path_buf()
}

fn deploy_dir() -> PathBuf {
    repo().join("deploy")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `*.yaml`/`*.yml` file under `dir`, sorted.
fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            ) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn is_kustomization(path: &Path) -> bool {
    matches!(
        path.file_name().and_then(|n| n.to_str()),
        Some("kustomization.yaml" | "kustomization.yml" | "Kustomization")
    )
}

/// One YAML document: where it came from and its content.
#[derive(Debug, Clone)]
struct Doc {
    origin: String,
    value: Value,
}

impl Doc {
    fn kind(&self) -> &str {
        self.value["kind"].as_str().unwrap_or_default()
    }

    fn name(&self) -> &str {
        self.value["metadata"]["name"].as_str().unwrap_or_default()
    }

    fn namespace(&self) -> Option<&str> {
        self.value["metadata"]["namespace"].as_str()
    }

    fn typed<T: DeserializeOwned>(&self) -> T {
        serde_json::from_value(self.value.clone()).unwrap_or_else(|e| {
            panic!(
                "{}: {} {:?} does not parse as {}: {e}",
                self.origin,
                self.kind(),
                self.name(),
                std::any::type_name::<T>()
            )
        })
    }
}

/// The documents of one YAML file (empty documents skipped).
fn docs(path: &Path) -> Vec<Doc> {
    docs_of(&read(path), &path.display().to_string())
}

/// The documents of a YAML stream from `origin` (empty documents skipped).
fn docs_of(text: &str, origin: &str) -> Vec<Doc> {
    let mut out = Vec::new();
    for (i, de) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(de).unwrap_or_else(|e| panic!("{origin} document {i}: {e}"));
        if value.is_null() {
            continue;
        }
        out.push(Doc {
            origin: format!("{origin} document {i}"),
            value,
        });
    }
    out
}

/// Parses `doc` as `T`, serializes it back, and fails when a field of the YAML did not
/// survive: k8s-openapi ignores fields it does not know, so a misspelt field would
/// otherwise pass unnoticed.
fn round_trip<T: DeserializeOwned + Serialize>(doc: &Doc) {
    let typed: T = doc.typed();
    let back = serde_json::to_value(&typed).expect("k8s-openapi types serialize");
    let mut lost = Vec::new();
    lost_fields(&doc.value, &back, String::new(), &mut lost);
    assert!(
        lost.is_empty(),
        "{}: {} {:?}: fields unknown to {} or changed by it: {lost:?}",
        doc.origin,
        doc.kind(),
        doc.name(),
        std::any::type_name::<T>()
    );
}

fn lost_fields(original: &Value, back: &Value, at: String, lost: &mut Vec<String>) {
    match (original, back) {
        (Value::Object(o), Value::Object(b)) => {
            for (k, v) in o {
                match b.get(k) {
                    Some(bv) => lost_fields(v, bv, format!("{at}.{k}"), lost),
                    None => lost.push(format!("{at}.{k}")),
                }
            }
        }
        (Value::Array(o), Value::Array(b)) if o.len() == b.len() => {
            for (i, (v, bv)) in o.iter().zip(b).enumerate() {
                lost_fields(v, bv, format!("{at}[{i}]"), lost);
            }
        }
        (o, b) if o == b => {}
        (o, b) => lost.push(format!("{at}: {o} became {b}")),
    }
}

/// Checks that `doc` parses into the type its kind names; unknown kinds fail.
fn parse_by_kind(doc: &Doc) {
    match (
        doc.value["apiVersion"].as_str().unwrap_or_default(),
        doc.kind(),
    ) {
        ("v1", "Namespace") => round_trip::<Namespace>(doc),
        ("v1", "ServiceAccount") => round_trip::<ServiceAccount>(doc),
        ("v1", "Service") => round_trip::<Service>(doc),
        ("v1", "ConfigMap") => round_trip::<ConfigMap>(doc),
        ("apps/v1", "Deployment") => round_trip::<Deployment>(doc),
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => round_trip::<ClusterRole>(doc),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
            round_trip::<ClusterRoleBinding>(doc)
        }
        ("networking.k8s.io/v1", "IngressClass") => round_trip::<IngressClass>(doc),
        ("networking.k8s.io/v1", "Ingress") => round_trip::<Ingress>(doc),
        ("policy/v1", "PodDisruptionBudget") => round_trip::<PodDisruptionBudget>(doc),
        (api, kind) => panic!(
            "{}: {api} {kind} is not a kind this test knows; add it to parse_by_kind",
            doc.origin
        ),
    }
}

// ---------------------------------------------------------------------------------------
// The agent's flags, read from agent/src/cli.rs.

/// One long flag of the agent.
#[derive(Debug, Clone)]
struct Flag {
    default: Option<String>,
}

/// The flags of each subcommand, from the agent's own clap command.
#[derive(Debug)]
struct CliFlags {
    /// Subcommand (`run`, `init`, …) to its flags (`--config-dir`, …), global ones included.
    by_command: BTreeMap<String, BTreeMap<String, Flag>>,
}

impl CliFlags {
    /// Every subcommand's long flags and their defaults, as clap builds them.
    fn of_cli() -> Self {
        let mut cli = haproxy_agent::cli::Cli::command();
        cli.build();
        let flags = |cmd: &clap::Command| -> BTreeMap<String, Flag> {
            cmd.get_arguments()
                .filter_map(|a| {
                    let long = a.get_long()?;
                    let default = a
                        .get_default_values()
                        .first()
                        .map(|v| v.to_string_lossy().into_owned());
                    Some((format!("--{long}"), Flag { default }))
                })
                .collect()
        };
        let by_command = cli
            .get_subcommands()
            .map(|c| (c.get_name().to_string(), flags(c)))
            .collect();
        CliFlags { by_command }
    }

    fn of(&self, command: &str) -> &BTreeMap<String, Flag> {
        self.by_command
            .get(command)
            .unwrap_or_else(|| panic!("the agent has no subcommand {command:?}"))
    }
}

/// The string literal right after `key` in `s` (`rust-version = "1.95"` -> `1.95`).
fn quoted_after(s: &str, key: &str) -> Option<String> {
    let rest = &s[s.find(key)? + key.len()..];
    let rest = rest.strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_string())
}

fn cli_flags() -> CliFlags {
    let flags = CliFlags::of_cli();
    for f in [
        "--config-dir",
        "--http-bind",
        "--listen",
        "--master-socket",
        "--log-level",
    ] {
        assert!(flags.of("run").contains_key(f), "run has no {f}");
    }
    assert!(flags.of("init").contains_key("--config-dir"));
    assert!(!flags.of("init").contains_key("--listen"));
    assert_eq!(
        flags.of("run")["--log-level"].default.as_deref(),
        Some("info")
    );
    flags
}

// ---------------------------------------------------------------------------------------
// Kustomizations.

/// A kustomization directory built by `kubectl kustomize`, the tool a user runs (every
/// transformer applied). Where kubectl is not installed the test's own builder stands in,
/// and says so on stderr: see [`own_build`].
fn build(dir: &Path) -> Vec<Doc> {
    let out = match std::process::Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!(
                "kubectl is not installed: {} built by the test's own builder \
                 (resources and JSON 6902 patches only)",
                dir.display()
            );
            return own_build(dir);
        }
        Err(e) => panic!("kubectl kustomize {}: {e}", dir.display()),
    };
    assert!(
        out.status.success(),
        "kubectl kustomize {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("kubectl prints UTF-8");
    docs_of(&text, &format!("kubectl kustomize {}", dir.display()))
}

/// A kustomization directory built the simple way: its resources (files, or directories
/// built recursively) with its JSON 6902 patches applied. Image and other transformers are
/// not applied; the checks below do not depend on them.
fn own_build(dir: &Path) -> Vec<Doc> {
    let kpath = dir.join("kustomization.yaml");
    let k: Value = serde_yaml_ng::from_str(&read(&kpath))
        .unwrap_or_else(|e| panic!("{}: {e}", kpath.display()));
    let mut out = Vec::new();
    for r in k["resources"].as_array().into_iter().flatten() {
        let r = r.as_str().expect("resources are paths");
        let p = dir.join(r);
        if p.is_dir() {
            out.extend(own_build(&p));
        } else {
            out.extend(docs(&p));
        }
    }
    for patch in k["patches"].as_array().into_iter().flatten() {
        let target = &patch["target"];
        let ops: Value = serde_yaml_ng::from_str(
            patch["patch"]
                .as_str()
                .expect("patches are given inline as `patch:` text"),
        )
        .expect("a patch is YAML");
        let ops = ops
            .as_array()
            .unwrap_or_else(|| panic!("{}: only JSON 6902 patches are checked", kpath.display()));
        let mut matched = 0;
        for doc in out.iter_mut() {
            let matches = target["kind"].as_str() == Some(doc.kind())
                && target["name"].as_str() == Some(doc.name())
                && target["namespace"]
                    .as_str()
                    .is_none_or(|ns| Some(ns) == doc.namespace());
            if matches {
                matched += 1;
                for op in ops {
                    json_patch(&mut doc.value, op);
                }
                doc.origin = format!("{} patched by {}", doc.origin, kpath.display());
            }
        }
        assert_eq!(
            matched,
            1,
            "{}: patch target {target} matches {matched} objects",
            kpath.display()
        );
    }
    out
}

/// Applies one JSON 6902 operation (`add`, `replace`, `remove`).
fn json_patch(doc: &mut Value, op: &Value) {
    let path = op["path"].as_str().expect("a patch op has a path");
    let (parent, last) = path.rsplit_once('/').expect("a patch path starts with /");
    let last = last.replace("~1", "/").replace("~0", "~");
    let target = doc
        .pointer_mut(parent)
        .unwrap_or_else(|| panic!("patch path {path}: {parent} does not exist"));
    let value = op["value"].clone();
    match (op["op"].as_str(), target) {
        (Some("add"), Value::Array(a)) if last == "-" => a.push(value),
        (Some("add"), Value::Array(a)) => {
            let i: usize = last.parse().expect("an array index");
            assert!(i <= a.len(), "patch path {path}: index out of range");
            a.insert(i, value);
        }
        (Some("add" | "replace"), Value::Object(o)) => {
            o.insert(last, value);
        }
        (Some("replace"), Value::Array(a)) => {
            let i: usize = last.parse().expect("an array index");
            *a.get_mut(i)
                .unwrap_or_else(|| panic!("patch path {path}: index out of range")) = value;
        }
        (Some("remove"), Value::Array(a)) => {
            let i: usize = last.parse().expect("an array index");
            assert!(i < a.len(), "patch path {path}: index out of range");
            a.remove(i);
        }
        (Some("remove"), Value::Object(o)) => {
            assert!(
                o.remove(&last).is_some(),
                "patch path {path}: nothing to remove"
            );
        }
        (kind, _) => panic!("patch op {kind:?} at {path} is not supported here"),
    }
}

#[test]
fn every_manifest_parses_into_its_kubernetes_type() {
    let files = yaml_files(&deploy_dir());
    assert!(!files.is_empty(), "no YAML under deploy/");
    let mut kinds = BTreeSet::new();
    for f in files.iter().filter(|f| !is_kustomization(f)) {
        let docs = docs(f);
        assert!(!docs.is_empty(), "{}: no document", f.display());
        for d in docs {
            parse_by_kind(&d);
            kinds.insert(d.kind().to_string());
        }
    }
    for k in [
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "IngressClass",
        "Deployment",
        "Service",
        "Ingress",
    ] {
        assert!(kinds.contains(k), "no {k} under deploy/");
    }
}

#[test]
fn kustomizations_list_existing_files_and_every_manifest() {
    let files = yaml_files(&deploy_dir());
    let kustomizations: Vec<&PathBuf> = files.iter().filter(|f| is_kustomization(f)).collect();
    assert!(
        kustomizations.len() >= 2,
        "deploy/base and deploy/examples need a kustomization.yaml"
    );
    let mut listed = BTreeSet::new();
    for k in &kustomizations {
        let dir = k.parent().expect("a file has a parent");
        let v: Value =
            serde_yaml_ng::from_str(&read(k)).unwrap_or_else(|e| panic!("{}: {e}", k.display()));
        assert_eq!(
            v["apiVersion"],
            "kustomize.config.k8s.io/v1beta1",
            "{}",
            k.display()
        );
        assert_eq!(v["kind"], "Kustomization", "{}", k.display());
        let resources = v["resources"]
            .as_array()
            .unwrap_or_else(|| panic!("{}: no resources", k.display()));
        for r in resources {
            let r = r.as_str().expect("resources are paths");
            let p = dir.join(r);
            if p.is_dir() {
                assert!(
                    p.join("kustomization.yaml").is_file(),
                    "{}: resource {r} is a directory without kustomization.yaml",
                    k.display()
                );
            } else {
                assert!(p.is_file(), "{}: resource {r} does not exist", k.display());
                listed.insert(p.canonicalize().expect("an existing file"));
            }
        }
        // Building also checks that every patch target exists exactly once.
        let built = build(dir);
        assert!(!built.is_empty(), "{}: builds nothing", k.display());
    }
    for f in files.iter().filter(|f| !is_kustomization(f)) {
        assert!(
            listed.contains(&f.canonicalize().expect("an existing file")),
            "{} is in no kustomization's resources",
            f.display()
        );
    }
}

// ---------------------------------------------------------------------------------------
// The pod.

/// `--name=value` arguments of a container, checked against the flags its subcommand knows.
fn agent_flags(
    c: &Container,
    command: &str,
    cli: &CliFlags,
    origin: &str,
) -> BTreeMap<String, String> {
    let known = cli.of(command);
    let args = c.args.as_deref().unwrap_or_default();
    let mut out = BTreeMap::new();
    for a in &args[1..] {
        // One form throughout, so a value can never be mistaken for a flag or the reverse.
        let (name, value) = a.split_once('=').unwrap_or_else(|| {
            panic!(
                "{origin}: container {}: argument {a:?} is not --flag=value",
                c.name
            )
        });
        assert!(
            known.contains_key(name),
            "{origin}: container {}: `haproxy-agent {command}` has no flag {name} \
             (agent/src/cli.rs knows {:?})",
            c.name,
            known.keys().collect::<Vec<_>>()
        );
        assert!(
            out.insert(name.to_string(), value.to_string()).is_none(),
            "{origin}: container {}: {name} given twice",
            c.name
        );
    }
    out
}

/// The value a flag has: given, or the default cli.rs declares.
fn effective(
    given: &BTreeMap<String, String>,
    cli: &CliFlags,
    command: &str,
    flag: &str,
) -> Option<String> {
    given
        .get(flag)
        .cloned()
        .or_else(|| cli.of(command).get(flag).and_then(|f| f.default.clone()))
}

/// The mount of `c` whose path holds `path` (the deepest one).
fn mount_holding<'a>(c: &'a Container, path: &str) -> Option<&'a VolumeMount> {
    let path = Path::new(path);
    c.volume_mounts
        .iter()
        .flatten()
        .filter(|m| path.starts_with(&m.mount_path))
        .max_by_key(|m| m.mount_path.len())
}

/// The name of the volume that holds `path` in `c`, which must be one.
fn volume_holding(c: &Container, path: &str, origin: &str) -> String {
    mount_holding(c, path)
        .unwrap_or_else(|| {
            panic!(
                "{origin}: {path} is on no volume mounted in container {}",
                c.name
            )
        })
        .name
        .clone()
}

fn is_empty_dir(spec: &PodSpec, volume: &str) -> bool {
    spec.volumes
        .iter()
        .flatten()
        .any(|v| v.name == volume && v.empty_dir.is_some())
}

/// A port by number or by the name of one of `c`'s container ports.
fn resolve_port(c: &Container, port: &IntOrString, origin: &str) -> i32 {
    match port {
        IntOrString::Int(n) => *n,
        IntOrString::String(name) => {
            c.ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some(name))
                .unwrap_or_else(|| panic!("{origin}: container {} has no port {name:?}", c.name))
                .container_port
        }
    }
}

fn container_ports(c: &Container) -> BTreeSet<i32> {
    c.ports.iter().flatten().map(|p| p.container_port).collect()
}

fn probes(c: &Container) -> Vec<(&'static str, &Probe)> {
    [
        ("startupProbe", &c.startup_probe),
        ("livenessProbe", &c.liveness_probe),
        ("readinessProbe", &c.readiness_probe),
    ]
    .into_iter()
    .filter_map(|(n, p)| p.as_ref().map(|p| (n, p)))
    .collect()
}

fn port_of(addr: &str, what: &str) -> u16 {
    addr.parse::<SocketAddr>()
        .unwrap_or_else(|e| panic!("{what} {addr:?}: {e}"))
        .port()
}

fn labels_match(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

fn of_kind<T: DeserializeOwned>(docs: &[Doc], kind: &str) -> Vec<T> {
    docs.iter()
        .filter(|d| d.kind() == kind)
        .map(Doc::typed)
        .collect()
}

/// The HAProxy, `init` and `run` containers of an agent Deployment, with the parsed flags.
struct AgentPod {
    origin: String,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    spec: PodSpec,
    haproxy: Container,
    init: Container,
    agent: Container,
    init_flags: BTreeMap<String, String>,
    run_flags: BTreeMap<String, String>,
}

/// The Deployment running `haproxy-agent run` among `docs`; there must be exactly one.
fn agent_pod(docs: &[Doc], cli: &CliFlags, origin: &str) -> AgentPod {
    let first_arg = |c: &Container| c.args.as_ref().and_then(|a| a.first()).cloned();
    let mut found = Vec::new();
    for d in docs.iter().filter(|d| d.kind() == "Deployment") {
        let dep: Deployment = d.typed();
        let template = dep.spec.expect("a Deployment has a spec").template;
        let spec = template.spec.expect("a pod template has a spec");
        if spec
            .containers
            .iter()
            .any(|c| first_arg(c).as_deref() == Some("run"))
        {
            let meta = template.metadata.unwrap_or_default();
            found.push((d.origin.clone(), meta, spec));
        }
    }
    assert_eq!(
        found.len(),
        1,
        "{origin}: want one Deployment running `haproxy-agent run`"
    );
    let (origin, meta, spec) = found.pop().expect("one");
    let one = |cs: &[Container], what: &str, f: &dyn Fn(&Container) -> bool| -> Container {
        let hits: Vec<&Container> = cs.iter().filter(|c| f(c)).collect();
        assert_eq!(hits.len(), 1, "{origin}: want one {what} container");
        hits[0].clone()
    };
    let agent = one(&spec.containers, "`run`", &|c: &Container| {
        first_arg(c).as_deref() == Some("run")
    });
    let haproxy = one(&spec.containers, "haproxy", &|c: &Container| {
        c.command
            .as_ref()
            .and_then(|a| a.first())
            .map(String::as_str)
            == Some("haproxy")
    });
    let init = one(
        spec.init_containers.as_deref().unwrap_or_default(),
        "`init`",
        &|c: &Container| first_arg(c).as_deref() == Some("init"),
    );
    let run_flags = agent_flags(&agent, "run", cli, &origin);
    let init_flags = agent_flags(&init, "init", cli, &origin);
    AgentPod {
        labels: meta.labels.unwrap_or_default(),
        annotations: meta.annotations.unwrap_or_default(),
        origin,
        spec,
        haproxy,
        init,
        agent,
        init_flags,
        run_flags,
    }
}

/// HAProxy's `-S` (master socket, bind options after a comma dropped) and `-f`.
fn haproxy_command(c: &Container, origin: &str) -> (String, String) {
    let cmd: Vec<&str> = c
        .command
        .iter()
        .flatten()
        .chain(c.args.iter().flatten())
        .map(String::as_str)
        .collect();
    assert!(
        cmd.contains(&"-W"),
        "{origin}: HAProxy must run in master-worker mode (-W): {cmd:?}"
    );
    let after = |opt: &str| -> String {
        let i = cmd
            .iter()
            .position(|a| *a == opt)
            .unwrap_or_else(|| panic!("{origin}: HAProxy's command has no {opt}: {cmd:?}"));
        cmd.get(i + 1)
            .unwrap_or_else(|| panic!("{origin}: {opt} without a value"))
            .to_string()
    };
    let master = after("-S");
    // The master CLI can stop HAProxy and run any command: its socket is owner (or group)
    // only, as `-S <path>,mode,600` makes it.
    let options: Vec<&str> = master.split(',').skip(1).collect();
    assert!(
        options
            .windows(2)
            .any(|w| w[0] == "mode" && matches!(w[1], "600" | "660")),
        "{origin}: HAProxy's -S {master} does not set mode 600 (or 660)"
    );
    let master = master
        .split(',')
        .next()
        .expect("split yields one")
        .to_string();
    (master, after("-f"))
}

/// Everything that must agree inside the pod and with the Service in front of it.
fn check_agent_pod(docs: &[Doc], cli: &CliFlags, origin: &str) -> AgentPod {
    let pod = agent_pod(docs, cli, origin);
    let o = pod.origin.as_str();
    let run = |f: &str| effective(&pod.run_flags, cli, "run", f);
    let (master_s, haproxy_cfg) = haproxy_command(&pod.haproxy, o);

    // The agent's image runs `init` too.
    assert_eq!(
        pod.init.image, pod.agent.image,
        "{o}: the init container must run the agent's image"
    );

    // Flags both subcommands know (source and model) carry the same values, so `init` and
    // `run` render the same config.
    let init_known = cli.of("init");
    for flag in cli.of("run").keys().filter(|f| init_known.contains_key(*f)) {
        assert_eq!(
            pod.init_flags.get(flag),
            pod.run_flags.get(flag),
            "{o}: {flag} differs between the init container and the agent"
        );
    }

    // Sockets: the master socket is the one HAProxy binds; both sockets are on one emptyDir
    // mounted in HAProxy and in the agent.
    let master = run("--master-socket").expect("--master-socket has a default");
    assert_eq!(
        master, master_s,
        "{o}: the agent's --master-socket is not HAProxy's -S"
    );
    let runtime = run("--runtime-socket").expect("--runtime-socket has a default");
    for socket in [&master, &runtime] {
        let v = volume_holding(&pod.agent, socket, o);
        assert_eq!(
            volume_holding(&pod.haproxy, socket, o),
            v,
            "{o}: {socket} is not on the same volume in HAProxy and the agent"
        );
        assert_eq!(
            mount_holding(&pod.haproxy, socket).map(|m| &m.mount_path),
            mount_holding(&pod.agent, socket).map(|m| &m.mount_path),
            "{o}: the volume holding {socket} is mounted at different paths"
        );
        assert!(
            is_empty_dir(&pod.spec, &v),
            "{o}: {socket} is on {v}, not an emptyDir"
        );
        assert!(
            mount_holding(&pod.haproxy, socket).and_then(|m| m.read_only) != Some(true),
            "{o}: HAProxy cannot create {socket} on a read-only mount"
        );
    }

    // The config directory: one emptyDir, mounted at --config-dir in init, HAProxy and
    // the agent; HAProxy's -f is its haproxy.cfg.
    let config_dir = run("--config-dir").expect("--config-dir has a default");
    assert_eq!(
        Path::new(&haproxy_cfg),
        Path::new(&config_dir).join("haproxy.cfg"),
        "{o}: HAProxy's -f is not <--config-dir>/haproxy.cfg"
    );
    let config_volume = volume_holding(&pod.agent, &config_dir, o);
    assert!(
        is_empty_dir(&pod.spec, &config_volume),
        "{o}: {config_dir} is not an emptyDir"
    );
    for (c, writes) in [(&pod.init, true), (&pod.agent, true), (&pod.haproxy, false)] {
        let m = mount_holding(c, &config_dir)
            .unwrap_or_else(|| panic!("{o}: {config_dir} is not mounted in {}", c.name));
        assert_eq!(
            (m.name.as_str(), Path::new(&m.mount_path)),
            (config_volume.as_str(), Path::new(&config_dir)),
            "{o}: container {} does not mount the config volume at {config_dir}",
            c.name
        );
        if writes {
            assert!(
                m.read_only != Some(true),
                "{o}: container {} must write {config_dir}",
                c.name
            );
        }
    }

    // `haproxy -c` runs the HAProxy that serves: --haproxy-bin lies on a volume that an
    // initContainer of HAProxy's image fills.
    let bin = run("--haproxy-bin").expect("--haproxy-bin has a default");
    assert!(
        bin.starts_with('/'),
        "{o}: the agent image has no haproxy on its PATH; --haproxy-bin must be a path, not {bin:?}"
    );
    let bin_volume = volume_holding(&pod.agent, &bin, o);
    let filler = pod
        .spec
        .init_containers
        .iter()
        .flatten()
        .find(|c| {
            c.image == pod.haproxy.image
                && c.volume_mounts
                    .iter()
                    .flatten()
                    .any(|m| m.name == bin_volume && m.read_only != Some(true))
        })
        .unwrap_or_else(|| {
            panic!(
                "{o}: no initContainer of HAProxy's image ({:?}) fills {bin_volume}, \
                 where --haproxy-bin={bin} lives",
                pod.haproxy.image
            )
        });
    assert!(
        filler.command.iter().flatten().any(|a| a.contains(&bin)),
        "{o}: initContainer {} does not write {bin}",
        filler.name
    );

    // Ports: --http-bind is HAProxy's container port and the Service's target.
    let http_port = i32::from(port_of(
        &run("--http-bind").expect("--http-bind has a default"),
        "--http-bind",
    ));
    assert!(
        container_ports(&pod.haproxy).contains(&http_port),
        "{o}: --http-bind port {http_port} is not a containerPort of HAProxy ({:?})",
        container_ports(&pod.haproxy)
    );
    assert!(
        http_port >= 1024,
        "{o}: HAProxy runs without capabilities and cannot bind {http_port}"
    );
    let services: Vec<Service> = of_kind(docs, "Service");
    let front: Vec<&Service> = services
        .iter()
        .filter(|s| {
            s.spec
                .as_ref()
                .and_then(|s| s.selector.as_ref())
                .is_some_and(|sel| labels_match(sel, &pod.labels))
        })
        .collect();
    assert_eq!(
        front.len(),
        1,
        "{o}: want one Service selecting the agent's pods"
    );
    let ports = front[0]
        .spec
        .as_ref()
        .and_then(|s| s.ports.clone())
        .unwrap_or_default();
    let mut targets = BTreeMap::new();
    for p in &ports {
        let target = p.target_port.clone().unwrap_or(IntOrString::Int(p.port));
        let t = resolve_port(&pod.haproxy, &target, o);
        assert!(
            container_ports(&pod.haproxy).contains(&t),
            "{o}: Service port {} targets {t}, not a HAProxy port",
            p.port
        );
        targets.insert(p.port, t);
    }
    assert_eq!(
        targets.get(&80),
        Some(&http_port),
        "{o}: Service port 80 must reach --http-bind ({http_port})"
    );
    let https_port = i32::from(port_of(
        &run("--https-bind").expect("--https-bind has a default"),
        "--https-bind",
    ));
    assert_eq!(
        targets.get(&443),
        Some(&https_port),
        "{o}: Service port 443 must reach --https-bind ({https_port})"
    );
    assert!(
        https_port >= 1024,
        "{o}: HAProxy runs without capabilities and cannot bind {https_port}"
    );

    // Ingress status: --publish-service names that Service, and each replica has its own
    // election identity (POD_NAME from the downward API).
    if let Some(publish) = run("--publish-service") {
        let meta = &front[0].metadata;
        let front_key = format!(
            "{}/{}",
            meta.namespace.as_deref().unwrap_or("default"),
            meta.name.as_deref().unwrap_or_default()
        );
        assert_eq!(
            publish, front_key,
            "{o}: --publish-service is not the Service in front of the agent"
        );
        let pod_name = pod
            .agent
            .env
            .iter()
            .flatten()
            .find(|e| e.name == "POD_NAME")
            .and_then(|e| e.value_from.as_ref())
            .and_then(|v| v.field_ref.as_ref())
            .map(|f| f.field_path.clone());
        assert_eq!(
            pod_name.as_deref(),
            Some("metadata.name"),
            "{o}: with --publish-service the agent needs POD_NAME from metadata.name \
             (its identity in the leader election)"
        );
    }

    // Probes: the agent's on --listen's port, /healthz; HAProxy's on one of its ports.
    let listen = i32::from(port_of(
        &run("--listen").expect("--listen has a default"),
        "--listen",
    ));
    assert!(
        container_ports(&pod.agent).contains(&listen),
        "{o}: --listen port {listen} is not a containerPort of the agent"
    );
    let agent_probes = probes(&pod.agent);
    assert!(
        agent_probes.iter().any(|(n, _)| *n == "livenessProbe")
            && agent_probes.iter().any(|(n, _)| *n == "readinessProbe"),
        "{o}: the agent needs liveness and readiness probes"
    );
    for (name, p) in agent_probes {
        let get = p
            .http_get
            .as_ref()
            .unwrap_or_else(|| panic!("{o}: the agent's {name} is not an HTTP GET"));
        assert_eq!(
            resolve_port(&pod.agent, &get.port, o),
            listen,
            "{o}: the agent's {name} is not on --listen's port"
        );
        assert_eq!(
            get.path.as_deref(),
            Some("/healthz"),
            "{o}: the agent's {name}"
        );
    }
    for (name, p) in probes(&pod.haproxy) {
        let port = p
            .tcp_socket
            .as_ref()
            .map(|t| &t.port)
            .or(p.http_get.as_ref().map(|h| &h.port))
            .unwrap_or_else(|| panic!("{o}: HAProxy's {name} has no port"));
        assert_eq!(
            resolve_port(&pod.haproxy, port, o),
            http_port,
            "{o}: HAProxy's {name} does not probe --http-bind's port"
        );
    }
    assert_eq!(
        pod.annotations.get("prometheus.io/port"),
        Some(&listen.to_string()),
        "{o}: the Prometheus scrape port is not --listen's"
    );
    assert_eq!(
        pod.annotations
            .get("prometheus.io/scrape")
            .map(String::as_str),
        Some("true"),
        "{o}"
    );

    // One uid/gid for every container (the admin socket is mode 600), non-root, locked down.
    let psc = pod
        .spec
        .security_context
        .clone()
        .expect("a pod securityContext");
    assert_eq!(psc.run_as_non_root, Some(true), "{o}: runAsNonRoot");
    let uid = psc.run_as_user.expect("a fixed runAsUser for the pod");
    let gid = psc.run_as_group.expect("a fixed runAsGroup for the pod");
    assert!(uid != 0 && gid != 0, "{o}: uid/gid 0");
    let all = pod
        .spec
        .init_containers
        .iter()
        .flatten()
        .chain(&pod.spec.containers);
    for c in all {
        let sc = c
            .security_context
            .clone()
            .unwrap_or_else(|| panic!("{o}: container {} has no securityContext", c.name));
        assert!(
            sc.run_as_user.is_none_or(|u| u == uid) && sc.run_as_group.is_none_or(|g| g == gid),
            "{o}: container {} runs as another uid/gid than the pod's",
            c.name
        );
        assert_eq!(
            sc.read_only_root_filesystem,
            Some(true),
            "{o}: {} readOnlyRootFilesystem",
            c.name
        );
        assert_eq!(
            sc.allow_privilege_escalation,
            Some(false),
            "{o}: {} allowPrivilegeEscalation",
            c.name
        );
        let added = sc.capabilities.as_ref().and_then(|c| c.add.clone());
        assert!(
            added.unwrap_or_default().is_empty(),
            "{o}: {} must add no capability",
            c.name
        );
        let dropped = sc.capabilities.and_then(|c| c.drop).unwrap_or_default();
        assert_eq!(
            dropped,
            ["ALL"],
            "{o}: {} must drop ALL capabilities",
            c.name
        );
        let res = c
            .resources
            .clone()
            .unwrap_or_else(|| panic!("{o}: container {} has no resources", c.name));
        let requests = res.requests.unwrap_or_default();
        let limits = res.limits.unwrap_or_default();
        assert!(
            requests.contains_key("cpu") && requests.contains_key("memory"),
            "{o}: container {} needs cpu and memory requests",
            c.name
        );
        assert!(
            limits.contains_key("memory"),
            "{o}: container {} needs a memory limit",
            c.name
        );
        assert!(
            c.ports.iter().flatten().all(|p| p.host_port.is_none()),
            "{o}: container {} uses a hostPort",
            c.name
        );
    }

    // The service account the pod runs as is bound to the ClusterRole.
    let sa = pod
        .spec
        .service_account_name
        .clone()
        .unwrap_or_else(|| panic!("{o}: no serviceAccountName"));
    let accounts: Vec<ServiceAccount> = of_kind(docs, "ServiceAccount");
    let ns = accounts
        .iter()
        .find(|a| a.metadata.name.as_deref() == Some(&sa))
        .unwrap_or_else(|| panic!("{o}: no ServiceAccount {sa}"))
        .metadata
        .namespace
        .clone();
    let bindings: Vec<ClusterRoleBinding> = of_kind(docs, "ClusterRoleBinding");
    let roles: Vec<ClusterRole> = of_kind(docs, "ClusterRole");
    assert!(
        bindings.iter().any(|b| {
            b.role_ref.kind == "ClusterRole"
                && roles
                    .iter()
                    .any(|r| r.metadata.name.as_deref() == Some(&b.role_ref.name))
                && b.subjects
                    .iter()
                    .flatten()
                    .any(|s| s.kind == "ServiceAccount" && s.name == sa && s.namespace == ns)
        }),
        "{o}: no ClusterRoleBinding binds ServiceAccount {sa} to a ClusterRole here"
    );

    // A PodDisruptionBudget, when there is one, selects these pods.
    for pdb in of_kind::<PodDisruptionBudget>(docs, "PodDisruptionBudget") {
        let sel = pdb
            .spec
            .and_then(|s| s.selector)
            .and_then(|s| s.match_labels)
            .unwrap_or_default();
        assert!(
            labels_match(&sel, &pod.labels),
            "{o}: the PodDisruptionBudget selects other pods"
        );
    }
    pod
}

#[test]
fn base_pod_wiring_agrees() {
    let cli = cli_flags();
    let docs = build(&deploy_dir().join("base"));
    let pod = check_agent_pod(&docs, &cli, "deploy/base");
    // Without the examples overlay, unmatched requests get the built-in 404.
    assert!(!pod.run_flags.contains_key("--default-backend-service")); // init and run read the same global ConfigMap, and it is one of the manifests.
    let named = pod
        .run_flags
        .get("--configmap")
        .expect("run has --configmap");
    assert_eq!(
        pod.init_flags.get("--configmap"),
        Some(named),
        "init reads it too"
    );
    let maps: Vec<ConfigMap> = of_kind(&docs, "ConfigMap");
    assert!(
        maps.iter().any(|m| format!(
            "{}/{}",
            m.metadata.namespace.as_deref().unwrap_or_default(),
            m.metadata.name.as_deref().unwrap_or_default()
        ) == *named),
        "deploy/base has no ConfigMap {named}"
    );
}

#[test]
fn examples_overlay_wiring_agrees_and_its_default_backend_exists() {
    let cli = cli_flags();
    let docs = build(&deploy_dir().join("examples"));
    let pod = check_agent_pod(&docs, &cli, "deploy/examples");
    let o = pod.origin.as_str();
    let key = pod
        .run_flags
        .get("--default-backend-service")
        .unwrap_or_else(|| panic!("{o}: the examples set --default-backend-service"));
    assert_eq!(key, "kube-system/default-http-backend");
    let (ns, name) = key.split_once('/').expect("namespace/name");
    let service: &Doc = docs
        .iter()
        .find(|d| d.kind() == "Service" && d.namespace() == Some(ns) && d.name() == name)
        .unwrap_or_else(|| panic!("{o}: no Service {key} in deploy/examples"));
    let spec = service.typed::<Service>().spec.expect("a Service spec");
    let selector = spec
        .selector
        .expect("the default backend Service selects pods");
    let backends: Vec<(BTreeMap<String, String>, PodSpec)> = docs
        .iter()
        .filter(|d| d.kind() == "Deployment" && d.namespace() == Some(ns))
        .map(|d| d.typed::<Deployment>().spec.expect("a spec").template)
        .map(|t| {
            (
                t.metadata.and_then(|m| m.labels).unwrap_or_default(),
                t.spec.expect("a pod spec"),
            )
        })
        .filter(|(labels, _)| labels_match(&selector, labels))
        .collect();
    assert_eq!(backends.len(), 1, "{o}: one Deployment behind {key}");
    let c = &backends[0].1.containers[0];
    for p in spec.ports.iter().flatten() {
        let target = p.target_port.clone().unwrap_or(IntOrString::Int(p.port));
        let t = resolve_port(c, &target, o);
        assert!(
            container_ports(c).contains(&t),
            "{o}: {key} port {} targets {t}, not a port of its pods",
            p.port
        );
        assert_eq!(t, 8080, "{o}: the seed's default backend answers on 8080");
    }
    let live = c
        .liveness_probe
        .as_ref()
        .and_then(|p| p.http_get.as_ref())
        .expect("the default backend has an HTTP liveness probe");
    assert_eq!(live.path.as_deref(), Some("/healthz"));
    assert_eq!(resolve_port(c, &live.port, o), 8080);
}

// ---------------------------------------------------------------------------------------
// RBAC, IngressClass, Ingress.

/// `(apiGroup, resource, verb)` rows of the RBAC table in docs/operations.md:
/// `| \`networking.k8s.io\` | \`ingresses\`, \`ingressclasses\` | get, list, watch |`.
fn operations_md_grants() -> BTreeSet<(String, String, String)> {
    let text = read(&repo().join("docs/operations.md"));
    let section = text
        .split("## RBAC")
        .nth(1)
        .expect("docs/operations.md has an RBAC section")
        .split("\n## ")
        .next()
        .expect("split yields one");
    let mut out = BTreeSet::new();
    for line in section.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // ["", group, resources, verbs, ""]
        if cells.len() != 5 || !cells[1].starts_with('`') {
            continue;
        }
        let group = cells[1]
            .split('`')
            .nth(1)
            .expect("a quoted group")
            .trim_matches('"')
            .to_string();
        let resources: Vec<&str> = cells[2].split('`').skip(1).step_by(2).collect();
        let verbs = cells[3].split('(').next().expect("split yields one");
        for r in &resources {
            for v in verbs.split(',').map(str::trim).filter(|v| !v.is_empty()) {
                out.insert((group.clone(), r.to_string(), v.to_string()));
            }
        }
    }
    assert!(
        out.len() >= 15,
        "the RBAC table of docs/operations.md did not parse: {out:?}"
    );
    out
}

#[test]
fn cluster_role_grants_what_operations_md_lists_plus_status_and_leases() {
    let mut want = operations_md_grants();
    for (group, resource, verbs) in [
        (
            "networking.k8s.io",
            "ingresses/status",
            &["update", "patch"][..],
        ),
        (
            "coordination.k8s.io",
            "leases",
            &["get", "create", "update"][..],
        ),
    ] {
        for v in verbs {
            want.insert((group.into(), resource.into(), v.to_string()));
        }
    }
    let docs = build(&deploy_dir().join("base"));
    let roles: Vec<ClusterRole> = of_kind(&docs, "ClusterRole");
    assert_eq!(roles.len(), 1, "deploy/base: one ClusterRole");
    let mut got = BTreeSet::new();
    for rule in roles[0].rules.iter().flatten() {
        assert!(
            rule.resource_names.is_none() && rule.non_resource_urls.is_none(),
            "ClusterRole rule {rule:?}: resourceNames/nonResourceURLs are not expected"
        );
        for g in rule.api_groups.iter().flatten() {
            for r in rule.resources.iter().flatten() {
                for v in &rule.verbs {
                    assert!(
                        g != "*" && r != "*" && v != "*",
                        "wildcard in ClusterRole: {rule:?}"
                    );
                    got.insert((g.clone(), r.clone(), v.clone()));
                }
            }
        }
    }
    let missing: Vec<_> = want.difference(&got).collect();
    let extra: Vec<_> = got.difference(&want).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "ClusterRole differs from docs/operations.md plus status/leases: missing {missing:?}, \
         extra {extra:?}"
    );
}

#[test]
fn ingress_class_and_example_ingress_are_ours() {
    // The controller name is the agent's (agent/src/translate/class.rs).
    let class_rs = read(&repo().join("agent/src/translate/class.rs"));
    assert!(
        class_rs.contains(&format!("CONTROLLER_NAME: &str = \"{CONTROLLER}\"")),
        "agent/src/translate/class.rs no longer names {CONTROLLER}"
    );
    let cli = cli_flags();
    let docs = build(&deploy_dir().join("examples"));
    let pod = agent_pod(&docs, &cli, "deploy/examples");
    let class_name = effective(&pod.run_flags, &cli, "run", "--ingress-class")
        .expect("--ingress-class has a default");

    let classes: Vec<IngressClass> = of_kind(&docs, "IngressClass");
    assert_eq!(classes.len(), 1, "one IngressClass");
    let class = &classes[0];
    assert_eq!(class.metadata.name.as_deref(), Some(class_name.as_str()));
    assert_eq!(
        class.spec.as_ref().and_then(|s| s.controller.as_deref()),
        Some(CONTROLLER)
    );
    assert_eq!(
        class
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("ingressclass.kubernetes.io/is-default-class"))
            .map(String::as_str),
        Some("false"),
        "the IngressClass carries is-default-class, set to \"false\""
    );

    let ingresses: Vec<&Doc> = docs.iter().filter(|d| d.kind() == "Ingress").collect();
    assert!(!ingresses.is_empty(), "deploy/examples has an Ingress");
    for d in ingresses {
        assert_eq!(
            d.value["apiVersion"], "networking.k8s.io/v1",
            "{}",
            d.origin
        );
        let ing: Ingress = d.typed();
        let spec = ing.spec.expect("an Ingress spec");
        assert_eq!(
            spec.ingress_class_name.as_deref(),
            Some(class_name.as_str()),
            "{}: ingressClassName",
            d.origin
        );
        for rule in spec.rules.iter().flatten() {
            for p in rule.http.iter().flat_map(|h| &h.paths) {
                assert!(
                    ["Exact", "Prefix", "ImplementationSpecific"].contains(&p.path_type.as_str()),
                    "{}: pathType {:?}",
                    d.origin,
                    p.path_type
                );
                let svc = p.backend.service.as_ref().expect("a Service backend");
                let port = svc.port.as_ref().expect("a Service port");
                assert!(
                    port.number.is_some() != port.name.is_some(),
                    "{}: give the port by number or by name",
                    d.origin
                );
            }
        }
    }
    // The seed's Ingress itself.
    let seed: Ingress = docs
        .iter()
        .find(|d| d.kind() == "Ingress" && d.name() == "heapster-ingress")
        .expect("the seed's heapster-ingress")
        .typed();
    let annotations = seed.metadata.annotations.unwrap_or_default();
    for a in [
        "ingress.kubernetes.io/ssl-redirect",
        "ingress.kubernetes.io/force-ssl-redirect",
    ] {
        assert_eq!(annotations.get(a).map(String::as_str), Some("false"), "{a}");
    }
    let rules = seed.spec.expect("spec").rules.expect("rules");
    let path = &rules[0].http.as_ref().expect("http").paths[0];
    let svc = path.backend.service.as_ref().expect("a Service backend");
    assert_eq!(
        (
            path.path.as_deref(),
            svc.name.as_str(),
            svc.port.as_ref().and_then(|p| p.number)
        ),
        (Some("/api"), "heapster", Some(80))
    );
}

// ---------------------------------------------------------------------------------------
// The dashboard and the Dockerfile.

/// Metric names the agent registers (agent/src/metrics.rs: `registry.register("name", …)`
/// under the `haproxy_agent` prefix).
/// The agent's metric families, as its own registry exposes them (`# TYPE` lines), with one
/// sample in each labelled family (a family without samples is not exposed).
fn registered_metrics() -> BTreeSet<String> {
    use haproxy_agent::metrics::{CommandResult, Metrics};
    let m = Metrics::new();
    m.reload(&haproxy_agent::reconcile::ReloadReason::Startup);
    m.observed("full", 1);
    m.command("add server", CommandResult::Ok);
    m.set_problems([(("ingress", "invalid_annotation"), 1)]);
    m.set_certificates([("ns/s", "a.test", 1)]);
    let text = m.encode();
    let out: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    assert!(out.len() >= 10, "the registry exposes {out:?}");
    out
}

#[test]
fn grafana_dashboard_uses_the_agent_metrics() {
    let path = deploy_dir().join("grafana-dashboard.json");
    let dash: Value = serde_json::from_str(&read(&path)).expect("the dashboard is JSON");
    let schema = dash["schemaVersion"].as_u64().expect("schemaVersion");
    assert!((36..=41).contains(&schema), "schemaVersion {schema}");
    let vars = dash["templating"]["list"].as_array().expect("templating");
    assert!(
        vars.iter().any(|v| v["name"] == "datasource"
            && v["type"] == "datasource"
            && v["query"] == "prometheus"),
        "a `datasource` template variable of type prometheus"
    );
    let registered = registered_metrics();
    let mut used = BTreeSet::new();
    let panels = dash["panels"].as_array().expect("panels");
    for p in panels.iter().filter(|p| p["type"] != "row") {
        assert_eq!(
            p["datasource"]["uid"], "${datasource}",
            "panel {} must use the datasource variable",
            p["title"]
        );
        for t in p["targets"].as_array().expect("targets") {
            let expr = t["expr"].as_str().expect("a PromQL expr");
            for m in expr
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| w.starts_with("haproxy_agent_"))
            {
                let base = ["_total", "_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| m.strip_suffix(s).filter(|b| registered.contains(*b)))
                    .unwrap_or(m);
                assert!(
                    registered.contains(base),
                    "panel {}: {m} is no metric of agent/src/metrics.rs",
                    p["title"]
                );
                used.insert(base.to_string());
            }
        }
    }
    let unused: Vec<_> = registered.difference(&used).collect();
    assert!(unused.is_empty(), "metrics with no panel: {unused:?}");
    let exprs = panels
        .iter()
        .flat_map(|p| p["targets"].as_array().into_iter().flatten());
    let quantiles: BTreeSet<String> = exprs
        .filter_map(|t| t["expr"].as_str())
        .filter(|e| e.contains("haproxy_agent_sync_duration_seconds_bucket"))
        .filter_map(|e| e.strip_prefix("histogram_quantile("))
        .filter_map(|e| e.split(',').next().map(str::to_string))
        .collect();
    assert_eq!(
        quantiles,
        BTreeSet::from(["0.5".to_string(), "0.99".to_string()]),
        "sync duration p50 and p99"
    );
}

#[test]
fn dockerfile_builds_the_agent_on_distroless_bookworm() {
    let text = read(&deploy_dir().join("Dockerfile"));
    let workspace = read(&repo().join("Cargo.toml"));
    let rust = quoted_after(&workspace, "rust-version = ").expect("workspace rust-version");
    let froms: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("FROM "))
        .collect();
    assert_eq!(
        froms,
        [
            format!("rust:{rust}-bookworm AS build").as_str(),
            "gcr.io/distroless/cc-debian12:nonroot"
        ],
        "build on the workspace's Rust, run on distroless"
    );
    assert!(text.contains("cargo build --release --locked -p haproxy-agent"));
    assert!(text.contains("USER nonroot"));
    assert!(text.contains(r#"ENTRYPOINT ["/haproxy-agent"]"#));
    // The copied haproxy binary runs on the runtime image's glibc: same Debian release.
    let docs = build(&deploy_dir().join("base"));
    let pod = agent_pod(&docs, &cli_flags(), "deploy/base");
    let image = pod.haproxy.image.as_deref().expect("HAProxy's image");
    assert!(
        image.starts_with("haproxy:") && image.ends_with("-bookworm"),
        "HAProxy's image {image:?}: the official image, pinned to a bookworm (Debian 12) tag"
    );
    let tag = &image["haproxy:".len()..image.len() - "-bookworm".len()];
    assert!(
        tag.split('.').count() == 3 && tag.split('.').all(|p| p.parse::<u32>().is_ok()),
        "HAProxy's image {image:?} is not pinned to a patch release"
    );
}
