//! The settings map: global values the frontend reads per request with a fixed key
//! (`str(<key>),map_str(<file>)`), so turning one on, off or changing it is `add`, `set` or
//! `del map`, never a reload. Today it holds the ConfigMap's HSTS for the HTTPS responses no
//! route gave one (the default backend, the built-in 404).

use std::collections::BTreeMap;

use crate::names::{FilePath, MapKey, MapValue};
use crate::proto::{Command, MapTarget};

use super::settings::{GlobalSettings, HSTS_KEY};

/// The settings map's entries by key.
pub type SettingsEntries = BTreeMap<MapKey, MapValue>;

/// The entries `settings` gives: `hsts <max-age>.<flags>` while HSTS is on.
pub fn settings_entries(settings: &GlobalSettings) -> SettingsEntries {
    let mut out = SettingsEntries::new();
    if let Some(h) = settings.hsts {
        out.insert(
            MapKey::new(HSTS_KEY).expect("a fixed key"),
            MapValue::new(h.field()).expect("digits, a dot and letters"),
        );
    }
    out
}

/// The map file text: one `key value` line per entry.
pub fn render_settings_map(entries: &SettingsEntries) -> String {
    entries
        .iter()
        .map(|(k, v)| format!("{} {}\n", k.as_str(), v.as_str()))
        .collect()
}

/// The live settings map as `show map` listed it (in order; a value this agent cannot name
/// in a command is `None`), kept current from acknowledged commands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveSettings(Vec<(MapKey, Option<MapValue>)>);

impl LiveSettings {
    /// The map holds the `(key, value)` pairs `show map` listed. A key this agent cannot
    /// name is left alone: no lookup reads it.
    pub fn set_listed(&mut self, listed: impl IntoIterator<Item = (String, String)>) {
        self.0 = listed
            .into_iter()
            .filter_map(|(k, v)| Some((MapKey::new(k).ok()?, MapValue::new(v).ok())))
            .collect();
    }

    /// A command on the settings map was acknowledged (`set map` and `del map` act on every
    /// entry of the key, as HAProxy does).
    pub fn record(&mut self, command: &Command) {
        match command {
            Command::AddMap(t, k, v) if t.version.is_none() => {
                self.0.push((k.clone(), Some(v.clone())));
            }
            Command::SetMap(_, k, v) => {
                for (_, value) in self.0.iter_mut().filter(|(key, _)| key == k) {
                    *value = Some(v.clone());
                }
            }
            Command::DelMap(_, k) => self.0.retain(|(key, _)| key != k),
            _ => {}
        }
    }

    /// The commands that make the map in `file` hold `desired`: `add map` for a key it
    /// lacks, `set map` for a key with another value (any of its entries), `del map` for a
    /// key not desired.
    pub fn commands(&self, file: &FilePath, desired: &SettingsEntries) -> Vec<Command> {
        let mut out = Vec::new();
        for (k, v) in desired {
            let mut listed = self.0.iter().filter(|(key, _)| key == k).peekable();
            if listed.peek().is_none() {
                out.push(Command::AddMap(
                    MapTarget::live(file.clone()),
                    k.clone(),
                    v.clone(),
                ));
            } else if listed.any(|(_, have)| have.as_ref() != Some(v)) {
                out.push(Command::SetMap(file.clone(), k.clone(), v.clone()));
            }
        }
        let mut gone: Vec<&MapKey> = self
            .0
            .iter()
            .map(|(k, _)| k)
            .filter(|k| !desired.contains_key(*k))
            .collect();
        gone.sort();
        gone.dedup();
        out.extend(
            gone.into_iter()
                .map(|k| Command::DelMap(file.clone(), k.clone())),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Hsts;

    fn file() -> FilePath {
        FilePath::new("/etc/haproxy/maps/settings.map").unwrap()
    }

    fn wire(cmds: &[Command]) -> Vec<String> {
        cmds.iter().map(|c| c.to_text().unwrap()).collect()
    }

    fn hsts(max_age: u32) -> SettingsEntries {
        settings_entries(&GlobalSettings {
            hsts: Some(Hsts {
                max_age,
                include_subdomains: true,
                preload: false,
            }),
            ..Default::default()
        })
    }

    #[test]
    fn hsts_is_one_entry_and_off_is_none() {
        assert_eq!(render_settings_map(&hsts(600)), "hsts 600.s\n");
        assert!(settings_entries(&GlobalSettings::default()).is_empty());
    }

    #[test]
    fn commands_add_set_and_delete_by_key() {
        let mut live = LiveSettings::default();
        let cases: [(&str, SettingsEntries, &[&str]); 4] = [
            (
                "on",
                hsts(600),
                &["add map /etc/haproxy/maps/settings.map hsts 600.s"],
            ),
            ("unchanged", hsts(600), &[]),
            (
                "changed",
                hsts(1200),
                &["set map /etc/haproxy/maps/settings.map hsts 1200.s"],
            ),
            (
                "off",
                SettingsEntries::new(),
                &["del map /etc/haproxy/maps/settings.map hsts"],
            ),
        ];
        for (name, desired, want) in cases {
            let cmds = live.commands(&file(), &desired);
            assert_eq!(wire(&cmds), want, "{name}");
            cmds.iter().for_each(|c| live.record(c));
            assert!(
                live.commands(&file(), &desired).is_empty(),
                "{name} settles"
            );
        }
    }

    #[test]
    fn a_key_listed_twice_or_unreadable_is_set_and_a_foreign_key_deleted() {
        let mut live = LiveSettings::default();
        live.set_listed([
            ("hsts".to_string(), "600.s".to_string()),
            ("hsts".to_string(), "1.n".to_string()),
            ("old".to_string(), "x".to_string()),
            ("old".to_string(), "y".to_string()),
        ]);
        assert_eq!(
            wire(&live.commands(&file(), &hsts(600))),
            [
                "set map /etc/haproxy/maps/settings.map hsts 600.s",
                "del map /etc/haproxy/maps/settings.map old",
            ]
        );
        live.set_listed([("hsts".to_string(), "bad\u{1}".to_string())]);
        assert_eq!(
            wire(&live.commands(&file(), &hsts(600))),
            ["set map /etc/haproxy/maps/settings.map hsts 600.s"]
        );
    }
}
