//! A listener against its Gateway's earlier listeners and the binds already taken.

use std::collections::{BTreeMap, BTreeSet};

use haproxy::config::gateway::{HostPattern, Listen};

use super::{Gateways, ListenerInfo, Place};
use crate::gateway_api::{Gateway, Listener};
use crate::problem::ProblemKind;
use crate::store::ObjectKey;
use crate::translate::gateway::GatewayProblems;
use crate::translate::gateway::addresses;
use crate::translate::gateway::status::condition;

/// What the earlier listeners of a Gateway took: names, a port per bind, host names.
#[derive(Debug, Default)]
pub(super) struct Seen {
    names: BTreeSet<String>,
    ports: BTreeMap<Listen, i32>,
    hosts: BTreeSet<(Listen, HostPattern)>,
}

/// Checks listener `i` against the earlier ones (a name used twice, a second port of one
/// protocol, the same host name twice) and gives it its `Conflicted` and `Programmed`
/// conditions.
pub(super) fn place(
    key: &ObjectKey,
    gw: &Gateway,
    i: usize,
    l: &Listener,
    info: &mut ListenerInfo,
    seen: &mut Seen,
    problems: &mut GatewayProblems,
) {
    let meta = &gw.metadata;
    let field = format!("spec.listeners[{i}]");
    let mut refuse = |info: &mut ListenerInfo, f: String, reason: &str, why: String| {
        problems.push(ProblemKind::Gateway, key, f, format!("{why}; ignored"));
        info.conditions[0] = condition(meta, "Accepted", false, reason, why);
        info.listen = None;
    };
    let mut conflict = condition(meta, "Conflicted", false, "NoConflicts", "no conflict");
    if !seen.names.insert(l.name.clone()) {
        let why = "the name is used by an earlier listener".to_string();
        refuse(info, format!("{field}.name"), "UnsupportedValue", why);
    } else if let Some(listen) = info.listen {
        let port = *seen.ports.entry(listen).or_insert(l.port);
        if port != l.port {
            let why = format!(
                "a second {} port ({}) in one Gateway is not supported: {} is served on one \
                 bind, at port {port} of this Gateway",
                l.protocol, l.port, l.protocol
            );
            refuse(info, format!("{field}.port"), "PortUnavailable", why);
        } else if !seen.hosts.insert((listen, info.host.clone())) {
            let why = "an earlier listener has the same protocol, port and host name";
            problems.push(ProblemKind::Gateway, key, field, format!("{why}; ignored"));
            info.listen = None;
            conflict = condition(meta, "Conflicted", true, "HostnameConflict", why);
        }
    }
    info.conditions.push(conflict);
    let programmed = info.listen.is_some()
        && info
            .conditions
            .iter()
            .all(|c| c.type_ == "Conflicted" || c.status == "True");
    info.conditions.push(if programmed {
        condition(meta, "Programmed", true, "Programmed", "served")
    } else {
        condition(meta, "Programmed", false, "Invalid", "not served")
    });
}

/// A served listener on a bind of its own: refused (named) when the bind clashes (with the
/// agent's, an earlier Gateway's or a TCP service's not newer than the Gateway); else the
/// bind is taken.
pub(super) fn own_bind(
    key: &ObjectKey,
    gw: &Gateway,
    i: usize,
    info: &mut ListenerInfo,
    at: &Place<'_>,
    out: &mut Gateways,
    problems: &mut GatewayProblems,
) {
    let Some(Listen::Bind(b)) = info.listen else {
        return;
    };
    let refused = addresses::refused(&b, at.settings, &out.binds).or_else(|| {
        at.tcp
            .and_then(|t| t.clash(&b, gw.metadata.creation_timestamp.as_ref()))
    });
    let Some(why) = refused else {
        out.binds.insert(b.addr, b.tls);
        return;
    };
    let field = format!("spec.listeners[{i}].port");
    problems.push(ProblemKind::Gateway, key, field, format!("{why}; ignored"));
    let meta = &gw.metadata;
    info.conditions[0] = condition(meta, "Accepted", false, "PortUnavailable", why);
    info.listen = None;
    if let Some(p) = info.conditions.iter_mut().find(|c| c.type_ == "Programmed") {
        *p = condition(meta, "Programmed", false, "Invalid", "not served");
    }
}
