//! HAProxy's version (`show version`) and the capabilities that follow from it.

use std::fmt;

use nom::Parser;
use nom::bytes::complete::take_while;
use nom::character::complete::{char, u32 as nom_u32};
use nom::combinator::{all_consuming, opt};
use nom::sequence::preceded;

/// A parsed version such as `2.6.12-1+deb12u4`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Version {
    /// Major number.
    pub major: u32,
    /// Minor number.
    pub minor: u32,
    /// Patch number (0 for `3.0-dev5`).
    pub patch: u32,
    /// The full string, distribution suffix included.
    pub raw: String,
}

impl Version {
    /// Parses a version line.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim_end();
        let (_, (major, minor, patch, _)) = all_consuming((
            nom_u32::<&str, nom::error::Error<&str>>,
            preceded(char('.'), nom_u32),
            opt(preceded(char('.'), nom_u32)),
            take_while(|c: char| c.is_ascii_graphic()),
        ))
        .parse(text)
        .ok()?;
        Some(Self {
            major,
            minor,
            patch: patch.unwrap_or(0),
            raw: text.to_string(),
        })
    }

    fn at_least(&self, major: u32, minor: u32, patch: u32) -> bool {
        (self.major, self.minor, self.patch) >= (major, minor, patch)
    }

    /// What this version can do.
    pub fn capabilities(&self) -> Capabilities {
        let branch = (self.major, self.minor);
        Capabilities {
            dynamic_servers: self.at_least(2, 6, 0),
            dynamic_server_cookie: self.at_least(3, 0, 0)
                || (branch == (2, 8) && self.patch >= 8)
                || (branch == (2, 6) && self.patch >= 18),
            replies_may_lack_newline: (branch == (2, 6) && self.patch < 18)
                || (branch == (2, 8) && self.patch < 6)
                || branch < (2, 6)
                || branch == (2, 7),
            reload_reports_status: self.at_least(2, 7, 0),
            wait_srv_removable: self.at_least(3, 0, 0),
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// Capability flags derived from the version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Capabilities {
    /// `add server`/`del server` without experimental mode (2.6+).
    pub dynamic_servers: bool,
    /// `add server … cookie` (3.0, 2.8.8, 2.6.18).
    pub dynamic_server_cookie: bool,
    /// Some replies lack their final LF (before 2.6.18 / 2.8.6): use prompt framing.
    pub replies_may_lack_newline: bool,
    /// `reload` on the master CLI answers `Success=…` (2.7+); before, poll `show proc`.
    pub reload_reports_status: bool,
    /// `wait srv-removable` exists (3.0+).
    pub wait_srv_removable: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions_and_capabilities() {
        let v = Version::parse("2.6.12-1+deb12u4").unwrap();
        assert_eq!((v.major, v.minor, v.patch), (2, 6, 12));
        let c = v.capabilities();
        assert!(c.dynamic_servers);
        assert!(!c.dynamic_server_cookie);
        assert!(c.replies_may_lack_newline);
        assert!(!c.reload_reports_status);

        let c = Version::parse("2.6.18").unwrap().capabilities();
        assert!(c.dynamic_server_cookie && !c.replies_may_lack_newline);
        let c = Version::parse("2.8.8-abc").unwrap().capabilities();
        assert!(c.dynamic_server_cookie && !c.replies_may_lack_newline && c.reload_reports_status);
        let c = Version::parse("2.8.5").unwrap().capabilities();
        assert!(!c.dynamic_server_cookie && c.replies_may_lack_newline);
        let v = Version::parse("3.0-dev5").unwrap();
        assert_eq!(v.patch, 0);
        assert!(v.capabilities().wait_srv_removable);

        assert!(Version::parse("").is_none());
        assert!(Version::parse("HAProxy").is_none());
        assert!(Version::parse("2.6.12 junk").is_none());
    }
}
