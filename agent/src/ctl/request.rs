//! The request `ctl route` traces: read from the command line as HAProxy's frontend reads
//! it, and what a canary rule decides for it.

use anyhow::{Context, bail};
use haproxy::MapKey;
use haproxy::config::CanaryRule;

/// The request to trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The Host as the frontend reads it: lower case, without a port.
    pub host: String,
    /// The path, without a query string.
    pub path: String,
    /// The query string (without `?`; empty when there is none), for Gateway API matches.
    pub query: String,
    /// The method.
    pub method: String,
    /// Headers, names in lower case.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// Reads the command line's request.
    pub fn new(host: &str, path: &str, method: &str, headers: &[String]) -> anyhow::Result<Self> {
        let host = host.to_ascii_lowercase();
        let host = match host.rsplit_once(':') {
            Some((h, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
                h.to_string()
            }
            _ => host,
        };
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let (path, query) = (path.to_string(), query.to_string());
        if !path.starts_with('/') {
            bail!("the path {path:?} must start with /");
        }
        let mut parsed = Vec::new();
        for h in headers {
            let Some((name, value)) = h.split_once(':') else {
                bail!("--header {h:?} is not NAME:VALUE");
            };
            parsed.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
        let request = Self {
            host,
            path,
            query,
            method: method.to_ascii_uppercase(),
            headers: parsed,
        };
        for (_, key) in request.keys() {
            MapKey::new(key.clone()).with_context(|| format!("cannot look {key:?} up"))?;
        }
        Ok(request)
    }

    /// The keys the frontend looks up, in its order: host+path, `*.`+the host without its
    /// first label+path, then the path alone.
    pub fn keys(&self) -> [(&'static str, String); 3] {
        // `regsub(^[^.]+,*)`: the leading run of non-dots becomes `*`.
        let wild = match self.host.find('.') {
            Some(0) => format!("*{}", self.host),
            Some(i) => format!("*{}", &self.host[i..]),
            None if self.host.is_empty() => String::new(),
            None => "*".to_string(),
        };
        [
            ("host+path", format!("{}{}", self.host, self.path)),
            ("wildcard+path", format!("{wild}{}", self.path)),
            ("path", self.path.clone()),
        ]
    }

    pub(super) fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn cookie(&self, name: &str) -> Option<&str> {
        self.header("cookie")?
            .split(';')
            .filter_map(|c| c.trim().split_once('='))
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }
}

/// Which backend the canary rule picks for this request, and why.
/// `patterns`: the entries of HAProxy's canary ACL file, where a rule's header pattern is
/// (`(?m)\A<id>\n.*?(?:<regex>)`, matched against `<id>` LF the header value; the regex is
/// in the syntax PCRE2 and the `regex` crate read alike, so the choice is HAProxy's).
pub(super) fn canary_choice(
    rule: &CanaryRule,
    request: &Request,
    patterns: &[String],
) -> (bool, Option<String>) {
    if let Some(h) = &rule.header {
        let got = request.header(&h.to_string());
        match (&rule.header_value, &rule.header_pattern, got) {
            (Some(want), _, Some(v)) if v == want.to_string() => {
                return (true, Some(format!("header {h} is {want}")));
            }
            (None, Some(id), Some(v)) => {
                let probe = format!("{}\n{v}", id.as_str());
                let start = format!("(?m)\\A{}\\n", id.as_str());
                let entry = patterns.iter().find(|p| p.starts_with(&start));
                let matches = entry
                    .and_then(|p| regex::Regex::new(p).ok())
                    .is_some_and(|re| re.is_match(&probe));
                if matches {
                    return (
                        true,
                        Some(format!("header {h} matches pattern {}", id.as_str())),
                    );
                }
            }
            (None, None, Some("always")) => {
                return (true, Some(format!("header {h} is always")));
            }
            (None, None, Some("never")) => return (false, Some(format!("header {h} is never"))),
            _ => {}
        }
    }
    if let Some(c) = &rule.cookie {
        match request.cookie(&c.to_string()) {
            Some("always") => return (true, Some(format!("cookie {c} is always"))),
            Some("never") => return (false, Some(format!("cookie {c} is never"))),
            _ => {}
        }
    }
    (false, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(host: &str, path: &str) -> Request {
        Request::new(host, path, "get", &[]).unwrap()
    }

    #[test]
    fn keys_follow_the_frontend() {
        let cases = [
            (
                "A.Example.com:8080",
                "/x?q=1",
                ["a.example.com/x", "*.example.com/x", "/x"],
            ),
            ("localhost", "/", ["localhost/", "*/", "/"]),
            ("", "/p", ["/p", "/p", "/p"]),
            ("[::1]:80", "/", ["[::1]/", "*/", "/"]),
        ];
        for (host, path, want) in cases {
            let got: Vec<String> = req(host, path).keys().into_iter().map(|(_, k)| k).collect();
            assert_eq!(got, want, "{host} {path}");
        }
    }

    #[test]
    fn bad_requests_are_named() {
        assert!(Request::new("a", "x", "GET", &[]).is_err());
        assert!(Request::new("a", "/", "GET", &["nocolon".into()]).is_err());
        assert!(Request::new("a b", "/", "GET", &[]).is_err());
    }

    #[test]
    fn canary_rules_decide_by_header_then_cookie() {
        let mut rule = CanaryRule::new(10, 100).unwrap();
        rule.header = Some(haproxy::config::CanaryName::header("x-canary").unwrap());
        rule.cookie = Some(haproxy::config::CanaryName::cookie("c").unwrap());
        let with = |rule: &CanaryRule, h: &[&str]| {
            let h: Vec<String> = h.iter().map(|s| s.to_string()).collect();
            let p = [haproxy::config::CanaryPattern::new("^b.ta$")
                .unwrap()
                .acl_pattern()
                .as_str()
                .to_string()];
            canary_choice(rule, &Request::new("a", "/", "GET", &h).unwrap(), &p).0
        };
        assert!(with(&rule, &["X-Canary: always"]));
        assert!(!with(&rule, &["x-canary:never", "cookie: c=always"]));
        assert!(with(&rule, &["cookie: a=1; c=always"]));
        assert!(!with(&rule, &[]));
        rule.header_value = Some(haproxy::config::PolicyText::new("v", "beta").unwrap());
        assert!(with(&rule, &["x-canary: beta"]));
        assert!(!with(&rule, &["x-canary: always"]));
        rule.header_value = None;
        let pattern = haproxy::config::CanaryPattern::new("^b.ta$").unwrap();
        rule.header_pattern = Some(pattern.id().clone());
        assert!(with(&rule, &["x-canary: beta"]));
        assert!(with(&rule, &["x-canary: bota"]));
        assert!(!with(&rule, &["x-canary: xbeta"]));
        assert!(!with(&rule, &["x-canary: always"]));
        assert!(with(&rule, &["x-canary: never", "cookie: c=always"]));
    }
}
