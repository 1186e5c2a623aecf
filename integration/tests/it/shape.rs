//! The source tree's shape: import cycles between modules, read from the sources of the
//! agent, the haproxy crate and the soak (see `integration::module_graph` for what counts).

use std::path::Path;

use integration::module_graph::ModuleGraph;

fn cycles(krate: &str) -> Vec<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(krate)
        .join("src");
    let graph =
        ModuleGraph::read(&src).unwrap_or_else(|e| panic!("reading {}: {e}", src.display()));
    graph
        .cycles()
        .into_iter()
        .map(|c| format!("{krate}: {}", c.join(" <-> ")))
        .collect()
}

/// No module of the agent, the haproxy crate or the soak depends on itself through others
/// (issue 17).
/// A new cycle fails here with its members: break it by moving the shared type to a module
/// both can use (a leaf), not by merging the modules.
#[test]
fn there_are_no_import_cycles() {
    let mut found: Vec<String> = cycles("haproxy");
    found.extend(cycles("agent"));
    found.extend(cycles("soak"));
    assert!(
        found.is_empty(),
        "import cycles (move the shared type to a module both can use):\n{}",
        found
            .iter()
            .map(|c| format!("  {c}"))
            .collect::<Vec<_>>()
            .join("\n"),
    );
}
