//! The one error translation returns: a setting that cannot produce a config.

use haproxy::config::InvalidValue;

/// A setting HAProxy cannot take (a path, a socket, a duration). Objects never make
/// translation fail (their faults are [`crate::problem::Problem`]s); settings are checked
/// once at start-up, so while running this is unreachable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {why}")]
pub struct BadSetting {
    /// The flag, as the user typed it (`--config-dir`).
    pub setting: &'static str,
    /// Why HAProxy cannot take its value.
    pub why: InvalidValue,
}

impl BadSetting {
    /// A `map_err` adapter: `.map_err(BadSetting::of("--config-dir"))`.
    pub fn of(setting: &'static str) -> impl FnOnce(InvalidValue) -> Self {
        move |why| Self { setting, why }
    }
}
