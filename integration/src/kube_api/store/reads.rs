//! The store's reads: one object, a page of a list (continue tokens), the start of a watch.

use std::ops::Bound;
use std::sync::Arc;

use serde_json::{Map, Value};
use tokio::sync::mpsc;

use super::{ApiError, Change, Store};
use crate::kube_api::resources::Kind;
use crate::kube_api::select::Filter;
use crate::kube_api::token;

/// One page of a list.
#[derive(Debug)]
pub(crate) struct ListPage {
    pub items: Vec<Value>,
    pub rv: u64,
    pub continue_token: Option<String>,
    pub remaining: usize,
}

/// Where a watch starts.
#[derive(Debug, Clone, Copy)]
pub(crate) enum WatchFrom {
    /// resourceVersion unset or "0": ADDED for every object, then changes.
    Snapshot,
    /// sendInitialEvents: ADDED for every object, the initial-events-end bookmark, changes.
    Streaming,
    /// Changes newer than this resourceVersion.
    After(u64),
    /// Only changes from now on (sendInitialEvents=false without a resourceVersion).
    Now,
}

/// What a new watch sends before the live changes.
#[derive(Debug)]
pub(crate) enum Initial {
    /// A synthetic ADDED for an existing object.
    Object(Arc<Value>),
    /// A change replayed from the history.
    Change(Arc<Change>),
    /// The bookmark that ends the initial events of a streaming list.
    End(u64),
}

/// A new watch: what to send first, then every later change from `changes`.
#[derive(Debug)]
pub(crate) struct Subscription {
    pub initial: Vec<Initial>,
    pub changes: mpsc::UnboundedReceiver<Arc<Change>>,
    /// The resourceVersion everything up to which is covered by `initial`.
    pub rv: u64,
}
impl Store {
    pub fn get(&self, kind: &Kind, namespace: &str, name: &str) -> Option<Arc<Value>> {
        let namespace = if kind.namespaced { namespace } else { "" };
        self.objects
            .get(&(kind.plural, namespace.to_string(), name.to_string()))
            .cloned()
    }

    /// One page of at most `limit` objects, after the position in `token` if given. Pages
    /// come from the current state, each reporting the resourceVersion of the first page.
    pub fn list(
        &self,
        kind: &'static Kind,
        filter: &Filter,
        limit: Option<usize>,
        token: Option<&str>,
    ) -> Result<ListPage, ApiError> {
        let (rv, start) = match token {
            Some(token) => {
                let (rv, compactions, key) = token::decode(kind, token).ok_or_else(|| {
                    ApiError::new(
                        400,
                        "BadRequest",
                        format!("invalid continue token {token:?}"),
                    )
                })?;
                if compactions != self.compactions {
                    return Err(ApiError::new(
                        410,
                        "Expired",
                        "The provided continue parameter is too old to display a consistent \
                         list result. You can start a new list without the continue parameter.",
                    ));
                }
                (rv, Bound::Excluded(key))
            }
            None => (
                self.rv,
                Bound::Included((kind.plural, String::new(), String::new())),
            ),
        };
        let mut selected = self
            .objects
            .range((start, Bound::Unbounded))
            .take_while(|(k, _)| k.0 == kind.plural)
            .filter(|(_, v)| filter.matches(v));
        let mut items = Vec::new();
        let mut last = None;
        for (key, obj) in selected.by_ref().take(limit.unwrap_or(usize::MAX)) {
            items.push(list_item(obj));
            last = Some(key);
        }
        let remaining = selected.count();
        let continue_token = match last {
            Some((_, ns, name)) if remaining > 0 => {
                Some(token::encode(rv, self.compactions, ns, name))
            }
            _ => None,
        };
        Ok(ListPage {
            items,
            rv,
            continue_token,
            remaining,
        })
    }

    /// Starts a watch: what it sends first and the feed of later changes, under this lock.
    /// A resourceVersion older than the last compaction is the error message for a 410.
    pub fn watch(
        &mut self,
        kind: &'static Kind,
        filter: &Filter,
        from: WatchFrom,
    ) -> Result<Subscription, String> {
        let snapshot = || {
            self.objects
                .iter()
                .filter(|(k, v)| k.0 == kind.plural && filter.matches(v))
                .map(|(_, v)| Initial::Object(v.clone()))
                .collect::<Vec<_>>()
        };
        let initial = match from {
            WatchFrom::Snapshot => snapshot(),
            WatchFrom::Streaming => {
                let mut initial = snapshot();
                initial.push(Initial::End(self.rv));
                initial
            }
            WatchFrom::After(rv) if rv < self.compacted => {
                return Err(format!(
                    "too old resource version: {rv} ({})",
                    self.compacted
                ));
            }
            WatchFrom::After(rv) => {
                let from = self.history.partition_point(|c| c.rv <= rv);
                self.history[from..]
                    .iter()
                    .map(|c| Initial::Change(c.clone()))
                    .collect()
            }
            WatchFrom::Now => Vec::new(),
        };
        let (tx, changes) = mpsc::unbounded_channel();
        self.subscribers.push(tx);
        Ok(Subscription {
            initial,
            changes,
            rv: self.rv,
        })
    }
}

/// An object as a list item: without apiVersion and kind, as a real server sends them.
fn list_item(obj: &Value) -> Value {
    let mut item: Map<String, Value> = obj.as_object().cloned().unwrap_or_default();
    item.remove("apiVersion");
    item.remove("kind");
    Value::Object(item)
}
