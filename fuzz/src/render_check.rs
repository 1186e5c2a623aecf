//! Objects -> `translate` -> `render`, and what every render must be: no problem without an
//! object (and, for an Ingress, a field); a consistent model; haproxy.cfg and the map and
//! ACL files printable ASCII and LF only; every map line `key value` as HAProxy's file
//! reader splits it, the value a route target of a backend the config has; every ACL line
//! one pattern HAProxy reads whole; certificate files free of control bytes but LF.
//!
//! With `FUZZ_HAPROXY_CHECK_DIR` set (the replay of `scripts/fuzz`), each distinct render is
//! also installed in that directory with `ConfigWriter`, which runs `haproxy -c`: a refusal
//! panics, so libFuzzer names the input.

use std::collections::{BTreeSet, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use haproxy::config::{Rendered, RouteTarget, TlsCert, render};
use haproxy::proto::DEFAULT_BUFSIZE;
use haproxy::{ConfigWriter, MapKey};
use haproxy_agent::problem::{Problem, ProblemKind};
use haproxy_agent::store::{Object, ObjectKey, Snapshot, Store};
use haproxy_agent::translate::{Settings, Translation, translate};

/// The environment variable naming the replay's config directory.
pub const HAPROXY_CHECK_DIR: &str = "FUZZ_HAPROXY_CHECK_DIR";

/// The directory renders name when not replaying (nothing is written there).
const FUZZ_DIR: &str = "/tmp/haproxy-agent-fuzz/cfg";

fn default_cert() -> TlsCert {
    static CERT: OnceLock<TlsCert> = OnceLock::new();
    CERT.get_or_init(|| haproxy_agent::certs::self_signed("fuzz default").unwrap())
        .clone()
}

/// The settings every target translates with: the hostile corpus's ConfigMap and TCP
/// services ConfigMap (`shop/haproxy-config`, `shop/tcp-services`) are read.
pub fn settings(config_dir: &Path) -> Settings {
    Settings {
        ingress_class: "haproxy".into(),
        default_backend_service: None,
        watch_namespace: None,
        http_bind: "127.0.0.1:18080".parse().unwrap(),
        config_dir: config_dir.to_path_buf(),
        runtime_socket: config_dir.join("admin.sock"),
        hard_stop_after: Duration::from_secs(30),
        https_bind: "127.0.0.1:18443".parse().unwrap(),
        default_cert: default_cert().into(),
        default_ssl_certificate: None,
        trusted_proxies: Vec::new(),
        configmap: Some(ObjectKey::new("shop", "haproxy-config")),
        use_proxy_protocol: false,
        access_log: Some(haproxy::config::LogTarget::Stdout),
        tcp_services: Some(ObjectKey::new("shop", "tcp-services")),
        tcp_bind: None,
        gateway_controller_name: haproxy_agent::translate::gateway::DEFAULT_CONTROLLER.into(),
        gateway_address_pool: Vec::new(),
        udp_services: None,
        ssl_passthrough: true,
        agent_listen: Vec::new(),
    }
}

/// A snapshot of `objects`.
pub fn snapshot(objects: Vec<Object>) -> std::sync::Arc<Snapshot> {
    let store = Store::new();
    store.replace_all(objects);
    store.snapshot()
}

struct Replay {
    rt: tokio::runtime::Runtime,
    writer: ConfigWriter,
    seen: HashSet<u64>,
}

fn replay() -> Option<&'static Mutex<Replay>> {
    static REPLAY: OnceLock<Option<Mutex<Replay>>> = OnceLock::new();
    REPLAY
        .get_or_init(|| {
            let dir = PathBuf::from(std::env::var_os(HAPROXY_CHECK_DIR)?);
            assert!(dir.is_absolute(), "{HAPROXY_CHECK_DIR} must be absolute");
            let bin = std::env::var_os("HAPROXY_BIN")
                .map_or_else(|| PathBuf::from("/usr/sbin/haproxy"), PathBuf::from);
            assert!(bin.exists(), "{} is missing", bin.display());
            Some(Mutex::new(Replay {
                rt: tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap(),
                writer: ConfigWriter::new(dir, bin),
                seen: HashSet::new(),
            }))
        })
        .as_ref()
}

fn config_dir() -> PathBuf {
    match replay() {
        Some(r) => r.lock().unwrap().writer.dir().to_path_buf(),
        None => PathBuf::from(FUZZ_DIR),
    }
}

/// Translates and renders `objects`, checks the result (and, when replaying, runs
/// `haproxy -c` on it); returns the translation.
pub fn run(objects: Vec<Object>) -> Translation {
    let settings = settings(&config_dir());
    let t = translate(&snapshot(objects), &settings).expect("the fuzz settings are valid");
    let rendered = render(&t.config);
    check(&t, &rendered);
    if let Some(r) = replay() {
        haproxy_check(&mut r.lock().unwrap(), &rendered);
    }
    t
}

fn haproxy_check(r: &mut Replay, rendered: &Rendered) {
    let mut h = DefaultHasher::new();
    (&rendered.haproxy_cfg, &rendered.maps, &rendered.tls).hash(&mut h);
    if !r.seen.insert(h.finish()) {
        return;
    }
    if let Err(e) = r.rt.block_on(r.writer.install(rendered)) {
        panic!("haproxy -c refused a rendered config: {e}");
    }
    eprintln!("haproxy -c accepted distinct config #{}", r.seen.len());
}

/// Checks a translation's problems and its render.
pub fn check(t: &Translation, r: &Rendered) {
    for p in &t.problems {
        check_problem(p);
    }
    assert_eq!(t.config.problems(), vec![], "an inconsistent model");
    assert_text(&r.haproxy_cfg, "haproxy.cfg", true);
    let backends: BTreeSet<&str> = t.config.backends.keys().map(|b| b.as_str()).collect();
    let settings = t
        .config
        .frontends
        .first()
        .map(|f| f.maps.settings.to_file_path());
    for (file, text) in &r.maps {
        let name = file.as_str();
        assert_text(text, name, true);
        if settings.as_ref() == Some(file) {
            // Global values (HSTS, client-certificate verification per SNI name): exactly
            // what the validated model gives, in well-formed lines.
            let want = haproxy::config::settings_entries(&t.config.settings, &t.config.tls);
            assert_eq!(*text, haproxy::config::render_settings_map(&want), "{name}");
            check_map(name, text, |_| {});
        } else if name.ends_with(".map") {
            check_map(name, text, |v| {
                let target = RouteTarget::parse(v).unwrap_or_else(|| panic!("{name}: value {v:?}"));
                assert!(
                    backends.contains(target.backend.as_str()),
                    "{name}: {v:?} names a backend the config lacks"
                );
            });
        } else if name.ends_with(".acl") {
            check_acl(name, text);
        }
    }
    for (file, text) in &r.tls {
        assert_text(text, file.as_str(), false);
    }
}

/// A problem names its object, says why, and an Ingress's names the field.
pub fn check_problem(p: &Problem) {
    assert!(!p.object.is_empty(), "a problem without an object: {p}");
    assert!(!p.message.is_empty(), "a problem without a message: {p:?}");
    if let Some(f) = &p.field {
        assert!(!f.is_empty(), "an empty field: {p}");
    }
    if p.kind == ProblemKind::Ingress {
        assert!(p.field.is_some(), "an Ingress problem without a field: {p}");
    }
}

/// No control byte but LF; with `ascii`, printable ASCII only.
fn assert_text(text: &str, file: &str, ascii: bool) {
    let bad = text.chars().find(|c| {
        (c.is_control() && *c != '\n')
            || (ascii && !(c.is_ascii_graphic() || *c == ' ' || *c == '\n'))
    });
    assert!(bad.is_none(), "{file} holds {bad:?}");
}

/// The longest line HAProxy's map and ACL file reader (`fgets` into a `tune.bufsize`
/// buffer) reads whole, LF and NUL included.
const MAX_LINE: usize = DEFAULT_BUFSIZE - 2;

/// `key value` lines: HAProxy skips `#` lines and leading blanks, takes the key up to the
/// first blank and the value after the blanks that follow it; `value` checks each value.
fn check_map(file: &str, text: &str, value: impl Fn(&str)) {
    let mut keys = BTreeSet::new();
    for line in text.lines() {
        assert!(
            line.len() <= MAX_LINE,
            "{file}: a line of {} bytes",
            line.len()
        );
        let (k, v) = line
            .split_once(' ')
            .unwrap_or_else(|| panic!("{file}: no value in {line:?}"));
        assert!(
            !k.is_empty() && !k.starts_with('#') && MapKey::new(k).is_ok(),
            "{file}: key {k:?}"
        );
        assert!(
            !v.is_empty() && !v.starts_with([' ', '\t']) && !v.ends_with([' ', '\t']),
            "{file}: value {v:?}"
        );
        value(v);
        assert!(keys.insert(k), "{file}: key {k:?} twice");
    }
}

/// One pattern a line, read whole: not empty, no leading blank, no `#` first.
fn check_acl(file: &str, text: &str) {
    for line in text.lines() {
        assert!(
            line.len() <= MAX_LINE,
            "{file}: a line of {} bytes",
            line.len()
        );
        assert!(
            !line.is_empty() && !line.starts_with([' ', '\t', '#']),
            "{file}: pattern {line:?}"
        );
    }
}
