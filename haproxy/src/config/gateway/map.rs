//! The Gateway API maps' encodings: host-map and rule-map keys and values, written by the
//! agent and read back by the Lua action (`gateway.lua`). Every user string is
//! percent-encoded, so a value holds only `[A-Za-z0-9-._~/%]` and the separators below: no
//! byte of it can end a map line, split a runtime command or start a comment.
//!
//! - host key: `<listen>|<host>`, listen `http`, `https` (the shared binds) or
//!   `http@<addr>:<port>` / `https@<addr>:<port>` (a Gateway's own bind), host `a.example`,
//!   `*.example` or `*`;
//! - host value: `<listener port>|<id>,<id>,…` (ids in precedence order), or `ingress`;
//! - rule key: the candidate id `<namespace>/<route>/<rule>/<match>`;
//! - rule value: `&`-separated `name=value` tokens, in this order: `p=E|P|R:<path>`,
//!   `m=<method>`, `h=E|R:<name>:<value>`…, `q=E|R:<name>:<value>`…, request header ops
//!   `rqs=<name>:<value>`… `rqa=`… `rqd=<name>`…, response header ops `rss=` `rsa=` `rsd=`,
//!   then either a redirect (`rd=<status>`, `rds=<scheme>`, `rdh=<host>`, `rdp=<port>`,
//!   `rdf=<full path>` or `rdx=<prefix replacement>`) or a forward (`b=<weight>:<backend>`…
//!   with an empty backend when unresolved, `wh=<host>`, `wf=<full path>` or `wx=<prefix
//!   replacement>`, `t=<server timeout ms>`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use crate::names::{BackendName, MapKey, MapValue};

use super::{
    Action, ActionKind, Candidate, CandidateId, Forward, GatewayRoutes, HeaderOps, HostEntry,
    HostKey, HostPattern, Listen, Match, PathMatch, PathRewrite, Redirect, ValueMatch,
    WeightedBackend,
};

/// The host map's value for a host an Ingress serves.
pub const INGRESS_MARKER: &str = "ingress";
/// The longest encoded value written (a map line and an `add map` command fit a buffer).
pub const MAX_VALUE_LEN: usize = 4000;

/// Percent-encodes every byte but `A-Z a-z 0-9 - . _ ~ /`.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Reads [`encode`]'s output back (`None` for a stray `%`, bad hex or non-UTF-8 bytes).
pub fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl Listen {
    /// The key's first word, also the `name` of its binds (what the Lua action reads with
    /// `so_name`): `http`, `https`, or `http@<addr>:<port>` / `https@<addr>:<port>` for a
    /// Gateway's own bind.
    pub fn key(self) -> String {
        match self {
            Listen::Http => "http".into(),
            Listen::Https => "https".into(),
            Listen::Bind(b) => b.name(),
        }
    }

    /// Reads [`Listen::key`] back.
    pub fn decode(s: &str) -> Option<Self> {
        match s {
            "http" => Some(Listen::Http),
            "https" => Some(Listen::Https),
            _ => {
                let (tls, addr) = match s.split_once('@')? {
                    ("http", a) => (false, a),
                    ("https", a) => (true, a),
                    _ => return None,
                };
                let addr = addr.parse().ok()?;
                Some(Listen::Bind(super::GatewayBind { addr, tls }))
            }
        }
    }
}

impl super::GatewayBind {
    /// The bind's `name`: `http@<addr>:<port>` or `https@<addr>:<port>` (an IPv6 address in
    /// brackets).
    pub fn name(self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}@{}", self.addr)
    }
}

impl HostKey {
    /// The map key text.
    pub fn encode(&self) -> String {
        let host = match &self.host {
            HostPattern::Exact(h) => h.clone(),
            HostPattern::Wildcard(s) => format!("*.{s}"),
            HostPattern::Any => "*".to_string(),
        };
        format!("{}|{host}", self.listen.key())
    }

    /// Reads a key back.
    pub fn decode(s: &str) -> Option<Self> {
        let (listen, host) = s.split_once('|')?;
        let listen = Listen::decode(listen)?;
        let host = match host {
            "*" => HostPattern::Any,
            h => match h.strip_prefix("*.") {
                Some(suffix) => HostPattern::Wildcard(suffix.to_string()),
                None => HostPattern::Exact(h.to_string()),
            },
        };
        Some(Self { listen, host })
    }
}

impl HostEntry {
    /// The map value text.
    pub fn encode(&self) -> String {
        match self {
            HostEntry::Ingress => INGRESS_MARKER.to_string(),
            HostEntry::Rules {
                listener_port,
                candidates,
            } => {
                let ids: Vec<&str> = candidates.iter().map(|c| c.0.as_str()).collect();
                format!("{listener_port}|{}", ids.join(","))
            }
        }
    }

    /// Reads a value back.
    pub fn decode(s: &str) -> Option<Self> {
        if s == INGRESS_MARKER {
            return Some(HostEntry::Ingress);
        }
        let (port, ids) = s.split_once('|')?;
        let candidates = if ids.is_empty() {
            Vec::new()
        } else {
            ids.split(',').map(|i| CandidateId(i.to_string())).collect()
        };
        Some(HostEntry::Rules {
            listener_port: port.parse().ok()?,
            candidates,
        })
    }
}

/// Appends `name=value` to a token list.
fn token(out: &mut Vec<String>, name: &str, value: impl std::fmt::Display) {
    out.push(format!("{name}={value}"));
}

fn pair(a: &str, b: &str) -> String {
    format!("{}:{}", encode(a), encode(b))
}

fn rewrite(out: &mut Vec<String>, full: &str, prefix: &str, p: &Option<PathRewrite>) {
    match p {
        Some(PathRewrite::Full(s)) => token(out, full, encode(s)),
        Some(PathRewrite::Prefix(s)) => token(out, prefix, encode(s)),
        None => {}
    }
}

fn header_ops(out: &mut Vec<String>, prefix: &str, ops: &HeaderOps) {
    for (n, v) in &ops.set {
        token(out, &format!("{prefix}s"), pair(n, v));
    }
    for (n, v) in &ops.add {
        token(out, &format!("{prefix}a"), pair(n, v));
    }
    for n in &ops.remove {
        token(out, &format!("{prefix}d"), encode(n));
    }
}

impl Candidate {
    /// The rule map's value text.
    pub fn encode(&self) -> String {
        let mut t = Vec::new();
        let m = &self.matches;
        match &m.path {
            PathMatch::Exact(p) => token(&mut t, "p", format!("E:{}", encode(p))),
            PathMatch::Prefix(p) => token(&mut t, "p", format!("P:{}", encode(p))),
            PathMatch::Regex(p) => token(&mut t, "p", format!("R:{}", encode(p))),
        }
        if let Some(method) = &m.method {
            token(&mut t, "m", encode(method));
        }
        for (name, list) in [("h", &m.headers), ("q", &m.query)] {
            for v in list {
                let kind = if v.regex { "R" } else { "E" };
                token(&mut t, name, format!("{kind}:{}", pair(&v.name, &v.value)));
            }
        }
        header_ops(&mut t, "rq", &self.action.request_headers);
        header_ops(&mut t, "rs", &self.action.response_headers);
        match &self.action.kind {
            ActionKind::Redirect(r) => {
                token(&mut t, "rd", r.status);
                if let Some(s) = &r.scheme {
                    token(&mut t, "rds", encode(s));
                }
                if let Some(h) = &r.hostname {
                    token(&mut t, "rdh", encode(h));
                }
                if let Some(p) = r.port {
                    token(&mut t, "rdp", p);
                }
                rewrite(&mut t, "rdf", "rdx", &r.path);
            }
            ActionKind::Forward(f) => {
                for b in &f.backends {
                    let name = b.backend.as_ref().map_or("", |b| b.as_str());
                    token(&mut t, "b", format!("{}:{name}", b.weight));
                }
                if let Some(h) = &f.rewrite_host {
                    token(&mut t, "wh", encode(h));
                }
                rewrite(&mut t, "wf", "wx", &f.rewrite_path);
                if let Some(d) = f.timeout {
                    token(&mut t, "t", d.as_millis());
                }
            }
        }
        t.join("&")
    }

    /// Reads a value [`Candidate::encode`] wrote (`None` for anything else).
    pub fn decode(s: &str) -> Option<Self> {
        let mut d = Decoded::default();
        for tok in s.split('&') {
            let (name, value) = tok.split_once('=')?;
            d.token(name, value)?;
        }
        let matches = Match {
            path: d.path?,
            method: d.method,
            headers: d.headers,
            query: d.query,
        };
        let kind = match d.redirect {
            Some(r) => {
                (d.forward == Forward::default()).then_some(())?;
                ActionKind::Redirect(r)
            }
            None => ActionKind::Forward(d.forward),
        };
        let action = Action {
            request_headers: d.request,
            response_headers: d.response,
            kind,
        };
        Some(Self { matches, action })
    }
}

/// A rule value being read, token by token.
#[derive(Debug, Default)]
struct Decoded {
    path: Option<PathMatch>,
    method: Option<String>,
    headers: Vec<ValueMatch>,
    query: Vec<ValueMatch>,
    request: HeaderOps,
    response: HeaderOps,
    redirect: Option<Redirect>,
    forward: Forward,
}

fn unpair(v: &str) -> Option<(String, String)> {
    let (a, b) = v.split_once(':')?;
    Some((decode(a)?, decode(b)?))
}

fn value_match(v: &str) -> Option<ValueMatch> {
    let (kind, rest) = v.split_once(':')?;
    let regex = match kind {
        "E" => false,
        "R" => true,
        _ => return None,
    };
    let (name, value) = unpair(rest)?;
    Some(ValueMatch { name, value, regex })
}

impl Decoded {
    fn redirect(&mut self) -> Option<&mut Redirect> {
        self.redirect.as_mut()
    }

    fn token(&mut self, name: &str, v: &str) -> Option<()> {
        match name {
            "p" => {
                let (kind, p) = v.split_once(':')?;
                let p = decode(p)?;
                self.path = Some(match kind {
                    "E" => PathMatch::Exact(p),
                    "P" => PathMatch::Prefix(p),
                    "R" => PathMatch::Regex(p),
                    _ => return None,
                });
            }
            "m" => self.method = Some(decode(v)?),
            "h" => self.headers.push(value_match(v)?),
            "q" => self.query.push(value_match(v)?),
            "rqs" => self.request.set.push(unpair(v)?),
            "rqa" => self.request.add.push(unpair(v)?),
            "rqd" => self.request.remove.push(decode(v)?),
            "rss" => self.response.set.push(unpair(v)?),
            "rsa" => self.response.add.push(unpair(v)?),
            "rsd" => self.response.remove.push(decode(v)?),
            "rd" => {
                self.redirect = Some(Redirect {
                    scheme: None,
                    hostname: None,
                    port: None,
                    path: None,
                    status: v.parse().ok()?,
                });
            }
            "rds" => self.redirect()?.scheme = Some(decode(v)?),
            "rdh" => self.redirect()?.hostname = Some(decode(v)?),
            "rdp" => self.redirect()?.port = Some(v.parse().ok()?),
            "rdf" => self.redirect()?.path = Some(PathRewrite::Full(decode(v)?)),
            "rdx" => self.redirect()?.path = Some(PathRewrite::Prefix(decode(v)?)),
            "b" => {
                let (w, be) = v.split_once(':')?;
                let backend = match be {
                    "" => None,
                    b => Some(BackendName::new(b).ok()?),
                };
                let weight = w.parse().ok()?;
                self.forward
                    .backends
                    .push(WeightedBackend { backend, weight });
            }
            "wh" => self.forward.rewrite_host = Some(decode(v)?),
            "wf" => self.forward.rewrite_path = Some(PathRewrite::Full(decode(v)?)),
            "wx" => self.forward.rewrite_path = Some(PathRewrite::Prefix(decode(v)?)),
            "t" => self.forward.timeout = Some(Duration::from_millis(v.parse().ok()?)),
            _ => return None,
        }
        Some(())
    }
}

/// Which of the two maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GatewayMap {
    /// `gateway_hosts.map`.
    Hosts,
    /// `gateway_rules.map`.
    Rules,
}

impl GatewayMap {
    /// Both, rules first (a host entry names only candidates already there).
    pub const ALL: [GatewayMap; 2] = [GatewayMap::Rules, GatewayMap::Hosts];
}

/// The two maps' entries as written: keys and encoded values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GatewayMaps {
    /// The host map.
    pub hosts: BTreeMap<MapKey, MapValue>,
    /// The rule map.
    pub rules: BTreeMap<MapKey, MapValue>,
}

impl GatewayMaps {
    /// The entries of `routes`. An entry whose key or value cannot be written is left out
    /// ([`GatewayRoutes::problems`] names it).
    pub fn of_routes(routes: &GatewayRoutes) -> Self {
        let entry = |k: String, v: String| {
            if v.len() > MAX_VALUE_LEN {
                return None;
            }
            Some((MapKey::new(k).ok()?, MapValue::new(v).ok()?))
        };
        Self {
            hosts: routes
                .hosts
                .iter()
                .filter_map(|(k, v)| entry(k.encode(), v.encode()))
                .collect(),
            rules: routes
                .candidates
                .iter()
                .filter_map(|(k, v)| entry(k.0.clone(), v.encode()))
                .collect(),
        }
    }

    /// One map's entries.
    pub fn entries(&self, map: GatewayMap) -> &BTreeMap<MapKey, MapValue> {
        match map {
            GatewayMap::Hosts => &self.hosts,
            GatewayMap::Rules => &self.rules,
        }
    }

    /// One map's entries, to change.
    pub fn entries_mut(&mut self, map: GatewayMap) -> &mut BTreeMap<MapKey, MapValue> {
        match map {
            GatewayMap::Hosts => &mut self.hosts,
            GatewayMap::Rules => &mut self.rules,
        }
    }

    /// True when both maps are empty.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty() && self.rules.is_empty()
    }
}

/// A map file's text: `key value` lines sorted by key.
pub fn render_gateway_map(entries: &BTreeMap<MapKey, MapValue>) -> String {
    let mut out = String::new();
    for (k, v) in entries {
        let _ = writeln!(out, "{k} {v}");
    }
    out
}

/// The runtime commands that bring the live maps `have` to `want`: rule entries added and
/// changed first, then host entries added, changed and removed, then rule entries removed
/// (a host entry never names a candidate that is not there yet). A key in `twice` (listed
/// more than once) is deleted and added again (`del map` removes every entry of a key).
pub fn gateway_commands(
    files: &super::GatewayFiles,
    have: &GatewayMaps,
    want: &GatewayMaps,
    twice: &std::collections::BTreeSet<(GatewayMap, MapKey)>,
) -> Vec<crate::proto::Command> {
    use crate::proto::{Command, MapTarget};
    let mut first = Vec::new();
    let mut last = Vec::new();
    for m in GatewayMap::ALL {
        let file = files.map(m).to_file_path();
        let (old, new) = (have.entries(m), want.entries(m));
        for (k, v) in new {
            let again = twice.contains(&(m, k.clone()));
            if again {
                first.push(Command::DelMap(file.clone(), k.clone()));
            }
            match old.get(k) {
                Some(o) if o == v && !again => {}
                Some(_) if !again => {
                    first.push(Command::SetMap(file.clone(), k.clone(), v.clone()))
                }
                _ => first.push(Command::AddMap(
                    MapTarget::live(file.clone()),
                    k.clone(),
                    v.clone(),
                )),
            }
        }
        let gone = old
            .keys()
            .filter(|k| !new.contains_key(*k))
            .map(|k| Command::DelMap(file.clone(), k.clone()));
        match m {
            GatewayMap::Hosts => first.extend(gone),
            GatewayMap::Rules => last.extend(gone),
        }
    }
    first.append(&mut last);
    first
}
