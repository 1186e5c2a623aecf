//! HTTP basic authentication: `userlist` sections and the frontend rules that ask for their
//! credentials. HAProxy 2.6 has no runtime command for userlists or for a rule's realm, so
//! a new user list, a changed password or a changed realm is structural (a reload); which
//! route asks for which list is the `auth` field of its map value (see [`super::policy`]),
//! so attaching an existing list to another route is a map update.
//!
//! Every value is validated here before it reaches haproxy.cfg: user names and password
//! hashes are single words of a strict character set, realms are printable ASCII without
//! `"` or `\` (HAProxy writes the realm into `WWW-Authenticate` unescaped) and are quoted
//! with `$` escaped (HAProxy expands environment variables inside double quotes).

use std::collections::BTreeMap;
use std::fmt;

use super::value::{InvalidValue, check_set};

/// The `auth` field value of a route whose authentication cannot be set up (a missing
/// Secret, an unsupported `auth-type`): the route answers `503`, as ingress-nginx answers a
/// location it denies, and never serves unauthenticated.
pub const AUTH_DENIED: &str = "_denied";

/// Longest user name.
pub const MAX_USER_LEN: usize = 128;
/// Longest password hash (a yescrypt or SHA-512 crypt hash is about 100 bytes).
pub const MAX_HASH_LEN: usize = 256;
/// Longest realm.
pub const MAX_REALM_LEN: usize = 256;

word!(
    /// A user name: 1 to [`MAX_USER_LEN`] bytes of ASCII letters, digits and `. _ - @ +`.
    UserName
);

impl UserName {
    /// Validates a user name.
    pub fn new(s: &str) -> Result<Self, InvalidValue> {
        if s.is_empty() {
            return Err(InvalidValue::new("user name", s, "it is empty"));
        }
        if s.len() > MAX_USER_LEN {
            return Err(InvalidValue::new(
                "user name",
                s,
                "it is longer than 128 bytes",
            ));
        }
        check_set(
            "user name",
            s,
            |c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+'),
            "only ASCII letters, digits and . _ - @ + are allowed",
        )?;
        Ok(Self(s.to_string()))
    }
}

/// The crypt(3) schemes HAProxy 2.6 on Debian 12 (libxcrypt) checks, each measured with a
/// real HAProxy: the right password gets through, a wrong one gets `401`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HashScheme {
    /// bcrypt (`$2a$`, `$2b$`, `$2y$`): `htpasswd -B`.
    Bcrypt,
    /// yescrypt (`$y$`), Debian's default for `/etc/shadow`.
    Yescrypt,
    /// GOST yescrypt (`$gy$`).
    GostYescrypt,
    /// scrypt (`$7$`).
    Scrypt,
    /// SHA-512 crypt (`$6$`): `openssl passwd -6`, `mkpasswd -m sha-512`.
    Sha512,
    /// SHA-256 crypt (`$5$`): `openssl passwd -5`.
    Sha256,
    /// MD5 crypt (`$1$`): `openssl passwd -1`. Weak.
    Md5,
    /// Traditional DES crypt (13 characters, no prefix): `htpasswd -d`. Weak: only the
    /// first 8 characters of a password count.
    Des,
}

/// Why a password hash is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashError {
    /// A format HAProxy's crypt(3) cannot check (named, with what to do).
    Unsupported(&'static str),
    /// Not a hash at all, or characters that cannot be one.
    Invalid(&'static str),
}

impl fmt::Display for HashError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HashError::Unsupported(why) | HashError::Invalid(why) => f.write_str(why),
        }
    }
}

/// A password hash HAProxy can check: one word of the crypt alphabet (`A-Z a-z 0-9 . / $`
/// and, in parameters, `= ,`), at most [`MAX_HASH_LEN`] bytes, of a [`HashScheme`].
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PasswordHash(String);

impl fmt::Debug for PasswordHash {
    // A hash is not a password, but there is no reason to print it in logs either.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PasswordHash({:?})", self.scheme())
    }
}

impl PasswordHash {
    /// Validates a hash and names its scheme.
    pub fn new(s: &str) -> Result<Self, HashError> {
        if s.starts_with("$apr1$") {
            return Err(HashError::Unsupported(
                "an Apache MD5 ($apr1$) hash, htpasswd's default: HAProxy checks passwords with \
                 crypt(3), which does not know it; regenerate it with `htpasswd -B` (bcrypt) or \
                 `openssl passwd -6`",
            ));
        }
        if s.starts_with("{SHA}") || s.starts_with("{SSHA}") {
            return Err(HashError::Unsupported(
                "a {SHA} hash (htpasswd -s): HAProxy checks passwords with crypt(3), which does \
                 not know it; regenerate it with `htpasswd -B` (bcrypt) or `openssl passwd -6`",
            ));
        }
        if s.starts_with("{PLAIN}") {
            return Err(HashError::Unsupported(
                "a plain-text password ({PLAIN}): only crypt(3) hashes are taken; regenerate it \
                 with `htpasswd -B` (bcrypt) or `openssl passwd -6`",
            ));
        }
        if s.starts_with("$argon2") || s.starts_with("$pbkdf2") {
            return Err(HashError::Unsupported(
                "an argon2 or PBKDF2 hash: HAProxy's crypt(3) (libxcrypt) does not check it; \
                 regenerate it with `htpasswd -B` (bcrypt) or `openssl passwd -6`",
            ));
        }
        if s.is_empty() {
            return Err(HashError::Invalid("the password hash is empty"));
        }
        if s.len() > MAX_HASH_LEN {
            return Err(HashError::Invalid(
                "the password hash is longer than 256 bytes",
            ));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'/' | b'$' | b'=' | b','))
        {
            return Err(HashError::Invalid(
                "the password hash holds characters no crypt(3) hash has (only A-Z a-z 0-9 . / \
                 $ = , are taken): is it a plain-text password? regenerate it with `htpasswd -B` \
                 (bcrypt) or `openssl passwd -6`",
            ));
        }
        let hash = Self(s.to_string());
        match hash.scheme() {
            Some(_) => Ok(hash),
            None if s.starts_with('$') => Err(HashError::Unsupported(
                "a crypt(3) scheme not taken here (bcrypt $2a$/$2b$/$2y$, yescrypt $y$, $gy$, \
                 scrypt $7$, SHA-512 $6$, SHA-256 $5$, MD5 $1$ and DES are); regenerate it with \
                 `htpasswd -B` (bcrypt) or `openssl passwd -6`",
            )),
            None => Err(HashError::Invalid(
                "not a crypt(3) hash (a plain-text password?); regenerate it with `htpasswd -B` \
                 (bcrypt) or `openssl passwd -6`",
            )),
        }
    }

    /// The scheme, from the prefix (and the shape for DES and bcrypt).
    pub fn scheme(&self) -> Option<HashScheme> {
        let s = self.0.as_str();
        let fields = s.split('$').count();
        let scheme = if ["$2a$", "$2b$", "$2y$"].iter().any(|p| s.starts_with(p)) {
            // $2b$<cost>$<22 salt + 31 hash>
            (s.len() == 60).then_some(HashScheme::Bcrypt)?
        } else if s.starts_with("$y$") {
            HashScheme::Yescrypt
        } else if s.starts_with("$gy$") {
            HashScheme::GostYescrypt
        } else if s.starts_with("$7$") {
            HashScheme::Scrypt
        } else if s.starts_with("$6$") {
            HashScheme::Sha512
        } else if s.starts_with("$5$") {
            HashScheme::Sha256
        } else if s.starts_with("$1$") {
            HashScheme::Md5
        } else if s.len() == 13
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'/')
        {
            return Some(HashScheme::Des);
        } else {
            return None;
        };
        // `$id$[params$]salt$hash`: at least the id, a salt and a hash.
        (fields >= 4 && !s.ends_with('$')).then_some(scheme)
    }

    /// The hash.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What `WWW-Authenticate: Basic realm="…"` says: printable ASCII and spaces, without `"` or
/// `\`, 1 to [`MAX_REALM_LEN`] bytes (HAProxy needs a realm, and writes it unescaped).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Realm(String);

impl Realm {
    /// The realm when none is set (HAProxy cannot send an empty one).
    pub const DEFAULT: &'static str = "Authentication Required";

    /// Validates a realm.
    pub fn new(s: &str) -> Result<Self, InvalidValue> {
        if s.is_empty() {
            return Err(InvalidValue::new("realm", s, "it is empty"));
        }
        if s.len() > MAX_REALM_LEN {
            return Err(InvalidValue::new("realm", s, "it is longer than 256 bytes"));
        }
        if !s
            .bytes()
            .all(|b| (b.is_ascii_graphic() || b == b' ') && b != b'"' && b != b'\\')
        {
            return Err(InvalidValue::new(
                "realm",
                s,
                "only printable ASCII and spaces without \" or \\ are allowed",
            ));
        }
        Ok(Self(s.to_string()))
    }

    /// The default realm.
    pub fn default_realm() -> Self {
        Self(Self::DEFAULT.to_string())
    }

    /// The realm.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The realm as a double-quoted haproxy.cfg word: `$` escaped (no environment variable
    /// is expanded); nothing else in it is special inside double quotes.
    fn quoted(&self) -> String {
        format!("\"{}\"", self.0.replace('$', "\\$"))
    }
}

word!(
    /// The id of a user list: a HAProxy identifier (letters, digits, `_ . : -`), at most 200
    /// bytes, starting with a letter; it is also what a route's `auth` field holds.
    AuthId
);

impl AuthId {
    /// Validates an id.
    pub fn new(s: &str) -> Result<Self, InvalidValue> {
        if s.is_empty() || s.len() > 200 {
            return Err(InvalidValue::new(
                "user list id",
                s,
                "it is empty or longer than 200 bytes",
            ));
        }
        if !s.starts_with(|c: char| c.is_ascii_alphabetic())
            || !s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
        {
            return Err(InvalidValue::new(
                "user list id",
                s,
                "only ASCII letters, digits and _ . : - are allowed, starting with a letter",
            ));
        }
        Ok(Self(s.to_string()))
    }
}

/// One user list and the realm its routes send.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BasicAuth {
    /// The realm (`None`: [`Realm::DEFAULT`]).
    pub realm: Option<Realm>,
    /// The users and their hashes (none: nobody gets in).
    pub users: BTreeMap<UserName, PasswordHash>,
}

impl BasicAuth {
    fn realm(&self) -> Realm {
        self.realm.clone().unwrap_or_else(Realm::default_realm)
    }
}

/// The `userlist` sections.
pub(super) fn render_userlists(out: &mut String, lists: &BTreeMap<AuthId, BasicAuth>) {
    for (id, auth) in lists {
        out.push_str("\nuserlist ");
        out.push_str(id.as_str());
        out.push('\n');
        for (user, hash) in &auth.users {
            out.push_str("    user ");
            out.push_str(user.as_str());
            out.push_str(" password ");
            out.push_str(hash.as_str());
            out.push('\n');
        }
    }
}

/// The frontend rules, after the route policies and before `use_backend`: a route whose
/// `auth` field (value field `field`) names a list asks for credentials in it (`401` with
/// the list's realm); [`AUTH_DENIED`] answers `503`; an authenticated request reaches the
/// server without its `Authorization` header, as with ingress-nginx.
pub(super) fn frontend_rules(field: u8, lists: &BTreeMap<AuthId, BasicAuth>) -> Vec<String> {
    let f = format!("var(txn.route),field({field},|)");
    let mut out = vec![format!(
        "http-request deny deny_status 503 if {{ {f} -m str {AUTH_DENIED} }}"
    )];
    for (id, auth) in lists {
        out.push(format!(
            "http-request auth realm {} if {{ {f} -m str {id} }} !{{ http_auth({id}) }}",
            auth.realm().quoted()
        ));
    }
    out.push(format!(
        "http-request del-header Authorization if {{ {f} -m len gt 0 }}"
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_classified_as_measured() {
        let ok = [
            (
                "$2y$05$a77aX9P9sLHMnXO4eU7II.YvY6FtHcpJsns83aDUeOU1yG.zMF0ky",
                HashScheme::Bcrypt,
            ),
            (
                "$2b$05$WxPGX3mA2fza3ohoBFpE8OWhGvM4.dYgs3/ovrIFUaqsA5BYGQ9xG",
                HashScheme::Bcrypt,
            ),
            (
                "$y$j9T$cKbY/XD7Ucwpd5eYem56L.$Coo.KKPFTf7i2NBD31Gl02aIDTC0.wC67rg1prQ3TS.",
                HashScheme::Yescrypt,
            ),
            (
                "$5$YPMGxafl/fXbTxhJ$o/pFkQzAoAuYlwIMA6mDSosRtoTN.80MpKg/3WDYJ92",
                HashScheme::Sha256,
            ),
            ("$1$zmAjmYhY$y4jXlpxTe3sd11NhZXS/Z.", HashScheme::Md5),
            ("MDRkC47WT6Z2k", HashScheme::Des),
        ];
        for (h, scheme) in ok {
            assert_eq!(PasswordHash::new(h).unwrap().scheme(), Some(scheme), "{h}");
        }
        let unsupported = [
            "$apr1$0T8rryVz$jEioZyrziInFXlK11TnZo/",
            "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=",
            "{PLAIN}secret",
            "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
            "$sha1$223699$Uk1/4IUufX.03Wse5CE5$OalDF38oQCMRVE9pt3OK59gczgbR",
        ];
        for h in unsupported {
            assert!(
                matches!(PasswordHash::new(h), Err(HashError::Unsupported(_))),
                "{h}"
            );
        }
        let invalid = [
            "",
            "secret",
            "pass word",
            "$6$salt$hash x",
            "$6$salt$hash\nuser evil password x",
            "$6$salt$",
            "$6$",
            "$2b$05$short",
            "a#b",
            "\"quoted\"",
            &"$6$".repeat(100),
        ];
        for h in invalid {
            assert!(PasswordHash::new(h).is_err(), "{h:?}");
        }
    }

    #[test]
    fn names_and_realms_are_refused_when_hostile() {
        for u in [
            "",
            "a b",
            "a:b",
            "a#b",
            "a\"b",
            "é",
            "a\nb",
            &"u".repeat(129),
        ] {
            assert!(UserName::new(u).is_err(), "{u:?}");
        }
        for u in ["foo", "jane.doe@example.com", "a-b_c+d"] {
            assert!(UserName::new(u).is_ok(), "{u:?}");
        }
        for r in ["", "a\"b", "a\\b", "a\nb", "é", &"r".repeat(257)] {
            assert!(Realm::new(r).is_err(), "{r:?}");
        }
        let r = Realm::new("Pay $HOME #1 'x'").unwrap();
        assert_eq!(r.quoted(), "\"Pay \\$HOME #1 'x'\"");
        for id in ["", "_x", "a b", "a/b", "a|b"] {
            assert!(AuthId::new(id).is_err(), "{id:?}");
        }
    }

    #[test]
    fn rules_and_sections_render() {
        let mut lists = BTreeMap::new();
        let mut auth = BasicAuth::default();
        auth.users.insert(
            UserName::new("foo").unwrap(),
            PasswordHash::new("$1$zmAjmYhY$y4jXlpxTe3sd11NhZXS/Z.").unwrap(),
        );
        lists.insert(AuthId::new("auth:ns:basic").unwrap(), auth);
        let mut out = String::new();
        render_userlists(&mut out, &lists);
        assert_eq!(
            out,
            "\nuserlist auth:ns:basic\n    user foo password $1$zmAjmYhY$y4jXlpxTe3sd11NhZXS/Z.\n"
        );
        let rules = frontend_rules(23, &lists);
        assert_eq!(
            rules[1],
            "http-request auth realm \"Authentication Required\" if \
             { var(txn.route),field(23,|) -m str auth:ns:basic } !{ http_auth(auth:ns:basic) }"
        );
        assert_eq!(rules.len(), 3);
    }
}
