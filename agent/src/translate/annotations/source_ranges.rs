//! The client address lists of an Ingress: `allowlist-source-range` (or its older name
//! `whitelist-source-range`) and `denylist-source-range`, comma-separated networks.

use std::collections::BTreeSet;

use haproxy::config::{Cidr, PolicyText, SourceLists};

use super::ValueError;
use super::reader::Reader;

/// Most networks one list may hold (each is up to 8 ACL patterns).
pub const MAX_NETWORKS: usize = 4096;

/// The lists an Ingress asks for. `Some` with no network lets no client in (an allow list
/// that could not be read fails closed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceRanges {
    /// Only these clients get through.
    pub allow: Option<BTreeSet<Cidr>>,
    /// These clients get `403`.
    pub deny: Option<BTreeSet<Cidr>>,
    /// These clients are not counted by the request limits (limit-whitelist).
    pub exempt: Option<BTreeSet<Cidr>>,
    /// The origins CORS allows, when there are several (cors-allow-origin).
    pub origins: Option<BTreeSet<PolicyText>>,
}

impl SourceRanges {
    /// The entries, for the config's ACL files; `None` when the Ingress has no list.
    pub fn lists(&self) -> Option<SourceLists> {
        if self.allow.is_none()
            && self.deny.is_none()
            && self.exempt.is_none()
            && self.origins.is_none()
        {
            return None;
        }
        Some(SourceLists {
            allow: self.allow.clone().unwrap_or_default(),
            deny: self.deny.clone().unwrap_or_default(),
            exempt: self.exempt.clone().unwrap_or_default(),
            origins: self.origins.clone().unwrap_or_default(),
            canary_patterns: Default::default(),
        })
    }
}

/// Parses `10.0.0.0/8, 192.168.1.1` into networks; the first entry that is not one is named.
pub fn networks(v: &str) -> Result<BTreeSet<Cidr>, ValueError> {
    let items: Vec<&str> = v.split(',').map(str::trim).collect();
    if items.len() > MAX_NETWORKS {
        return Err(ValueError::TooManyNetworks {
            count: items.len(),
            max: MAX_NETWORKS,
        });
    }
    items
        .into_iter()
        .map(|i| Cidr::parse(i).map_err(|_| ValueError::NotNetwork(i.to_string())))
        .collect()
}

const FAIL_CLOSED: &str = "every client of the Ingress gets 403 until it is fixed \
     (ingress-nginx refuses the Ingress's locations too)";

/// Reads both lists. A list that cannot be read fails closed: the Ingress gets an empty
/// allow list, so no client gets in (ingress-nginx denies such locations as well).
pub(super) fn read(r: &mut Reader<'_>) -> SourceRanges {
    let mut out = SourceRanges::default();
    let mut broken = false;
    let allow = match (
        r.get("allowlist-source-range"),
        r.get("whitelist-source-range"),
    ) {
        (Some((key, v)), Some((old, w))) => {
            if v != w {
                r.shadowed_by(old, key);
            }
            Some((key, v))
        }
        (one, other) => one.or(other),
    };
    if let Some((key, v)) = allow {
        match networks(v) {
            Ok(n) => out.allow = Some(n),
            Err(e) => {
                r.invalid(key, format!("{e}; {FAIL_CLOSED}"));
                broken = true;
            }
        }
    }
    if let Some((key, v)) = r.get("denylist-source-range") {
        match networks(v) {
            Ok(n) => out.deny = Some(n),
            Err(e) => {
                r.invalid(key, format!("{e}; {FAIL_CLOSED}"));
                broken = true;
            }
        }
    }
    if broken {
        out.allow = Some(BTreeSet::new());
    }
    // limit-whitelist (limit-allowlist, its newer name, wins): a list that cannot be read
    // exempts nobody, so the limits still hold.
    let exempt = match (r.get("limit-allowlist"), r.get("limit-whitelist")) {
        (Some((key, v)), Some((old, w))) => {
            if v != w {
                r.shadowed_by(old, key);
            }
            Some((key, v))
        }
        (one, other) => one.or(other),
    };
    if let Some((key, v)) = exempt {
        match networks(v) {
            Ok(n) => out.exempt = Some(n),
            Err(e) => r.invalid(key, format!("{e}; the limits apply to every client")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[&str]) -> BTreeSet<Cidr> {
        v.iter().map(|c| Cidr::parse(c).unwrap()).collect()
    }

    #[test]
    fn lists_parse_as_ingress_nginx_writes_them() {
        let table: [(&str, Option<&[&str]>); 9] = [
            ("10.0.0.0/8", Some(&["10.0.0.0/8"])),
            (
                "10.0.0.0/8, 192.168.1.1,2001:db8::/32",
                Some(&["10.0.0.0/8", "192.168.1.1/32", "2001:db8::/32"]),
            ),
            ("10.1.2.3/8,10.0.0.0/8", Some(&["10.0.0.0/8"])),
            ("", None),
            ("10.0.0.0/8,", None),
            ("10.0.0.0/33", None),
            ("10.0.0.0/8 192.168.0.0/16", None),
            ("10.0.0.0/8|x", None),
            ("localhost", None),
        ];
        for (v, want) in table {
            assert_eq!(networks(v).ok(), want.map(set), "{v:?}");
        }
        let many = vec!["10.0.0.1"; MAX_NETWORKS + 1].join(",");
        assert!(networks(&many).is_err());
    }
}
