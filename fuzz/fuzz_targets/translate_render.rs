//! A manifests YAML stream (seeded from the hostile corpus and the examples) -> the
//! manifests parser -> `translate` -> `render`: nothing panics, a file that does not parse is
//! one named problem, and the render passes `render_check` (named problems, a consistent
//! model, clean files, well-formed map and ACL lines). `scripts/fuzz` replays the minimised
//! corpus through `haproxy -c` (`FUZZ_HAPROXY_CHECK_DIR`).
#![no_main]

use std::path::Path;

use haproxy_agent::source::manifests::parse_manifests;
use haproxy_agent_fuzz::render_check;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_manifests(Path::new("/fuzz/objects.yaml"), text) {
        Ok(objects) => {
            render_check::run(objects);
        }
        Err(p) => render_check::check_problem(&p),
    }
});
