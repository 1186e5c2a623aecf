//! Tests of the run loop's failure paths: settings that translation could fail on are
//! refused at start-up, and a loop that can no longer reconcile says so on `/healthz`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use haproxy::{ConfigWriter, Endpoint, MasterClient, Reloader, RuntimeClient, RuntimeConfig};
use tokio::sync::watch;

use super::flags::check_settings;
use super::sync_loop::settle;
use super::*;
use crate::apply::{Applier, ApplySettings};
use crate::http::Health;
use crate::source::manifests::parse_manifests;

/// Settings as `settings()` would build them, for `config_dir`, without its checks.
fn unchecked_settings(config_dir: PathBuf) -> Settings {
    Settings {
        runtime_socket: "/run/haproxy/admin.sock".into(),
        config_dir,
        ..crate::translate::tls::tests::settings()
    }
}

/// A config dir whose maps and default certificate paths fit HAProxy's 1024-byte path
/// limit, while `<dir>/certs/crt-list.txt` (the longest path) does not.
fn dir_too_long_for_the_crt_list() -> PathBuf {
    let mut dir = String::from("/");
    while dir.len() + "/certs/default.pem".len() < 1024 {
        dir.push_str(if dir.ends_with('/') { "d" } else { "/" });
    }
    let dir = dir.trim_end_matches('/').to_string();
    assert!(dir.len() + "/certs/crt-list.txt".len() > 1024);
    PathBuf::from(dir)
}

/// A synced store with one Ingress asking for TLS on `a.test` with the Secret `tls`.
fn store_with_tls_ingress() -> Store {
    let cert = crate::certs::self_signed("a.test").unwrap();
    let yaml = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{namespace: shop, name: tls}}\n\
         type: kubernetes.io/tls\nstringData:\n  tls.crt: {pem:?}\n  tls.key: {pem:?}\n---\n\
         apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {{namespace: shop, name: web}}\n\
         spec:\n  ingressClassName: haproxy\n  tls: [{{hosts: [a.test], secretName: tls}}]\n  \
         defaultBackend: {{service: {{name: web, port: {{number: 80}}}}}}\n",
        pem = cert.pem.as_str()
    );
    let store = Store::new();
    store.replace_all(parse_manifests(Path::new("t.yaml"), &yaml).unwrap());
    store.set_synced();
    store
}

/// An applier for sockets where nothing listens.
fn applier(dir: &Path, status: &Arc<Status>) -> Applier {
    let runtime = RuntimeClient::new(
        Endpoint::Unix(dir.join("admin.sock")),
        RuntimeConfig::default(),
    );
    let master = MasterClient::new(
        Endpoint::Unix(dir.join("master.sock")),
        Duration::from_secs(1),
    );
    let writer = ConfigWriter::new(dir, "haproxy");
    let reloader = Reloader::new(
        writer,
        master.clone(),
        runtime.clone(),
        Duration::from_secs(1),
    );
    let settings = ApplySettings {
        drain_timeout: Duration::from_secs(1),
        full_observe_every: Duration::from_secs(30),
    };
    Applier::new(runtime, master, reloader, status.clone(), settings)
}

fn timing() -> LoopTiming {
    LoopTiming {
        resync_period: Duration::from_secs(30),
        holdoff: Duration::from_millis(10),
        max_delay: Duration::from_millis(100),
    }
}

fn wakers(shutdown: watch::Receiver<bool>) -> Wakers {
    Wakers {
        source_problems: watch::channel(Vec::new()).1,
        haproxy_starts: None,
        shutdown,
    }
}

#[test]
fn settings_translation_could_fail_on_are_refused_at_start_up() {
    let settings = unchecked_settings(dir_too_long_for_the_crt_list());
    // Without the check, translation fails only once an Ingress asks for TLS...
    assert!(translate(&Default::default(), &settings).is_ok());
    let store = store_with_tls_ingress();
    let err = translate(&store.snapshot(), &settings).unwrap_err();
    assert_eq!(err.setting, "--config-dir", "{err}");
    // ...so the start-up check refuses it, naming the flag.
    let err = check_settings(&settings).unwrap_err().to_string();
    assert!(
        err.contains("--config-dir") && err.contains("crt-list"),
        "{err}"
    );
    assert_eq!(
        check_settings(&unchecked_settings("/etc/haproxy".into())),
        Ok(())
    );
}

#[tokio::test]
async fn reconcile_loop_that_cannot_translate_ends_with_healthz_failing() {
    let dir = tempfile::tempdir().unwrap();
    let status = Status::new();
    status.set_health(Health {
        synced: true,
        haproxy_up: true,
        detail: None,
    });
    let settings = unchecked_settings(dir_too_long_for_the_crt_list());
    let store = store_with_tls_ingress();
    let mut applier = applier(dir.path(), &status);
    let (_stop, shutdown) = watch::channel(false);
    let ended = tokio::time::timeout(
        Duration::from_secs(10),
        reconcile_loop(
            &store,
            &settings,
            &mut applier,
            &status,
            timing(),
            wakers(shutdown),
        ),
    )
    .await
    .expect("the loop ends rather than live on");
    let err = ended.unwrap_err().to_string();
    assert!(err.contains("--config-dir"), "{err}");
    let health = status.health();
    assert!(!health.synced && !health.haproxy_up, "{health:?}");
    assert!(health.detail.unwrap().contains("translation failed"));
}

#[tokio::test]
async fn reconcile_loop_ends_cleanly_on_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let status = Status::new();
    let settings = unchecked_settings(dir.path().to_path_buf());
    // Never synced: the loop waits for the store, and shutdown ends it.
    let store = Store::new();
    let mut applier = applier(dir.path(), &status);
    let (stop, shutdown) = watch::channel(false);
    let looping = reconcile_loop(
        &store,
        &settings,
        &mut applier,
        &status,
        timing(),
        wakers(shutdown),
    );
    stop.send(true).unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(10), looping).await;
    assert_eq!(ended.expect("the loop ends on shutdown"), Ok(()));
}

/// An Ingress in `shop` routing `a.test` to `web:<port>`, as the store holds it.
fn ingress_to_port(port: u16) -> Vec<crate::store::Object> {
    let yaml = format!(
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {{namespace: shop, name: web}}\n\
         spec:\n  ingressClassName: haproxy\n  rules: [{{host: a.test, http: {{paths: [{{path: /, \
         pathType: Prefix, backend: {{service: {{name: web, port: {{number: {port}}}}}}}}}]}}}}]\n"
    );
    parse_manifests(Path::new("t.yaml"), &yaml).unwrap()
}

/// Runs the reconcile loop on paused time against sockets where nothing listens (so every
/// sync fails and is recorded), replacing the Ingress at each of `changes_at` (virtual ms),
/// and returns how many syncs the history held at each of `probes` (virtual ms).
async fn syncs_recorded(changes_at: &[u64], probes: &[u64]) -> Vec<usize> {
    let dir = tempfile::tempdir().unwrap();
    let status = Status::new();
    let settings = unchecked_settings(dir.path().to_path_buf());
    let store = Store::new();
    store.replace_all(ingress_to_port(80));
    store.set_synced();
    let mut applier = applier(dir.path(), &status);
    let (stop, shutdown) = watch::channel(false);
    let start = tokio::time::Instant::now();
    let looping = reconcile_loop(
        &store,
        &settings,
        &mut applier,
        &status,
        timing(),
        wakers(shutdown),
    );
    let mut events: Vec<(u64, Option<u16>)> = changes_at
        .iter()
        .zip(81..)
        .map(|(at, port)| (*at, Some(port)))
        .chain(probes.iter().map(|at| (*at, None)))
        .collect();
    events.sort();
    let driving = async {
        let mut counts = Vec::new();
        for (at, change) in events {
            tokio::time::sleep_until(start + Duration::from_millis(at)).await;
            match change {
                Some(port) => store.replace_all(ingress_to_port(port)),
                None => counts.push(status.history().len()),
            }
        }
        stop.send(true).unwrap();
        counts
    };
    let (ended, counts) = tokio::join!(looping, driving);
    assert_eq!(ended, Ok(()));
    counts
}

#[tokio::test(start_paused = true)]
async fn reconcile_loop_retries_a_failed_sync_after_a_doubling_backoff() {
    // Syncs at 0 ms, then 100, 200, 400 and 800 ms after each failure: 100, 300, 700, 1500.
    assert_eq!(
        syncs_recorded(&[], &[50, 150, 299, 301, 699, 701, 1499, 1501]).await,
        [1, 2, 2, 3, 3, 4, 4, 5]
    );
}

#[tokio::test(start_paused = true)]
async fn reconcile_loop_syncs_a_burst_of_changes_once_after_its_holdoff() {
    // After the failures at 0, 100 and 300 ms (next retry due at 700), changes at 400, 405
    // and 410 ms make one sync, 10 ms (the holdoff) after the last; that failure moves the
    // retry to 800 ms later, 1220.
    assert_eq!(
        syncs_recorded(&[400, 405, 410], &[350, 419, 421, 750, 1219, 1221]).await,
        [3, 3, 4, 4, 4, 5]
    );
    // A burst that does not pause (every 5 ms from 400 to 545 ms) is synced at the maximum
    // delay (100 ms) after its first change, at 500; the changes that came after that sync
    // are synced once, a holdoff after the last of them: 555.
    let steady: Vec<u64> = (0..30).map(|i| 400 + i * 5).collect();
    assert_eq!(
        syncs_recorded(&steady, &[350, 499, 501, 554, 556]).await,
        [3, 3, 4, 4, 5]
    );
}

#[tokio::test]
async fn source_that_ends_without_shutdown_fails_the_loop_and_healthz() {
    let status = Status::new();
    status.set_health(Health {
        synced: true,
        haproxy_up: true,
        detail: None,
    });
    let (_stop, shutdown) = watch::channel(false);
    let mut source = Some(tokio::spawn(async {}));
    let ended = unless_source_ends(std::future::pending(), &mut source, &shutdown, &status).await;
    assert!(ended.unwrap_err().to_string().contains("source"));
    assert!(source.is_none(), "the ended task is not awaited again");
    let health = status.health();
    assert!(!health.synced, "{health:?}");

    // At shutdown the source ending is expected.
    let (stop, shutdown) = watch::channel(false);
    stop.send(true).unwrap();
    let mut source = Some(tokio::spawn(async {}));
    let ended = unless_source_ends(std::future::pending(), &mut source, &shutdown, &status).await;
    assert_eq!(ended, Ok(()));
}

/// Runs `settle` after a first change at 0 ms, with more changes sent at `at` (virtual ms,
/// tokio's clock paused), and returns when it returned.
async fn settled_after(changes_at: &[u64], holdoff: u64, max_delay: u64) -> u128 {
    let (tx, mut rx) = watch::channel(Arc::new(Snapshot::default()));
    let timing = LoopTiming {
        resync_period: Duration::from_secs(30),
        holdoff: Duration::from_millis(holdoff),
        max_delay: Duration::from_millis(max_delay),
    };
    let start = tokio::time::Instant::now();
    let changes: Vec<u64> = changes_at.to_vec();
    let sender = tokio::spawn(async move {
        for at in changes {
            tokio::time::sleep_until(start + Duration::from_millis(at)).await;
            tx.send_modify(|_| {});
        }
        // Keeps the channel open until the test ends.
        std::future::pending::<()>().await;
    });
    settle(&mut rx, timing).await;
    let took = start.elapsed().as_millis();
    sender.abort();
    took
}

#[tokio::test(start_paused = true)]
async fn settle_waits_out_the_holdoff_after_the_last_change() {
    // No further change: one holdoff.
    assert_eq!(settled_after(&[], 10, 100).await, 10);
    // Changes 5 ms apart keep it waiting: the holdoff counts from the last one.
    assert_eq!(settled_after(&[5, 10, 15], 10, 100).await, 25);
    // A change just after the holdoff is not waited for.
    assert_eq!(settled_after(&[11], 10, 100).await, 10);
}

#[tokio::test(start_paused = true)]
async fn settle_never_waits_beyond_the_max_delay() {
    let burst: Vec<u64> = (1..=50).map(|i| i * 5).collect();
    // A burst that never pauses for a holdoff ends the wait at the maximum delay.
    assert_eq!(settled_after(&burst, 10, 100).await, 100);
    // The last quiet period is cut at the maximum delay too (130 ms without it).
    assert_eq!(settled_after(&[40, 80], 50, 100).await, 100);
}

#[test]
fn the_gateway_controller_name_flag_reaches_the_settings() {
    use clap::Parser;
    let dir = tempfile::tempdir().unwrap();
    let cli = crate::cli::Cli::try_parse_from([
        "haproxy-agent",
        "run",
        "--config-dir",
        dir.path().to_str().unwrap(),
        "--gateway-controller-name",
        "example.com/gw",
    ])
    .unwrap();
    let crate::cli::Command::Run(args) = cli.command else {
        panic!("not run")
    };
    assert_eq!(
        settings(&args.model).unwrap().gateway_controller_name,
        "example.com/gw"
    );
}

#[tokio::test]
async fn gateway_statuses_wake_their_followers_only_when_they_change() {
    use crate::translate::gateway::Statuses;
    let status = Status::new();
    let mut rx = status.gateway_status();
    status.set_gateway_status(&Arc::new(Statuses::default()));
    assert!(!rx.has_changed().unwrap(), "equal: no wake-up");
    let mut s = Statuses::default();
    s.classes
        .insert(crate::store::ObjectKey::new("", "c"), Default::default());
    status.set_gateway_status(&Arc::new(s.clone()));
    assert!(rx.has_changed().unwrap());
    assert_eq!(rx.borrow_and_update().classes.len(), 1);
    status.set_gateway_status(&Arc::new(s));
    assert!(!rx.has_changed().unwrap());
    let doc = status.debug().await;
    assert_eq!(
        doc["gateway_api"]["gatewayclasses"]["c"],
        serde_json::json!({"conditions": []})
    );
}
