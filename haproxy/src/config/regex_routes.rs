//! Regex routes (ingress-nginx `use-regex` and `rewrite-target`): the path regexes HAProxy's
//! PCRE2 and this crate agree on, and the keys of the regex route map, read with `map_regm`.
//!
//! A key is `^<escaped host>(?i:<path regex>)`: anchored at the start, the host literal (the
//! lookup input is the same `host+path` string as the exact and prefix maps), the path
//! case-insensitive and matched as a prefix, as nginx's `location ~* "^<path>"`. `map_regm`
//! tries the keys in file order and returns the first match's value with `\1`..`\9`
//! replaced by its groups; the order is longest path first (as ingress-nginx orders a
//! host's locations), so it is a function of the keys ([`regex_order`]).
//!
//! ingress-nginx turns every path of a host into a regex when any Ingress of that host uses
//! one; every route therefore has a regex key ([`regex_key`]), and the map holds the keys of
//! the hosts with at least one regex route ([`super::PathKind::Regex`]).

use std::collections::BTreeMap;

use regex_syntax::ast::Ast;

use crate::names::MapKey;

pub use super::regex_check::{InvalidRegex, check_plain_regex};
use super::regex_check::{parse_plain, plain};
use super::route_host::{MAX_PATH_LEN, RouteHost};
use super::route_target::RouteTarget;

/// A path regex both PCRE2 (HAProxy) and the `regex` crate read the same way: starts with a
/// literal `/` (so it cannot reach into the host part of a key), printable ASCII without
/// whitespace or `#`, at most [`MAX_PATH_LEN`] bytes, and only plain syntax: literals, `.`,
/// bracketed classes of literals, ranges, `[:ascii:]` and `\d\s\w` classes, repetitions,
/// groups (numbered, named, non-capturing with at most the `i` flag), alternation inside
/// groups, `^ $ \A \z \b \B`. Refused: lookarounds and back-references (not regex-crate
/// syntax), Unicode classes, nested or set-operation classes, `\<`, `{,n}`, octal and
/// special escapes, flags other than `i`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RegexPath {
    text: String,
    groups: u32,
}

impl RegexPath {
    /// Validates a path regex.
    pub fn new(s: &str) -> Result<Self, InvalidRegex> {
        let bad = |reason: String| {
            Err(InvalidRegex {
                value: s.to_string(),
                reason,
            })
        };
        if !s.starts_with('/') {
            return bad("it must start with /".into());
        }
        if s.len() > MAX_PATH_LEN {
            return bad("it is too long".into());
        }
        let parsed = match parse_plain(s, false) {
            Ok(p) => p,
            Err(why) => return bad(why),
        };
        let starts_with_slash = match &parsed {
            Ast::Literal(l) => l.c == '/',
            Ast::Concat(c) => matches!(c.asts.first(), Some(Ast::Literal(l)) if l.c == '/'),
            _ => false,
        };
        if !starts_with_slash {
            return bad("it must start with a literal / (no | outside a group)".into());
        }
        let mut groups = 0;
        if let Err(why) = plain(s, &parsed, &mut groups, true) {
            return bad(why);
        }
        Ok(Self {
            text: s.to_string(),
            groups,
        })
    }

    /// The regex as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// How many capture groups it has (what `$1`.. may name).
    pub fn groups(&self) -> u32 {
        self.groups
    }
}

/// The start of the regex keys of `host`: `^`, the host with `.` and `*` escaped, `(?i:`.
/// Hosts hold no `(`, so a key's host part ends at its first `(?i:`.
pub(super) fn host_prefix(host: &RouteHost) -> String {
    let host = match host {
        RouteHost::Exact(h) => h.as_str().replace('.', "\\."),
        RouteHost::Wildcard(h) => format!("\\*\\.{}", h.as_str().replace('.', "\\.")),
        RouteHost::Any => String::new(),
    };
    format!("^{host}(?i:")
}

/// The host part of a regex key ([`host_prefix`]), if it is one.
pub(super) fn key_host(key: &MapKey) -> Option<&str> {
    let s = key.as_str();
    s.find("(?i:").map(|i| &s[..i + 4])
}

/// The regex key of a route: the path as a regex when it is one [`RegexPath`] accepts,
/// else the path escaped (a literal prefix).
pub(super) fn regex_key(host: &RouteHost, path: &str) -> MapKey {
    let path = match RegexPath::new(path) {
        Ok(r) => r.text,
        Err(_) => escape(path),
    };
    // The host is at most 253 bytes and the path at most MAX_PATH_LEN printable bytes
    // (escaping at most doubles it): no whitespace, and below a map key's limit.
    MapKey::new(format!("{}{path})", host_prefix(host))).expect("a validated host and path")
}

/// A literal as a regex: every ASCII punctuation byte escaped.
pub(super) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for c in s.chars() {
        if c.is_ascii_punctuation() && c != '/' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The length of a key's path part (what ingress-nginx orders a host's paths by).
fn path_len(key: &MapKey) -> usize {
    let host = key_host(key).map_or(0, str::len);
    key.as_str().len().saturating_sub(host + 1)
}

/// The regex map's entries in file order: longest path first, then by key. `map_regm`
/// returns the first match, so this is ingress-nginx's "first regex in descending length".
pub fn regex_order(entries: &BTreeMap<MapKey, RouteTarget>) -> Vec<(&MapKey, &RouteTarget)> {
    let mut out: Vec<_> = entries.iter().collect();
    out.sort_by(|a, b| path_len(b.0).cmp(&path_len(a.0)).then(a.0.cmp(b.0)));
    out
}

/// [`regex_order`]'s order of two keys.
fn order(a: &MapKey, b: &MapKey) -> std::cmp::Ordering {
    path_len(b).cmp(&path_len(a)).then(a.cmp(b))
}

/// Whether `listed` (keys as `show map` lists them) matches as [`regex_order`] does: the
/// keys of each host in that order. Keys of different hosts never match the same request
/// (each is anchored on its host), so their relative order does not matter.
pub fn in_regex_order<'a>(listed: impl IntoIterator<Item = &'a MapKey>) -> bool {
    let mut last: BTreeMap<Option<&str>, &MapKey> = BTreeMap::new();
    for key in listed {
        if let Some(prev) = last.insert(key_host(key), key)
            && !order(prev, key).is_lt()
        {
            return false;
        }
    }
    true
}

/// Whether adding `added` (keys of `want` the live map lacks) with `add map`, which appends,
/// keeps every host's keys in [`regex_order`]: each host gets at most one new key, and it
/// comes after that host's other keys in `want`. Otherwise the map must be swapped whole.
pub fn appends_in_order<'a>(
    want: &BTreeMap<MapKey, RouteTarget>,
    added: impl IntoIterator<Item = &'a MapKey>,
) -> bool {
    let mut hosts = std::collections::BTreeSet::new();
    for key in added {
        let host = key_host(key);
        if !hosts.insert(host) {
            return false;
        }
        let Some(prefix) = host else {
            return false;
        };
        let start = MapKey::new(prefix).expect("a key's prefix is a key");
        let later = want
            .range(start..)
            .map(|(k, _)| k)
            .take_while(|k| k.as_str().starts_with(prefix))
            .filter(|k| key_host(k) == host && *k != key)
            .any(|k| order(key, k).is_lt());
        if later {
            return false;
        }
    }
    true
}

/// The regex map file: `key value` lines in [`regex_order`].
pub fn render_regex_map(entries: &BTreeMap<MapKey, RouteTarget>) -> String {
    let mut out = String::new();
    for (k, v) in regex_order(entries) {
        out.push_str(k.as_str());
        out.push(' ');
        out.push_str(&v.to_string());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::routes::Host;

    #[test]
    fn path_regexes_table() {
        // (regex, Some(groups) when accepted)
        let cases: &[(&str, Option<u32>)] = &[
            ("/", Some(0)),
            ("/something(/|$)(.*)", Some(2)),
            ("/foo/bar/[A-Z0-9]{3}", Some(0)),
            ("/api/v[0-9]+(/.*)?", Some(1)),
            ("/(?P<rest>.*)", Some(1)),
            ("/(?<rest>.*)", Some(1)),
            ("/(?:a|b)/(x)", Some(1)),
            ("/(?i)CaSe", Some(0)),
            ("/a\\.b\\/c", Some(0)),
            ("/[[:alpha:]_-]+\\d\\w\\s?$", Some(0)),
            ("/x.*?y", Some(0)),
            ("/\\bword\\B", Some(0)),
            // refused
            ("foo", None),
            ("", None),
            ("^/foo", None),
            ("/a|/b", None),
            ("(/a)", None),
            (".*", None),
            ("/a b", None),
            ("/a\tb", None),
            ("/a\nb", None),
            ("/a#b", None),
            ("/é", None),
            ("/(", None),
            ("/[z-a]", None),
            ("/(?=x)", None),
            ("/(?!x)", None),
            ("/(?<=x)y", None),
            ("/(a)\\1", None),
            ("/\\pL", None),
            ("/\\p{Greek}", None),
            ("/[a[b]]", None),
            ("/[a-z&&[aeiou]]", None),
            ("/[a--b]", None),
            ("/\\<word\\>", None),
            ("/\\b{start}", None),
            ("/a{,3}", None),
            ("/(?s).", None),
            ("/(?x)a", None),
            ("/(?U)a*", None),
            ("/(?m)^a", None),
            ("/\\x41", None),
            ("/\\Qa\\E", None),
            ("/a*+", None),
            ("/a++", None),
            ("/a{2}{3}", None),
            ("/a??", Some(0)),
            ("/(?>a)", None),
            ("/\\v", None),
            ("/\\0", None),
        ];
        for (s, want) in cases {
            let got = RegexPath::new(s).map(|r| r.groups()).ok();
            assert_eq!(got, *want, "{s:?}: {:?}", RegexPath::new(s).err());
        }
        let long = format!("/{}", "a".repeat(MAX_PATH_LEN));
        assert!(RegexPath::new(&long).is_err());
    }

    #[test]
    fn keys_anchor_the_host_and_wrap_the_path() {
        let h = |s: &str| RouteHost::parse(s).unwrap();
        let cases = [
            (
                h("a.test"),
                "/something(/|$)(.*)",
                "^a\\.test(?i:/something(/|$)(.*))",
            ),
            (h("*.b.test"), "/x", "^\\*\\.b\\.test(?i:/x)"),
            (h(""), "/x/.+", "^(?i:/x/.+)"),
            // Not a regex this crate accepts: the literal, escaped.
            (h("a.test"), "/v1.2(", "^a\\.test(?i:/v1\\.2\\()"),
            (h("a.test"), "/a;b\\c", "^a\\.test(?i:/a\\;b\\\\c)"),
        ];
        for (host, path, want) in cases {
            let k = regex_key(&host, path);
            assert_eq!(k.as_str(), want, "{path}");
            assert_eq!(key_host(&k), Some(host_prefix(&host).as_str()));
        }
        let longest = format!("/{}", "a(".repeat((MAX_PATH_LEN - 1) / 2));
        let host = RouteHost::Wildcard(Host::new(&"a.".repeat(125)[..249]).unwrap());
        assert!(regex_key(&host, &longest).as_str().len() < 8192);
    }

    #[test]
    fn the_map_is_ordered_longest_path_first() {
        let t = RouteTarget::parse("b").unwrap();
        let key = |h: &str, p: &str| regex_key(&RouteHost::parse(h).unwrap(), p);
        let entries: BTreeMap<MapKey, RouteTarget> = [
            key("test.com", "/foo/bar"),
            key("test.com", "/foo/bar/(.+)"),
            key("test.com", "/foo/bar/"),
            key("a.test", "/foo/bar/[A-Z0-9]{3}"),
            key("a.test", "/foo/bar/bar"),
        ]
        .into_iter()
        .map(|k| (k, t.clone()))
        .collect();
        let order: Vec<&str> = regex_order(&entries)
            .into_iter()
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(
            order,
            [
                "^a\\.test(?i:/foo/bar/[A-Z0-9]{3})",
                "^test\\.com(?i:/foo/bar/(.+))",
                "^a\\.test(?i:/foo/bar/bar)",
                "^test\\.com(?i:/foo/bar/)",
                "^test\\.com(?i:/foo/bar)",
            ]
        );
        assert!(in_regex_order(order_keys(&entries).iter()));
        let mut reversed = order_keys(&entries);
        reversed.reverse();
        assert!(!in_regex_order(reversed.iter()));
        assert_eq!(
            render_regex_map(&entries).lines().next(),
            Some("^a\\.test(?i:/foo/bar/[A-Z0-9]{3}) b")
        );
    }

    #[test]
    fn order_matters_within_a_host_only() {
        let t = RouteTarget::parse("b").unwrap();
        let key = |h: &str, p: &str| regex_key(&RouteHost::parse(h).unwrap(), p);
        let (a_long, a_short) = (key("a.test", "/foo/bar"), key("a.test", "/foo"));
        let (b_long, b_short) = (key("b.test", "/x/y/z"), key("b.test", "/x"));
        // Hosts interleaved, each in order: fine; one host out of order: not.
        assert!(in_regex_order([&a_long, &b_long, &a_short, &b_short]));
        assert!(in_regex_order([&b_short, &a_long, &a_short]));
        assert!(!in_regex_order([&a_short, &b_long, &a_long]));

        let want = |keys: &[&MapKey]| -> BTreeMap<MapKey, RouteTarget> {
            keys.iter().map(|k| ((*k).clone(), t.clone())).collect()
        };
        // A host's only key, or a new key after its host's others: appended.
        assert!(appends_in_order(&want(&[&a_long]), [&a_long]));
        assert!(appends_in_order(&want(&[&a_long, &a_short]), [&a_short]));
        assert!(appends_in_order(
            &want(&[&a_long, &a_short, &b_long]),
            [&a_short, &b_long]
        ));
        // A new key that must come first, or two new keys of one host: a swap.
        assert!(!appends_in_order(&want(&[&a_long, &a_short]), [&a_long]));
        assert!(!appends_in_order(
            &want(&[&a_long, &a_short]),
            [&a_long, &a_short]
        ));
    }

    fn order_keys(e: &BTreeMap<MapKey, RouteTarget>) -> Vec<MapKey> {
        regex_order(e).into_iter().map(|(k, _)| k.clone()).collect()
    }
}
