//! The map and ACL files of a frontend's routes: where each lives in the config dir.

use super::value::{ConfigPath, InvalidValue};

/// The map and ACL files a frontend looks routes up in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouteMaps {
    /// Exact `host/path` keys, read with `map_str`.
    pub exact: ConfigPath,
    /// Prefix keys, read with `map_beg` (longest match).
    pub prefix: ConfigPath,
    /// Regex keys, read with `map_regm` (first match, in file order).
    pub regex: ConfigPath,
    /// The allow lists' ACL file (see [`super::source_list`]).
    pub allow: ConfigPath,
    /// The deny lists' ACL file.
    pub deny: ConfigPath,
    /// The canary header patterns' ACL file (see [`super::CanaryPattern`]).
    pub canary: ConfigPath,
    /// The TLS passthrough hosts (SNI, lower case) and their `mode tcp` backends, read with
    /// `map_str` by the passthrough frontend (see [`super::passthrough`]).
    pub passthrough: ConfigPath,
    /// The settings map: global values read with a fixed key (see
    /// [`super::settings_map`]).
    pub settings: ConfigPath,
}

impl RouteMaps {
    /// `<dir>/maps/exact.map`, `<dir>/maps/prefix.map`, `<dir>/maps/regex.map`,
    /// `<dir>/maps/allow.acl`, `<dir>/maps/deny.acl`, `<dir>/maps/canary.acl`,
    /// `<dir>/maps/sni.map` and `<dir>/maps/settings.map`.
    pub fn in_dir(dir: &std::path::Path) -> Result<Self, InvalidValue> {
        let file = |name: &str| ConfigPath::from_path(&dir.join("maps").join(name));
        Ok(Self {
            exact: file("exact.map")?,
            prefix: file("prefix.map")?,
            regex: file("regex.map")?,
            allow: file("allow.acl")?,
            deny: file("deny.acl")?,
            canary: file("canary.acl")?,
            passthrough: file("sni.map")?,
            settings: file("settings.map")?,
        })
    }
}
