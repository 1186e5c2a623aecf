//! Per-route policies that ride in the route map value after the backend: redirects, the
//! application root, a path rewrite and request headers. The frontend applies them with
//! fixed rules reading the value's fields, so changing one is a map update, not a reload.
//!
//! Value layout (fields split by `|`, trailing empty fields left out):
//! `backend|flags|redirect|app-root|x-forwarded-prefix|rewrite|upstream-vhost`, where
//! `flags` is `https` when plain HTTP is redirected to HTTPS and `redirect` is the 3-digit
//! code followed by the location.

use std::fmt;

use super::model::InvalidValue;

/// Longest policy text; a map value holds the backend and every field below HAProxy's limit.
pub const MAX_POLICY_LEN: usize = 1024;

/// Text carried in a route map value: printable ASCII without whitespace, `|` (the field
/// separator), `#` or `;`, at most [`MAX_POLICY_LEN`] bytes. It is data to HAProxy (a sample), never
/// parsed as configuration or a log-format.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PolicyText(String);

impl PolicyText {
    /// Validates any text.
    pub fn new(what: &'static str, s: &str) -> Result<Self, InvalidValue> {
        if s.is_empty() {
            return Err(InvalidValue::new(what, s, "it is empty"));
        }
        if s.len() > MAX_POLICY_LEN {
            return Err(InvalidValue::new(what, s, "it is longer than 1024 bytes"));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'|' | b'#' | b';'))
        {
            return Err(InvalidValue::new(
                what,
                s,
                "only printable ASCII without whitespace, |, # or ; is allowed",
            ));
        }
        Ok(Self(s.to_string()))
    }

    /// Validates an absolute path (`/…`).
    pub fn path(what: &'static str, s: &str) -> Result<Self, InvalidValue> {
        if !s.starts_with('/') {
            return Err(InvalidValue::new(what, s, "it must start with /"));
        }
        if s.contains('?') {
            return Err(InvalidValue::new(what, s, "a path holds no ?"));
        }
        Self::new(what, s)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PolicyText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A redirect status HAProxy's `redirect` supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RedirectCode(u16);

impl RedirectCode {
    /// The codes, in the order the frontend tests them.
    pub const ALL: [u16; 5] = [301, 302, 303, 307, 308];

    /// Validates a code.
    pub fn new(code: u16) -> Result<Self, InvalidValue> {
        if Self::ALL.contains(&code) {
            Ok(Self(code))
        } else {
            Err(InvalidValue::new(
                "redirect code",
                code.to_string(),
                "HAProxy redirects with 301, 302, 303, 307 or 308",
            ))
        }
    }

    /// The code.
    pub fn get(self) -> u16 {
        self.0
    }
}

/// Answer every request of the route with a redirect.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PolicyRedirect {
    /// The status.
    pub code: RedirectCode,
    /// The `Location`.
    pub location: PolicyText,
}

/// The policies of one route (each optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RoutePolicy {
    /// Redirect every request (permanent-redirect, temporal-redirect).
    pub redirect: Option<PolicyRedirect>,
    /// Redirect a request for `/` here with 302 (app-root).
    pub app_root: Option<PolicyText>,
    /// Send `X-Forwarded-Prefix` with this value (x-forwarded-prefix).
    pub forwarded_prefix: Option<PolicyText>,
    /// Replace the request path with this one, keeping the query (rewrite-target).
    pub rewrite: Option<PolicyText>,
    /// Send this `Host` to the servers (upstream-vhost).
    pub vhost: Option<PolicyText>,
}

impl RoutePolicy {
    /// Whether no policy is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The value fields after `backend|flags`, trailing empty ones left out.
    pub(super) fn fields(&self) -> Vec<String> {
        let mut out = vec![
            self.redirect
                .as_ref()
                .map(|r| format!("{}{}", r.code.get(), r.location))
                .unwrap_or_default(),
            text(&self.app_root),
            text(&self.forwarded_prefix),
            text(&self.rewrite),
            text(&self.vhost),
        ];
        while out.last().is_some_and(String::is_empty) {
            out.pop();
        }
        out
    }

    /// Reads the fields after `backend|flags` back; `None` when they are not ones
    /// [`RoutePolicy::fields`] writes.
    pub(super) fn parse(fields: &[&str]) -> Option<Self> {
        if fields.len() > 5 {
            return None;
        }
        let get = |i: usize| fields.get(i).copied().filter(|s| !s.is_empty());
        let redirect = match get(0) {
            None => None,
            Some(s) => {
                let (code, location) = (s.get(..3)?, s.get(3..)?);
                Some(PolicyRedirect {
                    code: RedirectCode::new(code.parse().ok()?).ok()?,
                    location: PolicyText::new("location", location).ok()?,
                })
            }
        };
        let text = |i: usize| -> Option<Option<PolicyText>> {
            match get(i) {
                None => Some(None),
                Some(s) => PolicyText::new("policy", s).ok().map(Some),
            }
        };
        Some(Self {
            redirect,
            app_root: text(1)?,
            forwarded_prefix: text(2)?,
            rewrite: text(3)?,
            vhost: text(4)?,
        })
    }
}

fn text(t: &Option<PolicyText>) -> String {
    t.as_ref().map(|t| t.0.clone()).unwrap_or_default()
}

/// The frontend rules that apply a route's policy, after the route lookup set `txn.route`
/// (and before `use_backend`). Fixed text: the policies themselves are in the maps.
pub(super) fn frontend_rules() -> Vec<String> {
    let field = |n: u8| format!("var(txn.route),field({n},|)");
    let set = |n: u8| format!("{{ {} -m len gt 0 }}", field(n));
    let mut out = vec![format!(
        "http-request set-var(txn.redirect) {} if {}",
        field(3),
        set(3)
    )];
    for code in RedirectCode::ALL {
        out.push(format!(
            "http-request redirect location %[var(txn.redirect),bytes(3)] code {code} if \
             {{ var(txn.redirect),bytes(0,3) -m str {code} }}"
        ));
    }
    out.push(format!(
        "http-request redirect location %[{}] code 302 if {{ path / }} {}",
        field(4),
        set(4)
    ));
    out.push(format!(
        "http-request set-header X-Forwarded-Prefix %[{}] if {}",
        field(5),
        set(5)
    ));
    out.push(format!(
        "http-request set-path %[{}] if {}",
        field(6),
        set(6)
    ));
    out.push(format!(
        "http-request set-header Host %[{}] if {}",
        field(7),
        set(7)
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> PolicyText {
        PolicyText::new("t", s).unwrap()
    }

    #[test]
    fn fields_round_trip() {
        let table = [
            (RoutePolicy::default(), Vec::<&str>::new()),
            (
                RoutePolicy {
                    rewrite: Some(t("/")),
                    ..Default::default()
                },
                vec!["", "", "", "/"],
            ),
            (
                RoutePolicy {
                    redirect: Some(PolicyRedirect {
                        code: RedirectCode::new(308).unwrap(),
                        location: t("https://example.com/a?b=c"),
                    }),
                    vhost: Some(t("internal.example:8080")),
                    ..Default::default()
                },
                vec![
                    "308https://example.com/a?b=c",
                    "",
                    "",
                    "",
                    "internal.example:8080",
                ],
            ),
        ];
        for (policy, want) in table {
            let fields = policy.fields();
            assert_eq!(fields, want);
            let refs: Vec<&str> = fields.iter().map(String::as_str).collect();
            assert_eq!(RoutePolicy::parse(&refs), Some(policy));
        }
    }

    #[test]
    fn hostile_text_is_refused() {
        for s in [
            "",
            "a b",
            "a|b",
            "a#b",
            "a;b",
            "a\nb",
            "é",
            &"x".repeat(MAX_POLICY_LEN + 1),
        ] {
            assert!(PolicyText::new("t", s).is_err(), "{s:?}");
        }
        for s in ["x", "/a?b"] {
            assert!(PolicyText::path("p", s).is_err(), "{s:?}");
        }
        for code in [0, 200, 300, 304, 399] {
            assert!(RedirectCode::new(code).is_err(), "{code}");
        }
        assert_eq!(RoutePolicy::parse(&["999x"]), None);
        assert_eq!(RoutePolicy::parse(&["", "", "", "", "", "extra"]), None);
    }
}
