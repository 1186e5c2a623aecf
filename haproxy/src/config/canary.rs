//! ingress-nginx canary routing carried in the route map value: which requests of a route go
//! to a second (canary) backend instead, by header, then cookie, then weight. Changing a
//! weight or a header value is a map update; a header or cookie name new to the frontend
//! adds a fixed rule (HAProxy reads a header or cookie only by a name in the config).
//!
//! A header pattern (`canary-by-header-pattern`) is a regex in an ACL file read with
//! `-m reg`, one entry per pattern keyed by the pattern's id ([`CanaryPattern`]): a new or
//! changed pattern is `add acl`/`del acl` and a map update, never a reload.
//!
//! Value fields after the policy's (see [`super::policy`]):
//! `canary-backend|weight|total|header|header-value|cookie|pattern-id`.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use crate::names::{AclPattern, BackendName};

use super::policy::PolicyText;
pub use super::value::CanaryPatternId;
use super::value::InvalidValue;

/// Longest header or cookie name accepted.
pub const MAX_CANARY_NAME: usize = 64;

/// A header or cookie name a canary rule reads: letters, digits, `-` and `_` (a header name
/// is lower-cased: HTTP header names are case-insensitive). It is written into a frontend
/// rule, so nothing else is accepted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CanaryName(String);

impl CanaryName {
    /// Validates a header name (lower-cased).
    pub fn header(s: &str) -> Result<Self, InvalidValue> {
        Self::new("canary header", s).map(|n| Self(n.0.to_ascii_lowercase()))
    }

    /// Validates a cookie name (kept as written: cookie names are case-sensitive).
    pub fn cookie(s: &str) -> Result<Self, InvalidValue> {
        Self::new("canary cookie", s)
    }

    fn new(what: &'static str, s: &str) -> Result<Self, InvalidValue> {
        if s.is_empty() || s.len() > MAX_CANARY_NAME {
            return Err(InvalidValue::new(what, s, "it must be 1 to 64 bytes"));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(InvalidValue::new(
                what,
                s,
                "only letters, digits, - and _ are allowed",
            ));
        }
        Ok(Self(s.to_string()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CanaryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A header value regex (`canary-by-header-pattern`): PCRE2 as ingress-nginx's
/// `ngx.re.match` reads it (unanchored, case-sensitive), in the plain syntax PCRE2 and the
/// `regex-syntax` parser read alike (see [`super::RegexPath`]), spaces allowed, `\A`/`\z`
/// refused (the ACL entry puts the pattern's id before the value).
///
/// Its ACL entry is `(?m)\A<id>\n.*?(?:<regex>)`, matched against `<id>` + LF + the header
/// value: `(?m)` makes the regex's own `^` and `$` the value's start and end (a header value
/// holds no LF), `.*?` lets it match anywhere in the value, and the id (a hash of the regex)
/// keeps each pattern to its own canaries.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CanaryPattern {
    regex: String,
    id: CanaryPatternId,
}

/// A canary header pattern [`CanaryPattern`] refuses, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("canary header pattern {value:?} is refused: {reason}")]
pub struct InvalidPattern {
    /// The pattern.
    pub value: String,
    /// Why.
    pub reason: String,
}

impl CanaryPattern {
    /// Longest regex accepted.
    pub const MAX_LEN: usize = 256;

    /// Validates a header value regex.
    pub fn new(s: &str) -> Result<Self, InvalidPattern> {
        let bad = |reason: String| InvalidPattern {
            value: s.to_string(),
            reason,
        };
        if s.is_empty() || s.len() > Self::MAX_LEN {
            return Err(bad("it must be 1 to 256 bytes".into()));
        }
        let ast = super::regex_check::parse_plain(s, true).map_err(bad)?;
        super::regex_check::plain(s, &ast, &mut 0, false).map_err(bad)?;
        // FNV-1a, 64 bits: stable across builds, so ids survive restarts and upgrades.
        let hash = s.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
        Ok(Self {
            regex: s.to_string(),
            id: CanaryPatternId::of_hash(hash),
        })
    }

    /// The regex as written.
    pub fn as_str(&self) -> &str {
        &self.regex
    }

    /// The id the route map value carries.
    pub fn id(&self) -> &CanaryPatternId {
        &self.id
    }

    /// The pattern's entry in the canary ACL file (spaces as `\x20`: an ACL pattern is one
    /// word).
    pub fn acl_pattern(&self) -> AclPattern {
        let regex = self.regex.replace(' ', "\\x20");
        AclPattern::new(format!("(?m)\\A{}\\n.*?(?:{regex})", self.id.as_str()))
            .expect("printable ASCII without whitespace, starting with (")
    }
}

impl fmt::Display for CanaryPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.regex)
    }
}

/// Which requests go to the canary, tested in ingress-nginx's order: the header (equal to
/// [`CanaryRule::header_value`] when set, else matching [`CanaryRule::header_pattern`] when
/// set, else `always` or `never`), then the cookie (`always`, `never`), then a random draw
/// of `weight` in `total`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CanaryRule {
    /// Requests in `total` sent to the canary when no header or cookie decides.
    pub weight: u32,
    /// The weight's scale (ingress-nginx's `canary-weight-total`, 100 by default).
    pub total: u32,
    /// The header that decides.
    pub header: Option<CanaryName>,
    /// The header value that sends to the canary (instead of `always`/`never`).
    pub header_value: Option<PolicyText>,
    /// The header value regex that sends to the canary (when there is no `header_value`;
    /// instead of `always`/`never`), by id: the regex is in the canary ACL file (the
    /// Ingress's [`super::SourceLists::canary_patterns`]).
    pub header_pattern: Option<CanaryPatternId>,
    /// The cookie that decides.
    pub cookie: Option<CanaryName>,
}

impl CanaryRule {
    /// Largest `total` accepted (the draw is `rand` modulo `total`).
    pub const MAX_TOTAL: u32 = 1_000_000;

    /// A rule; `weight` must not exceed `total`, and `total` is 1 to [`Self::MAX_TOTAL`].
    pub fn new(weight: u32, total: u32) -> Result<Self, InvalidValue> {
        if total == 0 || total > Self::MAX_TOTAL {
            return Err(InvalidValue::new(
                "canary weight total",
                total.to_string(),
                "it must be from 1 to 1000000",
            ));
        }
        if weight > total {
            return Err(InvalidValue::new(
                "canary weight",
                weight.to_string(),
                "it is above the total (canary-weight-total, 100 unless set)",
            ));
        }
        Ok(Self {
            weight,
            total,
            header: None,
            header_value: None,
            header_pattern: None,
            cookie: None,
        })
    }
}

/// A route's canary: the backend and the rule, as the winning route's map value carries it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CanaryTarget {
    /// The canary backend.
    pub backend: BackendName,
    /// Which requests go there.
    pub rule: Arc<CanaryRule>,
}

/// How many value fields a canary takes.
pub const CANARY_FIELDS: usize = 7;

impl CanaryTarget {
    /// The value fields.
    pub(super) fn fields(&self) -> [String; CANARY_FIELDS] {
        let r = &self.rule;
        let text = |t: Option<&dyn fmt::Display>| t.map(|t| t.to_string()).unwrap_or_default();
        [
            self.backend.as_str().to_string(),
            r.weight.to_string(),
            r.total.to_string(),
            text(r.header.as_ref().map(|h| h as &dyn fmt::Display)),
            text(r.header_value.as_ref().map(|h| h as &dyn fmt::Display)),
            text(r.cookie.as_ref().map(|h| h as &dyn fmt::Display)),
            r.header_pattern
                .as_ref()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default(),
        ]
    }

    /// Reads the fields back; `None` when they are not ones [`Self::fields`] writes.
    pub(super) fn parse(fields: &[&str]) -> Option<Self> {
        let [backend, weight, total, header, value, cookie, pattern] = fields else {
            return None;
        };
        let opt = |s: &str| (!s.is_empty()).then_some(());
        let mut rule = CanaryRule::new(weight.parse().ok()?, total.parse().ok()?).ok()?;
        rule.header = match opt(header) {
            None => None,
            Some(()) => Some(CanaryName::header(header).ok()?),
        };
        rule.header_value = match opt(value) {
            None => None,
            Some(()) => Some(PolicyText::new("canary header value", value).ok()?),
        };
        rule.cookie = match opt(cookie) {
            None => None,
            Some(()) => Some(CanaryName::cookie(cookie).ok()?),
        };
        rule.header_pattern = match opt(pattern) {
            None => None,
            Some(()) => Some(CanaryPatternId::parse(pattern)?),
        };
        Some(Self {
            backend: BackendName::new(*backend).ok()?,
            rule: Arc::new(rule),
        })
    }
}

/// The header and cookie names the canary routes read: one fixed frontend rule each.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct CanaryNames {
    /// Header names.
    pub headers: BTreeSet<CanaryName>,
    /// Cookie names.
    pub cookies: BTreeSet<CanaryName>,
}

impl CanaryNames {
    /// True when no canary reads a header or cookie.
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty() && self.cookies.is_empty()
    }
}

/// The frontend rules that send a route's request to its canary backend, after `txn.be`
/// holds the route's backend (and before `use_backend`). `first` is the value field number
/// (1-based) of the canary backend. Fixed text but for one rule per name in `names`; one
/// list, in the order HAProxy evaluates it (header, cookie, weight), which is why it is long.
pub(super) fn frontend_rules(
    first: usize,
    names: &CanaryNames,
    patterns: &super::value::ConfigPath,
) -> Vec<String> {
    let field = |n: usize| format!("var(txn.route),field({},|)", first + n);
    let mut out = vec![format!(
        "http-request set-var(txn.canary_be) {} if {{ var(txn.be) -m found }} {{ {} -m len gt 0 }}",
        field(0),
        field(0)
    )];
    let on = "{ var(txn.canary_be) -m found }";
    for h in &names.headers {
        out.push(format!(
            "http-request set-var(txn.canary_hdr) req.hdr({h}) if {on} {{ {} -m str {h} }}",
            field(3)
        ));
    }
    for c in &names.cookies {
        out.push(format!(
            "http-request set-var(txn.canary_cookie) req.cook({c}) if {on} {{ {} -m str {c} }}",
            field(5)
        ));
    }
    let undecided = "!{ var(txn.canary) -m found }";
    out.extend([
        // The header: equal to the route's value when it has one, else always/never.
        format!(
            "http-request set-var(txn.canary_value) {} if {on} {{ {} -m len gt 0 }}",
            field(4),
            field(4)
        ),
        "http-request set-var(txn.canary) bool(1) if { var(txn.canary_value) -m found } \
         { var(txn.canary_hdr),strcmp(txn.canary_value) eq 0 }"
            .to_string(),
        // Else the pattern: `<id>` LF value against the pattern ACL file.
        format!(
            "http-request set-var(txn.canary_pattern) {} if {on} \
             !{{ var(txn.canary_value) -m found }} {{ {} -m len gt 0 }}",
            field(6),
            field(6)
        ),
        "http-request set-var(txn.canary_probe) var(txn.canary_pattern),\
         concat(\"\\n\",txn.canary_hdr,) if { var(txn.canary_pattern) -m found } \
         { var(txn.canary_hdr) -m found }"
            .to_string(),
        format!(
            "http-request set-var(txn.canary) bool(1) if {undecided} \
             {{ var(txn.canary_probe) -m reg -f {patterns} }}"
        ),
        // Else always/never.
        format!(
            "http-request set-var(txn.canary) bool(1) if {undecided} \
             !{{ var(txn.canary_value) -m found }} !{{ var(txn.canary_pattern) -m found }} \
             {{ var(txn.canary_hdr) -m str always }}"
        ),
        format!(
            "http-request set-var(txn.canary) bool(0) if {undecided} \
             !{{ var(txn.canary_value) -m found }} !{{ var(txn.canary_pattern) -m found }} \
             {{ var(txn.canary_hdr) -m str never }}"
        ),
        // Then the cookie.
        format!(
            "http-request set-var(txn.canary) bool(1) if {undecided} \
             {{ var(txn.canary_cookie) -m str always }}"
        ),
        format!(
            "http-request set-var(txn.canary) bool(0) if {undecided} \
             {{ var(txn.canary_cookie) -m str never }}"
        ),
        // Then the weight: a draw from 1 to total, canary when it is at most weight.
        format!(
            "http-request set-var(txn.canary_total) {},add(0) if {on} {undecided}",
            field(2)
        ),
        format!(
            "http-request set-var(txn.canary_weight) {},add(0) if {on} {undecided}",
            field(1)
        ),
        format!(
            "http-request set-var(txn.canary) bool(1) if {on} {undecided} \
             {{ rand,mod(txn.canary_total),add(1),sub(txn.canary_weight) le 0 }}"
        ),
        "http-request set-var(txn.be) var(txn.canary_be) if { var(txn.canary) -m bool }"
            .to_string(),
    ]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(rule: CanaryRule) -> CanaryTarget {
        CanaryTarget {
            backend: BackendName::new("shop_web-canary_80").unwrap(),
            rule: Arc::new(rule),
        }
    }

    #[test]
    fn fields_read_back() {
        let mut full = CanaryRule::new(20, 1000).unwrap();
        full.header = Some(CanaryName::header("X-Canary").unwrap());
        full.header_value = Some(PolicyText::new("v", "beta").unwrap());
        full.cookie = Some(CanaryName::cookie("Canary_Cookie").unwrap());
        full.header_pattern = Some(CanaryPattern::new("^v[0-9]+$").unwrap().id().clone());
        for rule in [CanaryRule::new(0, 100).unwrap(), full] {
            let t = target(rule);
            let fields = t.fields();
            assert_eq!(fields[0], "shop_web-canary_80");
            let refs: Vec<&str> = fields.iter().map(String::as_str).collect();
            assert_eq!(CanaryTarget::parse(&refs), Some(t));
        }
    }

    #[test]
    fn names_and_weights_are_validated() {
        assert_eq!(CanaryName::header("X-Canary").unwrap().as_str(), "x-canary");
        assert_eq!(CanaryName::cookie("Beta").unwrap().as_str(), "Beta");
        for bad in ["", "a b", "x)", "a;b", "h{", "é", &"a".repeat(65)] {
            assert!(CanaryName::header(bad).is_err(), "{bad:?}");
            assert!(CanaryName::cookie(bad).is_err(), "{bad:?}");
        }
        assert!(CanaryRule::new(101, 100).is_err());
        assert!(CanaryRule::new(0, 0).is_err());
        assert!(CanaryRule::new(1, CanaryRule::MAX_TOTAL + 1).is_err());
        assert!(CanaryRule::new(100, 100).is_ok());
    }

    #[test]
    fn patterns_become_acl_entries() {
        let p = CanaryPattern::new("^beta (eu|us)$").unwrap();
        assert_eq!(p.id().as_str().len(), 17);
        assert_eq!(
            CanaryPatternId::parse(p.id().as_str()),
            Some(p.id().clone())
        );
        assert_eq!(p.id(), CanaryPattern::new("^beta (eu|us)$").unwrap().id());
        assert_ne!(p.id(), CanaryPattern::new("^beta").unwrap().id());
        assert_eq!(
            p.acl_pattern().as_str(),
            format!("(?m)\\A{}\\n.*?(?:^beta\\x20(eu|us)$)", p.id().as_str())
        );
        for bad in [
            "",
            "\\Abeta",
            "beta\\z",
            "(?m)x",
            "a#b",
            "(?=x)",
            "x\ty",
            "é",
            &"a".repeat(257),
        ] {
            assert!(CanaryPattern::new(bad).is_err(), "{bad:?}");
        }
        for bad in ["", "p123", "q0123456789abcdef", "p0123456789ABCDEF"] {
            assert!(CanaryPatternId::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn one_reading_rule_per_name() {
        let mut names = CanaryNames::default();
        names.headers.insert(CanaryName::header("x-a").unwrap());
        names.headers.insert(CanaryName::header("x-b").unwrap());
        names.cookies.insert(CanaryName::cookie("c").unwrap());
        let acl = super::super::value::ConfigPath::new("/m/canary.acl").unwrap();
        let rules = frontend_rules(23, &names, &acl);
        let reads = |what: &str| rules.iter().filter(|r| r.contains(what)).count();
        assert_eq!(reads("req.hdr("), 2);
        assert_eq!(reads("req.cook("), 1);
        assert!(rules.iter().all(|r| r.starts_with("http-request ")));
        assert!(rules[0].contains("field(23,|)"));
        assert!(
            rules
                .last()
                .unwrap()
                .contains("set-var(txn.be) var(txn.canary_be)")
        );
    }
}
