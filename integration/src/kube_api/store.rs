//! The object store: current objects, the global resourceVersion, the change history and the
//! watch subscriptions, all behind one lock so a watch's snapshot and its subscription agree.
//! Writes are here; reads (get, list pages, the start of a watch) are in `reads`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Map, Value};
use tokio::sync::mpsc;

use super::WriteLogEntry;
use super::resources::Kind;
use super::select::Filter;

mod reads;

pub(crate) use reads::{Initial, WatchFrom};

/// Objects are ordered by kind, then namespace, then name, as etcd orders its keys.
pub(crate) type Key = (&'static str, String, String);

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChangeType {
    Added,
    Modified,
    Deleted,
}

/// One write, as kept in the history and sent to every open watch.
#[derive(Debug)]
pub(crate) struct Change {
    pub rv: u64,
    pub kind: &'static Kind,
    pub change: ChangeType,
    /// The new state; for a deletion, the last state with the deletion's resourceVersion.
    pub object: Arc<Value>,
    /// The state before a modification, to tell when an object enters or leaves a selector.
    pub previous: Option<Arc<Value>>,
}

impl Change {
    /// The event type a watch of `kind` through `filter` sees for this change, if any: an
    /// object modified into the selection is ADDED, one modified out of it DELETED.
    pub fn event_type(&self, kind: &Kind, filter: &Filter) -> Option<&'static str> {
        if self.kind.plural != kind.plural {
            return None;
        }
        let now = filter.matches(&self.object);
        let before = self.previous.as_deref().is_some_and(|p| filter.matches(p));
        match (self.change, before, now) {
            (ChangeType::Added, _, true) => Some("ADDED"),
            (ChangeType::Modified, true, true) => Some("MODIFIED"),
            (ChangeType::Modified, false, true) => Some("ADDED"),
            (ChangeType::Modified, true, false) => Some("DELETED"),
            (ChangeType::Deleted, _, true) => Some("DELETED"),
            _ => None,
        }
    }
}

/// An error answered with a `Status` body.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            reason,
            message: message.into(),
        }
    }

    /// The `Status` object for this error.
    pub fn status(&self) -> Value {
        serde_json::json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        })
    }
}
/// The objects and their history.
#[derive(Debug)]
pub(crate) struct Store {
    rv: u64,
    objects: BTreeMap<Key, Arc<Value>>,
    /// Every change newer than `compacted`, oldest first.
    history: Vec<Arc<Change>>,
    compacted: u64,
    /// How many compactions ran; continue tokens from an earlier one have expired.
    compactions: u64,
    subscribers: Vec<mpsc::UnboundedSender<Arc<Change>>>,
    /// Every change ever made, oldest first; compaction does not touch it.
    writes: Vec<WriteLogEntry>,
}

impl Store {
    pub fn new() -> Store {
        Store {
            rv: 1,
            objects: BTreeMap::new(),
            history: Vec::new(),
            compacted: 0,
            compactions: 0,
            subscribers: Vec::new(),
            writes: Vec::new(),
        }
    }

    pub fn rv(&self) -> u64 {
        self.rv
    }

    /// Creates or replaces the object; returns its resourceVersion. Writing an object that
    /// is unchanged (resourceVersion and uid aside) is a no-op, as on a real server.
    pub fn apply(&mut self, mut obj: Value) -> Result<u64, String> {
        let kind = {
            let api_version = obj["apiVersion"].as_str().unwrap_or("");
            let kind = obj["kind"].as_str().unwrap_or("");
            Kind::by_type(api_version, kind).ok_or_else(|| {
                format!("kind {kind:?} of apiVersion {api_version:?} is not served")
            })?
        };
        let meta = obj
            .get_mut("metadata")
            .and_then(Value::as_object_mut)
            .ok_or("object has no metadata")?;
        let name = meta
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or("object has no metadata.name")?
            .to_string();
        let namespace = if kind.namespaced {
            let ns = meta
                .get("namespace")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .unwrap_or("default")
                .to_string();
            meta.insert("namespace".into(), ns.clone().into());
            ns
        } else {
            meta.remove("namespace");
            String::new()
        };
        let stored = self.store(kind, (kind.plural, namespace, name), obj, None);
        Ok(resource_version(&stored))
    }

    /// A write over HTTP: `f` makes the new object from the current one (`None` when absent)
    /// or refuses with an error; the server sets apiVersion, kind, name, namespace,
    /// resourceVersion and uid. Returns the stored object and whether it was created. An
    /// unchanged object is not written again (no new resourceVersion, no event).
    pub fn write(
        &mut self,
        kind: &'static Kind,
        namespace: &str,
        name: &str,
        user: Option<&str>,
        f: impl FnOnce(Option<&Value>) -> Result<Value, ApiError>,
    ) -> Result<(Arc<Value>, bool), ApiError> {
        let namespace = if kind.namespaced { namespace } else { "" };
        let key = (kind.plural, namespace.to_string(), name.to_string());
        let current = self.objects.get(&key).cloned();
        let mut obj = f(current.as_deref())?;
        let map = obj
            .as_object_mut()
            .ok_or_else(|| ApiError::new(400, "BadRequest", "the object is not a JSON object"))?;
        map.insert("apiVersion".into(), kind.api_version().into());
        map.insert("kind".into(), kind.kind.into());
        let meta = map
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if !meta.is_object() {
            *meta = Value::Object(Map::new());
        }
        let meta = meta.as_object_mut().expect("made an object above");
        meta.insert("name".into(), name.into());
        if kind.namespaced {
            meta.insert("namespace".into(), namespace.into());
        } else {
            meta.remove("namespace");
        }
        let stored = self.store(kind, key, obj, user);
        Ok((stored, current.is_none()))
    }

    /// Stores `obj` (whose metadata already names `key`) unless it is unchanged; returns
    /// the stored object.
    fn store(
        &mut self,
        kind: &'static Kind,
        key: Key,
        mut obj: Value,
        user: Option<&str>,
    ) -> Arc<Value> {
        let previous = self.objects.get(&key).cloned();
        // The creation time is the server's: kept from the stored object, set on creation.
        let created = previous
            .as_ref()
            .and_then(|p| p["metadata"].get("creationTimestamp").cloned())
            .unwrap_or_else(|| super::table::now().into());
        if let Some(meta) = obj["metadata"].as_object_mut() {
            meta.insert("creationTimestamp".into(), created);
        }
        if kind.generation {
            set_generation(&mut obj, previous.as_deref());
        }
        if let Some(prev) = &previous
            && content(prev) == content(&obj)
        {
            return prev.clone();
        }
        self.rv += 1;
        let uid = previous
            .as_ref()
            .and_then(|p| p["metadata"]["uid"].as_str().map(str::to_string))
            .unwrap_or_else(|| format!("00000000-0000-4000-8000-{:012x}", self.rv));
        let meta = obj["metadata"].as_object_mut().expect("checked by callers");
        meta.insert("resourceVersion".into(), self.rv.to_string().into());
        meta.insert("uid".into(), uid.into());
        let object = Arc::new(obj);
        self.objects.insert(key, object.clone());
        let change = if previous.is_some() {
            ChangeType::Modified
        } else {
            ChangeType::Added
        };
        self.record(kind, change, object.clone(), previous, user);
        object
    }

    /// Deletes the object; returns the deletion's resourceVersion, `None` if it did not exist.
    pub fn delete(&mut self, kind: &'static Kind, namespace: &str, name: &str) -> Option<u64> {
        self.remove(kind, namespace, name)
            .map(|last| resource_version(&last))
    }

    /// Deletes the object; returns its last state (with the deletion's resourceVersion),
    /// `None` if it did not exist.
    pub fn remove(
        &mut self,
        kind: &'static Kind,
        namespace: &str,
        name: &str,
    ) -> Option<Arc<Value>> {
        let namespace = if kind.namespaced { namespace } else { "" };
        let key = (kind.plural, namespace.to_string(), name.to_string());
        let previous = self.objects.remove(&key)?;
        self.rv += 1;
        let mut last = (*previous).clone();
        last["metadata"]["resourceVersion"] = self.rv.to_string().into();
        let last = Arc::new(last);
        self.record(
            kind,
            ChangeType::Deleted,
            last.clone(),
            Some(previous),
            None,
        );
        Some(last)
    }

    fn record(
        &mut self,
        kind: &'static Kind,
        change: ChangeType,
        object: Arc<Value>,
        previous: Option<Arc<Value>>,
        user: Option<&str>,
    ) {
        self.writes.push(WriteLogEntry {
            resource_version: self.rv,
            kind: kind.kind,
            namespace: object["metadata"]["namespace"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            name: object["metadata"]["name"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            change: match change {
                ChangeType::Added => "ADDED",
                ChangeType::Modified => "MODIFIED",
                ChangeType::Deleted => "DELETED",
            },
            user: user.map(str::to_string),
            object: object.clone(),
            at: Instant::now(),
        });
        let change = Arc::new(Change {
            rv: self.rv,
            kind,
            change,
            object,
            previous,
        });
        self.history.push(change.clone());
        // A watch whose stream has gone has dropped its receiver.
        self.subscribers
            .retain(|tx| tx.send(change.clone()).is_ok());
    }

    /// Every change made so far, oldest first.
    pub fn writes(&self) -> &[WriteLogEntry] {
        &self.writes
    }

    /// Forgets the history up to now: older resourceVersions and continue tokens expire.
    pub fn compact(&mut self) {
        self.compacted = self.rv;
        self.history.clear();
        self.compactions += 1;
    }
}

fn resource_version(obj: &Value) -> u64 {
    obj["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|rv| rv.parse().ok())
        .unwrap_or(0)
}

/// Sets `metadata.generation`: 1 for a new object; the previous one's, plus one when
/// anything but metadata and status changed.
fn set_generation(obj: &mut Value, previous: Option<&Value>) {
    let spec = |o: &Value| {
        let mut o = o.as_object().cloned().unwrap_or_default();
        for field in ["apiVersion", "kind", "metadata", "status"] {
            o.remove(field);
        }
        o
    };
    let generation = match previous {
        None => 1,
        Some(p) => {
            let g = p["metadata"]["generation"].as_i64().unwrap_or(1);
            if spec(p) == spec(obj) { g } else { g + 1 }
        }
    };
    obj["metadata"]["generation"] = generation.into();
}

/// The object without the fields the server sets, to detect a no-op write.
fn content(obj: &Value) -> Value {
    let mut obj = obj.clone();
    if let Some(meta) = obj["metadata"].as_object_mut() {
        meta.remove("resourceVersion");
        meta.remove("uid");
    }
    obj
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::kube_api::select::Query;

    fn svc(ns: &str, name: &str, label: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": name, "namespace": ns, "labels": {"l": label}}})
    }

    #[test]
    fn writes_and_history() {
        let kind = Kind::by_name("Service").unwrap();
        let mut store = Store::new();
        assert_eq!(store.apply(svc("a", "x", "1")), Ok(2));
        assert_eq!(store.apply(svc("a", "x", "1")), Ok(2), "no-op write");
        assert_eq!(store.apply(svc("a", "x", "2")), Ok(3));
        assert_eq!(store.delete(kind, "a", "x"), Some(4));
        assert_eq!(store.delete(kind, "a", "x"), None);
        assert!(
            store
                .apply(json!({"apiVersion": "v1", "kind": "Pod"}))
                .is_err()
        );

        let selected = Filter::new(None, &Query::parse("labelSelector=l%3D2")).unwrap();
        let sub = store.watch(kind, &selected, WatchFrom::After(1)).unwrap();
        let types: Vec<_> = sub
            .initial
            .iter()
            .map(|i| match i {
                Initial::Change(c) => c.event_type(kind, &selected),
                _ => panic!("not a change"),
            })
            .collect();
        assert_eq!(types, [None, Some("ADDED"), Some("DELETED")]);

        store.compact();
        assert_eq!(
            store
                .watch(kind, &selected, WatchFrom::After(3))
                .unwrap_err(),
            "too old resource version: 3 (4)"
        );
        assert!(store.watch(kind, &selected, WatchFrom::After(4)).is_ok());
    }

    #[test]
    fn pages() {
        let kind = Kind::by_name("Service").unwrap();
        let mut store = Store::new();
        for i in 0..5 {
            store.apply(svc("b", &format!("s{i}"), "1")).unwrap();
            store.apply(svc("a", &format!("s{i}"), "1")).unwrap();
        }
        let all = Filter::default();
        let mut token = None;
        let mut names = Vec::new();
        loop {
            let page = store.list(kind, &all, Some(3), token.as_deref()).unwrap();
            assert_eq!(page.rv, 11);
            names.extend(page.items.iter().map(|i| {
                assert!(i.get("kind").is_none());
                format!("{}/{}", i["metadata"]["namespace"], i["metadata"]["name"])
            }));
            token = page.continue_token;
            if token.is_none() {
                assert_eq!(page.remaining, 0);
                break;
            }
            store.apply(svc("c", "late", "1")).unwrap();
        }
        assert_eq!(names.len(), 11, "{names:?}");
        assert!(names[0].contains("\"a\"") && names[10].contains("late"));

        let page = store.list(kind, &all, Some(3), None).unwrap();
        store.compact();
        let err = store
            .list(kind, &all, Some(3), page.continue_token.as_deref())
            .unwrap_err();
        assert_eq!((err.code, err.reason), (410, "Expired"));
        let err = store.list(kind, &all, None, Some("1-x")).unwrap_err();
        assert_eq!(err.code, 400);
    }
}
