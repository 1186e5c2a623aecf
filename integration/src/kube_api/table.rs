//! Table output (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`), the way
//! `kubectl get` asks for it: NAME, the kind's own columns as the real server prints them,
//! AGE; each row carries the object's metadata for kubectl's NAMESPACE column.

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

/// One column of a kind's table between NAME and AGE.
#[derive(Debug)]
pub(crate) struct Column {
    /// As the real server names it: `Class`, `Ports`, …
    pub name: &'static str,
    /// `string` or `integer`.
    pub kind: &'static str,
    pub description: &'static str,
    /// The cell of one object.
    pub cell: fn(&Value) -> Value,
}

/// Columns are the same when named the same (cells are functions, not comparable).
impl PartialEq for Column {
    fn eq(&self, other: &Column) -> bool {
        (self.name, self.kind) == (other.name, other.kind)
    }
}

impl Eq for Column {}

const fn column(
    name: &'static str,
    description: &'static str,
    cell: fn(&Value) -> Value,
) -> Column {
    Column {
        name,
        kind: "string",
        description,
        cell,
    }
}

pub(crate) static INGRESS: [Column; 4] = [
    column("Class", "The ingress class", |o| {
        or_none(o["spec"]["ingressClassName"].as_str().unwrap_or(""))
    }),
    column("Hosts", "The hosts of its rules", ingress_hosts),
    column("Address", "The addresses of its load balancer", |o| {
        let list = strings(&o["status"]["loadBalancer"]["ingress"], |i| {
            i["ip"].as_str().or(i["hostname"].as_str())
        });
        list.join(",").into()
    }),
    column("Ports", "The ports it is served on", |o| {
        let tls = o["spec"]["tls"].as_array().is_some_and(|t| !t.is_empty());
        (if tls { "80, 443" } else { "80" }).into()
    }),
];

pub(crate) static INGRESS_CLASS: [Column; 2] = [
    column("Controller", "The controller that handles it", |o| {
        or_none(o["spec"]["controller"].as_str().unwrap_or(""))
    }),
    column("Parameters", "Its parameters", |o| {
        let kind = o["spec"]["parameters"]["kind"].as_str().unwrap_or("");
        let name = o["spec"]["parameters"]["name"].as_str().unwrap_or("");
        or_none(&if kind.is_empty() {
            String::new()
        } else {
            format!("{kind}/{name}")
        })
    }),
];

pub(crate) static SERVICE: [Column; 4] = [
    column("Type", "The type of service", |o| {
        o["spec"]["type"].as_str().unwrap_or("ClusterIP").into()
    }),
    column("Cluster-IP", "Its cluster IP", |o| {
        or_none(o["spec"]["clusterIP"].as_str().unwrap_or(""))
    }),
    column("External-IP", "Its external IPs", |o| {
        let mut ips = strings(&o["status"]["loadBalancer"]["ingress"], |i| {
            i["ip"].as_str().or(i["hostname"].as_str())
        });
        ips.extend(strings(&o["spec"]["externalIPs"], Value::as_str));
        match (ips.is_empty(), o["spec"]["type"].as_str()) {
            (true, Some("LoadBalancer")) => "<pending>".into(),
            _ => or_none(&ips.join(",")),
        }
    }),
    column("Port(s)", "Its ports", |o| {
        let ports = strings_owned(&o["spec"]["ports"], |p| {
            let protocol = p["protocol"].as_str().unwrap_or("TCP");
            Some(format!("{}/{protocol}", p["port"]))
        });
        or_none(&ports.join(","))
    }),
];

pub(crate) static ENDPOINT_SLICE: [Column; 3] = [
    column("AddressType", "The type of its addresses", |o| {
        o["addressType"].as_str().unwrap_or("").into()
    }),
    column("Ports", "Its ports", |o| {
        let ports = strings_owned(&o["ports"], |p| p["port"].as_i64().map(|n| n.to_string()));
        (if ports.is_empty() {
            "<unset>".to_string()
        } else {
            ports.join(",")
        })
        .into()
    }),
    column("Endpoints", "The addresses of its endpoints", |o| {
        let addresses: Vec<String> = o["endpoints"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|e| strings(&e["addresses"], Value::as_str))
            .map(str::to_string)
            .collect();
        or_none(&shortened(&addresses, 3))
    }),
];

pub(crate) static SECRET: [Column; 2] = [
    column("Type", "The type of secret", |o| {
        o["type"].as_str().unwrap_or("Opaque").into()
    }),
    data_column(),
];

pub(crate) static CONFIG_MAP: [Column; 1] = [data_column()];

pub(crate) static NAMESPACE: [Column; 1] = [column("Status", "Its phase", |o| {
    o["status"]["phase"].as_str().unwrap_or("Active").into()
})];

pub(crate) static LEASE: [Column; 1] = [column("Holder", "Who holds it", |o| {
    o["spec"]["holderIdentity"].as_str().unwrap_or("").into()
})];

/// A condition's status (`True`, `False`, `Unknown`), empty when absent, as a CRD's
/// printer column `.status.conditions[?(@.type=="…")].status` prints it.
fn condition(o: &Value, kind: &str) -> Value {
    o["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == kind)
        .and_then(|c| c["status"].as_str())
        .unwrap_or("")
        .into()
}

pub(crate) static GATEWAY_CLASS: [Column; 2] = [
    column("Controller", "The controller that handles it", |o| {
        o["spec"]["controllerName"].as_str().unwrap_or("").into()
    }),
    column("Accepted", "Its Accepted condition", |o| {
        condition(o, "Accepted")
    }),
];

pub(crate) static GATEWAY: [Column; 3] = [
    column("Class", "Its GatewayClass", |o| {
        o["spec"]["gatewayClassName"].as_str().unwrap_or("").into()
    }),
    column("Address", "Its addresses", |o| {
        strings(&o["status"]["addresses"], |a| a["value"].as_str())
            .join(",")
            .into()
    }),
    column("Programmed", "Its Programmed condition", |o| {
        condition(o, "Programmed")
    }),
];

pub(crate) static HTTP_ROUTE: [Column; 1] = [column("Hostnames", "Its host names", |o| {
    match o["spec"]["hostnames"].as_array() {
        Some(list) if !list.is_empty() => Value::from(o["spec"]["hostnames"].to_string()),
        _ => "".into(),
    }
})];

/// `Data`: how many keys `data` (and `binaryData`) hold, for Secrets and ConfigMaps.
pub(crate) const fn data_column() -> Column {
    Column {
        name: "Data",
        kind: "integer",
        description: "How many keys it holds",
        cell: |o| {
            let count = |field: &str| o[field].as_object().map_or(0, |m| m.len());
            (count("data") + count("binaryData")).into()
        },
    }
}

/// The Table for these objects; `rv` and `continue_token` as in a list's metadata.
pub(crate) fn table(columns: &[Column], objects: &[Value], metadata: Value) -> Value {
    let mut definitions = vec![json!({"name": "Name", "type": "string", "format": "name",
        "description": "Name must be unique within a namespace.", "priority": 0})];
    definitions.extend(columns.iter().map(|c| {
        json!({"name": c.name, "type": c.kind, "format": "", "description": c.description,
               "priority": 0})
    }));
    definitions.push(json!({"name": "Age", "type": "string", "format": "",
        "description": "The time since it was created.", "priority": 0}));
    let rows: Vec<Value> = objects.iter().map(|o| row(columns, o)).collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": definitions,
        "rows": rows,
    })
}

fn row(columns: &[Column], obj: &Value) -> Value {
    let mut cells = vec![obj["metadata"]["name"].clone()];
    cells.extend(columns.iter().map(|c| (c.cell)(obj)));
    cells.push(age(obj["metadata"]["creationTimestamp"].as_str()).into());
    json!({
        "cells": cells,
        "object": {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj["metadata"],
        },
    })
}

/// Whether an `Accept` header asks for a Table first.
pub(crate) fn wanted(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=Table") && first.contains("g=meta.k8s.io"))
}

/// The time since `created`, as kubectl's `HumanDuration` prints it: `45s`, `3m12s`, `5h`, …
pub(crate) fn age(created: Option<&str>) -> String {
    let Some(created) = created.and_then(|c| c.parse::<Timestamp>().ok()) else {
        return "<unknown>".into();
    };
    let secs = Timestamp::now().duration_since(created).as_secs().max(0);
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86400);
    match secs {
        0..120 => format!("{secs}s"),
        120..600 if secs % 60 != 0 => format!("{m}m{}s", secs % 60),
        120..10800 => format!("{m}m"),
        10800..28800 if m % 60 != 0 => format!("{h}h{}m", m % 60),
        10800..172800 => format!("{h}h"),
        _ => format!("{d}d"),
    }
}

/// Now, as `metadata.creationTimestamp` carries it.
pub(crate) fn now() -> String {
    let now = Timestamp::now();
    let whole = now - SignedDuration::from_nanos(i64::from(now.subsec_nanosecond()));
    whole.to_string()
}

fn or_none(s: &str) -> Value {
    (if s.is_empty() { "<none>" } else { s }).into()
}

fn strings<'a>(list: &'a Value, f: impl Fn(&'a Value) -> Option<&'a str>) -> Vec<&'a str> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(f)
        .collect()
}

fn strings_owned(list: &Value, f: impl Fn(&Value) -> Option<String>) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(f)
        .collect()
}

/// The first `max` joined by `,`, then ` + N more...`, as the real printer shortens lists.
fn shortened(items: &[String], max: usize) -> String {
    let mut out = items
        .iter()
        .take(max)
        .cloned()
        .collect::<Vec<_>>()
        .join(",");
    if items.len() > max {
        out.push_str(&format!(" + {} more...", items.len() - max));
    }
    out
}

fn ingress_hosts(obj: &Value) -> Value {
    let hosts: Vec<String> = strings(&obj["spec"]["rules"], |r| r["host"].as_str())
        .into_iter()
        .map(str::to_string)
        .collect();
    (if hosts.is_empty() {
        "*".to_string()
    } else {
        shortened(&hosts, 4)
    })
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingress_row_and_ages() {
        let ing = json!({"metadata": {"name": "web", "namespace": "shop"},
            "spec": {"ingressClassName": "haproxy", "rules": [{"host": "a.test"}, {}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.9"}, {"hostname": "lb"}]}}});
        let t = table(&INGRESS, &[ing], json!({}));
        let cells = t["rows"][0]["cells"].as_array().unwrap();
        assert_eq!(
            cells[..5],
            [
                json!("web"),
                json!("haproxy"),
                json!("a.test"),
                json!("203.0.113.9,lb"),
                json!("80")
            ]
        );
        assert_eq!(cells[5], "<unknown>");
        assert_eq!(t["columnDefinitions"].as_array().unwrap().len(), 6);
        assert_eq!(t["rows"][0]["object"]["metadata"]["namespace"], "shop");
        assert!(age(Some(&now())).ends_with('s'));
        let long_ago = (Timestamp::now() - SignedDuration::from_hours(50)).to_string();
        assert_eq!(age(Some(&long_ago)), "2d");
        assert!(wanted(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
        ));
        assert!(!wanted("application/json"));
    }
}
