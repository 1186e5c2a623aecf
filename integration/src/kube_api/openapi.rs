//! A minimal OpenAPI v3, built from the kinds table, for what kubectl asks of it: each
//! group version's document declares the `PATCH` of every kind with its
//! `x-kubernetes-group-version-kind` and the `fieldValidation` query parameter, so
//! `kubectl apply` (whose default `--validate=strict` needs OpenAPI) leaves validation to
//! the server instead of downloading schemas. No schemas are served: kubectl computes its
//! strategic merge patches from the types compiled into it, as for a server without
//! OpenAPI. The server does no validation (see the module docs).

use serde_json::{Map, Value, json};

use super::resources::{KINDS, Kind};

/// The OpenAPI v3 document at `path` (`/openapi/v3` or one of the group versions it lists).
pub(crate) fn document(path: &str) -> Option<Value> {
    let rest = path.strip_prefix("/openapi/v3")?;
    if rest.is_empty() || rest == "/" {
        let mut paths = Map::new();
        for kind in KINDS.iter() {
            let gv = group_version_path(kind);
            paths.insert(
                gv.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{gv}")}),
            );
        }
        return Some(json!({"paths": paths}));
    }
    let gv = rest.strip_prefix('/')?;
    let mut paths = Map::new();
    for kind in KINDS.iter().filter(|k| group_version_path(k) == gv) {
        let scope = if kind.namespaced {
            "namespaces/{namespace}/"
        } else {
            ""
        };
        let gvk = json!({"group": kind.group, "version": kind.version, "kind": kind.kind});
        paths.insert(
            format!("/{gv}/{scope}{}/{{name}}", kind.plural),
            json!({"patch": {
                "x-kubernetes-group-version-kind": gvk,
                "parameters": [{"name": "fieldValidation", "in": "query",
                                "schema": {"type": "string"}}],
                "responses": {},
            }}),
        );
    }
    if paths.is_empty() {
        return None;
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "haproxy-agent test API server", "version": "v1.33.0"},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}

/// `api/v1` or `apis/{group}/{version}`, as the OpenAPI v3 index names a group version.
fn group_version_path(kind: &Kind) -> String {
    if kind.group.is_empty() {
        format!("api/{}", kind.version)
    } else {
        format!("apis/{}/{}", kind.group, kind.version)
    }
}
