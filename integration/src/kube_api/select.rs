//! Request queries and the label and field selectors they carry.

use serde_json::Value;

/// The decoded parameters of a query string. Empty parameters (`?&limit=5`) are skipped.
#[derive(Debug, Default)]
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(query: &str) -> Query {
        Query(
            query
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (decode(k), decode(v))
                })
                .collect(),
        )
    }

    /// The first value of `name`; `None` when absent or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// Whether `name` is `true` or `1`.
    pub fn flag(&self, name: &str) -> bool {
        matches!(self.get(name), Some("true" | "1"))
    }
}

/// Form decoding: `+` is a space, `%XX` a byte; malformed escapes stay as they are.
pub(crate) fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len()
                && bytes[i + 1].is_ascii_hexdigit()
                && bytes[i + 2].is_ascii_hexdigit() =>
            {
                let hex = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
                out.push(hex(bytes[i + 1]) * 16 + hex(bytes[i + 2]));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Which objects a list or watch returns: a namespace from the path plus selectors.
#[derive(Debug, Default)]
pub(crate) struct Filter {
    pub namespace: Option<String>,
    labels: Vec<LabelReq>,
    fields: Vec<FieldReq>,
}

#[derive(Debug, PartialEq)]
enum LabelReq {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

#[derive(Debug, PartialEq)]
struct FieldReq {
    field: Field,
    value: String,
    equal: bool,
}

#[derive(Debug, PartialEq)]
enum Field {
    Name,
    Namespace,
    /// A Secret's `type` (a real server supports it for Secrets only; here any object's
    /// top-level `type` is read).
    Type,
}

impl Filter {
    /// A filter from the path's namespace and the query's `labelSelector` and
    /// `fieldSelector`; the error is the message for a 400.
    pub fn new(namespace: Option<String>, query: &Query) -> Result<Filter, String> {
        let labels = match query.get("labelSelector") {
            Some(s) => parse_labels(s)?,
            None => Vec::new(),
        };
        let fields = match query.get("fieldSelector") {
            Some(s) => parse_fields(s)?,
            None => Vec::new(),
        };
        Ok(Filter {
            namespace,
            labels,
            fields,
        })
    }

    /// Whether `obj` is selected.
    pub fn matches(&self, obj: &Value) -> bool {
        let meta = &obj["metadata"];
        let namespace = meta["namespace"].as_str().unwrap_or("");
        let name = meta["name"].as_str().unwrap_or("");
        if self.namespace.as_deref().is_some_and(|ns| ns != namespace) {
            return false;
        }
        let fields_ok = self.fields.iter().all(|f| {
            let actual = match f.field {
                Field::Name => name,
                Field::Namespace => namespace,
                Field::Type => obj["type"].as_str().unwrap_or(""),
            };
            (actual == f.value) == f.equal
        });
        let labels = meta["labels"].as_object();
        let label = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        fields_ok
            && self.labels.iter().all(|req| match req {
                LabelReq::Eq(k, v) => label(k) == Some(v),
                LabelReq::NotEq(k, v) => label(k) != Some(v),
                LabelReq::In(k, vs) => label(k).is_some_and(|l| vs.iter().any(|v| v == l)),
                LabelReq::NotIn(k, vs) => !label(k).is_some_and(|l| vs.iter().any(|v| v == l)),
                LabelReq::Exists(k) => label(k).is_some(),
                LabelReq::NotExists(k) => label(k).is_none(),
            })
    }
}

/// Splits on commas outside parentheses: `a=b,env in (x,y)` is two terms.
fn terms(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(s[start..].trim());
    out.retain(|t| !t.is_empty());
    out
}

fn parse_labels(s: &str) -> Result<Vec<LabelReq>, String> {
    let bad = |t: &str| format!("unable to parse requirement: invalid label selector term {t:?}");
    terms(s)
        .into_iter()
        .map(|t| {
            if let Some(k) = t.strip_prefix('!') {
                return Ok(LabelReq::NotExists(k.trim().to_string()));
            }
            if let Some((k, v)) = t.split_once("!=") {
                return Ok(LabelReq::NotEq(k.trim().into(), v.trim().into()));
            }
            if let Some((k, v)) = t.split_once("==").or_else(|| t.split_once('=')) {
                return Ok(LabelReq::Eq(k.trim().into(), v.trim().into()));
            }
            if let Some((head, values)) = t.split_once('(') {
                let values = values.strip_suffix(')').ok_or_else(|| bad(t))?;
                let values: Vec<String> = values.split(',').map(|v| v.trim().into()).collect();
                return match head.split_whitespace().collect::<Vec<_>>().as_slice() {
                    [k, "in"] => Ok(LabelReq::In(k.to_string(), values)),
                    [k, "notin"] => Ok(LabelReq::NotIn(k.to_string(), values)),
                    _ => Err(bad(t)),
                };
            }
            if t.contains(char::is_whitespace) {
                return Err(bad(t));
            }
            Ok(LabelReq::Exists(t.to_string()))
        })
        .collect()
}

fn parse_fields(s: &str) -> Result<Vec<FieldReq>, String> {
    terms(s)
        .into_iter()
        .map(|t| {
            let (field, value, equal) = if let Some((f, v)) = t.split_once("!=") {
                (f, v, false)
            } else if let Some((f, v)) = t.split_once("==").or_else(|| t.split_once('=')) {
                (f, v, true)
            } else {
                return Err(format!("invalid field selector term {t:?}"));
            };
            let field = match field.trim() {
                "metadata.name" => Field::Name,
                "metadata.namespace" => Field::Namespace,
                "type" => Field::Type,
                other => return Err(format!("field label not supported: {other}")),
            };
            Ok(FieldReq {
                field,
                value: value.trim().to_string(),
                equal,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn filter(labels: &str, fields: &str) -> Filter {
        let q = Query::parse(&format!(
            "?&labelSelector={}&fieldSelector={}",
            labels.replace(',', "%2C").replace('=', "%3D"),
            fields.replace(',', "%2C").replace('=', "%3D"),
        ));
        Filter::new(None, &q).unwrap()
    }

    #[test]
    fn query() {
        let q = Query::parse("&&limit=500&continue=a%2Fb+c&watch=1&empty=&bare");
        assert_eq!(q.get("limit"), Some("500"));
        assert_eq!(q.get("continue"), Some("a/b c"));
        assert!(q.flag("watch"));
        assert_eq!(q.get("empty"), None);
        assert_eq!(q.get("bare"), None);
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%zz%41"), "%zzA");
    }

    #[test]
    fn selectors() {
        let obj =
            json!({"metadata": {"name": "a", "namespace": "n", "labels": {"x": "1", "y": "2"}}});
        for (labels, fields, want) in [
            ("", "", true),
            ("x=1,y==2", "", true),
            ("x=1,y=3", "", false),
            ("x!=2,z!=1", "", true),
            ("x in (1, 5),y notin (3)", "", true),
            ("x in (5)", "", false),
            ("x,!z", "", true),
            ("!x", "", false),
            ("", "metadata.name=a,metadata.namespace==n", true),
            ("", "metadata.name!=a", false),
            ("x=1", "metadata.namespace=m", false),
        ] {
            assert_eq!(
                filter(labels, fields).matches(&obj),
                want,
                "{labels} / {fields}"
            );
        }
        assert!(Filter::new(None, &Query::parse("fieldSelector=spec.x%3D1")).is_err());
        assert!(Filter::new(None, &Query::parse("labelSelector=a+b")).is_err());
        let ns = Filter::new(Some("other".into()), &Query::default()).unwrap();
        assert!(!ns.matches(&obj));
    }
}
