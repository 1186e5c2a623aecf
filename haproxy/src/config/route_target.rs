//! What a route map entry says: the backend, the HTTPS redirect flag, the policy and the
//! canary, as one `|`-separated map value.

use std::fmt;
use std::sync::Arc;

use crate::names::{BackendName, MapValue};

use super::canary::{CANARY_FIELDS, CanaryTarget};
use super::policy::{POLICY_FIELDS, RoutePolicy};

/// What a route map entry says: the backend, whether plain HTTP is redirected to HTTPS, and
/// the route's policies. In a map file it is `backend|flags|policy fields…` (see
/// [`super::policy`]) with trailing empty fields left out: a route without either is its
/// backend name alone. A backend name never holds `|`, so the frontend splits the value with
/// `field(n,|)`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouteTarget {
    /// The backend.
    pub backend: BackendName,
    /// Redirect plain HTTP to HTTPS.
    pub https_redirect: bool,
    /// Redirects, rewrites and headers.
    pub policy: Arc<RoutePolicy>,
    /// The canary taking a share of the requests, if any.
    pub canary: Option<Arc<CanaryTarget>>,
}

/// The flags field of a map value whose route redirects plain HTTP to HTTPS.
pub const HTTPS_FLAG: &str = "https";

impl RouteTarget {
    /// Reads a map value back; `None` when it is not one this crate writes.
    pub fn parse(s: &str) -> Option<Self> {
        let mut fields = s.split('|');
        let backend = BackendName::new(fields.next()?).ok()?;
        let https_redirect = match fields.next() {
            None | Some("") => false,
            Some(HTTPS_FLAG) => true,
            Some(_) => return None,
        };
        let rest: Vec<&str> = fields.collect();
        let (policy, canary) = match rest.len() {
            n if n <= POLICY_FIELDS => (&rest[..], None),
            n if n == POLICY_FIELDS + CANARY_FIELDS => (
                &rest[..POLICY_FIELDS],
                Some(Arc::new(CanaryTarget::parse(&rest[POLICY_FIELDS..])?)),
            ),
            _ => return None,
        };
        Some(Self {
            backend,
            https_redirect,
            policy: RoutePolicy::parse(policy)?.shared(),
            canary,
        })
    }

    /// The map value.
    pub fn map_value(&self) -> MapValue {
        MapValue::new(self.to_string()).expect("a backend name and a fixed suffix")
    }
}

impl fmt::Display for RouteTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.backend.as_str())?;
        let mut policy = self.policy.fields();
        if self.canary.is_some() {
            // The canary's fields are at fixed places after every policy field.
            policy.resize(POLICY_FIELDS, String::new());
        }
        if self.https_redirect || !policy.is_empty() {
            f.write_str("|")?;
            if self.https_redirect {
                f.write_str(HTTPS_FLAG)?;
            }
        }
        for field in policy {
            write!(f, "|{field}")?;
        }
        if let Some(c) = &self.canary {
            for field in c.fields() {
                write!(f, "|{field}")?;
            }
        }
        Ok(())
    }
}
