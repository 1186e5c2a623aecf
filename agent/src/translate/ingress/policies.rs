//! Reading an Ingress's policies: client certificates, basic auth, the upstream options.

use haproxy::config::{AUTH_DENIED, ClientCertPolicy, PolicyText, RoutePolicy};
use haproxy::proto::ClientVerify;

use crate::store::ObjectKey;
use crate::translate::annotations::auth::{self, AuthRequest};
use crate::translate::annotations::client_cert::ClientCertRequest;
use crate::translate::annotations::{self};

use super::Reader;

impl Reader<'_> {
    /// Reads the auth-tls-secret for the routes: they send the client-certificate headers,
    /// or answer `503` when the CA cannot be had (the hosts then ask for no certificate, so
    /// the routes fail closed).
    pub(super) fn client_cert(&mut self, req: &ClientCertRequest, policy: &mut RoutePolicy) {
        let Some((sref, verify)) = req.active() else {
            return;
        };
        let key = crate::translate::client_ca::secret_key(sref, &self.f.key.namespace);
        if !self.f.read_secrets.contains(&key) {
            self.f.read_secrets.push(key.clone());
        }
        match crate::translate::client_ca::read(self.snapshot, &key, &self.settings.config_dir) {
            Ok(_) if req.refused => {
                policy.auth = Some(PolicyText::new("auth", AUTH_DENIED).expect("a fixed word"));
            }
            Ok(_) => {
                policy.client_cert = Some(ClientCertPolicy {
                    required: verify == ClientVerify::Required,
                    certificate: req.pass,
                });
                policy.client_dn = req.match_cn.as_ref().map(|p| p.id().clone());
                policy.client_error_page = req.error_page.clone();
            }
            Err(e) => {
                self.f.problem(
                    sref.field.clone(),
                    format!("{e}; the Ingress's routes answer 503 until it is fixed"),
                );
                policy.auth = Some(PolicyText::new("auth", AUTH_DENIED).expect("a fixed word"));
            }
        }
    }

    /// Reads the auth Secret: the route policy's `auth` field (a user list, or
    /// [`AUTH_DENIED`] when authentication was asked for and cannot be done).
    pub(super) fn auth(&mut self, request: &AuthRequest) -> Option<PolicyText> {
        let denied = || Some(PolicyText::new("auth", AUTH_DENIED).expect("a fixed word"));
        let AuthRequest::Basic {
            field,
            namespace,
            name,
            secret_type,
            realm,
        } = request
        else {
            return match request {
                AuthRequest::Denied => denied(),
                _ => None,
            };
        };
        let ns = namespace
            .clone()
            .unwrap_or_else(|| self.f.key.namespace.to_string());
        let ns = ns.as_str();
        let key = ObjectKey::new(ns, name);
        self.f.read_secrets.push(key.clone());
        let fail = "the Ingress's routes answer 503 until it is fixed (ingress-nginx denies \
                    such locations too)";
        let Some(secret) = self.snapshot.secrets.get(&key) else {
            self.f.problem(
                field.clone(),
                format!("auth Secret {key} not found (an Opaque Secret); {fail}"),
            );
            return denied();
        };
        let (users, bad) = match auth::users(secret, *secret_type) {
            Ok(u) => u,
            Err(e) => {
                self.f
                    .problem(field.clone(), format!("auth Secret {key}: {e}; {fail}"));
                return denied();
            }
        };
        for b in bad {
            self.f.problem(
                field.clone(),
                format!(
                    "auth Secret {key} {}: {}; that user cannot log in",
                    b.at, b.why
                ),
            );
        }
        if users.is_empty() {
            self.f.problem(
                field.clone(),
                format!("auth Secret {key} has no usable user: every request gets 401"),
            );
        }
        let id = auth::auth_id(ns, name, *secret_type, realm.as_ref());
        let text = PolicyText::new("auth", id.as_str()).expect("auth ids are policy text");
        self.f.auth = Some((id, auth::basic_auth(users, realm.clone())));
        Some(text)
    }

    /// Reads the proxy-ssl Secret into the backend options.
    pub(super) fn upstream(&mut self, req: &annotations::upstream::UpstreamRequest) {
        let ns = self.f.key.namespace.clone();
        let r =
            crate::translate::upstream::resolve(req, &ns, self.snapshot, &self.settings.config_dir);
        if let Some(s) = r.secret
            && !self.f.read_secrets.contains(&s)
        {
            self.f.read_secrets.push(s);
        }
        for (field, message) in r.problems {
            self.f.problem(field, message);
        }
        self.f.options.upstream = r.upstream;
    }
}
