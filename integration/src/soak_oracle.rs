//! The soak's wider oracle (the `soak` crate), beyond the servers: the route maps HAProxy
//! serves, the structure of the haproxy.cfg the agent wrote and of the running HAProxy, and
//! the canary backend's weights, each checked against what the soak computes from the
//! objects it wrote (the documented map-key layout of docs/architecture.md, the backend
//! names, the canary percentage), never through the agent's translation or its canary
//! weights. Pure: the soak reads HAProxy and hands the answers in.

use std::collections::{BTreeMap, BTreeSet};

/// The three route maps, by file name.
pub const MAPS: [&str; 3] = ["exact.map", "prefix.map", "regex.map"];

/// `(map file name, key)` -> the backend the entry's value must start with.
pub type Routes = BTreeMap<(String, String), String>;

/// What the canary backend's weights must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanaryWant {
    /// The canary backend.
    pub backend: String,
    /// The canary's share, percent, from the annotation.
    pub percent: u8,
    /// The primary Service's servers (by name) and whether each is ready.
    pub primary: BTreeMap<String, bool>,
    /// The canary Service's servers (by name) and whether each is ready.
    pub canary: BTreeMap<String, bool>,
}

/// The canary side's share of traffic, percent, with `np` ready primary servers of weight
/// `wp` and `nc` ready canary servers of weight `wc`.
fn share(np: usize, wp: u32, nc: usize, wc: u32) -> f64 {
    let (a, b) = (np as f64 * f64::from(wp), nc as f64 * f64::from(wc));
    if a + b == 0.0 {
        return 0.0;
    }
    100.0 * b / (a + b)
}

/// The smallest distance from `percent` any pair of HAProxy weights in 1-256 reaches, by
/// trying every pair.
fn best_error(percent: u8, np: usize, nc: usize) -> f64 {
    let p = f64::from(percent);
    let mut best = f64::INFINITY;
    for wp in 1..=256u32 {
        for wc in 1..=256u32 {
            best = best.min((share(np, wp, nc, wc) - p).abs());
        }
    }
    best
}

/// How far a canary split may be from the best one the weights allow, in points.
pub const CANARY_SLACK: f64 = 0.05;

/// Checks the canary backend's live weights (server name -> weight): one weight per side; the canary side gets
/// `percent` % of the requests as closely as integer weights 1-256 allow (within
/// [`CANARY_SLACK`] points of the best pair), none at 0 %, all at 100 %; with no ready
/// server on one side the other takes everything. `None` when right, else why not.
pub fn canary_problem(want: &CanaryWant, live: &BTreeMap<String, u32>) -> Option<String> {
    let side = |names: &BTreeMap<String, bool>| -> Result<(usize, Option<u32>), String> {
        let mut weights = BTreeSet::new();
        for name in names.keys() {
            let weight = live.get(name).ok_or_else(|| format!("no server {name}"))?;
            weights.insert(*weight);
        }
        if weights.len() > 1 {
            return Err(format!("one side has several weights: {weights:?}"));
        }
        Ok((
            names.values().filter(|r| **r).count(),
            weights.first().copied(),
        ))
    };
    let ((np, wp), (nc, wc)) = match (side(&want.primary), side(&want.canary)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return Some(e),
    };
    let (wp, wc) = (wp.unwrap_or(0), wc.unwrap_or(0));
    let p = want.percent;
    let what = || format!("canary {p} %, {np} x weight {wp} + {nc} x weight {wc}");
    let problem = match (np, nc) {
        (0, 0) => None,
        (_, 0) if wp == 0 => Some("the primary side has weight 0 and the canary no ready server"),
        (_, 0) => None,
        (0, _) if wc == 0 => Some("the canary side has weight 0 and the primary no ready server"),
        (0, _) => None,
        _ if p == 0 && (wc != 0 || wp == 0) => Some("0 % must send nothing to the canary"),
        _ if p == 100 && (wp != 0 || wc == 0) => Some("100 % must send everything to the canary"),
        _ if p == 0 || p == 100 => None,
        _ if wp == 0 || wc == 0 => Some("a side has weight 0"),
        _ => {
            let err = (share(np, wp, nc, wc) - f64::from(p)).abs();
            (err > best_error(p, np, nc) + CANARY_SLACK)
                .then_some("the split is further from the share than weights allow")
        }
    };
    problem.map(|why| format!("{}: {why}", what()))
}

/// Compares the live route maps (file name -> key -> value) with `want`: counts the
/// entries missing, stale (no route asks for them) or pointing at another backend.
pub fn route_problems(
    want: &Routes,
    live: &BTreeMap<String, BTreeMap<String, String>>,
) -> Vec<String> {
    let mut out = Vec::new();
    for map in MAPS {
        let entries = live.get(map);
        for (key, value) in entries.into_iter().flatten() {
            let backend = value.split('|').next().unwrap_or_default();
            match want.get(&(map.to_string(), key.clone())) {
                None => out.push(format!("stale {map} {key} -> {value}")),
                Some(b) if b != backend => {
                    out.push(format!("wrong {map} {key} -> {backend}, want {b}"));
                }
                Some(_) => {}
            }
        }
        for ((m, key), b) in want.iter().filter(|((m, _), _)| m == map) {
            if !entries.is_some_and(|e| e.contains_key(key)) {
                out.push(format!("missing {m} {key} -> {b}"));
            }
        }
    }
    out
}

/// The `backend` and `frontend` names and the `bind` lines of a haproxy.cfg.
pub fn sections(cfg: &str) -> (BTreeSet<String>, BTreeSet<String>, BTreeSet<String>) {
    let (mut backends, mut frontends, mut binds) = Default::default();
    for line in cfg.lines() {
        let mut words = line.split_whitespace();
        let (first, second) = (words.next(), words.next());
        match (first, second) {
            (Some("backend"), Some(name)) if !line.starts_with(' ') => {
                BTreeSet::insert(&mut backends, name.to_string());
            }
            (Some("frontend"), Some(name)) if !line.starts_with(' ') => {
                BTreeSet::insert(&mut frontends, name.to_string());
            }
            (Some("bind"), Some(addr)) => {
                BTreeSet::insert(&mut binds, addr.to_string());
            }
            _ => {}
        }
    }
    (backends, frontends, binds)
}

/// What the structure must be: the backends the objects ask for (the agent's own fixed
/// ones, named `_…`, aside) in haproxy.cfg and in the running HAProxy alike, and exactly
/// the TCP binds asked for (the HTTP one; the HTTPS one while an Ingress has TLS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructureWant {
    /// Backends from the objects.
    pub backends: BTreeSet<String>,
    /// The TCP bind addresses, as `--http-bind` and `--https-bind` gave them (`unix@`
    /// binds, the agent's internal ones, aside).
    pub binds: BTreeSet<String>,
}

/// Differences between `want`, the haproxy.cfg text and the running HAProxy's `show
/// backend` list.
pub fn structure_problems(
    want: &StructureWant,
    cfg: &str,
    running: &BTreeSet<String>,
) -> Vec<String> {
    let mut out = Vec::new();
    let (backends, _frontends, binds) = sections(cfg);
    let ours = |set: &BTreeSet<String>| -> BTreeSet<String> {
        set.iter()
            .filter(|b| !b.starts_with('_'))
            .cloned()
            .collect()
    };
    for (what, have) in [("haproxy.cfg", ours(&backends)), ("running", ours(running))] {
        for b in want.backends.difference(&have) {
            out.push(format!("{what}: backend {b} missing"));
        }
        for b in have.difference(&want.backends) {
            out.push(format!("{what}: backend {b} no object asks for"));
        }
    }
    let tcp: BTreeSet<String> = binds
        .into_iter()
        .filter(|b| !b.starts_with("unix@"))
        .collect();
    for b in want.binds.difference(&tcp) {
        out.push(format!("haproxy.cfg: no bind {b}"));
    }
    for b in tcp.difference(&want.binds) {
        out.push(format!("haproxy.cfg: bind {b} nothing asks for"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn want(percent: u8, np: usize, nc: usize) -> CanaryWant {
        CanaryWant {
            backend: "c".into(),
            percent,
            primary: (0..np).map(|i| (format!("p{i}"), true)).collect(),
            canary: (0..nc).map(|i| (format!("c{i}"), true)).collect(),
        }
    }

    fn live(np: usize, wp: u32, nc: usize, wc: u32) -> BTreeMap<String, u32> {
        (0..np)
            .map(|i| (format!("p{i}"), wp))
            .chain((0..nc).map(|i| (format!("c{i}"), wc)))
            .collect()
    }

    #[test]
    fn an_exact_split_passes_and_a_skewed_one_fails() {
        assert_eq!(canary_problem(&want(20, 4, 1), &live(4, 1, 1, 1)), None);
        assert!(canary_problem(&want(20, 4, 1), &live(4, 1, 1, 3)).is_some());
        assert_eq!(canary_problem(&want(50, 2, 3), &live(2, 3, 3, 2)), None);
    }

    #[test]
    fn the_ends_and_empty_sides_follow_the_annotation() {
        assert_eq!(canary_problem(&want(0, 2, 2), &live(2, 256, 2, 0)), None);
        assert!(canary_problem(&want(0, 2, 2), &live(2, 256, 2, 1)).is_some());
        assert_eq!(canary_problem(&want(100, 2, 2), &live(2, 0, 2, 9)), None);
        assert_eq!(canary_problem(&want(30, 2, 0), &live(2, 256, 0, 0)), None);
        assert!(canary_problem(&want(30, 0, 2), &live(0, 0, 2, 0)).is_some());
    }

    #[test]
    fn routes_report_missing_stale_and_wrong_entries() {
        let want: Routes = [(("exact.map".into(), "/a".into()), "be_a".into())].into();
        let mut live = BTreeMap::new();
        live.insert(
            "exact.map".to_string(),
            [("/a".to_string(), "be_b|x".to_string())].into(),
        );
        live.insert(
            "regex.map".to_string(),
            [("^x".to_string(), "be_a".to_string())].into(),
        );
        let p = route_problems(&want, &live);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].starts_with("wrong exact.map /a -> be_b"), "{p:?}");
        assert!(p[1].starts_with("stale regex.map ^x"), "{p:?}");
        live.clear();
        assert!(route_problems(&want, &live)[0].starts_with("missing exact.map /a"));
    }

    #[test]
    fn structure_compares_the_file_and_the_running_backends() {
        let cfg = "frontend http\n    bind 127.0.0.1:80\nfrontend _errors\n    \
                   bind unix@/x/errors.sock mode 600\nbackend _default_404\nbackend be_a\n";
        let mut want = StructureWant {
            backends: ["be_a".to_string()].into(),
            binds: ["127.0.0.1:80".to_string()].into(),
        };
        let running: BTreeSet<String> = ["be_a".to_string(), "_x".to_string()].into();
        assert!(structure_problems(&want, cfg, &running).is_empty());
        let p = structure_problems(&want, cfg, &BTreeSet::new());
        assert_eq!(p, vec!["running: backend be_a missing".to_string()]);
        want.binds.insert("127.0.0.1:443".into());
        let p = structure_problems(&want, cfg, &running);
        assert_eq!(p, vec!["haproxy.cfg: no bind 127.0.0.1:443".to_string()]);
    }
}
