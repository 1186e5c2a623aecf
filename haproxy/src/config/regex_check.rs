//! The regex syntax HAProxy's PCRE2 and the `regex` crate read alike: parsing a regex and
//! refusing everything outside the plain subset (see [`super::RegexPath`]).

use regex_syntax::ast::{
    self, AssertionKind, Ast, ClassSet, ClassSetItem, Flag, FlagsItemKind, GroupKind, LiteralKind,
};

use super::route_host::MAX_PATH_LEN;

/// Checks a regex that is not a path (a Gateway API header or query parameter value):
/// the plain syntax [`RegexPath`] allows, printable ASCII without `#`, at most
/// [`MAX_PATH_LEN`] bytes, without the leading `/`.
pub fn check_plain_regex(s: &str) -> Result<(), InvalidRegex> {
    let bad = |reason: String| InvalidRegex {
        value: s.to_string(),
        reason,
    };
    if s.is_empty() || s.len() > MAX_PATH_LEN {
        return Err(bad("it must be 1 to 2048 bytes".into()));
    }
    let parsed = parse_plain(s, true).map_err(bad)?;
    plain(s, &parsed, &mut 0, true).map_err(bad)
}

/// A path regex [`RegexPath`] refuses, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("path regex {value:?} is refused: {reason}")]
pub struct InvalidRegex {
    /// The regex.
    pub value: String,
    /// Why.
    pub reason: String,
}

/// Parses a regex in the plain syntax [`RegexPath`] describes (`spaces`: a space is
/// allowed as a literal, as in a header value's regex); the caller checks it with [`plain`].
pub(super) fn parse_plain(s: &str, spaces: bool) -> Result<Ast, String> {
    if !s
        .bytes()
        .all(|b| (b.is_ascii_graphic() || (spaces && b == b' ')) && b != b'#')
    {
        return Err(if spaces {
            "only printable ASCII without # is allowed".into()
        } else {
            "only printable ASCII without whitespace or # is allowed".into()
        });
    }
    let parsed = match ast::parse::Parser::new().parse(s) {
        Ok(a) => a,
        Err(e) => return Err(format!("it is not a regular expression: {}", e.kind())),
    };
    if let Err(e) = regex_syntax::hir::translate::Translator::new().translate(s, &parsed) {
        return Err(format!("it is not a regular expression: {}", e.kind()));
    }
    Ok(parsed)
}

/// Refuses the syntax PCRE2 could read otherwise (and `\A`/`\z` unless `text_anchors`);
/// counts the capture groups.
pub(super) fn plain(
    src: &str,
    a: &Ast,
    groups: &mut u32,
    text_anchors: bool,
) -> Result<(), String> {
    let plain = |a: &Ast, groups: &mut u32| plain(src, a, groups, text_anchors);
    match a {
        Ast::Empty(_) | Ast::Dot(_) | Ast::ClassPerl(_) => Ok(()),
        Ast::Literal(l) => literal(l),
        Ast::Flags(f) => flags(&f.flags),
        Ast::Assertion(x) => match x.kind {
            AssertionKind::StartLine
            | AssertionKind::EndLine
            | AssertionKind::WordBoundary
            | AssertionKind::NotWordBoundary => Ok(()),
            AssertionKind::StartText | AssertionKind::EndText if text_anchors => Ok(()),
            AssertionKind::StartText | AssertionKind::EndText => {
                Err("\\A and \\z are not allowed here: anchor with ^ and $".into())
            }
            _ => Err("word-start and word-end assertions differ in PCRE2".into()),
        },
        Ast::ClassUnicode(_) => Err("Unicode classes (\\p) differ in PCRE2".into()),
        Ast::ClassBracketed(c) => class(&c.kind),
        Ast::Repetition(r) => {
            let text = &src[r.op.span.start.offset..r.op.span.end.offset];
            if text.starts_with("{,") {
                return Err("{,n} is a literal in PCRE2; write {0,n}".into());
            }
            if matches!(*r.ast, Ast::Repetition(_)) {
                return Err("a repetition right after another (a*+) is possessive in PCRE2".into());
            }
            plain(&r.ast, groups)
        }
        Ast::Group(g) => {
            match &g.kind {
                GroupKind::CaptureIndex(_) | GroupKind::CaptureName { .. } => *groups += 1,
                GroupKind::NonCapturing(f) => flags(f)?,
            }
            plain(&g.ast, groups)
        }
        Ast::Alternation(x) => x.asts.iter().try_for_each(|a| plain(a, groups)),
        Ast::Concat(x) => x.asts.iter().try_for_each(|a| plain(a, groups)),
    }
}

fn literal(l: &ast::Literal) -> Result<(), String> {
    match l.kind {
        LiteralKind::Verbatim | LiteralKind::Meta => Ok(()),
        LiteralKind::Superfluous if l.c.is_ascii_punctuation() => Ok(()),
        _ => Err(format!(
            "the escape for {:?} is not read the same way by PCRE2",
            l.c
        )),
    }
}

fn flags(f: &ast::Flags) -> Result<(), String> {
    for item in &f.items {
        match item.kind {
            FlagsItemKind::Negation | FlagsItemKind::Flag(Flag::CaseInsensitive) => {}
            FlagsItemKind::Flag(_) => return Err("only the i flag is allowed".into()),
        }
    }
    Ok(())
}

fn class(set: &ClassSet) -> Result<(), String> {
    let ClassSet::Item(item) = set else {
        return Err("class set operations (&&, --, ~~) are not PCRE2 syntax".into());
    };
    let items = match item {
        ClassSetItem::Union(u) => u.items.as_slice(),
        one => std::slice::from_ref(one),
    };
    for i in items {
        match i {
            ClassSetItem::Empty(_)
            | ClassSetItem::Range(_)
            | ClassSetItem::Ascii(_)
            | ClassSetItem::Perl(_) => {}
            ClassSetItem::Literal(l) => literal(l)?,
            ClassSetItem::Unicode(_) => return Err("Unicode classes (\\p) differ in PCRE2".into()),
            ClassSetItem::Bracketed(_) | ClassSetItem::Union(_) => {
                return Err("nested classes are not PCRE2 syntax".into());
            }
        }
    }
    Ok(())
}
