//! The HTTP side: accepting connections, logging and routing requests, lists and errors.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::RequestLogEntry;
use super::resources::{GATEWAY_GROUP, Kind, Target, parse_path};
use super::select::{Filter, Query};
use super::store::{ApiError, Store};

/// A response body: a whole JSON document, or a watch's stream of lines.
pub(crate) type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// State shared by the handle and every connection.
#[derive(Debug)]
pub(crate) struct Shared {
    pub store: Mutex<Store>,
    pub log: Mutex<Vec<RequestLogEntry>>,
    /// While `true`, requests wait and watch streams hold their events.
    pub paused: watch::Sender<bool>,
    /// Bumped to end every open watch stream.
    pub drops: watch::Sender<u64>,
    pub open_watches: AtomicUsize,
    /// How long a watch stays quiet before it sends a bookmark.
    pub bookmark_interval: Duration,
    /// Requests that get an error instead of an answer.
    pub failure: Mutex<Option<Failure>>,
    /// Requests answered only after a delay.
    pub delay: Mutex<Option<Delay>>,
    /// Whether the Gateway API group is served (its CRDs installed).
    pub gateway_api: AtomicBool,
}

/// Which requests fail, and with what HTTP code.
pub(crate) struct Failure {
    pub code: u16,
    pub matches: Box<dyn Fn(&RequestLogEntry) -> bool + Send + Sync>,
    /// How many more requests fail (`None`: every one that matches).
    pub remaining: Option<usize>,
}

/// Which requests wait before they are answered, and how long.
pub(crate) struct Delay {
    pub by: Duration,
    pub matches: Box<dyn Fn(&RequestLogEntry) -> bool + Send + Sync>,
}

impl std::fmt::Debug for Delay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delay").field("by", &self.by).finish()
    }
}

impl std::fmt::Debug for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Failure").field("code", &self.code).finish()
    }
}

impl Failure {
    /// The error for a request that matches, if it does.
    fn check(&self, request: &RequestLogEntry) -> Option<ApiError> {
        if !(self.matches)(request) {
            return None;
        }
        let reason = match self.code {
            400 => "BadRequest",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "NotFound",
            409 => "Conflict",
            429 => "TooManyRequests",
            503 => "ServiceUnavailable",
            504 => "Timeout",
            _ => "InternalError",
        };
        Some(ApiError::new(
            self.code,
            reason,
            format!(
                "{} {} failed on purpose (KubeApi::fail_requests)",
                request.method, request.path
            ),
        ))
    }
}

impl Shared {
    pub fn new(bookmark_interval: Duration) -> Shared {
        Shared {
            store: Mutex::new(Store::new()),
            log: Mutex::new(Vec::new()),
            paused: watch::Sender::new(false),
            drops: watch::Sender::new(0),
            open_watches: AtomicUsize::new(0),
            bookmark_interval,
            failure: Mutex::new(None),
            delay: Mutex::new(None),
            gateway_api: AtomicBool::new(true),
        }
    }

    /// Whether `kind` is served now: every kind, but the Gateway API's only while its CRDs
    /// are "installed" ([`super::KubeApi::serve_gateway_api`]).
    pub fn serves(&self, kind: &Kind) -> bool {
        kind.group != GATEWAY_GROUP || self.gateway_api.load(Ordering::SeqCst)
    }

    /// What `path` addresses, if it is served now.
    pub fn target(&self, path: &str) -> Result<Target, ApiError> {
        parse_path(path)
            .filter(|t| self.serves(t.kind))
            .ok_or_else(|| {
                ApiError::new(
                    404,
                    "NotFound",
                    "the server could not find the requested resource",
                )
            })
    }

    /// The store; a panic while it was held (in a test) does not poison it for the rest.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn log(&self) -> MutexGuard<'_, Vec<RequestLogEntry>> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn failure(&self) -> MutexGuard<'_, Option<Failure>> {
        self.failure.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn delay(&self) -> MutexGuard<'_, Option<Delay>> {
        self.delay.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The error for `request` if it is to fail; counts it against a limited failure.
    fn failure_for(&self, request: &RequestLogEntry) -> Option<ApiError> {
        let mut failure = self.failure();
        let f = failure.as_mut()?;
        let error = f.check(request)?;
        if let Some(n) = f.remaining.as_mut() {
            *n = n.saturating_sub(1);
            if *n == 0 {
                *failure = None;
            }
        }
        Some(error)
    }
}

/// Accepts connections until aborted; aborting drops the JoinSet, which aborts every
/// connection and so every open watch.
pub(crate) async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        tracing::debug!(error = %e, "test api server accept failed");
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                conns.spawn(async move {
                    let service = service_fn(move |req| handle(req, shared.clone()));
                    if let Err(e) = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await
                    {
                        tracing::debug!(error = %e, "test api server connection ended with an error");
                    }
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn handle(
    req: Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<Response<Body>, std::io::Error> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let query_string = parts.uri.query().unwrap_or("").to_string();
    let query = Query::parse(&query_string);
    // Who is asking, as a server with token authentication would tell.
    let user = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let entry = RequestLogEntry {
        method: parts.method.to_string(),
        path: path.clone(),
        query: query_string,
        user: user.clone(),
        at: Instant::now(),
    };
    shared.log().push(entry.clone());
    // Subscribed before waiting, so a drop_watches during a pause ends a waiting watch too:
    // its connection closes without an answer.
    let mut drops = shared.drops.subscribe();
    hold(&shared, &entry, &mut drops, query.flag("watch")).await?;
    let failure = shared.failure_for(&entry);
    if let Some(e) = failure {
        return Ok(json_response(e.code, &e.status()));
    }
    let table = parts
        .headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(super::table::wanted);
    let reply = if parts.method == Method::GET {
        route(&path, &query, table, &shared, drops)
    } else {
        write(&parts, body, user.as_deref(), table, &shared).await
    };
    Ok(reply.unwrap_or_else(|e| json_response(e.code, &e.status())))
}

/// Holds a request while the server is paused, then for the delay set for it; a watch
/// ends (`Err`, the connection closes without an answer) when the watches are dropped
/// meanwhile.
async fn hold(
    shared: &Shared,
    entry: &RequestLogEntry,
    drops: &mut watch::Receiver<u64>,
    is_watch: bool,
) -> Result<(), std::io::Error> {
    let mut paused = shared.paused.subscribe();
    tokio::select! {
        biased;
        _ = paused.wait_for(|paused| !paused) => {}
        _ = drops.changed(), if is_watch => {
            return Err(std::io::Error::other("watch dropped by the test api server"));
        }
    }
    let delay = shared
        .delay()
        .as_ref()
        .and_then(|d| (d.matches)(entry).then_some(d.by));
    if let Some(by) = delay {
        tokio::select! {
            biased;
            _ = drops.changed(), if is_watch => {
                return Err(std::io::Error::other("watch dropped by the test api server"));
            }
            _ = tokio::time::sleep(by) => {}
        }
    }
    Ok(())
}

/// Answers a write (any method but `GET`) with its body, as `user`.
async fn write(
    parts: &hyper::http::request::Parts,
    body: Incoming,
    user: Option<&str>,
    table: bool,
    shared: &Shared,
) -> Result<Response<Body>, ApiError> {
    match body.collect().await {
        Ok(bytes) => {
            let content_type = parts
                .headers
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok());
            super::write::serve(
                &parts.method,
                parts.uri.path(),
                content_type,
                &bytes.to_bytes(),
                user,
                shared,
            )
            .map(|(code, obj)| object_response(code, &obj, table))
        }
        Err(e) => Err(ApiError::new(
            400,
            "BadRequest",
            format!("reading the body: {e}"),
        )),
    }
}

/// Answers a `GET`: a discovery document, one object (or its status), a list page, or a
/// watch; objects and lists as a Table when `table`.
fn route(
    path: &str,
    query: &Query,
    table: bool,
    shared: &Arc<Shared>,
    drops: watch::Receiver<u64>,
) -> Result<Response<Body>, ApiError> {
    if let Some(document) = super::discovery::document(path, &|k| shared.serves(k))
        .or_else(|| super::openapi::document(path))
    {
        return Ok(json_response(200, &document));
    }
    let target = shared.target(path)?;
    if let (true, Some(name)) = (target.status, &target.name) {
        return get(&target, name, table, shared);
    }
    let filter = Filter::new(target.namespace.clone(), query)
        .map_err(|m| ApiError::new(400, "BadRequest", m))?;
    if query.flag("watch") {
        return super::watch::serve(target.kind, filter, query, table, shared, drops);
    }
    match &target.name {
        Some(name) => get(&target, name, table, shared),
        None => list(&target, &filter, query, table, shared),
    }
}

fn get(
    target: &Target,
    name: &str,
    table: bool,
    shared: &Shared,
) -> Result<Response<Body>, ApiError> {
    let namespace = target.namespace.as_deref().unwrap_or("");
    let obj = shared
        .store()
        .get(target.kind, namespace, name)
        .ok_or_else(|| {
            ApiError::new(
                404,
                "NotFound",
                format!("{} {name:?} not found", target.kind.plural),
            )
        })?;
    Ok(object_response(200, &obj, table))
}

/// One object, or a Table of one row for it when `table`.
fn object_response(code: u16, obj: &Value, table: bool) -> Response<Body> {
    if !table {
        return json_response(code, obj);
    }
    let kind = obj["apiVersion"]
        .as_str()
        .zip(obj["kind"].as_str())
        .and_then(|(v, k)| super::resources::Kind::by_type(v, k));
    match kind {
        Some(kind) => {
            let metadata = json!({"resourceVersion": obj["metadata"]["resourceVersion"]});
            json_response(
                code,
                &super::table::table(kind.columns, std::slice::from_ref(obj), metadata),
            )
        }
        None => json_response(code, obj),
    }
}

fn list(
    target: &Target,
    filter: &Filter,
    query: &Query,
    table: bool,
    shared: &Shared,
) -> Result<Response<Body>, ApiError> {
    let limit = match query.get("limit") {
        None => None,
        Some(l) => match l.parse::<i64>() {
            Ok(n) if n > 0 => Some(n as usize),
            Ok(_) => None,
            Err(_) => {
                return Err(ApiError::new(
                    400,
                    "BadRequest",
                    format!("invalid limit {l:?}"),
                ));
            }
        },
    };
    let store = shared.store();
    // Without snapshots, an exact read is possible only at the current resourceVersion.
    if query.get("resourceVersionMatch") == Some("Exact")
        && let Some(rv) = query.get("resourceVersion")
        && rv != store.rv().to_string()
    {
        return Err(ApiError::new(
            410,
            "Expired",
            format!("too old resource version: {rv} ({})", store.rv()),
        ));
    }
    let page = store.list(target.kind, filter, limit, query.get("continue"))?;
    drop(store);
    let mut metadata = json!({"resourceVersion": page.rv.to_string()});
    if let Some(token) = page.continue_token {
        metadata["continue"] = token.into();
        metadata["remainingItemCount"] = page.remaining.into();
    }
    if table {
        let table = super::table::table(target.kind.columns, &page.items, metadata);
        return Ok(json_response(200, &table));
    }
    let body = json!({
        "kind": target.kind.list_kind(),
        "apiVersion": target.kind.api_version(),
        "metadata": metadata,
        "items": page.items,
    });
    Ok(json_response(200, &body))
}

/// A whole JSON document with this status code.
pub(crate) fn json_response(code: u16, body: &Value) -> Response<Body> {
    bytes_response(
        code,
        serde_json::to_vec(body).expect("json values serialize"),
    )
}

/// A JSON body, already encoded, with this status code.
pub(crate) fn bytes_response(code: u16, bytes: Vec<u8>) -> Response<Body> {
    let body = Full::new(Bytes::from(bytes)).map_err(|never| match never {});
    let mut response = Response::new(body.boxed_unsync());
    *response.status_mut() =
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        CONTENT_TYPE,
        "application/json".parse().expect("valid header value"),
    );
    response
}
