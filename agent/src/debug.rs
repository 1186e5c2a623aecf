//! The `/debug/state` document: the desired model as JSON, for people reading it at 3 a.m.
//! Certificates appear by file, fingerprint and SNI names only: never their PEM (keys).

use haproxy::config::{Config, DefaultBackend, PathKind, RouteHost, ServerMode, route_maps};
use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

/// The desired backends, servers and routes.
pub fn desired(config: &Config) -> Value {
    let default_backend = config.frontends.first().map(|f| match &f.default_backend {
        DefaultBackend::Backend(b) => b.to_string(),
        DefaultBackend::Builtin404 => "built-in 404".to_string(),
    });
    let set = route_maps(&config.routes);
    let entries = |m: &BTreeMap<haproxy::MapKey, haproxy::config::RouteTarget>| {
        m.iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect::<serde_json::Map<String, Value>>()
    };
    let map_files = config.frontends.first().map(|f| {
        json!({
            "exact": f.maps.exact.to_string(),
            "prefix": f.maps.prefix.to_string(),
            "regex": f.maps.regex.to_string(),
            "allow": f.maps.allow.to_string(),
            "deny": f.maps.deny.to_string(),
            "canary": f.maps.canary.to_string(),
        })
    });
    let acls = haproxy::config::AclEntries::of_lists(&config.source_lists);
    let patterns = |s: &BTreeSet<haproxy::AclPattern>| {
        s.iter().map(|p| p.as_str().to_string()).collect::<Vec<_>>()
    };
    json!({
        "desired": {
            "backends": backends(config),
            "routes": routes(config),
            "default_backend": default_backend,
            "maps": {
                "exact": entries(&set.exact),
                "prefix": entries(&set.prefix),
                "regex": entries(&set.regex),
            },
            "map_files": map_files,
            "source_lists": source_lists(config),
            "acl_files": {
                "allow": patterns(&acls.allow),
                "deny": patterns(&acls.deny),
                "canary": patterns(&acls.canary),
            },
            "tls": tls(config),
        }
    })
}

/// The backends by name, with their servers.
fn backends(config: &Config) -> serde_json::Map<String, Value> {
    config
        .backends
        .values()
        .map(|b| {
            let servers: Vec<Value> = b
                .servers
                .values()
                .map(|s| {
                    json!({
                        "name": s.name.as_str(),
                        "address": s.addr.get().to_string(),
                        "weight": s.weight.get(),
                        "state": match s.state { ServerMode::Ready => "ready", ServerMode::Drain => "drain" },
                    })
                })
                .collect();
            (
                b.name.to_string(),
                json!({ "balance": b.balance.keyword(), "servers": servers }),
            )
        })
        .collect()
}

/// The routes, each with the map value it makes.
fn routes(config: &Config) -> Vec<Value> {
    config
        .routes
        .iter()
        .map(|r| {
            json!({
                "host": match &r.host {
                    RouteHost::Exact(h) => h.to_string(),
                    RouteHost::Wildcard(h) => format!("*.{h}"),
                    RouteHost::Any => String::new(),
                },
                "path": r.path.as_str(),
                "path_type": match r.kind {
                    PathKind::Exact => "Exact",
                    PathKind::Prefix => "Prefix",
                    PathKind::ImplementationSpecific => "ImplementationSpecific",
                    PathKind::Regex => "Regex",
                    PathKind::Passthrough => "Passthrough",
                },
                "backend": r.backend.as_str(),
                "https_redirect": r.https_redirect,
                "map_value": r.target().to_string(),
            })
        })
        .collect()
}

/// The HTTPS bind: its certificates by file and fingerprint, and the crt-list lines.
fn tls(config: &Config) -> Option<Value> {
    let bind = config.frontends.first().and_then(|f| f.tls.as_ref())?;
    let certs: serde_json::Map<String, Value> = config
        .tls
        .certs
        .iter()
        .map(|(file, c)| (file.to_string(), json!({ "sha1": c.fingerprint.as_str() })))
        .collect();
    let crt_list: Vec<Value> = config
        .tls
        .crt_list
        .iter()
        .map(|e| {
            json!({
                "cert": e.cert.as_str(),
                "options": e.auth.as_ref().map(|a| a.options()),
                "sni": e.sni.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            })
        })
        .collect();
    Some(json!({
        "binds": bind.binds.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "default_cert": bind.default_cert.to_string(),
        "crt_list_file": bind.crt_list.to_string(),
        "certs": certs,
        "crt_list": crt_list,
    }))
}

/// The Ingresses' client address lists (and limit exemptions, CORS origins), by list id.
fn source_lists(config: &Config) -> serde_json::Map<String, Value> {
    let nets =
        |s: &BTreeSet<haproxy::config::Cidr>| s.iter().map(ToString::to_string).collect::<Vec<_>>();
    config
        .source_lists
        .iter()
        .map(|(id, l)| {
            let list = json!({
                "allow": nets(&l.allow),
                "deny": nets(&l.deny),
                "limit_exempt": nets(&l.exempt),
                "cors_origins": l.origins.iter().map(|o| o.as_str()).collect::<Vec<_>>(),
            });
            (id.to_string(), list)
        })
        .collect()
}

/// The Gateway API statuses translation computed, by kind and object (`namespace/name`, a
/// GatewayClass by name): what the Lease holder writes to the cluster, and all there is of
/// it with `--manifests`. A `lastTransitionTime` not yet set by a writer is left out.
pub fn gateway_status(statuses: &crate::translate::gateway::Statuses) -> Value {
    fn by_key<S: serde::Serialize>(
        map: &std::collections::BTreeMap<crate::store::ObjectKey, S>,
    ) -> Value {
        let mut out = serde_json::Map::new();
        for (key, status) in map {
            let mut v = serde_json::to_value(status).unwrap_or_default();
            drop_unset_times(&mut v);
            out.insert(key.to_string(), v);
        }
        Value::Object(out)
    }
    json!({
        "gatewayclasses": by_key(&statuses.classes),
        "gateways": by_key(&statuses.gateways),
        "httproutes": by_key(&statuses.routes),
    })
}

/// Removes every `lastTransitionTime` at the Unix epoch (translation's placeholder).
fn drop_unset_times(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if map.get("lastTransitionTime") == Some(&json!("1970-01-01T00:00:00Z")) {
                map.remove("lastTransitionTime");
            }
            map.values_mut().for_each(drop_unset_times);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_unset_times),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

    use super::*;
    use crate::gateway_api::GatewayClassStatus;
    use crate::store::ObjectKey;
    use crate::translate::gateway::Statuses;

    #[test]
    fn gateway_statuses_by_kind_and_object() {
        let mut s = Statuses::default();
        s.classes.insert(
            ObjectKey::new("", "haproxy"),
            GatewayClassStatus {
                conditions: vec![Condition {
                    type_: "Accepted".into(),
                    status: "True".into(),
                    reason: "Accepted".into(),
                    message: String::new(),
                    observed_generation: Some(3),
                    last_transition_time: Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
                }],
            },
        );
        let doc = gateway_status(&s);
        assert_eq!(
            doc["gatewayclasses"]["haproxy"]["conditions"][0],
            json!({"type": "Accepted", "status": "True", "reason": "Accepted", "message": "",
                   "observedGeneration": 3})
        );
        assert_eq!(doc["gateways"], json!({}));
        assert_eq!(doc["httproutes"], json!({}));
    }
}
