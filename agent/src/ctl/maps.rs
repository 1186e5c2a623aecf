//! `ctl maps`: HAProxy's routing map entries and address lists, with each map value read
//! for people.

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;

use anyhow::Context;
use haproxy::proto::{Command, Reply};
use haproxy::{FilePath, RuntimeClient};
use serde_json::Value;

use super::{print, table};
use crate::cli::OutputFormat;

/// Live map entries of every map file HAProxy loaded.
async fn live_maps(
    client: &RuntimeClient,
) -> anyhow::Result<BTreeMap<String, Vec<(String, String)>>> {
    let list = client.maps().await.context("cannot list HAProxy's maps")?;
    let files: BTreeSet<String> = list
        .into_iter()
        .map(|m| m.file)
        .filter(|f| !f.is_empty())
        .collect();
    let mut out = BTreeMap::new();
    for f in files {
        let entries = client.map_entries(FilePath::new(f.clone())?).await?;
        out.insert(f, entries.into_iter().map(|e| (e.key, e.value)).collect());
    }
    Ok(out)
}

pub(super) fn map_kind(file: &str) -> &str {
    match file.rsplit('/').next() {
        Some("exact.map") => "exact",
        Some("prefix.map") => "prefix",
        Some("regex.map") => "regex",
        _ => file,
    }
}

/// What a route does besides choosing its backend, for people, in the order the frontend
/// applies it.
pub(super) fn policy_notes(t: &haproxy::config::RouteTarget) -> Vec<String> {
    let p = &t.policy;
    let mut notes = Vec::new();
    if t.https_redirect {
        notes.push("plain HTTP redirected to HTTPS".to_string());
    }
    if let Some(l) = &p.allow_list {
        notes.push(format!("clients must be in allow list {l}"));
    }
    if let Some(l) = &p.deny_list {
        notes.push(format!("clients in deny list {l} refused"));
    }
    if let Some(r) = &p.redirect {
        notes.push(format!("redirect {} to {}", r.code.get(), r.location));
    }
    if let Some(w) = &p.www_redirect {
        notes.push(format!("redirect 308 to host {w}"));
    }
    if let Some(a) = &p.auth {
        notes.push(format!("basic auth {a}"));
    }
    if let Some(e) = &p.custom_errors {
        let codes: Vec<String> = e.codes.codes().iter().map(u16::to_string).collect();
        notes.push(format!(
            "error pages for {} from {}",
            codes.join(","),
            e.backend
        ));
    }
    if let Some(l) = &p.limit {
        let mut by = Vec::new();
        for (what, v) in [
            ("/s", l.per_second),
            ("/10s", l.per_10s),
            ("/min", l.per_minute),
        ] {
            if let Some(v) = v {
                by.push(format!("{v}{what}"));
            }
        }
        if let Some(c) = l.concurrent {
            by.push(format!("{c} connections"));
        }
        notes.push(format!("limit {} per {}", by.join(", "), l.key));
    }
    if let Some(b) = p.max_body {
        notes.push(format!("bodies over {b} bytes refused (413)"));
    }
    if p.cors.is_some() {
        notes.push("CORS".to_string());
    }
    let texts = [
        ("app root", &p.app_root),
        ("X-Forwarded-Prefix", &p.forwarded_prefix),
        ("path rewritten to", &p.rewrite),
        ("Host", &p.vhost),
    ];
    for (what, v) in texts {
        if let Some(v) = v {
            notes.push(format!("{what} {v}"));
        }
    }
    if let Some(c) = &t.canary {
        let r = &c.rule;
        let mut by = vec![format!("{} in {}", r.weight, r.total)];
        if let Some(h) = &r.header {
            by.push(match &r.header_value {
                Some(v) => format!("header {h}: {v}"),
                None => format!("header {h}"),
            });
        }
        if let Some(k) = &r.cookie {
            by.push(format!("cookie {k}"));
        }
        notes.push(format!("canary {} by {}", c.backend, by.join(", ")));
    }
    notes
}

/// A route map value for people: the backend, then what the route does besides.
fn describe_target(value: &str) -> String {
    let Some(t) = haproxy::config::RouteTarget::parse(value) else {
        return value.to_string();
    };
    let notes = policy_notes(&t);
    if notes.is_empty() {
        t.backend.to_string()
    } else {
        format!("{} ({})", t.backend, notes.join("; "))
    }
}

pub(super) async fn maps(client: &RuntimeClient, out: OutputFormat) -> anyhow::Result<ExitCode> {
    let live = live_maps(client).await?;
    let mut rows = Vec::new();
    let mut doc = serde_json::Map::new();
    for (file, entries) in &live {
        let mut obj = serde_json::Map::new();
        for (k, v) in entries {
            let shown = describe_target(v);
            rows.push(vec![
                map_kind(file).to_string(),
                k.clone(),
                "->".into(),
                shown,
            ]);
            obj.insert(k.clone(), Value::String(v.clone()));
        }
        doc.insert(file.clone(), Value::Object(obj));
    }
    // The address lists' ACL files sit beside the route maps.
    let dirs: BTreeSet<&str> = live
        .keys()
        .filter(|f| f.ends_with("/exact.map"))
        .filter_map(|f| f.rsplit_once('/').map(|(d, _)| d))
        .collect();
    for dir in dirs {
        for kind in ["allow", "deny", "canary"] {
            let file = format!("{dir}/{kind}.acl");
            let Ok(Reply::AclEntries(entries)) = client
                .send(Command::ShowAcl(FilePath::new(file.clone())?))
                .await
            else {
                continue;
            };
            let mut patterns = Vec::new();
            for e in entries {
                rows.push(vec![
                    kind.to_string(),
                    e.pattern.clone(),
                    String::new(),
                    String::new(),
                ]);
                patterns.push(Value::String(e.pattern));
            }
            doc.insert(file, Value::Array(patterns));
        }
    }
    print(
        out,
        &Value::Object(doc),
        &table(&["MAP", "HOST+PATH", "", "BACKEND"], &rows),
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_values_are_described_for_people() {
        assert_eq!(describe_target("ns_web_80"), "ns_web_80");
        assert_eq!(
            describe_target("ns_web_80|https"),
            "ns_web_80 (plain HTTP redirected to HTTPS)"
        );
        let mut rule = haproxy::config::CanaryRule::new(20, 100).unwrap();
        rule.header = Some(haproxy::config::CanaryName::header("x-canary").unwrap());
        rule.header_value = Some(haproxy::config::PolicyText::new("v", "beta").unwrap());
        rule.cookie = Some(haproxy::config::CanaryName::cookie("c").unwrap());
        let canary = haproxy::config::RouteTarget {
            backend: haproxy::BackendName::new("ns_web_80").unwrap(),
            https_redirect: false,
            policy: Default::default(),
            canary: Some(std::sync::Arc::new(haproxy::config::CanaryTarget {
                backend: haproxy::BackendName::new("ns_v2_80").unwrap(),
                rule: std::sync::Arc::new(rule),
            })),
        }
        .to_string();
        assert_eq!(
            describe_target(&canary),
            "ns_web_80 (canary ns_v2_80 by 20 in 100, header x-canary: beta, cookie c)"
        );
        let errors = haproxy::config::RouteTarget {
            backend: haproxy::BackendName::new("ns_web_80").unwrap(),
            https_redirect: false,
            policy: haproxy::config::RoutePolicy {
                custom_errors: haproxy::config::CustomErrors::parse(
                    "404,503/ns_err_80/ns/web/web/80",
                ),
                ..Default::default()
            }
            .shared(),
            canary: None,
        }
        .to_string();
        assert_eq!(
            describe_target(&errors),
            "ns_web_80 (error pages for 404,503 from ns_err_80)"
        );
        assert_eq!(describe_target("not a value"), "not a value");
    }

    #[test]
    fn map_kinds_from_file_names() {
        assert_eq!(map_kind("/etc/haproxy/maps/exact.map"), "exact");
        assert_eq!(map_kind("/etc/haproxy/maps/prefix.map"), "prefix");
        assert_eq!(map_kind("/etc/haproxy/maps/regex.map"), "regex");
        assert_eq!(map_kind("/x/other.map"), "/x/other.map");
    }
}
