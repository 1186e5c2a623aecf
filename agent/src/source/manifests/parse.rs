//! Parsing one manifest file into objects; pure, no IO.
//!
//! One pass over the text loads every document as a YAML value (syntax errors) and decides
//! what each one is from its `apiVersion` and `kind`; the documents of the kinds we follow
//! are then deserialized from those values into k8s-openapi types. A document that fails
//! there is read again from its YAML events, which decide (as they always did), so that
//! schema errors carry the line they are on. Lines are counted in the whole file, since one
//! parser reads every document.

use std::fmt;
use std::path::Path;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_yaml_ng::Value;
use tracing::debug;

use crate::gateway_api::{Gateway, GatewayClass, HttpRoute, ReferenceGrant};
use crate::problem::{Problem, ProblemKind};
use crate::store::{Kind, Object};

/// Where the move from removed API versions is explained.
const MIGRATING: &str = "docs/migrating.md";

/// Parses one manifest file (`path` only names it in problems). All or nothing: any bad
/// document makes the whole file a [`ProblemKind::ManifestFile`] problem whose object is
/// `<path>:<line>` (1-based, counted in the whole file).
///
/// Documents of other kinds than those the agent follows are skipped (debug log); empty
/// documents are skipped; `kind: List` documents are expanded. `stringData` of Secrets is
/// merged into `data`, as the API server does.
pub fn parse_manifests(path: &Path, text: &str) -> Result<Vec<Object>, Problem> {
    let problem = |index: usize| {
        move |err: serde_yaml_ng::Error| yaml_problem(path, &err, || document_line(text, index))
    };

    // Each document's value (merge keys applied), and what it is.
    let mut documents = Vec::new();
    for (index, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let mut value = Value::deserialize(document).map_err(problem(index))?;
        let merged = has_merge_keys(&value);
        if merged {
            value.apply_merge().map_err(problem(index))?;
        }
        documents.push((plan(&value), value, merged));
    }

    let mut objects = Vec::new();
    for (index, (plan, value, merged)) in documents.into_iter().enumerate() {
        if matches!(plan, Plan::Skip) {
            continue;
        }
        // From the value already loaded: no second pass over the text.
        let start = objects.len();
        let seed = PlanSeed {
            plan: &plan,
            out: &mut objects,
        };
        let Err(err) = seed.deserialize(value) else {
            continue;
        };
        objects.truncate(start);
        if merged {
            // The YAML events do not merge: the value's error it is (it has no position,
            // so it is reported at the document's first line).
            return Err(problem(index)(err));
        }
        // Again from the document's YAML events: their errors carry the line they are on,
        // and the events are what decides (a plain scalar such as `80` or `true` is a
        // string to a string field there, a number or a boolean in a value).
        let document = serde_yaml_ng::Deserializer::from_str(text)
            .nth(index)
            .expect("the document was loaded above");
        let seed = PlanSeed {
            plan: &plan,
            out: &mut objects,
        };
        seed.deserialize(document).map_err(problem(index))?;
    }
    Ok(objects.into_iter().map(normalize).collect())
}

/// A problem at the error's line (the object names it, the message does not repeat it);
/// errors without a position are put at `fallback()`, the line their document starts on.
fn yaml_problem(
    path: &Path,
    err: &serde_yaml_ng::Error,
    fallback: impl FnOnce() -> Option<usize>,
) -> Problem {
    let mut message = err.to_string();
    let line = match err.location() {
        Some(at) => {
            let suffix = format!(" at line {} column {}", at.line(), at.column());
            if let Some(i) = message.find(&suffix) {
                message.replace_range(i..i + suffix.len(), "");
            }
            Some(at.line())
        }
        None => fallback(),
    };
    let object = match line {
        Some(line) => format!("{}:{line}", path.display()),
        None => path.display().to_string(),
    };
    Problem::new(ProblemKind::ManifestFile, object, message)
}

/// True when a mapping of `value` has a `<<` merge key (where [`Value::apply_merge`] looks:
/// through mapping values, sequence items and tagged values).
fn has_merge_keys(value: &Value) -> bool {
    match value {
        Value::Mapping(map) => map.contains_key("<<") || map.values().any(has_merge_keys),
        Value::Sequence(items) => items.iter().any(has_merge_keys),
        Value::Tagged(tagged) => has_merge_keys(&tagged.value),
        _ => false,
    }
}

/// The line on which the `index`th document's content starts (1-based).
fn document_line(text: &str, index: usize) -> Option<usize> {
    let document = serde_yaml_ng::Deserializer::from_str(text).nth(index)?;
    // Fails at the document's first event, whatever it is, which gives its position.
    let err = serde::Deserializer::deserialize_map(document, RejectVisitor("")).err()?;
    err.location().map(|at| at.line())
}

/// What the API server would do to a stored object that a manifest does not.
fn normalize(object: Object) -> Object {
    match object {
        Object::Secret(mut secret) => {
            if let Some(strings) = secret.string_data.take() {
                let data = secret.data.get_or_insert_with(Default::default);
                for (key, value) in strings {
                    data.insert(key, ByteString(value.into_bytes()));
                }
            }
            Object::Secret(secret)
        }
        other => other,
    }
}

/// How manifests spell each kind.
impl Kind {
    fn api_version(self) -> &'static str {
        match self {
            Kind::Ingress | Kind::IngressClass => "networking.k8s.io/v1",
            Kind::Service | Kind::Secret | Kind::ConfigMap | Kind::Namespace => "v1",
            Kind::EndpointSlice => "discovery.k8s.io/v1",
            Kind::GatewayClass | Kind::Gateway | Kind::HttpRoute => "gateway.networking.k8s.io/v1",
            Kind::ReferenceGrant => "gateway.networking.k8s.io/v1beta1",
        }
    }

    /// True when manifests may spell this kind with `api_version`: its version, and for
    /// ReferenceGrant also `v1` (newer Gateway API releases serve it as v1 too, with the same
    /// fields).
    fn accepts(self, api_version: &str) -> bool {
        api_version == self.api_version()
            || (self == Kind::ReferenceGrant && api_version == "gateway.networking.k8s.io/v1")
    }

    /// True when `api_version` is another version of this very kind (rather than a kind of
    /// the same name in another API group, such as a Knative `Service`).
    fn is_other_version(self, api_version: &str) -> bool {
        let group = group(api_version);
        group == self::group(self.api_version()) || (self == Kind::Ingress && group == "extensions")
    }

    fn unserved(self, kind: &str, api_version: &str) -> String {
        if Kind::GATEWAY_API.contains(&self) {
            return format!(
                "{kind} {api_version} is not read by the agent: write it as {} (the fields \
                 the agent reads are the same)",
                self.api_version()
            );
        }
        let mut message = format!(
            "{kind} {api_version} is no longer served by Kubernetes: move to {}",
            self.api_version()
        );
        if self == Kind::Ingress {
            message.push_str(
                " (`service.name`/`service.port` instead of `serviceName`/`servicePort`, \
                 and a `pathType` on every path)",
            );
        }
        message.push_str(&format!("; see {MIGRATING}"));
        message
    }

    fn deserialize<'de, D: de::Deserializer<'de>>(self, d: D) -> Result<Object, D::Error> {
        Ok(match self {
            Kind::Ingress => Object::Ingress(Ingress::deserialize(d)?),
            Kind::IngressClass => Object::IngressClass(IngressClass::deserialize(d)?),
            Kind::Service => Object::Service(Service::deserialize(d)?),
            Kind::EndpointSlice => Object::EndpointSlice(EndpointSlice::deserialize(d)?),
            Kind::Secret => Object::Secret(Secret::deserialize(d)?),
            Kind::ConfigMap => Object::ConfigMap(ConfigMap::deserialize(d)?),
            Kind::GatewayClass => Object::GatewayClass(GatewayClass::deserialize(d)?),
            Kind::Gateway => Object::Gateway(Gateway::deserialize(d)?),
            Kind::HttpRoute => Object::HttpRoute(HttpRoute::deserialize(d)?),
            Kind::ReferenceGrant => Object::ReferenceGrant(ReferenceGrant::deserialize(d)?),
            Kind::Namespace => Object::Namespace(Namespace::deserialize(d)?),
        })
    }
}

/// The API group of an `apiVersion` (empty for the core group).
fn group(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(group, _)| group)
}

/// What to do with one document (or one item of a List), decided from its YAML value.
#[derive(Debug)]
enum Plan {
    /// Empty, or a kind the agent does not follow.
    Skip,
    /// An object of a followed kind.
    Object(Kind),
    /// A `kind: List`, with a plan per item.
    List(Vec<Plan>),
    /// A problem, reported at the object's position.
    Reject(String),
}

fn plan(value: &Value) -> Plan {
    let map = match value {
        Value::Null => return Plan::Skip,
        Value::Mapping(map) => map,
        // A tagged mapping (`--- !x`) reads as a mapping: name the tag.
        Value::Tagged(t) => {
            return Plan::Reject(format!(
                "a document tagged {} is not a Kubernetes object",
                t.tag
            ));
        }
        // Deserializing a mapping from it mostly yields a precise "invalid type" error; a
        // scalar with a tag YAML does not know (`!!x`) reads as a mapping and gets this.
        _ => return Plan::Reject("not a Kubernetes object: the document is not a mapping".into()),
    };
    let kind = map.get("kind").and_then(Value::as_str);
    let api_version = map.get("apiVersion").and_then(Value::as_str);
    let (Some(kind), Some(api_version)) = (kind, api_version) else {
        let missing = match (kind, api_version) {
            (None, None) => "apiVersion and kind",
            (None, _) => "kind",
            _ => "apiVersion",
        };
        return Plan::Reject(format!("not a Kubernetes object: {missing} missing"));
    };
    if kind == "List" {
        return match map.get("items") {
            None | Some(Value::Null) => Plan::List(Vec::new()),
            Some(Value::Sequence(items)) => Plan::List(items.iter().map(plan).collect()),
            Some(_) => Plan::Reject("the items of a List must be a sequence".into()),
        };
    }
    let Some(known) = Kind::from_name(kind) else {
        debug!(
            kind,
            api_version, "ignoring a manifest of a kind the agent does not follow"
        );
        return Plan::Skip;
    };
    if !known.accepts(api_version) {
        if known.is_other_version(api_version) {
            return Plan::Reject(known.unserved(kind, api_version));
        }
        debug!(
            kind,
            api_version, "ignoring a manifest of another API group"
        );
        return Plan::Skip;
    }
    let name = map.get("metadata").and_then(|meta| meta.get("name"));
    match name {
        None | Some(Value::Null) => Plan::Reject(format!("{kind} without metadata.name")),
        Some(Value::String(name)) if name.is_empty() => {
            Plan::Reject(format!("{kind} with an empty metadata.name"))
        }
        // A name of the wrong type gets the deserializer's own error.
        Some(_) => Plan::Object(known),
    }
}

/// Deserializes one document (or item) as its plan says, appending objects to `out`.
struct PlanSeed<'p, 'o> {
    plan: &'p Plan,
    out: &'o mut Vec<Object>,
}

impl<'de> DeserializeSeed<'de> for PlanSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        match self.plan {
            Plan::Skip => {
                IgnoredAny::deserialize(d)?;
            }
            Plan::Object(kind) => self.out.push(kind.deserialize(d)?),
            Plan::List(items) => d.deserialize_map(ListVisitor {
                items,
                out: self.out,
            })?,
            Plan::Reject(message) => d.deserialize_map(RejectVisitor(message))?,
        }
        Ok(())
    }
}

struct ListVisitor<'p, 'o> {
    items: &'p [Plan],
    out: &'o mut Vec<Object>,
}

impl<'de> Visitor<'de> for ListVisitor<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a List")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Value>()? {
            if key.as_str() == Some("items") && !self.items.is_empty() {
                map.next_value_seed(ItemsSeed {
                    items: self.items,
                    out: self.out,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

struct ItemsSeed<'p, 'o> {
    items: &'p [Plan],
    out: &'o mut Vec<Object>,
}

impl<'de> DeserializeSeed<'de> for ItemsSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ItemsSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a sequence of {} objects", self.items.len())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        for (i, plan) in self.items.iter().enumerate() {
            let seed = PlanSeed {
                plan,
                out: &mut *self.out,
            };
            if seq.next_element_seed(seed)?.is_none() {
                return Err(de::Error::invalid_length(i, &self));
            }
        }
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }
}

/// Fails at the position of the object it is given, with its message.
struct RejectVisitor<'m>(&'m str);

impl<'de> Visitor<'de> for RejectVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Kubernetes object (a mapping with apiVersion, kind and metadata)")
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(self.0))
    }
}

#[cfg(test)]
mod tests;
