//! The manifests parser on arbitrary text: it returns objects or a named problem, and never
//! panics.
#![no_main]

use haproxy_agent::source::manifests::parse_manifests;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_manifests(std::path::Path::new("fuzz.yaml"), text);
    }
});
