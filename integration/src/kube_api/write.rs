//! Writes over HTTP: `POST` (create), `PUT` (replace) and `PATCH` of objects and of their
//! `status` subresource, with the resourceVersion preconditions a real server checks.
//!
//! - `PUT` with a `metadata.resourceVersion` other than the stored one: 409 `Conflict`; without
//!   one, the update is unconditional (as for every kind served here). A missing object: 404.
//! - `POST` of an existing name: 409 `AlreadyExists`.
//! - `PATCH`: `application/merge-patch+json` (RFC 7386); `application/strategic-merge-patch+json`
//!   (see `write/strategic.rs`: lists merged by key where Kubernetes merges them, the
//!   directives kubectl sends); and `application/apply-patch+yaml` (YAML or JSON) as a merge
//!   patch that creates a missing object, without field ownership or conflicts. A
//!   `metadata.resourceVersion` in the patch is a precondition. JSON patches get 415.
//! - `DELETE` of an object: answers its last state; no preconditions, grace or propagation.
//! - A kind with a `status` subresource keeps its stored status on writes to the object, and
//!   `…/status` writes change only the status, as on a real server.

use hyper::Method;
use serde_json::{Map, Value};

use std::sync::Arc;

use super::resources::{Kind, Target};
use super::server::Shared;
use super::store::ApiError;

/// Answers a `POST`, `PUT`, `PATCH` or `DELETE` at `path` with the HTTP code and the object
/// (the one stored, or the last state of a deleted one); `user` is recorded with the change.
pub(crate) fn serve(
    method: &Method,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
    user: Option<&str>,
    shared: &Shared,
) -> Result<(u16, Arc<Value>), ApiError> {
    let target = shared.target(path)?;
    let kind = target.kind;
    let write = Write {
        target: &target,
        namespace: target.namespace.as_deref().unwrap_or(""),
        user,
        shared,
    };
    match (method, target.name.as_deref()) {
        (&Method::POST, None) if target.namespace.is_some() || !kind.namespaced => {
            write.create(body)
        }
        (&Method::PUT, Some(name)) => write.replace(name, body),
        (&Method::PATCH, Some(name)) => write.patch(name, content_type, body),
        (&Method::DELETE, Some(name)) if !target.status => {
            let last = shared
                .store()
                .remove(kind, write.namespace, name)
                .ok_or_else(|| not_found(kind, name))?;
            Ok((200, last))
        }
        _ => Err(ApiError::new(
            405,
            "MethodNotAllowed",
            format!("the test api server does not allow {method} on {path}"),
        )),
    }
}

/// One write request: what it targets and who sends it.
struct Write<'a> {
    target: &'a Target,
    namespace: &'a str,
    user: Option<&'a str>,
    shared: &'a Shared,
}

impl Write<'_> {
    /// `POST`: creates the object `body` holds; 409 when its name is taken.
    fn create(&self, body: &[u8]) -> Result<(u16, Arc<Value>), ApiError> {
        let kind = self.target.kind;
        let obj = parse_object(body)?;
        check_type(kind, &obj)?;
        check_namespace(&obj, self.namespace)?;
        let name = meta_str(&obj, "name").ok_or_else(|| {
            ApiError::new(
                422,
                "Invalid",
                "metadata.name: Required value: name or generateName is required",
            )
        })?;
        let (stored, _) =
            self.shared
                .store()
                .write(
                    kind,
                    self.namespace,
                    &name,
                    self.user,
                    |current| match current {
                        Some(_) => Err(ApiError::new(
                            409,
                            "AlreadyExists",
                            format!("{} {name:?} already exists", kind.resource()),
                        )),
                        None => Ok(without_status_if(kind.status, obj)),
                    },
                )?;
        Ok((201, stored))
    }

    /// `PUT`: replaces the object (or only its status, at `…/status`).
    fn replace(&self, name: &str, body: &[u8]) -> Result<(u16, Arc<Value>), ApiError> {
        let kind = self.target.kind;
        let obj = parse_object(body)?;
        check_type(kind, &obj)?;
        check_namespace(&obj, self.namespace)?;
        if let Some(given) = meta_str(&obj, "name")
            && given != name
        {
            return Err(ApiError::new(
                400,
                "BadRequest",
                format!(
                    "the name of the object ({given}) does not match the name on the URL ({name})"
                ),
            ));
        }
        let (stored, _) =
            self.shared
                .store()
                .write(kind, self.namespace, name, self.user, |current| {
                    let current = current.ok_or_else(|| not_found(kind, name))?;
                    check_version(kind, name, meta_str(&obj, "resourceVersion"), current)?;
                    Ok(if self.target.status {
                        with_status(current.clone(), obj.get("status").cloned())
                    } else if kind.status {
                        with_status(obj, current.get("status").cloned())
                    } else {
                        obj
                    })
                })?;
        Ok((200, stored))
    }

    /// `PATCH`: a merge, strategic merge or apply patch of the object (or of its status).
    fn patch(
        &self,
        name: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<(u16, Arc<Value>), ApiError> {
        let kind = self.target.kind;
        let on_status = self.target.status;
        let (apply, strategic) = patch_type(content_type)?;
        let patch = if apply {
            parse_yaml_object(body)?
        } else {
            parse_object(body)?
        };
        let (stored, created) =
            self.shared
                .store()
                .write(kind, self.namespace, name, self.user, |current| {
                    let mut patched = match current {
                        Some(c) => c.clone(),
                        None if apply && !on_status => Value::Object(Map::new()),
                        None => return Err(not_found(kind, name)),
                    };
                    if let Some(current) = current {
                        check_version(kind, name, meta_str(&patch, "resourceVersion"), current)?;
                    }
                    if strategic {
                        strategic::merge(&mut patched, &patch, kind);
                    } else {
                        merge_patch(&mut patched, &patch);
                    }
                    Ok(match current {
                        Some(current) if on_status => {
                            with_status(current.clone(), patched.get("status").cloned())
                        }
                        Some(current) if kind.status => {
                            with_status(patched, current.get("status").cloned())
                        }
                        Some(_) => patched,
                        None => without_status_if(kind.status, patched),
                    })
                })?;
        Ok((if created { 201 } else { 200 }, stored))
    }
}

/// Which patch a `Content-Type` asks for: (apply, strategic); 415 for any other.
fn patch_type(content_type: Option<&str>) -> Result<(bool, bool), ApiError> {
    let media = content_type
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim();
    match media {
        "application/merge-patch+json" => Ok((false, false)),
        "application/strategic-merge-patch+json" => Ok((false, true)),
        "application/apply-patch+yaml" => Ok((true, false)),
        other => Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml (got {other:?})"
            ),
        )),
    }
}

/// RFC 7386: objects merge key by key, `null` removes a key, anything else replaces.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let target = target.as_object_mut().expect("made an object above");
    for (key, value) in patch {
        if value.is_null() {
            target.remove(key);
        } else {
            merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

fn parse_object(body: &[u8]) -> Result<Value, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(ApiError::new(
            400,
            "BadRequest",
            "the body is not a JSON object",
        )),
        Err(e) => Err(ApiError::new(
            400,
            "BadRequest",
            format!("the body does not parse as JSON: {e}"),
        )),
    }
}

/// A server-side apply body: YAML (of which JSON is a part).
fn parse_yaml_object(body: &[u8]) -> Result<Value, ApiError> {
    match serde_yaml_ng::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(ApiError::new(
            400,
            "BadRequest",
            "the body is not a YAML object",
        )),
        Err(e) => Err(ApiError::new(
            400,
            "BadRequest",
            format!("the body does not parse as YAML: {e}"),
        )),
    }
}

fn meta_str(obj: &Value, field: &str) -> Option<String> {
    obj["metadata"][field]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// An `apiVersion` and `kind` in the body, when given, must be the path's.
fn check_type(kind: &Kind, obj: &Value) -> Result<(), ApiError> {
    let api_version = obj["apiVersion"].as_str().unwrap_or("");
    let obj_kind = obj["kind"].as_str().unwrap_or("");
    if (!api_version.is_empty() && api_version != kind.api_version())
        || (!obj_kind.is_empty() && obj_kind != kind.kind)
    {
        return Err(ApiError::new(
            400,
            "BadRequest",
            format!(
                "the body is a {obj_kind} of {api_version}, not a {} of {}",
                kind.kind,
                kind.api_version()
            ),
        ));
    }
    Ok(())
}

fn check_namespace(obj: &Value, namespace: &str) -> Result<(), ApiError> {
    match meta_str(obj, "namespace") {
        Some(ns) if ns != namespace => Err(ApiError::new(
            400,
            "BadRequest",
            "the namespace of the provided object does not match the namespace sent on the request",
        )),
        _ => Ok(()),
    }
}

/// A resourceVersion precondition: absent passes, anything but the stored one conflicts.
fn check_version(
    kind: &Kind,
    name: &str,
    given: Option<String>,
    current: &Value,
) -> Result<(), ApiError> {
    match given {
        Some(rv) if Some(rv.as_str()) != current["metadata"]["resourceVersion"].as_str() => {
            Err(ApiError::new(
                409,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {} {name:?}: the object has been modified; \
                     please apply your changes to the latest version and try again",
                    kind.resource()
                ),
            ))
        }
        _ => Ok(()),
    }
}

fn not_found(kind: &Kind, name: &str) -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        format!("{} {name:?} not found", kind.resource()),
    )
}

fn with_status(mut obj: Value, status: Option<Value>) -> Value {
    if let Some(map) = obj.as_object_mut() {
        match status {
            Some(s) => map.insert("status".into(), s),
            None => map.remove("status"),
        };
    }
    obj
}

/// A created object of a kind with a status subresource starts without a status.
fn without_status_if(has_status: bool, obj: Value) -> Value {
    if has_status {
        with_status(obj, None)
    } else {
        obj
    }
}

mod strategic;
#[cfg(test)]
mod tests;
