//! Validated names and words: everything that reaches haproxy.cfg, a map file or the runtime
//! API is built from these newtypes, so hostile input is refused at construction.

use std::fmt;

use compact_str::CompactString;

use thiserror::Error;

/// Longest backend, server or frontend name we accept. HAProxy has no hard limit, but
/// `<namespace>_<service>_<port>` stays below this with Kubernetes' own limits.
pub const MAX_NAME_LEN: usize = 255;
/// Longest map key or value we accept (a host is at most 253 bytes; paths are bounded here).
pub const MAX_WORD_LEN: usize = 4096;

/// Why a name or word was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InvalidName {
    /// The value was empty.
    #[error("{what} is empty")]
    Empty {
        /// What kind of value it was.
        what: &'static str,
    },
    /// The value is longer than allowed.
    #[error("{what} is {len} bytes long, the limit is {max}")]
    TooLong {
        /// What kind of value it was.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The value holds a character HAProxy does not allow there.
    #[error("{what} {value:?} holds the character {ch:?}, which is not allowed there")]
    BadChar {
        /// What kind of value it was.
        what: &'static str,
        /// The value, for the message (debug-escaped).
        value: String,
        /// The offending character.
        ch: char,
    },
}

fn check_len(what: &'static str, s: &str, max: usize) -> Result<(), InvalidName> {
    if s.is_empty() {
        return Err(InvalidName::Empty { what });
    }
    if s.len() > max {
        return Err(InvalidName::TooLong {
            what,
            len: s.len(),
            max,
        });
    }
    Ok(())
}

/// HAProxy's identifier rule (`invalid_char()`): letters, digits, `-`, `_`, `.`, `:`.
fn check_identifier(what: &'static str, s: &str) -> Result<(), InvalidName> {
    check_len(what, s, MAX_NAME_LEN)?;
    if let Some(ch) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
    {
        return Err(InvalidName::BadChar {
            what,
            value: s.to_string(),
            ch,
        });
    }
    Ok(())
}

macro_rules! identifier {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        ///
        /// Held inline up to 24 bytes (a server's `ip:port`, most backend names): the model,
        /// the observed state and the plans hold many copies of each name.
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(CompactString);

        impl $name {
            /// Validates `s` against HAProxy's identifier rules.
            pub fn new(s: impl Into<String>) -> Result<Self, InvalidName> {
                let s = s.into();
                check_identifier($what, &s)?;
                Ok(Self(CompactString::from(s)))
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidName;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }
    };
}

identifier!(
    /// A backend (proxy) name.
    BackendName,
    "backend name"
);
identifier!(
    /// A server name inside a backend.
    ServerName,
    "server name"
);
identifier!(
    /// A frontend name.
    FrontendName,
    "frontend name"
);

/// A server designated as `backend/server`, as runtime commands take it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServerRef {
    /// The backend.
    pub backend: BackendName,
    /// The server.
    pub server: ServerName,
}

impl ServerRef {
    /// Pairs a backend and a server name.
    pub fn new(backend: BackendName, server: ServerName) -> Self {
        Self { backend, server }
    }
}

impl fmt::Display for ServerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.backend, self.server)
    }
}

word!(
    /// A word that goes into a map file and the runtime API as a map key: printable, no
    /// whitespace (a map file splits key and value on it), no control characters, and not
    /// starting with `#` (a comment in a map file).
    MapKey
);

impl MapKey {
    /// Validates a map key.
    pub fn new(s: impl Into<String>) -> Result<Self, InvalidName> {
        let s = s.into();
        check_len("map key", &s, MAX_WORD_LEN)?;
        if let Some(ch) = s.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(InvalidName::BadChar {
                what: "map key",
                value: s.clone(),
                ch,
            });
        }
        if s.starts_with('#') {
            return Err(InvalidName::BadChar {
                what: "map key",
                value: s.clone(),
                ch: '#',
            });
        }
        Ok(Self(s))
    }
}

word!(
    /// A pattern of an ACL file (one line of it, one word of an `add acl`/`del acl`): no
    /// whitespace, no control characters, not starting with `#` (a comment in the file).
    AclPattern
);

impl AclPattern {
    /// Validates an ACL pattern.
    pub fn new(s: impl Into<String>) -> Result<Self, InvalidName> {
        let s = s.into();
        check_len("acl pattern", &s, MAX_WORD_LEN)?;
        let bad = s
            .chars()
            .find(|c| c.is_whitespace() || c.is_control())
            .or_else(|| s.starts_with('#').then_some('#'));
        if let Some(ch) = bad {
            return Err(InvalidName::BadChar {
                what: "acl pattern",
                value: s.clone(),
                ch,
            });
        }
        Ok(Self(s))
    }
}

word!(
    /// A map value: printable text without control characters and without leading or trailing
    /// whitespace (a map file would lose it). Inner spaces are kept.
    MapValue
);

impl MapValue {
    /// Validates a map value.
    pub fn new(s: impl Into<String>) -> Result<Self, InvalidName> {
        let s = s.into();
        check_len("map value", &s, MAX_WORD_LEN)?;
        if let Some(ch) = s.chars().find(|c| c.is_control()) {
            return Err(InvalidName::BadChar {
                what: "map value",
                value: s.clone(),
                ch,
            });
        }
        if let Some(ch) = s
            .chars()
            .next()
            .filter(|c| c.is_whitespace())
            .or_else(|| s.chars().last().filter(|c| c.is_whitespace()))
        {
            return Err(InvalidName::BadChar {
                what: "map value",
                value: s.clone(),
                ch,
            });
        }
        Ok(Self(s))
    }
}

impl From<BackendName> for MapValue {
    fn from(b: BackendName) -> Self {
        Self(b.0.into_string())
    }
}

word!(
    /// A file path as HAProxy names maps and certificates: absolute or relative, no whitespace,
    /// no control characters. Runtime commands identify a map by this exact string.
    FilePath
);

impl FilePath {
    /// Validates a path.
    pub fn new(s: impl Into<String>) -> Result<Self, InvalidName> {
        let s = s.into();
        check_len("file path", &s, MAX_WORD_LEN)?;
        if let Some(ch) = s
            .chars()
            .find(|c| c.is_whitespace() || c.is_control() || matches!(c, ';' | '\\' | '"' | '\''))
        {
            return Err(InvalidName::BadChar {
                what: "file path",
                value: s.clone(),
                ch,
            });
        }
        Ok(Self(s))
    }

    /// Builds a path from a `std::path::Path`, refusing non-UTF-8 paths.
    pub fn from_path(p: &std::path::Path) -> Result<Self, InvalidName> {
        match p.to_str() {
            Some(s) => Self::new(s),
            None => Err(InvalidName::BadChar {
                what: "file path",
                value: p.display().to_string(),
                ch: char::REPLACEMENT_CHARACTER,
            }),
        }
    }
}

/// Longest DNS name an SNI filter may hold.
pub const MAX_DNS_NAME_LEN: usize = 253;
/// Longest label of a DNS name.
pub const MAX_DNS_LABEL_LEN: usize = 63;

word!(
    /// An SNI filter of a crt-list line: a DNS name of lower-case `[a-z0-9-]` labels (1 to 63
    /// bytes each, at most 253 bytes in all), or `*.` followed by such a name. HAProxy matches a
    /// filter against the client's server name; `!` (negation), `[` (options), `#` (comment),
    /// whitespace and anything outside ASCII never get in.
    SniFilter
);

impl SniFilter {
    /// Validates a filter, lower-casing ASCII upper-case letters first.
    pub fn new(s: impl Into<String>) -> Result<Self, InvalidName> {
        const WHAT: &str = "SNI filter";
        let mut s = s.into();
        s.make_ascii_lowercase();
        check_len(WHAT, &s, MAX_DNS_NAME_LEN)?;
        let bad = |ch: char| InvalidName::BadChar {
            what: WHAT,
            value: s.clone(),
            ch,
        };
        let name = s.strip_prefix("*.").unwrap_or(&s);
        for label in name.split('.') {
            if let Some(ch) = label
                .chars()
                .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
            {
                return Err(bad(ch));
            }
            if label.is_empty() {
                // An empty label: a leading, trailing or doubled dot (or a lone `*.`).
                return Err(bad('.'));
            }
            if label.len() > MAX_DNS_LABEL_LEN {
                return Err(InvalidName::TooLong {
                    what: "SNI filter label",
                    len: label.len(),
                    max: MAX_DNS_LABEL_LEN,
                });
            }
        }
        Ok(Self(s))
    }

    /// True for `*.<name>`.
    pub fn is_wildcard(&self) -> bool {
        self.0.starts_with("*.")
    }
}

impl std::str::FromStr for SniFilter {
    type Err = InvalidName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

/// Escapes one word for the runtime API: a backslash before `\`, `;`, space and tab, so the
/// CLI's word splitter gives back exactly `word`. Words are validated to hold no newline or
/// other control character before they get here.
pub fn escape_cli_word(word: &str, out: &mut String) {
    for c in word.chars() {
        if matches!(c, '\\' | ';' | ' ' | '\t') {
            out.push('\\');
        }
        out.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_follow_haproxy_rules() {
        let table: &[(&str, bool)] = &[
            ("default_web_80", true),
            ("be-1.a:b", true),
            ("", false),
            ("a b", false),
            ("a;b", false),
            ("a\nb", false),
            ("a/b", false),
            ("é", false),
            ("a#b", false),
        ];
        for (input, ok) in table {
            assert_eq!(BackendName::new(*input).is_ok(), *ok, "{input:?}");
        }
        assert!(BackendName::new("x".repeat(MAX_NAME_LEN + 1)).is_err());
    }

    #[test]
    fn map_keys_refuse_whitespace_and_comments() {
        assert!(MapKey::new("example.com/foo/").is_ok());
        assert!(MapKey::new("example.com/a;b\\c").is_ok());
        assert!(MapKey::new("a b").is_err());
        assert!(MapKey::new("a\tb").is_err());
        assert!(MapKey::new("a\nb").is_err());
        assert!(MapKey::new("a\0b").is_err());
        assert!(MapKey::new("#x").is_err());
        assert!(MapKey::new("").is_err());
    }

    #[test]
    fn map_values_keep_inner_spaces_only() {
        assert!(MapValue::new("two words").is_ok());
        assert!(MapValue::new(" lead").is_err());
        assert!(MapValue::new("trail ").is_err());
        assert!(MapValue::new("a\rb").is_err());
    }

    #[test]
    fn sni_filters_are_lower_case_dns_names() {
        let table: &[(&str, Option<&str>)] = &[
            ("example.com", Some("example.com")),
            ("Example.COM", Some("example.com")),
            ("*.example.com", Some("*.example.com")),
            ("*.COM", Some("*.com")),
            ("a-b.c0", Some("a-b.c0")),
            ("localhost", Some("localhost")),
            ("", None),
            ("*", None),
            ("*.", None),
            ("a.*.b", None),
            ("**.a", None),
            ("a..b", None),
            (".a", None),
            ("a.", None),
            ("a b", None),
            ("!a.b", None),
            ("[a]", None),
            ("#a", None),
            ("a\0b", None),
            ("a_b", None),
            ("a:1", None),
            ("éx.com", None),
            ("xn--x-9fa.com", Some("xn--x-9fa.com")),
        ];
        for (input, want) in table {
            let got = SniFilter::new(*input).ok();
            assert_eq!(got.as_ref().map(SniFilter::as_str), *want, "{input:?}");
        }
        assert!(SniFilter::new("*.a").unwrap().is_wildcard());
        let label = "a".repeat(MAX_DNS_LABEL_LEN);
        assert!(SniFilter::new(format!("{label}.com")).is_ok());
        assert!(matches!(
            SniFilter::new(format!("{label}a.com")),
            Err(InvalidName::TooLong { max: 63, .. })
        ));
        let long = vec!["abcdefghi"; 26].join(".");
        assert_eq!(long.len(), 259);
        assert!(matches!(
            SniFilter::new(long),
            Err(InvalidName::TooLong { max: 253, .. })
        ));
        let max = format!("{}.{}", vec!["a".repeat(63); 3].join("."), "a".repeat(61));
        assert_eq!(max.len(), 253);
        assert!(SniFilter::new(max).is_ok());
    }

    #[test]
    fn escaping_protects_separators() {
        let mut out = String::new();
        escape_cli_word("a;b\\c d\te", &mut out);
        assert_eq!(out, "a\\;b\\\\c\\ d\\\te");
    }
}
