//! A test Kubernetes API server: list, watch and writes over real TCP for a real
//! `kube::Client` and the real kubectl.
//!
//! [`KubeApi`] serves Ingress and IngressClass (`networking.k8s.io/v1`), Service, Secret,
//! ConfigMap and Namespace (`v1`), EndpointSlice (`discovery.k8s.io/v1`), Lease (`coordination.k8s.io/v1`),
//! GatewayClass, Gateway and HTTPRoute (`gateway.networking.k8s.io/v1`, each with a `status`
//! subresource) and ReferenceGrant (`gateway.networking.k8s.io/v1beta1`; the group can be
//! switched off, [`KubeApi::serve_gateway_api`]) on
//! `http://127.0.0.1:<ephemeral>`, the way `kube::runtime::watcher` (kube 5.0) expects of a
//! kube-apiserver, as `shared/reference/kubernetes-watch-protocol.md` describes:
//! - paths for all namespaces and for one namespace, and `GET` of a single object (and of the
//!   `status` subresource of Ingresses, Services and the Gateway API kinds);
//! - discovery for kubectl (`/api`, `/apis`, group versions with resources, kinds, verbs and
//!   short names, `/version`; the legacy documents, see `discovery.rs`) and a minimal OpenAPI
//!   v3 that lets `kubectl apply` validate on the server (`openapi.rs`);
//! - table output (`Accept: …;as=Table;g=meta.k8s.io`) for gets, lists and watches, with each
//!   kind's columns as the real server prints them (`table.rs`);
//! - writes: `POST` (create; 409 `AlreadyExists`), `PUT` (replace; 409 `Conflict` when the
//!   body's resourceVersion is not the stored one), `PATCH` (JSON merge patch, strategic
//!   merge patch with the lists Kubernetes merges by key, server-side apply as a merge patch,
//!   see `write.rs`) of objects and of the `status` subresource, which alone changes the
//!   status of a kind that has one, and `DELETE`; each write bumps the resourceVersion and
//!   feeds watches like [`KubeApi::apply`];
//! - `labelSelector` (`=`, `==`, `!=`, `in`, `notin`, exists, `!exists`) and `fieldSelector`
//!   (`metadata.name`, `metadata.namespace`); unknown parameters are ignored;
//! - one global resourceVersion, bumped by every write, kept in each object's metadata,
//!   with a history of changes for watches that resume from an older one;
//! - lists in pages (`limit`, `continue`), a 410 `Expired` Status for a continue token
//!   issued before a compaction;
//! - watches: chunked, one event per line; ADDED for every object first when resuming from
//!   nothing or `"0"`; a BOOKMARK after [`BOOKMARK_INTERVAL`] of quiet and at the end of
//!   `timeoutSeconds`; an in-stream ERROR (410 `Expired`) for a compacted resourceVersion;
//!   streaming lists (`sendInitialEvents=true`) ending their initial events with the
//!   `k8s.io/initial-events-end` bookmark;
//! - test controls on the handle: writes (of any JSON under `metadata`, so malformed
//!   objects too: [`KubeApi::apply`] validates nothing else), compaction, dropping watches,
//!   pausing, failing chosen requests (all, or the next N), delaying them, a request log (with the user of `Authorization: Bearer <user>`, see
//!   [`KubeApi::client_as`]) and a log of every change with the user who made it.
//!
//! What a real server does and this one does not:
//! - no admission, defaulting or validation: objects are stored as given, except that the
//!   server sets `metadata.resourceVersion`, `metadata.uid`, `metadata.creationTimestamp`,
//!   a namespaced object's missing `metadata.namespace` (to `default`) and, for the Gateway
//!   API kinds only (as for custom resources), `metadata.generation`; no `managedFields`; a
//!   Namespace is an object like any other (objects in a namespace that has none are
//!   stored, a deleted Namespace deletes nothing; no `status` subresource, no phase);
//! - no `deletecollection`, deletion preconditions or grace, `dryRun` (so no `kubectl
//!   diff`), `generateName`, field ownership (server-side apply never conflicts nor removes
//!   fields a manager stopped applying) or JSON patch over HTTP; no authentication (the
//!   bearer token is taken as the user's name), TLS, aggregated discovery, OpenAPI schemas,
//!   protobuf or `metadata`-only answers;
//! - continued list pages are served from the current state (each reports the first page's
//!   resourceVersion), where a real server serves one consistent snapshot; an `Exact` list at
//!   an older resourceVersion gets a 410;
//! - a watch from a resourceVersion newer than the server's does not wait: it just starts;
//! - no watch cache semantics beyond one history: `compact` forgets it all at once.
//!
//! Tests that must assert kube's exact request sequence can use `tower_test::mock` with
//! `Client::new(service, "default")`, as kube's own tests do.

mod discovery;
mod openapi;
mod resources;
mod select;
mod server;
mod store;
mod table;
mod token;
mod watch;
mod write;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use serde::Serialize;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use resources::Kind;
use select::Query;
use server::Shared;

/// A GatewayClass of the agent's (`haproxy`), a Gateway `infra/gw` with an HTTP listener,
/// an HTTPRoute `default/r` attached to it and a ReferenceGrant `infra/g` letting HTTPRoutes
/// of `default` refer to Services of `infra`: manifests for tests.
pub const GATEWAY_MANIFESTS: &str = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: haproxy}
spec: {controllerName: haproxy-agent.io/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: haproxy
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: default}
spec:
  parentRefs: [{name: gw, namespace: infra}]
  hostnames: [shop.example.com]
  rules: [{backendRefs: [{name: web, port: 80}]}]
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: g, namespace: infra}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: default}]
  to: [{group: "", kind: Service}]
"#;

/// How long a watch that allowed bookmarks stays quiet before the server sends one.
pub const BOOKMARK_INTERVAL: Duration = Duration::from_secs(1);

/// One request the server received, logged on arrival (before any pause).
#[derive(Debug, Clone)]
pub struct RequestLogEntry {
    /// `GET`, …
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The raw query string, without `?`; empty when there was none.
    pub query: String,
    /// The bearer token of its `Authorization` header, taken as the user's name (see
    /// [`KubeApi::client_as`]); `None` without one.
    pub user: Option<String>,
    /// When it arrived.
    pub at: Instant,
}

impl RequestLogEntry {
    /// The first non-empty value of a query parameter, decoded.
    pub fn param(&self, name: &str) -> Option<String> {
        Query::parse(&self.query).get(name).map(str::to_string)
    }

    /// Whether it was a watch (`watch=true` or `watch=1`).
    pub fn is_watch(&self) -> bool {
        Query::parse(&self.query).flag("watch")
    }

    /// Whether it was a `GET` of a collection at `path` that was not a watch: a list page.
    pub fn is_list_of(&self, path: &str) -> bool {
        self.method == "GET" && self.path == path && !self.is_watch()
    }

    /// Whether it was a watch of the collection at `path`.
    pub fn is_watch_of(&self, path: &str) -> bool {
        self.method == "GET" && self.path == path && self.is_watch()
    }
}

/// One change to the stored objects, by the handle ([`KubeApi::apply`], [`KubeApi::delete`])
/// or over HTTP; [`KubeApi::writes`] lists them in resourceVersion order.
#[derive(Debug, Clone)]
pub struct WriteLogEntry {
    /// The resourceVersion the change made.
    pub resource_version: u64,
    /// `Ingress`, `Lease`, …
    pub kind: &'static str,
    /// Empty for cluster-scoped kinds.
    pub namespace: String,
    /// The object's name.
    pub name: String,
    /// `ADDED`, `MODIFIED` or `DELETED`, as a watch reports it.
    pub change: &'static str,
    /// Who wrote it over HTTP (see [`RequestLogEntry::user`]); `None` for the handle's
    /// writes and requests without a user.
    pub user: Option<String>,
    /// The object as stored (for a deletion, its last state).
    pub object: Arc<Value>,
    /// When it was stored.
    pub at: Instant,
}

/// A running test API server. Every method is callable from tests while clients use it.
///
/// Dropping it stops the server: its accept task and every connection (so every open watch)
/// are aborted.
#[derive(Debug)]
pub struct KubeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl KubeApi {
    /// Starts a server with no objects, listening when this returns.
    pub async fn start() -> anyhow::Result<KubeApi> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the test api server")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(BOOKMARK_INTERVAL));
        let task = tokio::spawn(server::accept_loop(listener, shared.clone()));
        Ok(KubeApi { addr, shared, task })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig for this server (plain HTTP, no credentials), for `haproxy-agent run
    /// --kubeconfig` and kubectl.
    pub fn kubeconfig(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {}\ncontexts:\n- name: test\n  context:\n    cluster: test\n    user: test\ncurrent-context: test\nusers:\n- name: test\n  user: {{}}\n",
            self.url()
        )
    }

    /// Writes [`kubeconfig`](Self::kubeconfig) to `path`.
    pub fn write_kubeconfig(&self, path: &std::path::Path) -> anyhow::Result<()> {
        std::fs::write(path, self.kubeconfig())
            .with_context(|| format!("writing the kubeconfig {}", path.display()))
    }

    /// A real client for this server: plain HTTP, no authentication, namespace `default`.
    pub fn client(&self) -> anyhow::Result<kube::Client> {
        let config = kube::Config::new(self.url().parse()?);
        Ok(kube::Client::try_from(config)?)
    }

    /// A real client that says it is `user` (`Authorization: Bearer <user>` on every
    /// request): its requests and writes are logged with that user.
    pub fn client_as(&self, user: &str) -> anyhow::Result<kube::Client> {
        let mut config = kube::Config::new(self.url().parse()?);
        config.headers.push((
            hyper::header::AUTHORIZATION,
            format!("Bearer {user}")
                .parse()
                .context("the user is not a valid header value")?,
        ));
        Ok(kube::Client::try_from(config)?)
    }

    /// Creates or replaces an object by kind, namespace and name; the kind comes from its
    /// `apiVersion` and `kind` fields. Returns the object's resourceVersion: a new one,
    /// unless the object was already stored as given (a no-op write, as on a real server).
    pub fn apply(&self, obj: impl Serialize) -> anyhow::Result<String> {
        let value = serde_json::to_value(obj).context("serializing the object")?;
        let rv = self.shared.store().apply(value).map_err(|e| anyhow!(e))?;
        Ok(rv.to_string())
    }

    /// [`apply`](Self::apply) with `apiVersion` and `kind` taken from the type.
    pub fn apply_typed<K>(&self, obj: &K) -> anyhow::Result<String>
    where
        K: k8s_openapi::Resource + Serialize,
    {
        let mut value = serde_json::to_value(obj).context("serializing the object")?;
        let map = value
            .as_object_mut()
            .ok_or_else(|| anyhow!("{} does not serialize to an object", K::KIND))?;
        map.insert("apiVersion".into(), K::API_VERSION.into());
        map.insert("kind".into(), K::KIND.into());
        self.apply(value)
    }

    /// Deletes an object; `kind` is a kind (`Service`) or a resource (`services`), and
    /// `namespace` is ignored for cluster-scoped kinds. Returns the deletion's
    /// resourceVersion, or `None` when there was no such object.
    pub fn delete(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> anyhow::Result<Option<String>> {
        let kind = Kind::by_name(kind).ok_or_else(|| anyhow!("kind {kind:?} is not served"))?;
        Ok(self
            .shared
            .store()
            .delete(kind, namespace, name)
            .map(|rv| rv.to_string()))
    }

    /// [`delete`](Self::delete) with the kind taken from the type.
    pub fn delete_typed<K: k8s_openapi::Resource>(
        &self,
        namespace: &str,
        name: &str,
    ) -> anyhow::Result<Option<String>> {
        self.delete(K::KIND, namespace, name)
    }

    /// The stored object, as a watch would send it; `None` when absent.
    pub fn get(&self, kind: &str, namespace: &str, name: &str) -> anyhow::Result<Option<Value>> {
        let kind = Kind::by_name(kind).ok_or_else(|| anyhow!("kind {kind:?} is not served"))?;
        Ok(self
            .shared
            .store()
            .get(kind, namespace, name)
            .map(|obj| (*obj).clone()))
    }

    /// The newest resourceVersion.
    pub fn resource_version(&self) -> String {
        self.shared.store().rv().to_string()
    }

    /// Forgets the history up to now: a watch from an older resourceVersion gets the
    /// in-stream 410 `Expired` ERROR, and every continue token issued so far expires.
    pub fn compact(&self) {
        self.shared.store().compact();
    }

    /// Ends every open watch stream abruptly: the connection closes without the body's last
    /// chunk. Paused watches and watch requests waiting out a pause end too.
    pub fn drop_watches(&self) {
        self.shared.drops.send_modify(|n| *n += 1);
    }

    /// Stops answering: new requests wait, unanswered, and open watches deliver nothing
    /// (nor end on their timeout) until [`resume`](Self::resume).
    pub fn pause(&self) {
        self.shared.paused.send_replace(true);
    }

    /// Answers again after [`pause`](Self::pause): waiting requests proceed and watches
    /// deliver what they held back.
    pub fn resume(&self) {
        self.shared.paused.send_replace(false);
    }

    /// Answers every request for which `matches` is true (after a pause, before anything
    /// else) with a `Status` error of this HTTP code, until [`stop_failing`](Self::stop_failing)
    /// or the next call. The request is still logged. kube 5.0 retries 429, 503 and 504 on
    /// its own: use another code (500) for a failure its caller must see at once.
    pub fn fail_requests(
        &self,
        code: u16,
        matches: impl Fn(&RequestLogEntry) -> bool + Send + Sync + 'static,
    ) {
        *self.shared.failure() = Some(server::Failure {
            code,
            matches: Box::new(matches),
            remaining: None,
        });
    }

    /// [`fail_requests`](Self::fail_requests) for the next `count` requests that match only;
    /// then every request is answered again.
    pub fn fail_next(
        &self,
        count: usize,
        code: u16,
        matches: impl Fn(&RequestLogEntry) -> bool + Send + Sync + 'static,
    ) {
        *self.shared.failure() = (count > 0).then(|| server::Failure {
            code,
            matches: Box::new(matches),
            remaining: Some(count),
        });
    }

    /// Answers every request for which `matches` is true only `by` after it arrived (after
    /// a pause; a watch's events then flow as usual), until
    /// [`stop_delaying`](Self::stop_delaying) or the next call: a slow API server.
    pub fn delay_requests(
        &self,
        by: Duration,
        matches: impl Fn(&RequestLogEntry) -> bool + Send + Sync + 'static,
    ) {
        *self.shared.delay() = Some(server::Delay {
            by,
            matches: Box::new(matches),
        });
    }

    /// Answers at once again after [`delay_requests`](Self::delay_requests).
    pub fn stop_delaying(&self) {
        *self.shared.delay() = None;
    }

    /// Answers every request again after [`fail_requests`](Self::fail_requests).
    pub fn stop_failing(&self) {
        *self.shared.failure() = None;
    }

    /// Every change made so far, oldest first (compaction does not forget them).
    pub fn writes(&self) -> Vec<WriteLogEntry> {
        self.shared.store().writes().to_vec()
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RequestLogEntry> {
        self.shared.log().clone()
    }

    /// Serves the Gateway API group (gateway.networking.k8s.io), as by default, or not, as a
    /// cluster without its CRDs: discovery leaves it out and its paths answer 404 (stored
    /// objects stay, as custom resources would in etcd). Turning it off ends every open
    /// watch, as removing a CRD ends its watches.
    pub fn serve_gateway_api(&self, served: bool) {
        self.shared.gateway_api.store(served, Ordering::SeqCst);
        if !served {
            self.drop_watches();
        }
    }

    /// How many watch streams are open now.
    pub fn watch_count(&self) -> usize {
        self.shared.open_watches.load(Ordering::SeqCst)
    }
}

impl Drop for KubeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}
