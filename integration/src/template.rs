//! A page template filled with a run's figures (the benchmarks' and the soak's pages): `{{name}}` is a value, `{{#list}}…{{/list}}`
//! repeats its inside once per item of a list (an empty list writes nothing). An item's names
//! shadow the outer ones. A name the values lack, a list used as a value or a value used as
//! a list is an error, so the page never shows a hole.

use std::collections::BTreeMap;

use anyhow::{Context as _, bail};

/// A value a template names.
#[derive(Debug, Clone)]
pub enum Val {
    /// Text put in as it is.
    Text(String),
    /// Items, each with names of its own.
    List(Vec<Vals>),
}

/// Named values.
pub type Vals = BTreeMap<String, Val>;

/// Adds a text value.
pub fn put(vals: &mut Vals, name: &str, text: impl Into<String>) {
    vals.insert(name.to_string(), Val::Text(text.into()));
}

/// Adds a list.
pub fn put_list(vals: &mut Vals, name: &str, items: Vec<Vals>) {
    vals.insert(name.to_string(), Val::List(items));
}

/// A list of one empty item when `on`, of none otherwise: a template's conditional part.
pub fn when(on: bool) -> Vec<Vals> {
    if on { vec![Vals::new()] } else { Vec::new() }
}

/// Fills `template` from `vals`.
pub fn fill(template: &str, vals: &Vals) -> anyhow::Result<String> {
    let mut out = String::with_capacity(template.len() * 2);
    render(template, &[vals], &mut out)?;
    Ok(out)
}

fn lookup<'a>(scopes: &[&'a Vals], name: &str) -> Option<&'a Val> {
    scopes.iter().rev().find_map(|s| s.get(name))
}

fn render(text: &str, scopes: &[&Vals], out: &mut String) -> anyhow::Result<()> {
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let close = after.find("}}").context("a `{{` without its `}}`")?;
        let tag = after[..close].trim();
        rest = &after[close + 2..];
        if let Some(name) = tag.strip_prefix('#') {
            let end_tag = format!("{{{{/{name}}}}}");
            let end = rest
                .find(&end_tag)
                .with_context(|| format!("`{{{{#{name}}}}}` without `{end_tag}`"))?;
            let inside = &rest[..end];
            rest = &rest[end + end_tag.len()..];
            match lookup(scopes, name) {
                Some(Val::List(items)) => {
                    for item in items {
                        let mut inner = scopes.to_vec();
                        inner.push(item);
                        render(inside, &inner, out)?;
                    }
                }
                Some(Val::Text(_)) => bail!("`{name}` is a value, not a list"),
                None => bail!("no list `{name}` for the template"),
            }
        } else if tag.starts_with('/') {
            bail!("`{{{{{tag}}}}}` closes nothing");
        } else {
            match lookup(scopes, tag) {
                Some(Val::Text(t)) => out.push_str(t),
                Some(Val::List(_)) => bail!("`{tag}` is a list, not a value"),
                None => bail!("no value `{tag}` for the template"),
            }
        }
    }
    out.push_str(rest);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_lists_and_shadowing() {
        let mut vals = Vals::new();
        put(&mut vals, "title", "P1");
        put(&mut vals, "unit", "ms");
        let item = |n: &str| {
            let mut v = Vals::new();
            put(&mut v, "n", n);
            v
        };
        put_list(&mut vals, "rows", vec![item("1"), item("2")]);
        put_list(&mut vals, "none", vec![]);
        let page = fill(
            "# {{ title }}\n{{#rows}}| {{n}} {{unit}} |\n{{/rows}}{{#none}}x{{/none}}.",
            &vals,
        );
        assert_eq!(page.unwrap(), "# P1\n| 1 ms |\n| 2 ms |\n.");
    }

    #[test]
    fn a_hole_is_an_error() {
        let vals = Vals::new();
        assert!(
            fill("{{missing}}", &vals)
                .unwrap_err()
                .to_string()
                .contains("missing")
        );
        assert!(fill("{{#l}}x", &vals).is_err());
        assert!(fill("{{/l}}", &vals).is_err());
        assert!(fill("{{x", &vals).is_err());
        let mut vals = Vals::new();
        put_list(&mut vals, "l", vec![]);
        put(&mut vals, "t", "");
        assert!(fill("{{l}}", &vals).is_err());
        assert!(fill("{{#t}}{{/t}}", &vals).is_err());
    }
}
