//! The page from the committed figures is the committed page.

use std::path::PathBuf;

use super::*;

fn docs() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs")
}

/// The run behind the committed page: docs/reliability.json split back into its files, and
/// the long run beside it.
fn committed() -> Results {
    let text = std::fs::read_to_string(docs().join("reliability.json")).unwrap();
    let all: Value = serde_json::from_str(&text).unwrap();
    Results {
        meta: all["meta"].clone(),
        scenarios: SCENARIOS
            .iter()
            .map(|name| (*name, Some(all[*name].clone()).filter(|v| !v.is_null())))
            .collect(),
        r4_long: load(&docs().join(LONG_FILE)),
    }
}

#[test]
fn the_page_is_its_template_filled() {
    let page = page(&committed()).unwrap();
    let expected = std::fs::read_to_string(docs().join("reliability.md")).unwrap();
    if page != expected {
        let first = page
            .lines()
            .zip(expected.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        panic!(
            "docs/reliability.md is not its template filled from docs/reliability.json; first \
             difference at line {}:\n  page:      {:?}\n  committed: {:?}",
            first + 1,
            page.lines().nth(first),
            expected.lines().nth(first)
        );
    }
    assert!(!page.contains("{{"), "a placeholder was left unfilled");
}

#[test]
fn a_scenario_without_figures_is_a_loss_row() {
    let mut r = committed();
    r.scenarios[1].1 = None;
    let page = page(&r).unwrap();
    assert!(
        page.contains("| R2 agent killed mid-batch | did not complete (see the script's output) |")
    );
    assert!(page.contains("Result: **LOSS: at least one scenario"));
    assert!(!page.contains("## R2:"), "a section without figures");
    assert!(page.contains("## R3:"));
}

#[test]
fn the_report_command_rewrites_the_committed_files_from_their_own_figures() {
    let text = std::fs::read_to_string(docs().join("reliability.json")).unwrap();
    let all: Value = serde_json::from_str(&text).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (run, out) = (tmp.path().join("run"), tmp.path().join("out"));
    std::fs::create_dir_all(&run).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    for name in std::iter::once("meta").chain(SCENARIOS) {
        let figures = serde_json::to_string(&all[name]).unwrap();
        std::fs::write(run.join(format!("{name}.json")), figures).unwrap();
    }
    std::fs::copy(docs().join(LONG_FILE), out.join(LONG_FILE)).unwrap();
    let passed = write(&run, &out).unwrap();
    assert_eq!(Some(passed), all["passed"].as_bool());
    for file in ["reliability.md", "reliability.json"] {
        let written = std::fs::read_to_string(out.join(file)).unwrap();
        let committed = std::fs::read_to_string(docs().join(file)).unwrap();
        assert!(
            written == committed,
            "{file} differs from the committed one"
        );
    }
}
