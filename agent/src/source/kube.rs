//! The Kubernetes source: one kube-runtime `watcher` per kind (Ingress, IngressClass, Service,
//! EndpointSlice), and two for Secrets (`kubernetes.io/tls` for certificates, `Opaque` for
//! basic authentication: a field selector takes one type, and the store keeps of an Opaque
//! Secret only what authentication reads), each with kube's default backoff, writing into the same
//! store as the manifests source. The store is marked synced only once every watch has
//! listed, so HAProxy never starts half-empty. Each watch's state changes (failing,
//! recovered) are logged once, not per retry. Each ConfigMap named (`--configmap`,
//! `--tcp-services-configmap`) has one more watch, following that one ConfigMap (a field
//! selector on its name). The Gateway API kinds are watched while the cluster serves them
//! ([`gateway`]). An object the API server sends that does not decode is named (a
//! `malformed` problem on its field) and kept out, its last good version kept, without
//! failing the list or the watch it came in ([`tolerant`]); a watch whose requests fail is
//! a problem (`api_server`/`unavailable`) until it works again (`faults.rs`).

use std::future::Future;
use std::path::PathBuf;

use futures_util::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, watch};

use crate::problem::Problem;
use crate::store::{Kind, Object, ObjectKey, Store};

mod faults;
pub mod gateway;
pub mod tolerant;

use faults::{BadObject, Faults};
use tolerant::Tolerant;

/// How to reach the cluster.
#[derive(Debug, Clone, Default)]
pub struct ClusterArgs {
    /// A kubeconfig file; in-cluster config (or the usual kubeconfig lookup) when `None`.
    pub kubeconfig: Option<PathBuf>,
    /// Only this namespace's namespaced objects (all when `None`).
    pub namespace: Option<String>,
}

/// Builds a client from a kubeconfig file, or infers one (in-cluster service account, then
/// `KUBECONFIG` / `~/.kube/config`).
pub async fn client(args: &ClusterArgs) -> Result<Client, ClientError> {
    let config = match &args.kubeconfig {
        Some(path) => {
            let kubeconfig = |source| ClientError::Kubeconfig {
                path: path.clone(),
                source,
            };
            let read = kube::config::Kubeconfig::read_from(path).map_err(kubeconfig)?;
            kube::Config::from_custom_kubeconfig(read, &Default::default())
                .await
                .map_err(kubeconfig)?
        }
        None => kube::Config::infer().await?,
    };
    Ok(Client::try_from(config)?)
}

/// Why no client could be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The `--kubeconfig` file cannot be read or used.
    #[error("kubeconfig {}: {source}", path.display())]
    Kubeconfig {
        /// The file.
        path: PathBuf,
        /// Why.
        source: kube::config::KubeconfigError,
    },
    /// Neither an in-cluster service account nor a kubeconfig was found.
    #[error("no cluster config: {0}")]
    Infer(#[from] kube::config::InferConfigError),
    /// The config does not make a client (TLS settings, a bad URL).
    #[error("cannot build a client: {0}")]
    Build(#[from] kube::Error),
}

/// What one watch reports to the writer task.
enum Update {
    /// A complete list: the objects that decoded, and those that did not.
    Listed(Watch, Vec<Object>, Vec<BadObject>),
    Apply(Box<Object>),
    /// A watch event with an object that does not decode.
    Malformed(Watch, BadObject),
    Delete(Kind, ObjectKey),
    /// These kinds are not served: none of their objects exist, and they count as listed.
    Absent(Vec<Kind>),
    /// A watch's requests fail (`Some(error)`), or work again (`None`).
    Failing(Watch, Option<String>),
}

/// The kinds watched, in the order their first list is awaited.
pub const KINDS: [Kind; 5] = [
    Kind::IngressClass,
    Kind::Service,
    Kind::EndpointSlice,
    Kind::Secret,
    Kind::Ingress,
];

/// One watch: a kind, for Secrets the one type it lists, for ConfigMaps which of the
/// named ones (an index into the list `run` was given).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Watch {
    kind: Kind,
    secret_type: Option<&'static str>,
    config_map: Option<usize>,
}

impl Watch {
    const fn of(kind: Kind) -> Self {
        Self {
            kind,
            secret_type: None,
            config_map: None,
        }
    }

    /// What it follows, for people: `EndpointSlice`, `Secret type=Opaque`, `ConfigMap #0`.
    fn describe(&self) -> String {
        match (self.secret_type, self.config_map) {
            (Some(t), _) => format!("{} type={t}", self.kind.as_str()),
            (_, Some(i)) => format!("{} #{i}", self.kind.as_str()),
            _ => self.kind.as_str().to_string(),
        }
    }
}

/// Secrets with certificates.
const TLS_SECRETS: &str = "kubernetes.io/tls";
/// Secrets with basic-authentication users (`kubectl create secret generic`).
const OPAQUE_SECRETS: &str = "Opaque";

/// Every watch, each listed before the first sync.
const WATCHES: [Watch; 6] = [
    Watch::of(Kind::IngressClass),
    Watch::of(Kind::Service),
    Watch::of(Kind::EndpointSlice),
    Watch {
        kind: Kind::Secret,
        secret_type: Some(TLS_SECRETS),
        config_map: None,
    },
    Watch {
        kind: Kind::Secret,
        secret_type: Some(OPAQUE_SECRETS),
        config_map: None,
    },
    Watch::of(Kind::Ingress),
];

fn api<K>(client: &Client, namespace: &Option<String>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Runs one watcher and forwards its events as store updates, until the channel closes.
async fn watch_kind<K>(
    kind: Watch,
    api: Api<Tolerant<K>>,
    config: watcher::Config,
    to_object: fn(K) -> Object,
    tx: mpsc::Sender<Update>,
) where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + 'static,
{
    let stream = watcher(api, config).default_backoff();
    forward(kind, stream, to_object, tx).await;
}

/// Whether a watch error says the watch's requests fail, rather than that it must list
/// again (`410 Expired`, kube's ordinary way back after a compaction).
fn is_failure(e: &watcher::Error) -> bool {
    !matches!(e, watcher::Error::WatchError(status) if status.code == 410)
}

/// Sends `watch`'s events on `tx` as updates (a whole list at once), and says when the
/// watch fails and when it works again.
async fn forward<K>(
    watch: Watch,
    stream: impl Stream<Item = Result<watcher::Event<Tolerant<K>>, watcher::Error>>,
    to_object: fn(K) -> Object,
    tx: mpsc::Sender<Update>,
) where
    K: kube::Resource<DynamicType = ()>,
{
    let mut stream = std::pin::pin!(stream);
    let mut listing = Listing::default();
    // Logged once per failing streak; a problem while the streak has a real failure.
    let (mut failing, mut named) = (false, false);
    let kind = watch.kind;
    let namespaced = !matches!(
        kind,
        Kind::IngressClass | Kind::GatewayClass | Kind::Namespace
    );
    while let Some(event) = stream.next().await {
        let update = match event {
            Ok(ev) => {
                // `Init` comes before the list request: only what follows a successful
                // request shows that the watch works again.
                if failing && !matches!(ev, watcher::Event::Init) {
                    tracing::info!(kind = kind.as_str(), "watch recovered");
                    failing = false;
                    if std::mem::take(&mut named)
                        && tx.send(Update::Failing(watch, None)).await.is_err()
                    {
                        return;
                    }
                }
                match event_update(watch, ev, to_object, namespaced, &mut listing) {
                    Some(update) => update,
                    None => continue,
                }
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(kind = kind.as_str(), error = %e, "watch failing; retrying with backoff");
                    failing = true;
                } else {
                    tracing::debug!(kind = kind.as_str(), error = %e, "watch still failing");
                }
                if named || !is_failure(&e) {
                    continue;
                }
                named = true;
                Update::Failing(watch, Some(e.to_string()))
            }
        };
        if tx.send(update).await.is_err() {
            return;
        }
    }
}

/// What a watch received of the list under way: good objects and malformed ones.
#[derive(Default)]
struct Listing {
    objects: Vec<Object>,
    bad: Vec<BadObject>,
}

/// The update one event of `watch` makes, or `None` while a list is under way (the list is
/// kept in `listing` until it is done).
fn event_update<K>(
    watch: Watch,
    ev: watcher::Event<Tolerant<K>>,
    to_object: fn(K) -> Object,
    namespaced: bool,
    listing: &mut Listing,
) -> Option<Update>
where
    K: kube::Resource<DynamicType = ()>,
{
    let kind = watch.kind;
    Some(match ev {
        watcher::Event::Init => {
            listing.objects.clear();
            listing.bad.clear();
            return None;
        }
        watcher::Event::InitApply(Tolerant::Good(o)) => {
            listing.objects.push(to_object(o));
            return None;
        }
        watcher::Event::InitApply(Tolerant::Bad(m)) => {
            listing.bad.push(BadObject::new(kind, *m));
            return None;
        }
        watcher::Event::InitDone => Update::Listed(
            watch,
            std::mem::take(&mut listing.objects),
            std::mem::take(&mut listing.bad),
        ),
        watcher::Event::Apply(Tolerant::Good(o)) => Update::Apply(Box::new(to_object(o))),
        watcher::Event::Apply(Tolerant::Bad(m)) => {
            Update::Malformed(watch, BadObject::new(kind, *m))
        }
        watcher::Event::Delete(o) => {
            let key = ObjectKey::of(kube::Resource::meta(&o), namespaced);
            Update::Delete(kind, key)
        }
    })
}

/// Watches every kind until `shutdown` completes, keeping `store` current. The store is
/// marked synced after the first complete list of every kind (the Gateway API kinds: or once
/// discovery says the cluster does not serve them). `problems` says when it does not.
pub async fn run(
    client: Client,
    namespace: Option<String>,
    config_maps: Vec<ObjectKey>,
    store: Store,
    problems: watch::Sender<Vec<Problem>>,
    shutdown: impl Future<Output = ()>,
) {
    let (tx, mut rx) = mpsc::channel::<Update>(1024);
    let (gateway_problems, mut gateway_rx) = watch::channel(Vec::new());
    let mut tasks = start_watches(&client, &namespace, &config_maps, &tx);
    tasks.push(tokio::spawn(gateway::supervise(
        client.clone(),
        namespace.clone(),
        tx.clone(),
        gateway_problems,
    )));
    drop(tx);
    let mut required = WATCHES.to_vec();
    required.extend(gateway::WATCHES);
    required.extend((0..config_maps.len()).map(config_map_watch));
    let mut writer = StoreWriter {
        store: &store,
        config_maps: &config_maps,
        listed: Default::default(),
        faults: Faults::default(),
    };
    let mut synced = false;
    let writing = async {
        loop {
            tokio::select! {
                update = rx.recv() => match update {
                    Some(u) => writer.take(u),
                    None => break,
                },
                Ok(()) = gateway_rx.changed() => {
                    writer.faults.gateway(gateway_rx.borrow_and_update().clone());
                }
            }
            writer.faults.publish(&problems);
            if !synced && required.iter().all(|w| writer.listed.contains(w)) {
                synced = true;
                store.set_synced();
                tracing::info!("every watch has listed: first sync");
            }
        }
    };
    tokio::select! {
        _ = writing => {}
        _ = shutdown => {}
    }
    for t in tasks {
        t.abort();
    }
}

/// The watch of the `i`th ConfigMap named by the flags.
fn config_map_watch(i: usize) -> Watch {
    Watch {
        config_map: Some(i),
        ..Watch::of(Kind::ConfigMap)
    }
}

/// Starts a watch task for each kind (Secrets: one per type watched) and each named
/// ConfigMap, all sending to `tx`.
fn start_watches(
    client: &Client,
    namespace: &Option<String>,
    config_maps: &[ObjectKey],
    tx: &mpsc::Sender<Update>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let cfg = watcher::Config::default;
    let mut tasks = vec![
        tokio::spawn(watch_kind(
            Watch::of(Kind::Ingress),
            api::<Tolerant<Ingress>>(client, namespace),
            cfg(),
            Object::Ingress,
            tx.clone(),
        )),
        tokio::spawn(watch_kind(
            Watch::of(Kind::IngressClass),
            Api::<Tolerant<IngressClass>>::all(client.clone()),
            cfg(),
            Object::IngressClass,
            tx.clone(),
        )),
        tokio::spawn(watch_kind(
            Watch::of(Kind::Service),
            api::<Tolerant<Service>>(client, namespace),
            cfg(),
            Object::Service,
            tx.clone(),
        )),
        tokio::spawn(watch_kind(
            Watch::of(Kind::EndpointSlice),
            api::<Tolerant<EndpointSlice>>(client, namespace),
            cfg(),
            Object::EndpointSlice,
            tx.clone(),
        )),
        tokio::spawn(watch_kind(
            WATCHES[3],
            api::<Tolerant<Secret>>(client, namespace),
            cfg().fields(&format!("type={TLS_SECRETS}")),
            Object::Secret,
            tx.clone(),
        )),
        tokio::spawn(watch_kind(
            WATCHES[4],
            api::<Tolerant<Secret>>(client, namespace),
            cfg().fields(&format!("type={OPAQUE_SECRETS}")),
            Object::Secret,
            tx.clone(),
        )),
    ];
    for (i, key) in config_maps.iter().enumerate() {
        // Only the one ConfigMap: a field selector on its name, in its namespace.
        tasks.push(tokio::spawn(watch_kind(
            config_map_watch(i),
            Api::<Tolerant<ConfigMap>>::namespaced(client.clone(), &key.namespace),
            cfg().fields(&format!("metadata.name={}", key.name)),
            Object::ConfigMap,
            tx.clone(),
        )));
    }
    tasks
}

/// Writes the watches' updates into the store, keeping the watches' faults and which
/// watches have listed.
struct StoreWriter<'a> {
    store: &'a Store,
    config_maps: &'a [ObjectKey],
    listed: std::collections::BTreeSet<Watch>,
    faults: Faults,
}

impl StoreWriter<'_> {
    fn take(&mut self, update: Update) {
        let store = self.store;
        match update {
            Update::Listed(watch, objects, bad) => {
                tracing::info!(
                    kind = watch.kind.as_str(),
                    secret_type = watch.secret_type,
                    objects = objects.len(),
                    malformed = bad.len(),
                    "listed"
                );
                let keep = self.faults.listed(watch, bad);
                match (watch.secret_type, watch.config_map) {
                    (Some(t), _) => store.replace_secrets_of_type(t, objects, &keep),
                    // This watch's ConfigMap only: the other ConfigMap watches' stay.
                    (_, Some(i)) => {
                        let key = &self.config_maps[i];
                        let gone = !objects.iter().any(|o| o.key() == *key) && !keep.contains(key);
                        store.apply(objects, gone.then(|| (Kind::ConfigMap, key.clone())));
                    }
                    (None, None) => store.replace_kind_keeping(watch.kind, objects, &keep),
                }
                self.listed.insert(watch);
            }
            Update::Apply(o) => {
                self.faults.resolved(o.kind(), &o.key());
                store.upsert(*o);
            }
            Update::Malformed(watch, bad) => self.faults.malformed(watch, bad),
            Update::Delete(kind, key) => {
                self.faults.resolved(kind, &key);
                store.delete(kind, &key);
            }
            Update::Absent(kinds) => {
                self.faults.absent(&kinds);
                store.clear_kinds(&kinds);
                self.listed.extend(kinds.into_iter().map(Watch::of));
            }
            Update::Failing(watch, error) => self.faults.failing(watch, error),
        }
    }
}
