//! The Gateway API watches (GatewayClass, Gateway, HTTPRoute, ReferenceGrant, and Namespace
//! for the labels listeners' namespace selectors read), run only while the cluster serves
//! `gateway.networking.k8s.io`: discovery decides at start-up, and again
//! whenever one of the watches finds its resource gone (a 404: the CRDs were removed). A
//! cluster without the CRDs gets one log line and one problem, is asked again every
//! [`RECHECK`], and the Ingress side works as ever.

use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use super::{Tolerant, Update, Watch, api, forward};
use crate::gateway_api::{GROUP, Gateway, GatewayClass, HttpRoute, ReferenceGrant};
use crate::problem::{Problem, ProblemKind, ProblemReason};
use crate::store::{Kind, Object};
use k8s_openapi::api::core::v1::Namespace;

/// How often discovery is asked again while the group is not served (or after its
/// resources went away, or discovery failed).
pub const RECHECK: Duration = Duration::from_secs(30);

/// The five watches, each listed before the first sync when the group is served.
pub(super) const WATCHES: [Watch; 5] = [
    Watch::of(Kind::GatewayClass),
    Watch::of(Kind::Gateway),
    Watch::of(Kind::HttpRoute),
    Watch::of(Kind::ReferenceGrant),
    Watch::of(Kind::Namespace),
];

/// The kinds followed while the group is served (and cleared while it is not).
const FOLLOWED: [Kind; 5] = [
    Kind::GatewayClass,
    Kind::Gateway,
    Kind::HttpRoute,
    Kind::ReferenceGrant,
    Kind::Namespace,
];

/// What discovery says of the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Discovery {
    /// GatewayClass, Gateway and HTTPRoute are served at v1; ReferenceGrant at this version
    /// (`v1beta1` preferred, the version our type reads; `v1` where only that is served), or
    /// not at all.
    Served {
        /// `v1beta1`, `v1`, or `None`.
        reference_grant: Option<&'static str>,
    },
    /// Not served; says what is missing.
    NotServed(String),
}

/// The three kinds that must be served at v1.
const REQUIRED: [&str; 3] = ["gatewayclasses", "gateways", "httproutes"];

/// Reads the discovery of the group's versions (a 404 is "not served").
pub async fn discover(client: &Client) -> Result<Discovery, kube::Error> {
    let v1 = resources(client, "v1").await?;
    let names = |list: &Option<APIResourceList>, name: &str| {
        list.as_ref()
            .is_some_and(|l| l.resources.iter().any(|r| r.name == name))
    };
    let missing: Vec<&str> = REQUIRED.into_iter().filter(|r| !names(&v1, r)).collect();
    if !missing.is_empty() {
        return Ok(Discovery::NotServed(format!(
            "{GROUP}/v1 {} not served",
            missing.join(", ")
        )));
    }
    let v1beta1 = resources(client, "v1beta1").await?;
    let reference_grant = if names(&v1beta1, "referencegrants") {
        Some("v1beta1")
    } else if names(&v1, "referencegrants") {
        Some("v1")
    } else {
        None
    };
    Ok(Discovery::Served { reference_grant })
}

async fn resources(client: &Client, version: &str) -> Result<Option<APIResourceList>, kube::Error> {
    match client
        .list_api_group_resources(&format!("{GROUP}/{version}"))
        .await
    {
        Ok(list) => Ok(Some(list)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(status) if status.code == 404)
}

/// True for a watch error that says the resource is not served (any more).
fn gone(e: &watcher::Error) -> bool {
    match e {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => is_not_found(e),
        watcher::Error::WatchError(status) => status.code == 404,
        watcher::Error::NoResourceVersion => false,
    }
}

/// The problem a cluster without the group gets.
pub fn not_served_problem(why: &str) -> Problem {
    Problem::new(
        ProblemKind::ApiGroup,
        GROUP,
        format!(
            "{why}: the Gateway API CRDs are not installed, so no GatewayClass, Gateway, \
             HTTPRoute or ReferenceGrant is followed (Ingresses are served as ever); \
             discovery is asked again every {}s",
            RECHECK.as_secs()
        ),
    )
    .because(ProblemReason::NotServed)
}

/// ReferenceGrant as the group's `v1` serves it (the same fields as `v1beta1`).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(transparent)]
struct ReferenceGrantV1(ReferenceGrant);

impl kube::Resource for ReferenceGrantV1 {
    type DynamicType = ();
    type Scope = k8s_openapi::NamespaceResourceScope;

    fn kind(_: &()) -> std::borrow::Cow<'_, str> {
        ReferenceGrant::kind(&())
    }
    fn group(_: &()) -> std::borrow::Cow<'_, str> {
        ReferenceGrant::group(&())
    }
    fn version(_: &()) -> std::borrow::Cow<'_, str> {
        "v1".into()
    }
    fn plural(_: &()) -> std::borrow::Cow<'_, str> {
        ReferenceGrant::plural(&())
    }
    fn meta(&self) -> &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
        &self.0.metadata
    }
    fn meta_mut(&mut self) -> &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
        &mut self.0.metadata
    }
}

/// One watch that ends when its resource is not served.
fn spawn_watch<K>(
    set: &mut JoinSet<()>,
    watch: Watch,
    api: Api<Tolerant<K>>,
    to_object: fn(K) -> Object,
    tx: &mpsc::Sender<Update>,
) where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + 'static,
{
    spawn_watch_with(set, watch, api, watcher::Config::default(), to_object, tx);
}

/// [`spawn_watch`] with a watcher configuration.
fn spawn_watch_with<K>(
    set: &mut JoinSet<()>,
    watch: Watch,
    api: Api<Tolerant<K>>,
    config: watcher::Config,
    to_object: fn(K) -> Object,
    tx: &mpsc::Sender<Update>,
) where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + 'static,
{
    let stream = watcher(api, config)
        .default_backoff()
        .take_while(|ev| std::future::ready(!matches!(ev, Err(e) if gone(e))));
    set.spawn(forward(watch, stream, to_object, tx.clone()));
}

/// Follows the group until `tx` closes: discovery, then the watches while it is served.
/// Discovery is asked again every [`RECHECK`] while the group is not served (or discovery
/// fails), and at once when a watch finds its resource gone; served again right after, the
/// watches restart only after [`RECHECK`], so a flapping group costs no hot loop.
pub(super) async fn supervise(
    client: Client,
    namespace: Option<String>,
    tx: mpsc::Sender<Update>,
    problems: watch::Sender<Vec<Problem>>,
) {
    let mut last: Option<Result<Discovery, String>> = None;
    let mut wait = false;
    loop {
        if wait {
            tokio::select! {
                _ = tokio::time::sleep(RECHECK) => {}
                _ = tx.closed() => return,
            }
        }
        let found = discover(&client).await.map_err(|e| e.to_string());
        let changed = last.as_ref() != Some(&found);
        let was_gone = matches!(last, Some(Ok(Discovery::Served { .. })));
        last = Some(found.clone());
        match found {
            Ok(Discovery::Served { reference_grant }) => {
                if was_gone && !wait {
                    // Gone a moment ago, served now: wait before watching again.
                    wait = true;
                    last = None;
                    continue;
                }
                if changed {
                    tracing::info!(group = GROUP, reference_grant = ?reference_grant, "the cluster serves the Gateway API: following it");
                }
                problems.send_replace(Vec::new());
                if !follow(&client, &namespace, reference_grant, &tx).await {
                    return;
                }
                tracing::warn!(
                    group = GROUP,
                    "a Gateway API resource is no longer served; asking discovery again"
                );
                wait = false;
            }
            Ok(Discovery::NotServed(why)) => {
                if changed {
                    let problem = not_served_problem(&why);
                    tracing::warn!(kind = problem.kind.label(), object = %problem.object, "{}", problem.message);
                    problems.send_replace(vec![problem]);
                }
                if tx.send(Update::Absent(FOLLOWED.to_vec())).await.is_err() {
                    return;
                }
                wait = true;
            }
            Err(e) => {
                if changed {
                    tracing::warn!(group = GROUP, error = %e, "Gateway API discovery failed; retrying");
                }
                wait = true;
            }
        }
    }
}

/// Runs the watches until one of them finds its resource gone (true), or the writer is
/// gone (false).
async fn follow(
    client: &Client,
    ns: &Option<String>,
    reference_grant: Option<&'static str>,
    tx: &mpsc::Sender<Update>,
) -> bool {
    let mut set = JoinSet::new();
    let all = Api::<Tolerant<GatewayClass>>::all(client.clone());
    spawn_watch(&mut set, WATCHES[0], all, Object::GatewayClass, tx);
    spawn_watch(
        &mut set,
        WATCHES[1],
        api::<Tolerant<Gateway>>(client, ns),
        Object::Gateway,
        tx,
    );
    spawn_watch(
        &mut set,
        WATCHES[2],
        api::<Tolerant<HttpRoute>>(client, ns),
        Object::HttpRoute,
        tx,
    );
    // Cluster-scoped; with --watch-namespace only that one (a field selector on its name).
    let namespaces = Api::<Tolerant<Namespace>>::all(client.clone());
    let config = match ns {
        Some(name) => watcher::Config::default().fields(&format!("metadata.name={name}")),
        None => watcher::Config::default(),
    };
    spawn_watch_with(
        &mut set,
        WATCHES[4],
        namespaces,
        config,
        Object::Namespace,
        tx,
    );
    match reference_grant {
        Some("v1") => {
            let api = api::<Tolerant<ReferenceGrantV1>>(client, ns);
            spawn_watch(
                &mut set,
                WATCHES[3],
                api,
                |g| Object::ReferenceGrant(g.0),
                tx,
            );
        }
        Some(_) => {
            let api = api::<Tolerant<ReferenceGrant>>(client, ns);
            spawn_watch(&mut set, WATCHES[3], api, Object::ReferenceGrant, tx);
        }
        None => {
            tracing::warn!(
                group = GROUP,
                "ReferenceGrant is not served: every cross-namespace reference is refused"
            );
            if tx
                .send(Update::Absent(vec![Kind::ReferenceGrant]))
                .await
                .is_err()
            {
                return false;
            }
        }
    }
    // A watch ends only when its resource is gone, or when the writer is.
    let _ = set.join_next().await;
    set.abort_all();
    !tx.is_closed()
}

#[cfg(test)]
#[path = "gateway_tests.rs"]
mod tests;
