//! The test Kubernetes API server against a real `kube::Client` and `kube::runtime::watcher`
//! over loopback TCP: paginated lists, watches that resume after a dropped connection,
//! one relist after a compaction, bookmarks and watch timeouts, streaming lists, and a
//! server that stops answering for a while.
//!
//! The server is a stand-in (see `integration::kube_api` for what it lacks); these tests
//! check that kube 5.0 behaves against it as it does against a kube-apiserver.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use integration::kube_api::BOOKMARK_INTERVAL;
use integration::{KubeApi, RequestLogEntry, http, wait_until};
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use serde_json::Value;
use tokio::task::JoinHandle;

/// Bound on every wait; tests normally finish far sooner.
const DEADLINE: Duration = Duration::from_secs(10);
const SERVICES: &str = "/api/v1/services";
const SLICES: &str = "/apis/discovery.k8s.io/v1/endpointslices";

fn meta(namespace: &str, name: &str, version: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: Some(namespace.into()),
        labels: Some(BTreeMap::from([
            ("app".to_string(), "web".to_string()),
            ("v".to_string(), version.to_string()),
        ])),
        ..ObjectMeta::default()
    }
}

fn service(namespace: &str, name: &str, version: &str) -> Service {
    Service {
        metadata: meta(namespace, name, version),
        ..Service::default()
    }
}

fn slice(namespace: &str, name: &str, version: &str) -> EndpointSlice {
    EndpointSlice {
        metadata: meta(namespace, name, version),
        address_type: "IPv4".into(),
        endpoints: vec![Endpoint {
            addresses: vec!["10.0.0.1".into()],
            ..Endpoint::default()
        }],
        ports: None,
    }
}

/// What a watcher yielded, reduced to names and the `v` label.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Init,
    InitApply(String),
    InitDone,
    Apply(String, String),
    Delete(String),
    Error(String),
    /// Put in by the test ([`Recorder::mark`]): what comes after it arrived after that point.
    Marker(&'static str),
}

/// Drives a watcher stream in a task and records what it yields; aborts it on drop.
struct Recorder {
    seen: Arc<Mutex<Vec<Seen>>>,
    task: JoinHandle<()>,
}

impl Recorder {
    fn start<K, S>(stream: S) -> Recorder
    where
        K: Resource + Send + 'static,
        S: Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
    {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let out = seen.clone();
        let task = tokio::spawn(async move {
            let mut stream = Box::pin(stream);
            while let Some(item) = stream.next().await {
                let v = |k: &K| k.labels().get("v").cloned().unwrap_or_default();
                let seen = match item {
                    Ok(watcher::Event::Init) => Seen::Init,
                    Ok(watcher::Event::InitApply(k)) => Seen::InitApply(k.name_any()),
                    Ok(watcher::Event::InitDone) => Seen::InitDone,
                    Ok(watcher::Event::Apply(k)) => Seen::Apply(k.name_any(), v(&k)),
                    Ok(watcher::Event::Delete(k)) => Seen::Delete(k.name_any()),
                    Err(e) => Seen::Error(e.to_string()),
                };
                out.lock().unwrap().push(seen);
            }
        });
        Recorder { seen, task }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Puts a marker among the events: those recorded before it arrived before this call.
    fn mark(&self, name: &'static str) {
        self.seen.lock().unwrap().push(Seen::Marker(name));
    }

    /// Where `want` was recorded; `None` if it was not.
    fn position(&self, want: &Seen) -> Option<usize> {
        self.seen().iter().position(|s| s == want)
    }

    /// What came after the last `InitDone`, errors left out.
    fn since_init_done(&self) -> Vec<Seen> {
        let seen = self.seen();
        let start = seen
            .iter()
            .rposition(|s| *s == Seen::InitDone)
            .map_or(0, |i| i + 1);
        seen[start..]
            .iter()
            .filter(|s| !matches!(s, Seen::Error(_)))
            .cloned()
            .collect()
    }

    fn count(&self, want: &Seen) -> usize {
        self.seen().iter().filter(|s| *s == want).count()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lists(api: &KubeApi, path: &str) -> Vec<RequestLogEntry> {
    api.requests()
        .into_iter()
        .filter(|r| r.is_list_of(path))
        .collect()
}

fn watches(api: &KubeApi, path: &str) -> Vec<RequestLogEntry> {
    api.requests()
        .into_iter()
        .filter(|r| r.is_watch_of(path))
        .collect()
}

fn label<K: Resource + Clone>(store: &Store<K>, namespace: &str, name: &str) -> Option<String>
where
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    let obj = store.get(&ObjectRef::new(name).within(namespace))?;
    Some(obj.labels().get("v").cloned().unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_list_of_1200_comes_back_complete_in_pages_of_500() {
    let api = KubeApi::start().await.unwrap();
    for i in 0..1200 {
        let ns = ["alpha", "beta", "gamma"][i % 3];
        api.apply_typed(&service(ns, &format!("svc-{i:04}"), "1"))
            .unwrap();
    }
    let rv = api.resource_version();
    let services: Api<Service> = Api::all(api.client().unwrap());
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut lp = ListParams::default().limit(500);
        if let Some(token) = &token {
            lp = lp.continue_token(token);
        }
        let page = services.list(&lp).await.unwrap();
        pages += 1;
        assert_eq!(page.metadata.resource_version.as_deref(), Some(rv.as_str()));
        assert!(page.items.iter().all(|s| s.resource_version().is_some()));
        names.extend(page.items.iter().map(|s| s.name_any()));
        token = page.metadata.continue_.filter(|t| !t.is_empty());
        match &token {
            Some(_) => assert_eq!(page.items.len(), 500),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(names.len(), 1200);
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 1200, "no object twice");

    let log = lists(&api, SERVICES);
    assert_eq!(log.len(), 3);
    assert_eq!(
        log.iter().filter(|r| r.param("continue").is_some()).count(),
        2
    );
    assert!(
        log.iter()
            .all(|r| r.param("limit").as_deref() == Some("500"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_select_expire_and_fail_as_a_server_does() {
    let api = KubeApi::start().await.unwrap();
    for i in 0..10 {
        let ns = if i < 4 { "one" } else { "two" };
        let version = if i % 2 == 0 { "even" } else { "odd" };
        api.apply_typed(&service(ns, &format!("s{i}"), version))
            .unwrap();
    }
    let client = api.client().unwrap();
    let names = |list: kube::core::ObjectList<Service>| -> Vec<String> {
        list.items.iter().map(|s| s.name_any()).collect()
    };

    let one: Api<Service> = Api::namespaced(client.clone(), "one");
    assert_eq!(
        names(one.list(&ListParams::default()).await.unwrap()),
        ["s0", "s1", "s2", "s3"]
    );
    let all: Api<Service> = Api::all(client.clone());
    let even = all
        .list(&ListParams::default().labels("v=even,app=web"))
        .await
        .unwrap();
    assert_eq!(names(even), ["s0", "s2", "s4", "s6", "s8"]);
    let picked = ListParams::default().fields("metadata.namespace=two,metadata.name!=s5");
    let odd_two = all.list(&picked.labels("v in (odd)")).await.unwrap();
    assert_eq!(names(odd_two), ["s7", "s9"]);
    assert_eq!(one.get("s1").await.unwrap().labels()["v"], "odd");

    // A continue token from before a compaction has expired.
    let page = all.list(&ListParams::default().limit(3)).await.unwrap();
    assert_eq!(page.metadata.remaining_item_count, Some(7));
    api.compact();
    let token = page.metadata.continue_.unwrap();
    let err = all
        .list(&ListParams::default().limit(3).continue_token(&token))
        .await;
    let kube::Error::Api(status) = err.unwrap_err() else {
        panic!("not an api error")
    };
    assert_eq!((status.code, status.reason.as_str()), (410, "Expired"));

    let kube::Error::Api(status) = one.get("missing").await.unwrap_err() else {
        panic!("not an api error")
    };
    assert_eq!((status.code, status.reason.as_str()), (404, "NotFound"));
    let err = all
        .list(&ListParams::default().fields("spec.type=x"))
        .await
        .unwrap_err();
    assert!(matches!(err, kube::Error::Api(s) if s.code == 400));

    // Raw requests: unknown paths get a Status, and empty query parameters are tolerated.
    let reply = http::get(api.addr(), "api", "/api/v1/pods").await.unwrap();
    assert_eq!(reply.status, 404);
    let status: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(
        (status["kind"].as_str(), status["code"].as_u64()),
        (Some("Status"), Some(404))
    );
    let reply = http::get(
        api.addr(),
        "api",
        "/api/v1/namespaces/one/services?&&limit=2&x",
    )
    .await
    .unwrap();
    assert_eq!(reply.status, 200);
    let list: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(list["kind"], "ServiceList");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(2));
    assert!(
        list["items"][0].get("kind").is_none(),
        "list items carry no kind"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_lists_1200_slices_then_follows_changes_in_order() {
    let api = KubeApi::start().await.unwrap();
    for i in 0..1200 {
        api.apply_typed(&slice(["a", "b"][i % 2], &format!("es-{i:04}"), "1"))
            .unwrap();
    }
    let slices: Api<EndpointSlice> = Api::all(api.client().unwrap());
    let rec = Recorder::start(watcher(slices, watcher::Config::default()).default_backoff());
    wait_until("the initial list is done", DEADLINE, async || {
        rec.count(&Seen::InitDone) == 1
    })
    .await
    .unwrap();
    let seen = rec.seen();
    assert_eq!(seen[0], Seen::Init);
    assert_eq!(seen.len(), 1202, "Init, 1200 InitApply, InitDone");
    let mut listed: Vec<&Seen> = seen[1..1201].iter().collect();
    listed.dedup();
    assert_eq!(listed.len(), 1200);
    assert!(listed.iter().all(|s| matches!(s, Seen::InitApply(_))));
    assert_eq!(lists(&api, SLICES).len(), 3, "pages of 500");

    api.apply_typed(&slice("a", "es-new", "1")).unwrap();
    api.apply_typed(&slice("b", "es-0001", "2")).unwrap();
    api.delete_typed::<EndpointSlice>("a", "es-0002")
        .unwrap()
        .unwrap();
    api.apply_typed(&slice("a", "es-new", "3")).unwrap();
    let want = [
        Seen::Apply("es-new".into(), "1".into()),
        Seen::Apply("es-0001".into(), "2".into()),
        Seen::Delete("es-0002".into()),
        Seen::Apply("es-new".into(), "3".into()),
    ];
    wait_until("the changes arrive", DEADLINE, async || {
        rec.since_init_done().len() >= 4
    })
    .await
    .unwrap();
    assert_eq!(rec.since_init_done(), want);
    assert_eq!(api.watch_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_watches_resume_from_the_last_version_without_a_relist() {
    let api = KubeApi::start().await.unwrap();
    api.apply_typed(&service("default", "web", "0")).unwrap();
    let services: Api<Service> = Api::all(api.client().unwrap());
    let rec = Recorder::start(watcher(services, watcher::Config::default()).default_backoff());
    // kube reports the list done before it opens the watch: wait for the watch too, or the
    // first round's drop can fall before it and the round adds no watch of its own.
    wait_until(
        "the initial list is done and watched",
        DEADLINE,
        async || {
            rec.count(&Seen::InitDone) == 1
                && watches(&api, SERVICES).len() == 1
                && api.watch_count() == 1
        },
    )
    .await
    .unwrap();

    let mut want = Vec::new();
    for round in 1..=4 {
        let watches_before = watches(&api, SERVICES).len();
        for i in 0..20 {
            let version = format!("{round}.{i}");
            api.apply_typed(&service("default", "web", &version))
                .unwrap();
            want.push(Seen::Apply("web".into(), version));
            if i == 12 {
                // Some of this round's changes are still queued for the old stream.
                api.drop_watches();
            }
        }
        wait_until("kube watches again", DEADLINE, async || {
            watches(&api, SERVICES).len() > watches_before && api.watch_count() == 1
        })
        .await
        .unwrap();
    }
    wait_until("every change arrived", DEADLINE, async || {
        rec.since_init_done().len() >= want.len()
    })
    .await
    .unwrap();
    assert_eq!(rec.since_init_done(), want, "each change once, in order");
    assert_eq!(rec.count(&Seen::InitDone), 1);
    assert_eq!(lists(&api, SERVICES).len(), 1, "no relist");
    let resumed = watches(&api, SERVICES);
    assert!(resumed.len() >= 5);
    assert!(
        resumed
            .iter()
            .all(|w| w.param("resourceVersion").is_some_and(|rv| rv != "0"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compaction_while_disconnected_costs_exactly_one_relist() {
    let api = KubeApi::start().await.unwrap();
    for i in 0..10 {
        api.apply_typed(&slice("default", &format!("es-{i}"), "1"))
            .unwrap();
    }
    let (reader, writer) = reflector::store::<EndpointSlice>();
    let slices: Api<EndpointSlice> = Api::all(api.client().unwrap());
    let stream = watcher(slices, watcher::Config::default())
        .default_backoff()
        .reflect(writer);
    let rec = Recorder::start(stream);
    tokio::time::timeout(DEADLINE, reader.wait_until_ready())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reader.len(), 10);

    // InitDone comes before kube's watch request: wait for the watch itself.
    wait_until("the watch is open", DEADLINE, async || {
        api.watch_count() == 1
    })
    .await
    .unwrap();
    api.pause();
    let watches_before = watches(&api, SLICES).len();
    api.drop_watches();
    wait_until(
        "kube's new watch waits on the paused server",
        DEADLINE,
        async || watches(&api, SLICES).len() > watches_before,
    )
    .await
    .unwrap();
    assert_eq!(api.watch_count(), 0);
    api.delete_typed::<EndpointSlice>("default", "es-3")
        .unwrap()
        .unwrap();
    api.apply_typed(&slice("default", "es-4", "2")).unwrap();
    api.apply_typed(&slice("default", "es-10", "1")).unwrap();
    api.compact();
    api.resume();

    wait_until("the store converges", DEADLINE, async || {
        label(&reader, "default", "es-3").is_none()
            && label(&reader, "default", "es-4").as_deref() == Some("2")
            && label(&reader, "default", "es-10").is_some()
    })
    .await
    .unwrap();
    assert_eq!(reader.len(), 10);
    assert!(
        rec.seen()
            .iter()
            .any(|s| matches!(s, Seen::Error(e) if e.contains("too old resource version"))),
        "{:?}",
        rec.seen()
    );

    // Watching again, not listing: a later change arrives without another list.
    api.apply_typed(&slice("default", "es-11", "1")).unwrap();
    wait_until("a later change arrives", DEADLINE, async || {
        label(&reader, "default", "es-11").is_some()
    })
    .await
    .unwrap();
    assert_eq!(
        lists(&api, SLICES).len(),
        2,
        "the first list and one relist"
    );
    assert_eq!(rec.count(&Seen::InitDone), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bookmarks_carry_the_newest_version_and_timeouts_rewatch_without_relisting() {
    let api = KubeApi::start().await.unwrap();
    api.apply_typed(&service("default", "web", "1")).unwrap();
    let client = api.client().unwrap();
    let services: Api<Service> = Api::all(client.clone());

    // A raw watch: quiet for a while -> a bookmark; at timeoutSeconds -> a bookmark and the end.
    let rv = api.resource_version();
    let params = WatchParams::default().timeout(2);
    let started = tokio::time::Instant::now();
    let mut raw = Box::pin(services.watch(&params, &rv).await.unwrap());
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some("other-kind".into()),
            namespace: Some("default".into()),
            ..ObjectMeta::default()
        },
        ..Secret::default()
    };
    let newest = api.apply_typed(&secret).unwrap();
    let mut bookmarks = Vec::new();
    while let Some(event) = tokio::time::timeout(DEADLINE, raw.next()).await.unwrap() {
        match event.unwrap() {
            WatchEvent::Bookmark(b) => {
                bookmarks.push((started.elapsed(), b.metadata.resource_version))
            }
            other => panic!("only bookmarks expected, got {other:?}"),
        }
    }
    let ended = started.elapsed();
    assert!(
        ended >= Duration::from_secs(2) && ended < Duration::from_secs(5),
        "{ended:?}"
    );
    assert!(bookmarks.len() >= 2, "{bookmarks:?}");
    assert!(bookmarks[0].0 < Duration::from_secs(2) && bookmarks[0].0 >= BOOKMARK_INTERVAL);
    assert!(
        bookmarks.iter().all(|(_, rv)| *rv == newest),
        "{bookmarks:?} vs {newest}"
    );

    // The watcher: a 1 s timeout ends each watch, kube watches again from the bookmark.
    let config = watcher::Config::default().timeout(1);
    let rec = Recorder::start(watcher(services, config).default_backoff());
    wait_until("the initial list is done", DEADLINE, async || {
        rec.count(&Seen::InitDone) == 1
    })
    .await
    .unwrap();
    let newest = api
        .apply_typed(&Secret {
            metadata: ObjectMeta {
                name: Some("another".into()),
                ..secret.metadata
            },
            ..Secret::default()
        })
        .unwrap();
    wait_until(
        "kube watches again from the bookmark",
        DEADLINE,
        async || {
            watches(&api, SERVICES)
                .iter()
                .any(|w| w.param("resourceVersion").as_deref() == Some(newest.as_str()))
        },
    )
    .await
    .unwrap();
    api.apply_typed(&service("default", "web", "2")).unwrap();
    wait_until(
        "a change after the timeouts arrives",
        DEADLINE,
        async || rec.since_init_done() == [Seen::Apply("web".into(), "2".into())],
    )
    .await
    .unwrap();
    assert_eq!(lists(&api, SERVICES).len(), 1, "no relist");
    let rewatches = watches(&api, SERVICES);
    assert!(
        rewatches.len() >= 3,
        "the raw watch and at least two of the watcher's"
    );
    let timeouts: Vec<_> = rewatches
        .iter()
        .map(|w| w.param("timeoutSeconds"))
        .collect();
    assert!(
        timeouts[1..].iter().all(|t| t.as_deref() == Some("1")),
        "{timeouts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_lists_end_their_initial_events_with_a_bookmark() {
    let api = KubeApi::start().await.unwrap();
    for i in 0..300 {
        api.apply_typed(&slice("default", &format!("es-{i:03}"), "1"))
            .unwrap();
    }
    let slices: Api<EndpointSlice> = Api::all(api.client().unwrap());
    let config = watcher::Config::default().streaming_lists();
    let rec = Recorder::start(watcher(slices, config).default_backoff());
    wait_until("the initial events are done", DEADLINE, async || {
        rec.count(&Seen::InitDone) == 1
    })
    .await
    .unwrap();
    let seen = rec.seen();
    assert_eq!(
        (seen.len(), &seen[0], &seen[301]),
        (302, &Seen::Init, &Seen::InitDone)
    );
    assert!(lists(&api, SLICES).is_empty(), "no list request");
    let first = &watches(&api, SLICES)[0];
    assert_eq!(first.param("sendInitialEvents").as_deref(), Some("true"));
    assert_eq!(
        first.param("resourceVersionMatch").as_deref(),
        Some("NotOlderThan")
    );
    assert_eq!(first.param("allowWatchBookmarks").as_deref(), Some("true"));

    api.apply_typed(&slice("default", "es-007", "2")).unwrap();
    api.drop_watches();
    api.apply_typed(&slice("default", "es-008", "2")).unwrap();
    wait_until("both changes arrive", DEADLINE, async || {
        rec.since_init_done().len() >= 2
    })
    .await
    .unwrap();
    assert_eq!(
        rec.since_init_done(),
        [
            Seen::Apply("es-007".into(), "2".into()),
            Seen::Apply("es-008".into(), "2".into())
        ]
    );
    assert_eq!(rec.count(&Seen::Init), 1, "resumed, not restarted");
    let resumed = watches(&api, SLICES);
    assert!(resumed.len() >= 2);
    assert!(
        resumed[1..]
            .iter()
            .all(|w| w.param("sendInitialEvents").is_none())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_server_holds_everything_and_the_watcher_converges_after() {
    let api = KubeApi::start().await.unwrap();
    for name in ["a", "b", "c", "d"] {
        api.apply_typed(&service("default", name, "1")).unwrap();
    }
    let (reader, writer) = reflector::store::<Service>();
    let services: Api<Service> = Api::all(api.client().unwrap());
    let stream = watcher(services, watcher::Config::default())
        .default_backoff()
        .reflect(writer);
    let rec = Recorder::start(stream);
    tokio::time::timeout(DEADLINE, reader.wait_until_ready())
        .await
        .unwrap()
        .unwrap();

    // InitDone comes before kube's watch request: wait for the watch itself.
    wait_until("the watch is open", DEADLINE, async || {
        api.watch_count() == 1
    })
    .await
    .unwrap();
    api.pause();
    api.apply_typed(&service("default", "a", "2")).unwrap();
    api.delete_typed::<Service>("default", "b")
        .unwrap()
        .unwrap();
    // The open stream holds the changes; then the connection drops and kube's new watch
    // request, logged on arrival, waits unanswered: no watch opens for it while paused.
    let watches_before = watches(&api, SERVICES).len();
    api.drop_watches();
    wait_until("kube's new watch request arrives", DEADLINE, async || {
        watches(&api, SERVICES).len() > watches_before
    })
    .await
    .unwrap();
    assert_eq!(api.watch_count(), 0, "unanswered while paused");
    // Everything recorded before this marker arrived during the pause; the changes made
    // then must all come after it.
    rec.mark("resume");
    api.resume();
    api.apply_typed(&service("default", "c", "3")).unwrap();
    wait_until("the store converges", DEADLINE, async || {
        label(&reader, "default", "a").as_deref() == Some("2")
            && label(&reader, "default", "b").is_none()
            && label(&reader, "default", "c").as_deref() == Some("3")
            && label(&reader, "default", "d").as_deref() == Some("1")
    })
    .await
    .unwrap();
    assert_eq!(lists(&api, SERVICES).len(), 1, "no relist");
    assert_eq!(api.watch_count(), 1);
    let marker = rec.position(&Seen::Marker("resume")).unwrap();
    for held in [
        Seen::Apply("a".into(), "2".into()),
        Seen::Delete("b".into()),
    ] {
        let at = rec.position(&held);
        assert!(
            at.is_some_and(|at| at > marker),
            "{held:?} at {at:?}, not after the resume marker at {marker}: {:?}",
            rec.seen()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_watches_replay_history_and_report_a_compacted_version_in_stream() {
    let api = KubeApi::start().await.unwrap();
    let first = api.apply_typed(&service("default", "a", "1")).unwrap();
    api.apply_typed(&service("default", "b", "1")).unwrap();
    api.apply_typed(&service("default", "a", "2")).unwrap();
    api.delete("services", "default", "b").unwrap().unwrap();

    let path = |rv: &str| format!("{SERVICES}?&watch=1&timeoutSeconds=1&resourceVersion={rv}");
    let lines = |body: &str| -> Vec<(String, String)> {
        body.lines()
            .map(|l| {
                let event: Value = serde_json::from_str(l).unwrap();
                let name = event["object"]["metadata"]["name"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                (event["type"].as_str().unwrap().to_string(), name)
            })
            .collect()
    };
    let reply = http::get(api.addr(), "api", &path(&first)).await.unwrap();
    assert_eq!(reply.status, 200);
    let want = [("ADDED", "b"), ("MODIFIED", "a"), ("DELETED", "b")];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(t, n)| (t.to_string(), n.to_string()))
        .collect();
    assert_eq!(
        lines(&reply.body),
        want,
        "no bookmarks without allowWatchBookmarks"
    );

    let reply = http::get(api.addr(), "api", &path("0")).await.unwrap();
    assert_eq!(lines(&reply.body), [("ADDED".to_string(), "a".to_string())]);

    api.compact();
    let reply = http::get(api.addr(), "api", &path(&first)).await.unwrap();
    assert_eq!(reply.status, 200);
    let events: Vec<Value> = reply
        .body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["type"], "ERROR");
    let status = &events[0]["object"];
    assert_eq!(
        (status["code"].as_u64(), status["reason"].as_str()),
        (Some(410), Some("Expired"))
    );
    let message = format!(
        "too old resource version: {first} ({})",
        api.resource_version()
    );
    assert_eq!(status["message"].as_str(), Some(message.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_ends_waiting_watch_requests_and_dropping_the_server_stops_it() {
    let api = KubeApi::start().await.unwrap();
    api.apply_typed(&service("default", "web", "1")).unwrap();
    let client = api.client().unwrap();
    let services: Api<Service> = Api::all(client.clone());
    let rec = Recorder::start(watcher(services.clone(), watcher::Config::default()));
    wait_until("the watch is open", DEADLINE, async || {
        api.watch_count() == 1
    })
    .await
    .unwrap();

    // A watch request waiting out a pause is dropped too: kube fails to start the watch,
    // and tries again.
    api.pause();
    let before = watches(&api, SERVICES).len();
    api.drop_watches();
    wait_until("kube's new watch waits", DEADLINE, async || {
        watches(&api, SERVICES).len() == before + 1
    })
    .await
    .unwrap();
    api.drop_watches();
    wait_until("kube tries again", DEADLINE, async || {
        watches(&api, SERVICES).len() > before + 1
    })
    .await
    .unwrap();
    assert!(rec.seen().iter().any(|s| matches!(s, Seen::Error(_))));
    api.resume();
    api.apply_typed(&service("default", "web", "2")).unwrap();
    wait_until("the change arrives", DEADLINE, async || {
        rec.since_init_done() == [Seen::Apply("web".into(), "2".into())]
    })
    .await
    .unwrap();
    drop(rec);

    // Dropping the server ends its open watches and refuses new connections.
    let rv = api.resource_version();
    let mut raw = Box::pin(services.watch(&WatchParams::default(), &rv).await.unwrap());
    drop(api);
    let end = tokio::time::timeout(DEADLINE, async {
        while let Some(Ok(_)) = raw.next().await {}
    });
    end.await.expect("the open watch ends");
    let listed = tokio::time::timeout(DEADLINE, services.list(&ListParams::default())).await;
    assert!(listed.expect("no hang").is_err());
}
