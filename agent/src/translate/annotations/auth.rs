//! Basic authentication as ingress-nginx reads it: `auth-type: basic`, `auth-secret`
//! (`name` or `namespace/name`), `auth-secret-type` (`auth-file`: key `auth` holds htpasswd
//! lines; `auth-map`: each key a user, its value the hash) and `auth-realm`; and the users
//! of such a Secret, each hash checked against what HAProxy's crypt(3) can verify.
//!
//! Anything that leaves the Ingress unable to authenticate (an unknown `auth-type`, no
//! `auth-secret`, a Secret that is missing or has no `auth` key) fails closed: its routes
//! answer `503`, as ingress-nginx answers a location it denies.

use std::collections::BTreeMap;

use haproxy::config::{AuthId, BasicAuth, HashError, PasswordHash, Realm, UserName};
use k8s_openapi::api::core::v1::Secret;

use super::reader::Reader;

/// How a Secret holds its users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SecretType {
    /// Key `auth`: an htpasswd file (`user:hash` per line).
    AuthFile,
    /// Each key a user, its value the hash.
    AuthMap,
}

impl SecretType {
    fn tag(self) -> &'static str {
        match self {
            SecretType::AuthFile => "file",
            SecretType::AuthMap => "map",
        }
    }
}

/// What an Ingress's auth annotations ask for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AuthRequest {
    /// No authentication.
    #[default]
    None,
    /// Basic authentication against a Secret's users.
    Basic {
        /// The annotation to blame (`metadata.annotations[…auth-secret]`).
        field: String,
        /// The Secret's namespace (the Ingress's when the annotation names none).
        namespace: Option<String>,
        /// The Secret's name.
        name: String,
        /// How it holds its users.
        secret_type: SecretType,
        /// The realm (`None`: [`Realm::DEFAULT`]).
        realm: Option<Realm>,
    },
    /// Authentication was asked for and cannot be done: the routes answer `503`.
    Denied,
}

const FAIL_CLOSED: &str = "the Ingress's routes answer 503 until it is fixed (ingress-nginx \
     denies such locations too)";

/// Reads the auth annotations.
pub(super) fn read(r: &mut Reader<'_>) -> AuthRequest {
    let secret = r.get("auth-secret");
    let secret_type = r.get("auth-secret-type");
    let realm = r.get("auth-realm");
    let Some((type_key, t)) = r.get("auth-type") else {
        for (key, _) in [secret, secret_type, realm].into_iter().flatten() {
            r.invalid(key, "without auth-type: basic it does nothing");
        }
        return AuthRequest::None;
    };
    match t.trim() {
        "basic" => {}
        "digest" => {
            r.unsupported(
                type_key,
                format!(
                    "digest authentication: HAProxy checks only basic credentials; {FAIL_CLOSED}"
                ),
            );
            return AuthRequest::Denied;
        }
        other => {
            r.invalid(
                type_key,
                format!("{other:?} is not basic or digest; {FAIL_CLOSED}"),
            );
            return AuthRequest::Denied;
        }
    }
    let secret_type = match secret_type {
        None => SecretType::AuthFile,
        Some((key, v)) => match v.trim() {
            "auth-file" => SecretType::AuthFile,
            "auth-map" => SecretType::AuthMap,
            other => {
                r.invalid(
                    key,
                    format!("{other:?} is not auth-file or auth-map; {FAIL_CLOSED}"),
                );
                return AuthRequest::Denied;
            }
        },
    };
    let Some((secret_key, s)) = secret else {
        r.invalid(
            type_key,
            format!("auth-type basic needs auth-secret (the users); {FAIL_CLOSED}"),
        );
        return AuthRequest::Denied;
    };
    let Ok((namespace, name)) = super::upstream::secret_ref(s) else {
        r.invalid(
            secret_key,
            format!("{s:?} is not a Secret name or namespace/name; {FAIL_CLOSED}"),
        );
        return AuthRequest::Denied;
    };
    let realm = realm.and_then(|(key, v)| match Realm::new(v) {
        Ok(realm) => Some(realm),
        Err(e) => {
            r.invalid(key, format!("{e}; the realm is {:?}", Realm::DEFAULT));
            None
        }
    });
    AuthRequest::Basic {
        field: format!("metadata.annotations[{secret_key}]"),
        namespace,
        name,
        secret_type,
        realm,
    }
}

/// The user list id of Secret `namespace/name` read as `secret_type` with `realm`: the same
/// for every Ingress asking for the same, so they share one list (and a route moving to it
/// is a map update). The realm is in the id by a 64-bit FNV-1a hash.
pub fn auth_id(
    namespace: &str,
    name: &str,
    secret_type: SecretType,
    realm: Option<&Realm>,
) -> AuthId {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in realm.map_or(Realm::DEFAULT, Realm::as_str).bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    AuthId::new(&format!(
        "auth:{namespace}:{name}:{}:{h:016x}",
        secret_type.tag()
    ))
    .expect("namespace and Secret names are DNS names")
}

/// One user a Secret names that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadUser {
    /// Where: `data[auth] line N` or `data[<user>]`.
    pub at: String,
    /// Why (with what to do).
    pub why: UserError,
}

/// Why one user of a Secret cannot log in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    /// An htpasswd line without a `:`.
    #[error("not user:hash")]
    NotUserHash,
    /// A user name HAProxy refuses.
    #[error(transparent)]
    Name(#[from] haproxy::config::InvalidValue),
    /// A hash HAProxy cannot check (with what to do).
    #[error("user {user}: {why}")]
    Hash {
        /// The user.
        user: String,
        /// Why.
        why: &'static str,
    },
}

/// Why a Secret has no users to read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsersError {
    /// `auth-file` without an `auth` key.
    #[error("the Secret has no key auth (the htpasswd file)")]
    NoAuthKey,
    /// An `auth` key that is not text.
    #[error("the Secret's auth key is not UTF-8 text")]
    NotText,
}

/// The users of a Secret, with every line or key that cannot be used named. `Err` when the
/// Secret has no users at all to read (no `auth` key for `auth-file`).
pub fn users(
    secret: &Secret,
    secret_type: SecretType,
) -> Result<(BTreeMap<UserName, PasswordHash>, Vec<BadUser>), UsersError> {
    let data = secret.data.as_ref();
    match secret_type {
        SecretType::AuthFile => {
            let Some(file) = data.and_then(|d| d.get("auth")) else {
                return Err(UsersError::NoAuthKey);
            };
            let Ok(text) = std::str::from_utf8(&file.0) else {
                return Err(UsersError::NotText);
            };
            Ok(parse_htpasswd(text))
        }
        SecretType::AuthMap => {
            let mut users = BTreeMap::new();
            let mut bad = Vec::new();
            for (k, v) in data.into_iter().flatten() {
                let at = format!("data[{k}]");
                let hash = std::str::from_utf8(&v.0)
                    .unwrap_or("")
                    .trim_end_matches('\n');
                match user(k, hash) {
                    Ok((u, h)) => {
                        users.insert(u, h);
                    }
                    Err(why) => bad.push(BadUser { at, why }),
                }
            }
            Ok((users, bad))
        }
    }
}

/// Parses htpasswd lines (`user:hash`; blank lines and `#` comments skipped; a trailing CR
/// dropped). The first line of a user wins, as in nginx.
pub fn parse_htpasswd(text: &str) -> (BTreeMap<UserName, PasswordHash>, Vec<BadUser>) {
    let mut users = BTreeMap::new();
    let mut bad = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let at = format!("data[auth] line {}", i + 1);
        let Some((name, hash)) = line.split_once(':') else {
            bad.push(BadUser {
                at,
                why: UserError::NotUserHash,
            });
            continue;
        };
        // htpasswd files may carry more fields after the hash (`user:hash:comment`).
        let hash = hash.split(':').next().unwrap_or("");
        match user(name, hash) {
            Ok((u, h)) => {
                users.entry(u).or_insert(h);
            }
            Err(why) => bad.push(BadUser { at, why }),
        }
    }
    (users, bad)
}

fn user(name: &str, hash: &str) -> Result<(UserName, PasswordHash), UserError> {
    let user = UserName::new(name)?;
    let hash = PasswordHash::new(hash).map_err(|e| match e {
        HashError::Unsupported(why) | HashError::Invalid(why) => UserError::Hash {
            user: name.to_string(),
            why,
        },
    })?;
    Ok((user, hash))
}

/// The user list for a Secret.
pub fn basic_auth(users: BTreeMap<UserName, PasswordHash>, realm: Option<Realm>) -> BasicAuth {
    BasicAuth { realm, users }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA512: &str = "$6$abcdefgh$ltjgWl6579NluT/Vi1nwEvcil.G5Nbc4NiXZaNGStk8PSwGfQv72N2CKPPrVACtLtip/cZ/1GM/O6IND4WQhG.";
    const BCRYPT: &str = "$2y$05$a77aX9P9sLHMnXO4eU7II.YvY6FtHcpJsns83aDUeOU1yG.zMF0ky";

    fn names(users: &BTreeMap<UserName, PasswordHash>) -> Vec<&str> {
        users.keys().map(UserName::as_str).collect()
    }

    #[test]
    fn htpasswd_files_parse_line_by_line() {
        // (file, users taken, lines named)
        let table: [(String, &[&str], &[&str]); 8] = [
            (format!("foo:{SHA512}\n"), &["foo"], &[]),
            (
                format!("foo:{SHA512}\r\nbar:{BCRYPT}\r\n"),
                &["bar", "foo"],
                &[],
            ),
            (
                format!("# comment\n\nfoo:{SHA512}:Foo Bar\n"),
                &["foo"],
                &[],
            ),
            (
                "foo:$apr1$OFG3Xybp$ckL0FHDAkoXYIlH9.cysT0\n".into(),
                &[],
                &["data[auth] line 1"],
            ),
            (
                "foo:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\nbar:secret\n".into(),
                &[],
                &["data[auth] line 1", "data[auth] line 2"],
            ),
            (
                format!("no colon\nfoo:{SHA512}\n"),
                &["foo"],
                &["data[auth] line 1"],
            ),
            (format!("foo bar:{SHA512}\n"), &[], &["data[auth] line 1"]),
            (format!("foo:{SHA512}\nfoo:{BCRYPT}\n"), &["foo"], &[]),
        ];
        for (file, want, named) in table {
            let (users, bad) = parse_htpasswd(&file);
            assert_eq!(names(&users), want, "{file:?}");
            let at: Vec<&str> = bad.iter().map(|b| b.at.as_str()).collect();
            assert_eq!(at, named, "{file:?}");
        }
        let (users, _) = parse_htpasswd(&format!("foo:{SHA512}\nfoo:{BCRYPT}\n"));
        assert_eq!(users.values().next().unwrap().as_str(), SHA512);
        let (_, bad) = parse_htpasswd("foo:$apr1$OFG3Xybp$ckL0FHDAkoXYIlH9.cysT0\n");
        let why = bad[0].why.to_string();
        assert!(why.contains("htpasswd -B"), "{why}");
    }

    fn secret(data: &[(&str, &str)]) -> Secret {
        Secret {
            data: Some(
                data.iter()
                    .map(|(k, v)| {
                        (
                            k.to_string(),
                            k8s_openapi::ByteString(v.as_bytes().to_vec()),
                        )
                    })
                    .collect(),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn secrets_give_users_by_type() {
        let s = secret(&[("auth", &format!("foo:{SHA512}\n"))]);
        let (found, bad) = users(&s, SecretType::AuthFile).unwrap();
        assert_eq!((names(&found), bad.len()), (vec!["foo"], 0));
        assert!(users(&secret(&[("jane", SHA512)]), SecretType::AuthFile).is_err());
        let s = secret(&[
            ("jane", SHA512),
            ("joe", BCRYPT),
            ("bad user", SHA512),
            ("x", ""),
        ]);
        let (found, bad) = users(&s, SecretType::AuthMap).unwrap();
        assert_eq!(names(&found), ["jane", "joe"]);
        let at: Vec<&str> = bad.iter().map(|b| b.at.as_str()).collect();
        assert_eq!(at, ["data[bad user]", "data[x]"]);
    }

    #[test]
    fn ids_are_stable_per_secret_type_and_realm() {
        let r = Realm::new("Authentication Required - foo").unwrap();
        let a = auth_id("default", "basic-auth", SecretType::AuthFile, Some(&r));
        assert_eq!(
            a,
            auth_id("default", "basic-auth", SecretType::AuthFile, Some(&r))
        );
        assert_ne!(
            a,
            auth_id("default", "basic-auth", SecretType::AuthMap, Some(&r))
        );
        assert_ne!(
            a,
            auth_id("default", "basic-auth", SecretType::AuthFile, None)
        );
        assert!(a.as_str().starts_with("auth:default:basic-auth:file:"));
        assert_eq!(
            auth_id("default", "basic-auth", SecretType::AuthFile, None),
            auth_id(
                "default",
                "basic-auth",
                SecretType::AuthFile,
                Some(&Realm::default_realm())
            )
        );
    }
}
