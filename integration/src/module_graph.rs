//! The module dependency graph of a crate's sources, read from their `use` and path text, and
//! its import cycles.
//!
//! A module is a source file (`a/b.rs` and `a/b/mod.rs` are `a::b`; `lib.rs`/`main.rs` the
//! crate root). A module depends on another when its non-test code names a path into it
//! (`use crate::a::b::X`, `super::b::X`, `crate::a::b::f()`), resolved to the deepest module
//! file that exists. A module naming one of its ancestors (`use super::X` in a child) is not
//! counted: a parent and the children it declares are one unit of code, as Rust lays them out.
//! A cycle is a strongly connected set of two or more modules, for example two siblings that
//! import each other. Test code (from a `#[cfg(test)]` line on, and files ending in `tests.rs`)
//! is left out. The reading is textual on purpose (no parser dependency for a shape check):
//! comments and string literals are skipped, `use` groups are expanded.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module path inside its crate, such as `["translate", "tls"]` (the root is empty).
pub type ModPath = Vec<String>;

/// A crate's modules and the edges between them.
#[derive(Debug, Default)]
pub struct ModuleGraph {
    /// Every module read, with the modules it depends on.
    pub edges: BTreeMap<ModPath, BTreeSet<ModPath>>,
}

impl ModuleGraph {
    /// Reads every `.rs` file under `src` (a crate's `src` directory).
    pub fn read(src: &Path) -> std::io::Result<ModuleGraph> {
        let mut files = Vec::new();
        collect(src, &mut files)?;
        let mut sources = BTreeMap::new();
        for file in files {
            let rel = file.strip_prefix(src).expect("under src");
            let Some(module) = module_of(rel) else {
                continue;
            };
            let name = rel.to_string_lossy();
            if name.ends_with("tests.rs") || name.starts_with("bin/") {
                continue;
            }
            sources.insert(module, std::fs::read_to_string(&file)?);
        }
        Ok(ModuleGraph::from_sources(&sources))
    }

    /// The graph of modules given by path with their source text.
    pub fn from_sources(sources: &BTreeMap<ModPath, String>) -> ModuleGraph {
        let known: BTreeSet<&ModPath> = sources.keys().collect();
        let mut edges = BTreeMap::new();
        for (module, text) in sources {
            let mut deps = BTreeSet::new();
            for path in referenced_paths(&non_test_code(text)) {
                let Some(absolute) = absolute(module, &path) else {
                    continue;
                };
                let target = deepest_known(&absolute, &known);
                let ancestor = target.len() <= module.len() && module.starts_with(&target);
                if !ancestor {
                    deps.insert(target);
                }
            }
            edges.insert(module.clone(), deps);
        }
        ModuleGraph { edges }
    }

    /// The import cycles: each a sorted list of the modules (`a::b`) of one strongly connected
    /// set of two or more, the list sorted too.
    pub fn cycles(&self) -> Vec<Vec<String>> {
        let mut out: Vec<Vec<String>> = strongly_connected(&self.edges)
            .into_iter()
            .filter(|set| set.len() > 1)
            .map(|set| {
                let mut names: Vec<String> = set.iter().map(display).collect();
                names.sort();
                names
            })
            .collect();
        out.sort();
        out
    }
}

/// `a::b`, or `crate` for the root.
pub fn display(module: &ModPath) -> String {
    if module.is_empty() {
        "crate".to_string()
    } else {
        module.join("::")
    }
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// The module a file under `src` is, or `None` for a file that is not one by its name.
fn module_of(rel: &Path) -> Option<ModPath> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop()?;
    let stem = last.strip_suffix(".rs")?;
    if !(parts.is_empty() && (stem == "lib" || stem == "main")) && stem != "mod" {
        parts.push(stem.to_string());
    }
    Some(parts)
}

/// The text before the first `#[cfg(test)]`, without comments and string literals.
fn non_test_code(text: &str) -> String {
    let code = text.split("#[cfg(test)]").next().unwrap_or("");
    let mut out = String::with_capacity(code.len());
    let mut chars = code.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '"' => {
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
                out.push_str("\"\"");
            }
            _ => out.push(c),
        }
    }
    out
}

/// Every path that starts with `crate::`, `super::` or `self::` (with `use` groups expanded),
/// as its segments.
fn referenced_paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &code[i..];
        let boundary = i == 0 || !is_ident(bytes[i - 1]) && bytes[i - 1] != b':';
        let starts = ["crate::", "super::", "self::"]
            .iter()
            .any(|p| rest.starts_with(p));
        if boundary && starts {
            let (paths, used) = path_tree(rest);
            out.extend(paths);
            i += used.max(1);
        } else {
            i += 1;
        }
    }
    out
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Reads one path (possibly ending in a `{...}` group) at the start of `text`: the paths it
/// names and the bytes read.
fn path_tree(text: &str) -> (Vec<Vec<String>>, usize) {
    let bytes = text.as_bytes();
    let mut segments = Vec::new();
    let mut i = 0;
    loop {
        let start = i;
        while i < bytes.len() && is_ident(bytes[i]) {
            i += 1;
        }
        if i > start {
            segments.push(text[start..i].to_string());
        }
        let after_space = i + text[i..].len() - text[i..].trim_start().len();
        if text[after_space..].starts_with("::") {
            i = after_space + 2;
            i += text[i..].len() - text[i..].trim_start().len();
            if text[i..].starts_with('{') {
                let close = matching_brace(&text[i..]).map_or(text.len(), |c| i + c);
                let mut out = Vec::new();
                for item in split_top(&text[i + 1..close]) {
                    let item = item.trim();
                    if item.is_empty() {
                        continue;
                    }
                    let (inner, _) = path_tree(item);
                    for mut tail in inner {
                        let mut full = segments.clone();
                        full.append(&mut tail);
                        out.push(full);
                    }
                }
                return (out, close + 1);
            }
            continue;
        }
        return (vec![segments], i);
    }
}

fn matching_brace(text: &str) -> Option<usize> {
    let mut depth = 0;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Splits a `use` group's inside at its top-level commas.
fn split_top(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out
}

/// A path's segments made absolute from `module`, or `None` when it climbs above the root.
fn absolute(module: &ModPath, path: &[String]) -> Option<ModPath> {
    let mut base: ModPath = Vec::new();
    let mut rest = path;
    match path.first().map(String::as_str) {
        Some("crate") => rest = &path[1..],
        Some("self") | Some("super") => {
            base = module.clone();
            while let Some(first) = rest.first() {
                match first.as_str() {
                    "self" => {}
                    "super" => {
                        base.pop()?;
                    }
                    _ => break,
                }
                rest = &rest[1..];
            }
        }
        _ => return None,
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

/// The longest prefix of `path` that is a module read.
fn deepest_known(path: &ModPath, known: &BTreeSet<&ModPath>) -> ModPath {
    (0..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|prefix| known.contains(prefix))
        .unwrap_or_default()
}

/// Tarjan's strongly connected components.
fn strongly_connected(edges: &BTreeMap<ModPath, BTreeSet<ModPath>>) -> Vec<Vec<ModPath>> {
    struct State<'a> {
        edges: &'a BTreeMap<ModPath, BTreeSet<ModPath>>,
        index: BTreeMap<&'a ModPath, (usize, usize)>,
        stack: Vec<&'a ModPath>,
        on_stack: BTreeSet<&'a ModPath>,
        next: usize,
        out: Vec<Vec<ModPath>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a ModPath) {
        s.index.insert(v, (s.next, s.next));
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.edges.get(v).into_iter().flatten() {
            let Some((w, _)) = s.edges.get_key_value(w) else {
                continue;
            };
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.index[w].1.min(s.index[v].1);
                s.index.get_mut(v).expect("visited").1 = low;
            } else if s.on_stack.contains(w) {
                let low = s.index[w].0.min(s.index[v].1);
                s.index.get_mut(v).expect("visited").1 = low;
            }
        }
        if s.index[v].0 == s.index[v].1 {
            let mut set = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                set.push(w.clone());
                if w == v {
                    break;
                }
            }
            s.out.push(set);
        }
    }
    let mut s = State {
        edges,
        index: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(files: &[(&str, &str)]) -> ModuleGraph {
        let sources = files
            .iter()
            .map(|(m, t)| {
                let path = if m.is_empty() {
                    vec![]
                } else {
                    m.split("::").map(String::from).collect()
                };
                (path, t.to_string())
            })
            .collect();
        ModuleGraph::from_sources(&sources)
    }

    #[test]
    fn siblings_that_import_each_other_are_a_cycle() {
        let g = graph(&[
            ("", "mod a; mod b;"),
            ("a", "use super::b::X;\npub struct Y;"),
            ("b", "use crate::a::{Y, self};\npub struct X;"),
        ]);
        assert_eq!(g.cycles(), vec![vec!["a".to_string(), "b".to_string()]]);
    }

    #[test]
    fn a_child_using_its_parent_is_not_a_cycle() {
        let g = graph(&[
            ("", "mod a;"),
            ("a", "mod c; use self::c::Z; pub struct P;"),
            ("a::c", "use super::P; pub struct Z;"),
        ]);
        assert!(g.cycles().is_empty(), "{:?}", g.edges);
        assert!(g.edges[&vec!["a".to_string()]].contains(&vec!["a".into(), "c".into()]));
    }

    #[test]
    fn nested_groups_inline_paths_and_deepest_module() {
        let g = graph(&[
            ("", ""),
            ("x", "fn f() { crate::y::z::Item::new(); }"),
            ("y", "pub use self::z::Item;"),
            ("y::z", "use crate::{x::{self, g}, w};"),
            ("w", ""),
        ]);
        let deps = |m: &str| g.edges[&m.split("::").map(String::from).collect::<Vec<_>>()].clone();
        assert!(deps("x").contains(&vec!["y".to_string(), "z".to_string()]));
        assert!(deps("y::z").contains(&vec!["x".to_string()]));
        assert!(deps("y::z").contains(&vec!["w".to_string()]));
        assert_eq!(g.cycles(), vec![vec!["x".to_string(), "y::z".to_string()]]);
    }

    #[test]
    fn comments_strings_and_test_code_are_not_read() {
        let g = graph(&[
            (
                "a",
                "// use crate::b::X;\nconst S: &str = \"crate::b::X\";\n#[cfg(test)]\nmod tests { use crate::b::X; }",
            ),
            ("b", "use crate::a::S;"),
        ]);
        assert!(g.cycles().is_empty(), "{:?}", g.edges);
    }
}
