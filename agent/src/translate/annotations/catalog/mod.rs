//! Every annotation name the agent recognises, and what it does with each: the one table
//! that translation, `haproxy-agent check` and docs/annotations.md agree on.

mod auth;
mod canary;
mod limits;
mod proxy;
mod session;

/// The prefixes read, strongest first: when two carry the same name, the first one wins and
/// the other is named as shadowed. The classic controller's `ingress.kubernetes.io/` is read
/// with ingress-nginx's meanings.
pub const PREFIXES: [&str; 3] = [
    "haproxy-agent.io/",
    "nginx.ingress.kubernetes.io/",
    "ingress.kubernetes.io/",
];

/// Whether an annotation is acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Read and honoured (values are checked by the parser, which may name a difference).
    Honoured,
    /// Recognised, not done: why, or what to use instead.
    Unsupported(&'static str),
    /// Never rendered, on purpose: why.
    Refused(&'static str),
    /// Honoured for these values (lower-case), which are what happens here anyway;
    /// unsupported for others (why).
    Values(&'static [&'static str], &'static str),
}

/// One recognised annotation name (without its prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The name after the prefix.
    pub name: &'static str,
    /// Whether it is acted on.
    pub support: Support,
    /// What it becomes in HAProxy (empty when unsupported).
    pub becomes: &'static str,
    /// What changing it costs: `no` (runtime), `yes` (a verified reload), or when.
    pub reloads: &'static str,
    /// For names only read under `haproxy-agent.io/`: why the name is unsupported under the
    /// other prefixes.
    pub ours_only: Option<&'static str>,
}

const fn honoured(name: &'static str, becomes: &'static str, reloads: &'static str) -> Entry {
    Entry {
        name,
        support: Support::Honoured,
        becomes,
        reloads,
        ours_only: None,
    }
}

const fn ours(
    name: &'static str,
    becomes: &'static str,
    reloads: &'static str,
    elsewhere: &'static str,
) -> Entry {
    Entry {
        name,
        support: Support::Honoured,
        becomes,
        reloads,
        ours_only: Some(elsewhere),
    }
}

const fn unsupported(name: &'static str, why: &'static str) -> Entry {
    Entry {
        name,
        support: Support::Unsupported(why),
        becomes: "",
        reloads: "",
        ours_only: None,
    }
}

const fn values(
    name: &'static str,
    ok: &'static [&'static str],
    becomes: &'static str,
    why: &'static str,
) -> Entry {
    Entry {
        name,
        support: Support::Values(ok, why),
        becomes,
        reloads: "—",
        ours_only: None,
    }
}

const fn refused(name: &'static str, why: &'static str) -> Entry {
    Entry {
        name,
        support: Support::Refused(why),
        becomes: "",
        reloads: "",
        ours_only: None,
    }
}

const SNIPPET: &str = "raw configuration from an object is never rendered: ingress-nginx itself \
     disabled snippets by default after CVE-2025-1974 (IngressNightmare)";
const BUFFERING: &str = "an nginx buffering setting: HAProxy streams bodies and has no \
     per-route buffer to size";
const EXT_AUTH: &str = "external authentication (an auth subrequest) is not done here";
const MTLS_RELOADS: &str = "no: `add/del ssl crt-list` lines, `new/set/commit ssl \
     ca-file|crl-file` stores (a renewed CA is a new store), a route map field";
const PROTO_RELOADS: &str = "yes, reason `backend_protocol` (a `default-server` line); \
     endpoint changes stay runtime";
const TRACING: &str = "per-Ingress tracing and metrics backends are not done here";
const MODSEC: &str = "HAProxy has no ModSecurity module here";
const NOT_NGINX: &str = "ingress-nginx has no such annotation; it is read under \
     haproxy-agent.io/ only";
const AUTH_RELOADS: &str = "yes for a new user list, a changed user, password or realm \
     (HAProxy 2.6 has no runtime command for userlists), reason `userlists`; no for a route \
     joining a list that exists (it rides in the route map value)";
const RUNTIME_ROUTE: &str = "no: it rides in the route map value";
const SOURCE_ALLOW: &str = "clients outside these networks (comma-separated CIDRs or \
     addresses, IPv4 or IPv6, matched against the connection's source) get `403` on the \
     Ingress's routes; the entries are patterns of a fixed ACL file, the route map value names \
     the list (`allowlist-source-range` wins over its older name `whitelist-source-range`)";
const SOURCE_RELOADS: &str = "no: entries are `add acl`/`del acl`, and a new or removed list \
     is a route map update (the ACL files and rules are always there)";

/// The groups of names, each sorted and each after the one before.
const GROUPS: [&[Entry]; 5] = [
    auth::ENTRIES,
    canary::ENTRIES,
    limits::ENTRIES,
    proxy::ENTRIES,
    session::ENTRIES,
];

/// How many names there are.
const LEN: usize = {
    let (mut n, mut i) = (0, 0);
    while i < GROUPS.len() {
        n += GROUPS[i].len();
        i += 1;
    }
    n
};

/// The groups one after another, at compile time.
const fn concat(groups: [&[Entry]; 5]) -> [Entry; LEN] {
    let mut out = [unsupported("", ""); LEN];
    let (mut k, mut i) = (0, 0);
    while i < groups.len() {
        let mut j = 0;
        while j < groups[i].len() {
            out[k] = groups[i][j];
            k += 1;
            j += 1;
        }
        i += 1;
    }
    out
}

/// Every recognised name, sorted.
pub const CATALOG: &[Entry] = &concat(GROUPS);

/// The entry for a name (without prefix).
pub fn entry(name: &str) -> Option<&'static Entry> {
    CATALOG
        .binary_search_by(|e| e.name.cmp(name))
        .ok()
        .map(|i| &CATALOG[i])
}

/// Splits a recognised annotation key into its prefix and name.
pub fn split(key: &str) -> Option<(&'static str, &str)> {
    PREFIXES
        .iter()
        .find_map(|p| key.strip_prefix(p).map(|name| (*p, name)))
}

/// The catalog as the Markdown table of docs/annotations.md (between its `catalog` markers).
pub fn markdown_table() -> String {
    let mut out = String::from(
        "| name | status | in HAProxy, or why not | a change reloads |\n|---|---|---|---|\n",
    );
    for e in CATALOG {
        let (status, what) = match (e.support, e.ours_only) {
            (Support::Honoured, None) => ("honoured", e.becomes),
            (Support::Honoured, Some(_)) => ("honoured, `haproxy-agent.io/` only", e.becomes),
            (Support::Unsupported(why), _) => ("unsupported", why),
            (Support::Refused(why), _) => ("**refused**", why),
            (Support::Values(_, _), _) => ("honoured for some values", e.becomes),
        };
        let reloads = if e.reloads.is_empty() {
            "—"
        } else {
            e.reloads
        };
        out.push_str(&format!(
            "| `{}` | {status} | {what} | {reloads} |\n",
            e.name
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/annotations.md carries the catalog as it is; `UPDATE_DOCS=1` rewrites it.
    #[test]
    fn docs_carry_the_catalog() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/annotations.md");
        let doc = std::fs::read_to_string(path).unwrap();
        let (start, end) = ("<!-- catalog:start -->\n", "<!-- catalog:end -->");
        let (a, b) = (
            doc.find(start).expect("a start marker") + start.len(),
            doc.find(end).expect("an end marker"),
        );
        let want = markdown_table();
        if doc[a..b] != want {
            if std::env::var_os("UPDATE_DOCS").is_some() {
                std::fs::write(path, format!("{}{want}{}", &doc[..a], &doc[b..])).unwrap();
            } else {
                panic!(
                    "docs/annotations.md's table is not the catalog's; rerun with UPDATE_DOCS=1"
                );
            }
        }
    }

    #[test]
    fn catalog_is_sorted_and_unique() {
        for w in CATALOG.windows(2) {
            assert!(w[0].name < w[1].name, "{} then {}", w[0].name, w[1].name);
        }
        for e in CATALOG {
            if e.support == Support::Honoured {
                assert!(!e.becomes.is_empty() && !e.reloads.is_empty(), "{}", e.name);
            }
        }
    }

    #[test]
    fn split_prefers_the_longest_meaningful_prefix() {
        assert_eq!(
            split("nginx.ingress.kubernetes.io/rewrite-target"),
            Some(("nginx.ingress.kubernetes.io/", "rewrite-target"))
        );
        assert_eq!(
            split("ingress.kubernetes.io/ssl-redirect"),
            Some(("ingress.kubernetes.io/", "ssl-redirect"))
        );
        assert_eq!(split("example.com/x"), None);
        assert_eq!(split("kubernetes.io/ingress.class"), None);
    }
}
