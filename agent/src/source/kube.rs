//! The Kubernetes source: one kube-runtime `watcher` per kind (Ingress, IngressClass, Service,
//! EndpointSlice), and two for Secrets (`kubernetes.io/tls` for certificates, `Opaque` for
//! basic authentication: a field selector takes one type, and the store keeps of an Opaque
//! Secret only what authentication reads), each with kube's default backoff, writing into the same
//! store as the manifests source. The store is marked synced only once every watch has
//! listed, so HAProxy never starts half-empty. Each watch's state changes (failing,
//! recovered) are logged once, not per retry. Each ConfigMap named (`--configmap`,
//! `--tcp-services-configmap`) has one more watch, following that one ConfigMap (a field
//! selector on its name). The Gateway API kinds are watched while the cluster serves them
//! ([`gateway`]).

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

pub mod gateway;

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
pub async fn client(args: &ClusterArgs) -> anyhow::Result<Client> {
    let config = match &args.kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?
        }
        None => kube::Config::infer().await?,
    };
    Ok(Client::try_from(config)?)
}

/// What one watch reports to the writer task.
enum Update {
    Listed(Watch, Vec<Object>),
    Apply(Box<Object>),
    Delete(Kind, ObjectKey),
    /// These kinds are not served: none of their objects exist, and they count as listed.
    Absent(Vec<Kind>),
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
    api: Api<K>,
    config: watcher::Config,
    to_object: fn(K) -> Object,
    tx: mpsc::Sender<Update>,
) where
    K: kube::Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
    K::DynamicType: Default,
{
    let stream = watcher(api, config).default_backoff();
    forward(kind, stream, to_object, tx).await;
}

async fn forward<K>(
    watch: Watch,
    stream: impl Stream<Item = Result<watcher::Event<K>, watcher::Error>>,
    to_object: fn(K) -> Object,
    tx: mpsc::Sender<Update>,
) {
    let mut stream = std::pin::pin!(stream);
    let mut listing: Vec<Object> = Vec::new();
    let mut failing = false;
    let kind = watch.kind;
    while let Some(event) = stream.next().await {
        let update = match event {
            Ok(ev) => {
                // `Init` comes before the list request: only what follows a successful
                // request shows that the watch works again.
                if failing && !matches!(ev, watcher::Event::Init) {
                    tracing::info!(kind = kind.as_str(), "watch recovered");
                    failing = false;
                }
                match ev {
                    watcher::Event::Init => {
                        listing.clear();
                        continue;
                    }
                    watcher::Event::InitApply(o) => {
                        listing.push(to_object(o));
                        continue;
                    }
                    watcher::Event::InitDone => Update::Listed(watch, std::mem::take(&mut listing)),
                    watcher::Event::Apply(o) => Update::Apply(Box::new(to_object(o))),
                    watcher::Event::Delete(o) => {
                        let key = to_object(o).key();
                        Update::Delete(kind, key)
                    }
                }
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(kind = kind.as_str(), error = %e, "watch failing; retrying with backoff");
                    failing = true;
                } else {
                    tracing::debug!(kind = kind.as_str(), error = %e, "watch still failing");
                }
                continue;
            }
        };
        if tx.send(update).await.is_err() {
            return;
        }
    }
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
    let cfg = watcher::Config::default;
    let mut tasks = vec![
        tokio::spawn(watch_kind(
            Watch::of(Kind::Ingress),
            api::<Ingress>(&client, &namespace),
            cfg(),
            Object::Ingress,
            tx.clone(),
        )),
        tokio::spawn(watch_kind(
            Watch::of(Kind::IngressClass),
            Api::<IngressClass>::all(client.clone()),
            cfg(),
            Object::IngressClass,
            tx.clone(),
        )),
        tokio::spawn(watch_kind(
            Watch::of(Kind::Service),
            api::<Service>(&client, &namespace),
            cfg(),
            Object::Service,
            tx.clone(),
        )),
        tokio::spawn(watch_kind(
            Watch::of(Kind::EndpointSlice),
            api::<EndpointSlice>(&client, &namespace),
            cfg(),
            Object::EndpointSlice,
            tx.clone(),
        )),
        tokio::spawn(watch_kind(
            WATCHES[3],
            api::<Secret>(&client, &namespace),
            cfg().fields(&format!("type={TLS_SECRETS}")),
            Object::Secret,
            tx.clone(),
        )),
        tokio::spawn(watch_kind(
            WATCHES[4],
            api::<Secret>(&client, &namespace),
            cfg().fields(&format!("type={OPAQUE_SECRETS}")),
            Object::Secret,
            tx.clone(),
        )),
    ];
    tasks.push(tokio::spawn(gateway::supervise(
        client.clone(),
        namespace.clone(),
        tx.clone(),
        problems,
    )));
    let mut required = WATCHES.to_vec();
    required.extend(gateway::WATCHES);
    for (i, key) in config_maps.iter().enumerate() {
        // Only the one ConfigMap: a field selector on its name, in its namespace.
        let watch = Watch {
            config_map: Some(i),
            ..Watch::of(Kind::ConfigMap)
        };
        required.push(watch);
        tasks.push(tokio::spawn(watch_kind(
            watch,
            Api::<ConfigMap>::namespaced(client.clone(), &key.namespace),
            cfg().fields(&format!("metadata.name={}", key.name)),
            Object::ConfigMap,
            tx.clone(),
        )));
    }
    drop(tx);
    let mut listed: std::collections::BTreeSet<Watch> = Default::default();
    let mut synced = false;
    let writer = async {
        while let Some(update) = rx.recv().await {
            match update {
                Update::Listed(watch, objects) => {
                    tracing::info!(
                        kind = watch.kind.as_str(),
                        secret_type = watch.secret_type,
                        objects = objects.len(),
                        "listed"
                    );
                    match (watch.secret_type, watch.config_map) {
                        (Some(t), _) => store.replace_secrets_of_type(t, objects),
                        // This watch's ConfigMap only: the other ConfigMap watches' stay.
                        (_, Some(i)) => {
                            let key = &config_maps[i];
                            let gone = !objects.iter().any(|o| o.key() == *key);
                            store.apply(objects, gone.then(|| (Kind::ConfigMap, key.clone())));
                        }
                        (None, None) => store.replace_kind(watch.kind, objects),
                    }
                    listed.insert(watch);
                }
                Update::Apply(o) => store.upsert(*o),
                Update::Delete(kind, key) => store.delete(kind, &key),
                Update::Absent(kinds) => {
                    store.clear_kinds(&kinds);
                    listed.extend(kinds.into_iter().map(Watch::of));
                }
            }
            if !synced && required.iter().all(|w| listed.contains(w)) {
                synced = true;
                store.set_synced();
                tracing::info!("every watch has listed: first sync");
            }
        }
    };
    tokio::select! {
        _ = writer => {}
        _ = shutdown => {}
    }
    for t in tasks {
        t.abort();
    }
}
