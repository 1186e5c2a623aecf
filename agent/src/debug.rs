//! The `/debug/state` document: the desired model as JSON, for people reading it at 3 a.m.
//! Certificates appear by file, fingerprint and SNI names only: never their PEM (keys).

use haproxy::config::{Config, DefaultBackend, PathKind, RouteHost, ServerMode, route_maps};
use serde_json::{Value, json};

/// The desired backends, servers and routes.
pub fn desired(config: &Config) -> Value {
    let backends: serde_json::Map<String, Value> = config
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
        .collect();
    let routes: Vec<Value> = config
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
                },
                "backend": r.backend.as_str(),
                "https_redirect": r.https_redirect,
                "map_value": r.target().to_string(),
            })
        })
        .collect();
    let default_backend = config.frontends.first().map(|f| match &f.default_backend {
        DefaultBackend::Backend(b) => b.to_string(),
        DefaultBackend::Builtin404 => "built-in 404".to_string(),
    });
    let set = route_maps(&config.routes);
    let entries = |m: &std::collections::BTreeMap<
        haproxy::MapKey,
        haproxy::config::RouteTarget,
    >|
     -> serde_json::Map<String, Value> {
        m.iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect()
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
    let tls = config
        .frontends
        .first()
        .and_then(|f| f.tls.as_ref())
        .map(|bind| {
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
            json!({
                "binds": bind.binds.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "default_cert": bind.default_cert.to_string(),
                "crt_list_file": bind.crt_list.to_string(),
                "certs": certs,
                "crt_list": crt_list,
            })
        });
    // The Ingresses' client address lists (and limit exemptions, CORS origins), by list id,
    // and the ACL files' patterns they make.
    let source_lists: serde_json::Map<String, Value> = config
        .source_lists
        .iter()
        .map(|(id, l)| {
            let nets = |s: &std::collections::BTreeSet<haproxy::config::Cidr>| {
                s.iter().map(ToString::to_string).collect::<Vec<_>>()
            };
            let list = json!({
                "allow": nets(&l.allow),
                "deny": nets(&l.deny),
                "limit_exempt": nets(&l.exempt),
                "cors_origins": l.origins.iter().map(|o| o.as_str()).collect::<Vec<_>>(),
            });
            (id.to_string(), list)
        })
        .collect();
    let acls = haproxy::config::AclEntries::of_lists(&config.source_lists);
    let patterns = |s: &std::collections::BTreeSet<haproxy::AclPattern>| {
        s.iter().map(|p| p.as_str().to_string()).collect::<Vec<_>>()
    };
    json!({
        "desired": {
            "backends": backends,
            "routes": routes,
            "default_backend": default_backend,
            "maps": {
                "exact": entries(&set.exact),
                "prefix": entries(&set.prefix),
                "regex": entries(&set.regex),
            },
            "map_files": map_files,
            "source_lists": source_lists,
            "acl_files": {
                "allow": patterns(&acls.allow),
                "deny": patterns(&acls.deny),
                "canary": patterns(&acls.canary),
            },
            "tls": tls,
        }
    })
}
