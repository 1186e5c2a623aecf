//! ingress-nginx regex paths: `use-regex`, and `rewrite-target` with capture groups
//! (`$1`..`$9`), which makes the Ingress's paths regexes too. The paths become
//! [`PathKind::Regex`](haproxy::config::PathKind) routes in the regex map; the target rides
//! in the route value with `\N` for `$N`, which `map_regm` fills from the match.

use haproxy::config::{PolicyText, RegexPath};

use super::ValueError;

/// Checks a `rewrite-target` and writes it for the regex map: an absolute path without a
/// query, `$N` (1 to 9) for the Nth group of the path regex (`\N` in the value), no other
/// `$` (nginx variables are not expanded here) and no `\` (an escape in `map_regm` values).
pub(super) fn rewrite_target(v: &str) -> Result<PolicyText, ValueError> {
    if v.contains('\\') {
        return Err(ValueError::Backslash(v.to_string()));
    }
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(d @ '1'..='9') if !chars.peek().is_some_and(char::is_ascii_digit) => {
                out.push('\\');
                out.push(d);
            }
            _ => {
                return Err(ValueError::NotGroup(v.to_string()));
            }
        }
    }
    Ok(PolicyText::path("rewrite target", &out)?)
}

/// The highest group a rewrite target (as [`rewrite_target`] wrote it) names; 0 for none.
pub fn groups_named(target: &PolicyText) -> u32 {
    let b = target.as_str().as_bytes();
    b.windows(2)
        .filter(|w| w[0] == b'\\')
        .filter_map(|w| char::from(w[1]).to_digit(10))
        .max()
        .unwrap_or(0)
}

/// Checks one path of a regex Ingress: a regex [`RegexPath`] accepts, with the groups the
/// rewrite target names.
pub fn regex_path(raw: &str, groups_named: u32) -> Result<RegexPath, ValueError> {
    let rx = RegexPath::new(raw)?;
    if rx.groups() < groups_named {
        return Err(ValueError::MissingGroups {
            named: groups_named,
            path: raw.to_string(),
            has: rx.groups(),
        });
    }
    Ok(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrite_targets_table() {
        // (annotation, Some(value in the map) when accepted)
        let cases: &[(&str, Option<&str>)] = &[
            ("/", Some("/")),
            ("/$2", Some("/\\2")),
            ("/api/$1/x/$9", Some("/api/\\1/x/\\9")),
            ("/$1$2", Some("/\\1\\2")),
            ("/$0", None),
            ("/$10", None),
            ("/$host", None),
            ("/${1}", None),
            ("/$", None),
            ("/a\\1", None),
            ("$1", None),
            ("relative/$1", None),
            ("/a b", None),
            ("/a|b", None),
            ("/a?x=$1", None),
            ("/a#$1", None),
            ("/a;b", None),
            ("/é", None),
        ];
        for (v, want) in cases {
            let got = rewrite_target(v).ok();
            assert_eq!(got.as_ref().map(PolicyText::as_str), *want, "{v:?}");
        }
        let t = rewrite_target("/$2/$1").unwrap();
        assert_eq!(groups_named(&t), 2);
        assert_eq!(groups_named(&rewrite_target("/").unwrap()), 0);
    }

    #[test]
    fn paths_must_have_the_groups_named() {
        assert_eq!(regex_path("/something(/|$)(.*)", 2).unwrap().groups(), 2);
        assert!(regex_path("/something(/|$)(.*)", 3).is_err());
        assert!(regex_path("/plain", 0).is_ok());
        assert!(regex_path("/plain", 1).is_err());
        assert!(regex_path("/(?=x)", 0).is_err());
    }
}
