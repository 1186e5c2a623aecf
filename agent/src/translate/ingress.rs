//! One Ingress -> its fragment: routes and backend recipes. Each bad rule, path or reference
//! becomes a problem naming the Ingress and the field; the rest of the Ingress, and every
//! other one, is kept.

use std::sync::Arc;

use haproxy::config::{Balance, PolicyText, RoutePolicy};
use k8s_openapi::api::networking::v1::IngressSpec;

use super::annotations::{self, BackendOptions};
use super::names::is_dns_subdomain;
use super::resolutions::Resolutions;
use super::{Settings, class};
use crate::problem::{Problem, ProblemKind};
use crate::store::{ObjectKey, Snapshot, StoredIngress};
mod backends;
mod fragment;
mod passthrough;
mod policies;
mod rules;

pub(super) use fragment::{Fragment, Recipe};

/// The Ingresses of our class (and watched namespace), oldest first.
pub(super) fn ours_oldest_first<'a>(
    snapshot: &'a Snapshot,
    settings: &Settings,
) -> Vec<(&'a ObjectKey, &'a StoredIngress)> {
    let mut v: Vec<(&ObjectKey, &StoredIngress)> = snapshot
        .ingresses
        .iter()
        .filter(|(k, _)| {
            settings
                .watch_namespace
                .as_ref()
                .is_none_or(|ns| *ns == k.namespace)
        })
        .filter(|(_, i)| class::is_ours(i, &snapshot.ingress_classes, &settings.ingress_class))
        .map(|(k, i)| (k, i.as_ref()))
        .collect();
    v.sort_by(|(ka, a), (kb, b)| {
        let ta = a.metadata.creation_timestamp.as_ref().map(|t| &t.0);
        let tb = b.metadata.creation_timestamp.as_ref().map(|t| &t.0);
        ta.cmp(&tb).then_with(|| ka.cmp(kb))
    });
    v
}

/// The id of Ingress `key`'s address lists in [`haproxy::config::Config::source_lists`]
/// (what its routes' policies name).
pub(super) fn list_id(key: &ObjectKey) -> PolicyText {
    PolicyText::new("ingress", &key.to_string())
        .expect("namespace/name is printable ASCII without | # ; or space")
}
/// The fragment of Ingress `key`, resolving its Services through `resolutions`.
pub(super) fn fragment(
    key: &ObjectKey,
    ing: &StoredIngress,
    snapshot: &Snapshot,
    settings: &Settings,
    resolutions: &mut Resolutions,
    global: &super::configmap::MapSettings,
) -> Fragment {
    let mut f = Fragment {
        key: key.clone(),
        problems: Vec::new(),
        options: BackendOptions::default(),
        default_backend: None,
        uses: Vec::new(),
        recipes: Vec::new(),
        routes: Vec::new(),
        services: Vec::new(),
        source_lists: None,
        auth: None,
        read_secrets: Vec::new(),
    };
    Reader {
        snapshot,
        settings,
        resolutions,
        f: &mut f,
        fallback: None,
        global,
    }
    .read(ing);
    f.shrink();
    f
}

/// Reads one Ingress into its fragment.
struct Reader<'a> {
    snapshot: &'a Snapshot,
    settings: &'a Settings,
    resolutions: &'a mut Resolutions,
    f: &'a mut Fragment,
    /// default-backend: (field, Service).
    fallback: Option<(String, String)>,
    /// The global ConfigMap's settings (annotation defaults, HSTS).
    global: &'a super::configmap::MapSettings,
}

impl Reader<'_> {
    /// The API server refuses other names; a manifest is not checked by one, and the name
    /// goes into every problem and log line about the Ingress: a bad one is named and the
    /// Ingress ignored.
    fn names_are_valid(&mut self) -> bool {
        let key = self.f.key.clone();
        if !annotations::is_dns_label(&key.namespace) {
            let msg = format!(
                "namespace {:?} is not a Kubernetes namespace name (at most 63 lower-case \
                 letters, digits and -); the Ingress is ignored",
                key.namespace
            );
            self.f.problem("metadata.namespace", msg);
            return false;
        }
        if !is_dns_subdomain(&key.name) {
            let msg = format!(
                "name {:?} is not a Kubernetes object name (at most 253 lower-case letters, \
                 digits, - and ., starting and ending with a letter or digit); the Ingress is \
                 ignored",
                key.name
            );
            self.f.problem("metadata.name", msg);
            return false;
        }
        true
    }

    /// The Ingress's annotations over the ConfigMap's defaults, each refused one named.
    fn annotations(&mut self, ing: &StoredIngress) -> annotations::Parsed {
        let mut parsed = annotations::parse_with_defaults(
            ing.metadata.annotations.as_ref(),
            &self.global.annotation_defaults,
        );
        parsed.policy.hsts = self.global.hsts;
        for v in parsed.problems() {
            let reason = v.status.reason().expect("problems have a reason");
            let message = v.status.detail().unwrap_or_default().to_string();
            self.f.problems.push(
                Problem::new(ProblemKind::Ingress, self.f.key.to_string(), message)
                    .because(reason)
                    .at(format!("metadata.annotations[{}]", v.key)),
            );
        }
        parsed
    }

    /// The routes' policy (none of its own on a canary Ingress: the main Ingress's applies),
    /// and the address lists and patterns it reads, kept under this Ingress.
    fn policy(&mut self, parsed: &annotations::Parsed, canary: bool) -> Arc<RoutePolicy> {
        if canary {
            if let Some(p) = &parsed.nginx_pattern {
                // The canary's header pattern, in the canary ACL file under this Ingress.
                let lists = self.f.source_lists.get_or_insert_default();
                lists.canary_patterns.insert(p.clone());
            }
            return RoutePolicy::default().shared();
        }
        let mut policy = parsed.policy_for(&self.f.key.to_string());
        policy.auth = self.auth(&parsed.auth);
        self.client_cert(&parsed.client_cert, &mut policy);
        self.f.source_lists = parsed.source.lists();
        // The subject DN pattern, in the pattern ACL file under this Ingress.
        if let (Some(_), Some(p)) = (&policy.client_dn, &parsed.client_cert.match_cn) {
            let lists = self.f.source_lists.get_or_insert_default();
            lists.canary_patterns.insert(p.clone());
        }
        policy.shared()
    }

    /// The ssl-passthrough annotation (at `field`), honoured: the hosts' TLS connections
    /// go to the pods; their plain HTTP is served by the Ingress's routes, as
    /// ingress-nginx's HTTP server for the host.
    fn ssl_passthrough(&mut self, field: &str, spec: &IngressSpec, canary: bool) {
        let why = match (canary, self.settings.ssl_passthrough) {
            (false, true) => None,
            (true, _) => Some("ignored on a canary Ingress (its main Ingress decides)"),
            (false, false) => Some(
                "ignored: --enable-ssl-passthrough is off, so TLS is terminated here as \
                 without the annotation (as ingress-nginx without the flag)",
            ),
        };
        match why {
            None => self.passthrough(spec),
            Some(why) => self.f.problem(field.to_string(), why),
        }
    }

    /// Reads the Ingress into the fragment: its annotations, then its default backend and
    /// rules.
    fn read(&mut self, ing: &StoredIngress) {
        if !self.names_are_valid() {
            return;
        }
        let parsed = self.annotations(ing);
        // A canary Ingress's routes join the main Ingress's (whose policies apply).
        let canary_rule = match (parsed.nginx_canary, &parsed.nginx_rule) {
            (false, _) => None,
            (true, Some(rule)) => Some(Arc::new(rule.clone())),
            // An invalid rule is named: the canary takes no requests.
            (true, None) => return,
        };
        let policy = self.policy(&parsed, canary_rule.is_some());
        if parsed.canary.is_some()
            && parsed.options.balance != Balance::Roundrobin
            && parsed.explicit_balance
        {
            self.f.problem(
                "metadata.annotations[load-balance]",
                format!(
                    "ignored: a canary backend balances roundrobin, the only algorithm that \
                     holds the canary percentage at every load (not {})",
                    parsed.options.balance.keyword()
                ),
            );
        }
        self.f.options = parsed.options.clone();
        self.upstream(&parsed.upstream);
        if canary_rule.is_none() {
            self.fallback = parsed.fallback.clone();
        }
        let Some(spec) = ing.spec.as_ref() else {
            self.f.problem("spec", "the Ingress has no spec");
            return;
        };
        if let Some(field) = &parsed.ssl_passthrough {
            self.ssl_passthrough(field, spec, canary_rule.is_some());
        }
        match (&spec.default_backend, &canary_rule) {
            (None, _) => {}
            (Some(b), None) => {
                self.f.default_backend = self.backend("spec.defaultBackend", b, None)
            }
            (Some(_), Some(_)) => self.f.problem(
                "spec.defaultBackend",
                "ignored on a canary Ingress (as in ingress-nginx): the main Ingress's applies",
            ),
        }
        let errors = match (&parsed.custom_errors, &canary_rule) {
            (Some((field, codes)), None) => self
                .error_target(field, parsed.fallback.as_ref())
                .map(|(backend, at)| (field.clone(), codes.clone(), backend, at)),
            _ => None,
        };
        let ctx = rules::RuleContext {
            parsed: &parsed,
            canary_rule: canary_rule.clone(),
            policy,
            errors: errors
                .as_ref()
                .map(|(_, codes, be, _)| (codes.clone(), be.clone())),
        };
        for (i, rule) in spec.rules.iter().flatten().enumerate() {
            self.rule(&ctx, i, rule);
        }
        if let Some((field, _, backend, at)) = errors {
            // After the routes' backends: a route to the same Service keeps its recipe.
            self.f.uses.push((field, backend.clone()));
            self.f.add_recipe(&backend, Recipe::Errors(at));
        }
    }
}
