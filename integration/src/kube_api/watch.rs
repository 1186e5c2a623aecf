//! Watch streams: one JSON event per line over a chunked body, bookmarks, timeouts, the
//! in-stream 410 for a compacted resourceVersion, and the test controls (pause, drop).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::Response;
use hyper::body::Frame;
use hyper::header::CONTENT_TYPE;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep_until};

use super::resources::Kind;
use super::select::{Filter, Query};
use super::server::{Body, Shared, bytes_response};
use super::store::{ApiError, Change, Initial, WatchFrom};

/// A watch without `timeoutSeconds` lasts this long (a real server picks 30 to 60 minutes).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);
/// Initial events are sent in frames of about this many bytes.
const FRAME_BYTES: usize = 64 * 1024;

/// Answers a watch request: 200 and a stream of events, or an error before streaming.
pub(crate) fn serve(
    kind: &'static Kind,
    filter: Filter,
    query: &Query,
    table: bool,
    shared: &Arc<Shared>,
    drops: watch::Receiver<u64>,
) -> Result<Response<Body>, ApiError> {
    let bookmarks = query.flag("allowWatchBookmarks");
    let from = watch_from(query, bookmarks)?;
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .filter(|t| *t > 0)
        .map_or(DEFAULT_TIMEOUT, Duration::from_secs);

    let subscription = shared.store().watch(kind, &filter, from);
    let subscription = match subscription {
        Ok(s) => s,
        Err(message) => return Ok(expired(message)),
    };
    let now = Instant::now();
    let stream = WatchStream {
        kind,
        filter,
        initial: subscription.initial.into(),
        changes: subscription.changes,
        rv: subscription.rv,
        deadline: now + timeout,
        bookmarks,
        table,
        bookmark_interval: shared.bookmark_interval,
        next_bookmark: now + shared.bookmark_interval,
        paused: shared.paused.subscribe(),
        drops,
        done: false,
        _open: OpenWatch::new(shared.clone()),
    };
    let body = futures_util::stream::unfold(stream, |mut s| async move {
        if s.done {
            return None;
        }
        match s.step().await {
            Step::Send(bytes) => {
                s.next_bookmark = Instant::now() + s.bookmark_interval;
                Some((Ok(Frame::data(bytes)), s))
            }
            Step::Abort => {
                // A body error makes hyper close the connection without the last chunk.
                s.done = true;
                Some((
                    Err(std::io::Error::other(
                        "watch dropped by the test api server",
                    )),
                    s,
                ))
            }
            Step::End => None,
        }
    });
    let mut response = Response::new(StreamBody::new(body).boxed_unsync());
    response.headers_mut().insert(
        CONTENT_TYPE,
        "application/json".parse().expect("valid header value"),
    );
    Ok(response)
}

/// Where a watch starts, from its query: streamed initial events (which need bookmarks),
/// now, a snapshot of every object, or after a resourceVersion.
fn watch_from(query: &Query, bookmarks: bool) -> Result<WatchFrom, ApiError> {
    let rv = query.get("resourceVersion");
    let after = |rv: &str| {
        rv.parse::<u64>().map(WatchFrom::After).map_err(|_| {
            ApiError::new(400, "BadRequest", format!("invalid resourceVersion {rv:?}"))
        })
    };
    Ok(match (query.get("sendInitialEvents"), rv) {
        (Some("true"), _) => {
            if query.get("resourceVersionMatch") != Some("NotOlderThan") || !bookmarks {
                return Err(ApiError::new(
                    422,
                    "Invalid",
                    "sendInitialEvents requires resourceVersionMatch=NotOlderThan and \
                     allowWatchBookmarks=true",
                ));
            }
            WatchFrom::Streaming
        }
        (Some("false"), None | Some("0")) => WatchFrom::Now,
        (_, None | Some("0")) => WatchFrom::Snapshot,
        (_, Some(rv)) => after(rv)?,
    })
}

/// The answer to a watch from a compacted resourceVersion: `410 Expired` in the stream, as
/// real servers send it (a plain 410 would leave kube retrying the same resourceVersion
/// without relisting).
fn expired(message: String) -> Response<Body> {
    let status = ApiError::new(410, "Expired", message).status();
    let mut line = serde_json::to_vec(&json!({"type": "ERROR", "object": status}))
        .expect("json values serialize");
    line.push(b'\n');
    bytes_response(200, line)
}

/// Counts a watch as open for as long as its stream lives.
#[derive(Debug)]
struct OpenWatch(Arc<Shared>);

impl OpenWatch {
    fn new(shared: Arc<Shared>) -> OpenWatch {
        shared.open_watches.fetch_add(1, Ordering::SeqCst);
        OpenWatch(shared)
    }
}

impl Drop for OpenWatch {
    fn drop(&mut self) {
        self.0.open_watches.fetch_sub(1, Ordering::SeqCst);
    }
}

enum Step {
    Send(Bytes),
    Abort,
    End,
}

/// One line of a watch body.
#[derive(Serialize)]
struct Line<'a> {
    #[serde(rename = "type")]
    event: &'a str,
    object: &'a Value,
}

struct WatchStream {
    kind: &'static Kind,
    filter: Filter,
    initial: VecDeque<Initial>,
    changes: mpsc::UnboundedReceiver<Arc<Change>>,
    /// Every change up to this resourceVersion has been sent (or does not concern us).
    rv: u64,
    deadline: Instant,
    bookmarks: bool,
    /// Objects as one-row Tables (`kubectl get --watch`).
    table: bool,
    bookmark_interval: Duration,
    next_bookmark: Instant,
    paused: watch::Receiver<bool>,
    drops: watch::Receiver<u64>,
    done: bool,
    _open: OpenWatch,
}

impl WatchStream {
    async fn step(&mut self) -> Step {
        loop {
            // While paused, nothing goes out, not even the end of the stream.
            if *self.paused.borrow() {
                tokio::select! {
                    biased;
                    _ = self.drops.changed() => return Step::Abort,
                    _ = async { self.paused.wait_for(|p| !p).await.is_ok() } => {}
                }
            }
            let mut buf = Vec::new();
            while buf.len() < FRAME_BYTES
                && let Some(initial) = self.initial.pop_front()
            {
                self.push_initial(&initial, &mut buf);
            }
            if !buf.is_empty() {
                return Step::Send(buf.into());
            }
            let next_bookmark = self.next_bookmark;
            tokio::select! {
                biased;
                _ = self.drops.changed() => return Step::Abort,
                _ = async { self.paused.wait_for(|p| *p).await.is_ok() } => continue,
                change = self.changes.recv() => {
                    let Some(change) = change else { return Step::End };
                    self.push_change(&change, &mut buf);
                    while buf.len() < FRAME_BYTES
                        && let Ok(change) = self.changes.try_recv()
                    {
                        self.push_change(&change, &mut buf);
                    }
                    if !buf.is_empty() {
                        return Step::Send(buf.into());
                    }
                }
                _ = sleep_until(self.deadline) => {
                    // Real servers send a last bookmark before ending a watch on its timeout.
                    self.done = true;
                    if !self.bookmarks {
                        return Step::End;
                    }
                    self.push_bookmark(false, &mut buf);
                    return Step::Send(buf.into());
                }
                _ = sleep_until(next_bookmark), if self.bookmarks => {
                    self.push_bookmark(false, &mut buf);
                    return Step::Send(buf.into());
                }
            }
        }
    }

    fn push_initial(&mut self, initial: &Initial, buf: &mut Vec<u8>) {
        match initial {
            Initial::Object(obj) => self.push_object(buf, "ADDED", obj),
            Initial::Change(change) => {
                if let Some(event) = change.event_type(self.kind, &self.filter) {
                    self.push_object(buf, event, &change.object);
                }
            }
            Initial::End(rv) => {
                self.rv = self.rv.max(*rv);
                self.push_bookmark(true, buf);
            }
        }
    }

    fn push_change(&mut self, change: &Change, buf: &mut Vec<u8>) {
        self.rv = change.rv;
        if let Some(event) = change.event_type(self.kind, &self.filter) {
            self.push_object(buf, event, &change.object);
        }
    }

    /// An event for an object, as a one-row Table when the watch asked for tables.
    fn push_object(&self, buf: &mut Vec<u8>, event: &str, obj: &Value) {
        if self.table {
            let metadata = json!({"resourceVersion": obj["metadata"]["resourceVersion"]});
            let table = super::table::table(self.kind.columns, std::slice::from_ref(obj), metadata);
            push_line(buf, event, &table);
        } else {
            push_line(buf, event, obj);
        }
    }

    /// A bookmark at the newest resourceVersion sent; `initial_end` marks the end of a
    /// streaming list's initial events.
    fn push_bookmark(&self, initial_end: bool, buf: &mut Vec<u8>) {
        let mut metadata = json!({"resourceVersion": self.rv.to_string()});
        if initial_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let object = json!({
            "kind": self.kind.kind,
            "apiVersion": self.kind.api_version(),
            "metadata": metadata,
        });
        push_line(buf, "BOOKMARK", &object);
    }
}

fn push_line(buf: &mut Vec<u8>, event: &str, object: &Value) {
    serde_json::to_writer(&mut *buf, &Line { event, object }).expect("json values serialize");
    buf.push(b'\n');
}
