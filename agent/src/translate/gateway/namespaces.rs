//! `allowedRoutes.namespaces.selector` where it can be judged without Namespace objects: on
//! the `kubernetes.io/metadata.name` label, which Kubernetes (1.22+) sets on every Namespace
//! to its name. A selector on any other label needs the Namespaces' labels, which the agent
//! does not follow: it is named and admits no other namespace.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// The label every Namespace carries with its own name.
pub(in crate::translate) const NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// One requirement on a namespace's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::translate) enum NameRequirement {
    /// The name is one of these.
    In(Vec<String>),
    /// The name is none of these.
    NotIn(Vec<String>),
    /// No namespace lacks the label.
    DoesNotExist,
}

impl NameRequirement {
    fn holds(&self, namespace: &str) -> bool {
        match self {
            NameRequirement::In(v) => v.iter().any(|n| n == namespace),
            NameRequirement::NotIn(v) => !v.iter().any(|n| n == namespace),
            NameRequirement::DoesNotExist => false,
        }
    }
}

/// A selector as requirements on the namespace's name, all of which must hold; `Err` names
/// what cannot be judged without Namespace objects.
pub(in crate::translate) fn by_name(s: &LabelSelector) -> Result<Vec<NameRequirement>, String> {
    let mut out = Vec::new();
    for (k, v) in s.match_labels.iter().flatten() {
        if k != NAME_LABEL {
            return Err(format!("matchLabels {k:?}"));
        }
        out.push(NameRequirement::In(vec![v.clone()]));
    }
    for e in s.match_expressions.iter().flatten() {
        if e.key != NAME_LABEL {
            return Err(format!("matchExpressions key {:?}", e.key));
        }
        let values = e.values.clone().unwrap_or_default();
        out.push(match e.operator.as_str() {
            "In" => NameRequirement::In(values),
            "NotIn" => NameRequirement::NotIn(values),
            "Exists" => continue,
            "DoesNotExist" => NameRequirement::DoesNotExist,
            other => return Err(format!("operator {other:?}")),
        });
    }
    Ok(out)
}

/// True when `namespace` meets every requirement.
pub(in crate::translate) fn admits(requirements: &[NameRequirement], namespace: &str) -> bool {
    requirements.iter().all(|r| r.holds(namespace))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn expr(key: &str, op: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
        }
    }

    #[test]
    fn name_selectors_are_judged_and_others_named() {
        let labels = |k: &str, v: &str| LabelSelector {
            match_labels: Some([(k.to_string(), v.to_string())].into()),
            ..Default::default()
        };
        let infra = by_name(&labels(NAME_LABEL, "infra")).unwrap();
        assert!(admits(&infra, "infra"));
        assert!(!admits(&infra, "web"));
        let everyone = by_name(&LabelSelector::default()).unwrap();
        assert!(admits(&everyone, "anything"));
        let exprs = LabelSelector {
            match_expressions: Some(vec![
                expr(NAME_LABEL, "NotIn", &["kube-system"]),
                expr(NAME_LABEL, "Exists", &[]),
            ]),
            ..Default::default()
        };
        let not_system = by_name(&exprs).unwrap();
        assert!(admits(&not_system, "web"));
        assert!(!admits(&not_system, "kube-system"));
        let absent = LabelSelector {
            match_expressions: Some(vec![expr(NAME_LABEL, "DoesNotExist", &[])]),
            ..Default::default()
        };
        assert!(!admits(&by_name(&absent).unwrap(), "web"));
        assert!(by_name(&labels("team", "a")).unwrap_err().contains("team"));
        let other = LabelSelector {
            match_expressions: Some(vec![expr("env", "In", &["prod"])]),
            ..Default::default()
        };
        assert!(by_name(&other).is_err());
    }
}
