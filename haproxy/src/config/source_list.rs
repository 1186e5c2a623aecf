//! Client address lists (allow and deny, per Ingress) as two fixed ACL files matched by
//! prefix, so that a new, changed or removed list is `add acl`/`del acl`, never a reload.
//!
//! Every pattern is `<list id>|<family>|<hex prefix>`: the list id (the Ingress,
//! `namespace/name`), `4` or `6`, and the network's leading hex digits as HAProxy's
//! `src,hex` prints the client address (upper case). A prefix length that is not a multiple
//! of 4 becomes the 2, 4 or 8 hex prefixes it covers. The frontend builds
//! `<id>|<family>|<src,hex>` for the ids in the route map value (fields 20 and 21, see
//! [`super::RoutePolicy`]) and matches it with `-m beg` against the files (a prefix tree):
//! one lookup per request whatever the number of lists or entries.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use crate::names::{AclPattern, FilePath};
use crate::proto::Command;

use super::policy::PolicyText;
use super::route_maps::RouteMaps;
use super::value::InvalidValue;

/// A network: an IPv4 or IPv6 address with its host bits cleared, and a prefix length in
/// range (a bare address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    addr: IpAddr,
    len: u8,
}

impl Cidr {
    /// The network of `addr/len`, host bits cleared.
    pub fn new(addr: IpAddr, len: u8) -> Result<Self, InvalidValue> {
        let bits = bits_of(addr);
        if u32::from(len) > bits {
            return Err(InvalidValue::new(
                "network",
                format!("{addr}/{len}"),
                "the prefix length is above 32 (IPv4) or 128 (IPv6)",
            ));
        }
        let addr = match addr {
            IpAddr::V4(a) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
                IpAddr::V4((u32::from(a) & mask).into())
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
                IpAddr::V6((u128::from(a) & mask).into())
            }
        };
        Ok(Self { addr, len })
    }

    /// Parses `address` or `address/length` (IPv4 dotted quad, IPv6 without zone).
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| {
            InvalidValue::new(
                "network",
                s,
                "not an IPv4 or IPv6 address (or address/length)",
            )
        })?;
        let len = match len {
            None => bits_of(addr) as u8,
            Some(l) if !l.is_empty() && l.len() <= 3 && l.bytes().all(|b| b.is_ascii_digit()) => {
                l.parse().map_err(|_| {
                    InvalidValue::new("network", s, "the prefix length is not a number")
                })?
            }
            Some(_) => {
                return Err(InvalidValue::new(
                    "network",
                    s,
                    "the prefix length is not a number",
                ));
            }
        };
        Self::new(addr, len)
    }

    /// The network address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// True when `ip` is in this network (same family).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match Self::new(ip, self.len) {
            Ok(n) => n.addr == self.addr,
            Err(_) => false,
        }
    }

    /// The hex prefixes (upper case, as `src,hex` prints) that cover exactly this network.
    fn hex_prefixes(&self) -> Vec<String> {
        let hex: String = match self.addr {
            IpAddr::V4(a) => a.octets().iter().map(|b| format!("{b:02X}")).collect(),
            IpAddr::V6(a) => a.octets().iter().map(|b| format!("{b:02X}")).collect(),
        };
        let (full, rem) = (usize::from(self.len / 4), self.len % 4);
        if rem == 0 {
            return vec![hex[..full].to_string()];
        }
        let first = u8::from_str_radix(&hex[full..=full], 16).expect("hex digits");
        (0..1u8 << (4 - rem))
            .map(|low| format!("{}{:X}", &hex[..full], first | low))
            .collect()
    }
}

fn bits_of(addr: IpAddr) -> u32 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// The client address lists of one Ingress; an empty side is no list.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SourceLists {
    /// Only these networks get through (whitelist-source-range, allowlist-source-range).
    pub allow: BTreeSet<Cidr>,
    /// These networks get `403`, before the allow list is looked at (denylist-source-range).
    pub deny: BTreeSet<Cidr>,
    /// These networks are not counted by the request limits (limit-whitelist); kept in the
    /// allow file under the list id [`exempt_id`] of the Ingress's.
    pub exempt: BTreeSet<Cidr>,
    /// The origins CORS allows (cors-allow-origin with several, or a wildcard one such as
    /// `https://*.example.com`); kept in the allow file under the list id [`cors_id`], each
    /// as `<id>|<origin>|`.
    pub origins: BTreeSet<PolicyText>,
    /// The canary header patterns (canary-by-header-pattern) of the Ingress: kept in the
    /// canary file, one entry per pattern (ids are hashes of the regex, so Ingresses with
    /// the same pattern share its entry).
    pub canary_patterns: BTreeSet<super::canary::CanaryPattern>,
}

impl SourceLists {
    /// True when no list has an entry.
    pub fn is_empty(&self) -> bool {
        self.allow.is_empty()
            && self.deny.is_empty()
            && self.exempt.is_empty()
            && self.origins.is_empty()
            && self.canary_patterns.is_empty()
    }
}

/// The id of list `id`'s CORS origins in the allow file (`<id>+cors`).
pub fn cors_id(id: &PolicyText) -> PolicyText {
    PolicyText::new("list id", &format!("{id}+cors")).expect("an id and a suffix")
}

/// The id of list `id`'s limit exemptions in the allow file (`<id>+limits`: Ingress ids
/// hold no `+`).
pub fn exempt_id(id: &PolicyText) -> PolicyText {
    PolicyText::new("list id", &format!("{id}+limits")).expect("an id and a suffix")
}

/// Which of the ACL files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AclKind {
    /// `allow.acl`.
    Allow,
    /// `deny.acl`.
    Deny,
    /// `canary.acl`: canary header patterns (regexes, read with `-m reg`).
    Canary,
}

impl AclKind {
    /// All of them.
    pub const ALL: [AclKind; 3] = [AclKind::Allow, AclKind::Deny, AclKind::Canary];

    /// The file of this kind among a frontend's files.
    pub fn file(self, maps: &RouteMaps) -> FilePath {
        self.path(maps).to_file_path()
    }

    /// The file's path among a frontend's files.
    pub fn path(self, maps: &RouteMaps) -> &super::value::ConfigPath {
        match self {
            AclKind::Allow => &maps.allow,
            AclKind::Deny => &maps.deny,
            AclKind::Canary => &maps.canary,
        }
    }

    /// The kind whose file among `maps` is `file`.
    pub fn of_file(maps: &RouteMaps, file: &FilePath) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.file(maps) == *file)
    }

    /// The kind's name (as `/debug/state` and `ctl` print it).
    pub fn name(self) -> &'static str {
        match self {
            AclKind::Allow => "allow",
            AclKind::Deny => "deny",
            AclKind::Canary => "canary",
        }
    }
}

/// The patterns of the ACL files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AclEntries {
    /// `allow.acl`.
    pub allow: BTreeSet<AclPattern>,
    /// `deny.acl`.
    pub deny: BTreeSet<AclPattern>,
    /// `canary.acl`.
    pub canary: BTreeSet<AclPattern>,
}

impl AclEntries {
    /// The patterns of every list (`lists` by id).
    pub fn of_lists(lists: &BTreeMap<PolicyText, SourceLists>) -> Self {
        let mut out = Self::default();
        for (id, l) in lists {
            for c in &l.allow {
                out.allow.extend(acl_patterns(id, c));
            }
            for c in &l.deny {
                out.deny.extend(acl_patterns(id, c));
            }
            let exempt = exempt_id(id);
            for c in &l.exempt {
                out.allow.extend(acl_patterns(&exempt, c));
            }
            let cors = cors_id(id);
            for o in &l.origins {
                out.allow.insert(
                    AclPattern::new(format!("{cors}|{o}|")).expect("policy text makes a pattern"),
                );
            }
            out.canary
                .extend(l.canary_patterns.iter().map(|p| p.acl_pattern()));
        }
        out
    }

    /// The patterns of one file.
    pub fn get(&self, kind: AclKind) -> &BTreeSet<AclPattern> {
        match kind {
            AclKind::Allow => &self.allow,
            AclKind::Deny => &self.deny,
            AclKind::Canary => &self.canary,
        }
    }

    /// The patterns of one file, to change.
    pub fn get_mut(&mut self, kind: AclKind) -> &mut BTreeSet<AclPattern> {
        match kind {
            AclKind::Allow => &mut self.allow,
            AclKind::Deny => &mut self.deny,
            AclKind::Canary => &mut self.canary,
        }
    }
}

/// The ACL patterns of network `cidr` in list `id`.
pub fn acl_patterns(id: &PolicyText, cidr: &Cidr) -> Vec<AclPattern> {
    let family = match cidr.addr {
        IpAddr::V4(_) => '4',
        IpAddr::V6(_) => '6',
    };
    cidr.hex_prefixes()
        .into_iter()
        .map(|hex| {
            AclPattern::new(format!("{id}|{family}|{hex}"))
                .expect("policy text, a digit and hex digits make a pattern")
        })
        .collect()
}

/// The runtime commands that bring the live ACL files (`have`) to `want`: the additions,
/// to send before the route maps change (a route that starts naming a list finds it
/// filled), and the removals, to send after (a route that stops naming one no longer
/// reads it).
pub fn acl_commands(
    maps: &RouteMaps,
    have: &AclEntries,
    want: &AclEntries,
) -> (Vec<Command>, Vec<Command>) {
    let (mut adds, mut dels) = (Vec::new(), Vec::new());
    for kind in AclKind::ALL {
        let file = kind.file(maps);
        let (have, want) = (have.get(kind), want.get(kind));
        adds.extend(
            want.difference(have)
                .map(|p| Command::AddAcl(file.clone(), p.clone())),
        );
        dels.extend(
            have.difference(want)
                .map(|p| Command::DelAcl(file.clone(), p.clone())),
        );
    }
    (adds, dels)
}

/// An ACL file's text: one pattern a line, sorted.
pub fn render_acl(patterns: &BTreeSet<AclPattern>) -> String {
    let mut out = String::new();
    for p in patterns {
        out.push_str(p.as_str());
        out.push('\n');
    }
    out
}

/// The frontend rules that answer `403` to a client a route's lists refuse: the deny list
/// first (it wins, as nginx checks deny entries first), then the allow list. Fixed text.
pub(super) fn frontend_rules(maps: &RouteMaps) -> Vec<String> {
    let field = |n: u8| format!("var(txn.route),field({n},|)");
    let list = |var: &str, n: u8| {
        format!(
            "http-request set-var({var}) {} if {{ {} -m len gt 0 }}",
            field(n),
            field(n)
        )
    };
    vec![
        list("txn.allow_list", 20),
        list("txn.deny_list", 21),
        list("txn.exempt_list", 22),
        "http-request set-var(txn.src_hex) src,hex if { var(txn.allow_list) -m found } || \
         { var(txn.deny_list) -m found } || { var(txn.exempt_list) -m found }"
            .into(),
        "http-request set-var(txn.src_key) str(4|),concat(,txn.src_hex,) if \
         { var(txn.src_hex),length eq 8 }"
            .into(),
        "http-request set-var(txn.src_key) str(6|),concat(,txn.src_hex,) if \
         { var(txn.src_hex),length eq 32 }"
            .into(),
        "http-request set-var(txn.deny_key) var(txn.deny_list),concat(|,txn.src_key,) if \
         { var(txn.deny_list) -m found }"
            .into(),
        format!(
            "http-request deny deny_status 403 if {{ var(txn.deny_key) -m beg -f {} }}",
            maps.deny
        ),
        "http-request set-var(txn.allow_key) var(txn.allow_list),concat(|,txn.src_key,) if \
         { var(txn.allow_list) -m found }"
            .into(),
        format!(
            "http-request deny deny_status 403 if {{ var(txn.allow_key) -m found }} \
             !{{ var(txn.allow_key) -m beg -f {} }}",
            maps.allow
        ),
        // limit-whitelist: the request limits (policy rules, after these) skip this client.
        "http-request set-var(txn.exempt_key) var(txn.exempt_list),concat(|,txn.src_key,) if \
         { var(txn.exempt_list) -m found }"
            .into(),
        format!(
            "http-request set-var(txn.limit_exempt) bool(true) if \
             {{ var(txn.exempt_key) -m beg -f {} }}",
            maps.allow
        ),
        // CORS with several origins: the route's origin field names their list (`@<id>`);
        // a well-formed Origin in it is allowed (the policy rules, after these, echo it).
        "http-request set-var(txn.cors_list) var(txn.route),field(14,|),regsub(^@,) if \
         { var(txn.route),field(14,|) -m beg @ } \
         { req.hdr(origin) -m reg ^https?://[A-Za-z0-9.-]+(:[0-9]+)?$ }"
            .into(),
        "http-request set-var(txn.origin) req.hdr(origin) if { var(txn.cors_list) -m found }"
            .into(),
        "http-request set-var(txn.cors_key) var(txn.cors_list),concat(|,txn.origin,|) if \
         { var(txn.cors_list) -m found }"
            .into(),
        format!(
            "http-request set-var(txn.cors_listed) bool(true) if \
             {{ var(txn.cors_key) -m beg -f {} }}",
            maps.allow
        ),
        // A wildcard entry (`https://*.example.com`): the Origin with its first host label
        // made `*` (one label, as ingress-nginx matches it) is in the list.
        "http-request set-var(txn.origin_wild) var(txn.origin),regsub(//[A-Za-z0-9-]+[.],//*.) \
         if { var(txn.cors_list) -m found } !{ var(txn.cors_listed) -m found }"
            .into(),
        "http-request set-var(txn.cors_wild_key) var(txn.cors_list),concat(|,txn.origin_wild,|) \
         if { var(txn.origin_wild) -m found }"
            .into(),
        format!(
            "http-request set-var(txn.cors_listed) bool(true) if \
             {{ var(txn.cors_wild_key) -m beg -f {} }}",
            maps.allow
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_parse_and_normalise() {
        let table = [
            ("10.0.0.0/8", "10.0.0.0/8"),
            ("10.1.2.3/8", "10.0.0.0/8"),
            ("127.0.0.1", "127.0.0.1/32"),
            ("0.0.0.0/0", "0.0.0.0/0"),
            ("192.168.1.77/27", "192.168.1.64/27"),
            ("2001:db8::1/32", "2001:db8::/32"),
            ("::1", "::1/128"),
            ("::/0", "::/0"),
            ("fe80::1/10", "fe80::/10"),
        ];
        for (input, want) in table {
            assert_eq!(Cidr::parse(input).unwrap().to_string(), want, "{input}");
        }
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0.0/-1",
            "10.0.0.0/08x",
            "10.0.0/8",
            "010.0.0.1",
            "999.1.1.1",
            "fe80::1%eth0",
            "10.0.0.0/8/8",
            "host.example",
            " 10.0.0.1",
            "10.0.0.0/0008",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad:?}");
        }
    }

    fn patterns(id: &str, cidr: &str) -> Vec<String> {
        let id = PolicyText::new("id", id).unwrap();
        acl_patterns(&id, &Cidr::parse(cidr).unwrap())
            .into_iter()
            .map(|p| p.as_str().to_string())
            .collect()
    }

    #[test]
    fn networks_become_hex_prefixes() {
        assert_eq!(patterns("ns/a", "127.0.0.1/32"), ["ns/a|4|7F000001"]);
        assert_eq!(patterns("ns/a", "10.0.0.0/8"), ["ns/a|4|0A"]);
        assert_eq!(patterns("ns/a", "0.0.0.0/0"), ["ns/a|4|"]);
        assert_eq!(
            patterns("ns/a", "192.168.0.0/14"),
            ["ns/a|4|C0A8", "ns/a|4|C0A9", "ns/a|4|C0AA", "ns/a|4|C0AB"]
        );
        assert_eq!(
            patterns("ns/a", "10.128.0.0/9"),
            (8..16)
                .map(|n| format!("ns/a|4|0A{n:X}"))
                .collect::<Vec<_>>()
        );
        assert_eq!(patterns("ns/a", "2001:db8::/32"), ["ns/a|6|20010DB8"]);
        assert_eq!(
            patterns("ns/a", "::1"),
            [format!("ns/a|6|{}1", "0".repeat(31))]
        );
    }

    /// Every address of a small network matches one of its patterns by prefix, and the
    /// addresses around it match none: what `-m beg` does in HAProxy.
    #[test]
    fn prefixes_cover_exactly_the_network() {
        let id = PolicyText::new("id", "ns/a").unwrap();
        for len in 20..=32u8 {
            let cidr = Cidr::new("10.20.30.40".parse().unwrap(), len).unwrap();
            let pats = acl_patterns(&id, &cidr);
            let base = match cidr.addr() {
                IpAddr::V4(a) => u32::from(a),
                IpAddr::V6(_) => unreachable!(),
            };
            let span = 1u32 << (32 - len);
            for ip in base.saturating_sub(5000)..base + span + 5000 {
                let key = format!("ns/a|4|{ip:08X}");
                let hit = pats.iter().any(|p| key.starts_with(p.as_str()));
                let inside = cidr.contains(IpAddr::V4(ip.into()));
                assert_eq!(hit, inside, "{cidr} {ip:08X}");
            }
        }
    }

    fn entries(lists: &[(&str, &[&str], &[&str])]) -> AclEntries {
        let lists = lists
            .iter()
            .map(|(id, allow, deny)| {
                let set = |v: &[&str]| v.iter().map(|c| Cidr::parse(c).unwrap()).collect();
                (
                    PolicyText::new("id", id).unwrap(),
                    SourceLists {
                        allow: set(allow),
                        deny: set(deny),
                        ..Default::default()
                    },
                )
            })
            .collect();
        AclEntries::of_lists(&lists)
    }

    #[test]
    fn plans_add_before_and_delete_after() {
        let maps = RouteMaps::in_dir(std::path::Path::new("/etc/haproxy")).unwrap();
        let text = |cmds: Vec<Command>| -> Vec<String> {
            cmds.iter().map(|c| c.to_text().unwrap()).collect()
        };
        let table: Vec<(AclEntries, AclEntries, Vec<&str>, Vec<&str>)> = vec![
            (AclEntries::default(), AclEntries::default(), vec![], vec![]),
            (
                AclEntries::default(),
                entries(&[("ns/a", &["127.0.0.1"], &["10.0.0.0/8"])]),
                vec![
                    "add acl /etc/haproxy/maps/allow.acl ns/a|4|7F000001",
                    "add acl /etc/haproxy/maps/deny.acl ns/a|4|0A",
                ],
                vec![],
            ),
            (
                entries(&[("ns/a", &["127.0.0.1"], &[])]),
                entries(&[("ns/a", &["10.0.0.0/8"], &[])]),
                vec!["add acl /etc/haproxy/maps/allow.acl ns/a|4|0A"],
                vec!["del acl /etc/haproxy/maps/allow.acl ns/a|4|7F000001"],
            ),
            (
                entries(&[
                    ("ns/a", &["10.0.0.0/8"], &[]),
                    ("ns/b", &["10.0.0.0/8"], &[]),
                ]),
                entries(&[("ns/b", &["10.0.0.0/8"], &[])]),
                vec![],
                vec!["del acl /etc/haproxy/maps/allow.acl ns/a|4|0A"],
            ),
        ];
        for (have, want, adds, dels) in table {
            let (a, d) = acl_commands(&maps, &have, &want);
            assert_eq!(text(a), adds);
            assert_eq!(text(d), dels);
        }
    }
}
