//! The settings map: global values the frontend reads per request with a fixed key
//! (`str(<key>),map_str(<file>)`), so turning one on, off or changing it is `add`, `set` or
//! `del map`, never a reload. It holds the ConfigMap's HSTS for the HTTPS responses no
//! route gave one (the default backend, the built-in 404), and how each SNI name that asks
//! for client certificates treats one that fails verification (`verify:<name>`, see
//! [`super::client_cert`]).

use std::collections::BTreeMap;

use crate::names::{FilePath, MapKey, MapValue};
use crate::proto::command::ClientVerify;
use crate::proto::{Command, MapTarget};

use super::client_cert::{VERIFY_CA, VERIFY_KEY_PREFIX, VERIFY_NO_CA};
use super::settings::{GlobalSettings, HSTS_KEY};
use super::tls::TlsFiles;

/// The settings map's entries by key.
pub type SettingsEntries = BTreeMap<MapKey, MapValue>;

/// The entries `settings` and `tls` give: `hsts <max-age>.<flags>` while HSTS is on, and
/// `verify:<name> no-ca|ca` for every name of a crt-list line that asks for client
/// certificates (`no-ca` only for a `verify optional` line's name in `tls.no_ca`; a name on
/// two lines is `ca` if either says so).
pub fn settings_entries(settings: &GlobalSettings, tls: &TlsFiles) -> SettingsEntries {
    let mut out = SettingsEntries::new();
    if let Some(h) = settings.hsts {
        out.insert(
            MapKey::new(HSTS_KEY).expect("a fixed key"),
            MapValue::new(h.field()).expect("digits, a dot and letters"),
        );
    }
    let ca = MapValue::new(VERIFY_CA).expect("a fixed word");
    let no_ca = MapValue::new(VERIFY_NO_CA).expect("a fixed word");
    for entry in &tls.crt_list {
        let Some(auth) = &entry.auth else { continue };
        for sni in &entry.sni {
            // An SNI filter is a DNS name or `*.` and one: no whitespace, no `#` first.
            let Ok(key) = MapKey::new(format!("{VERIFY_KEY_PREFIX}{}", sni.as_str())) else {
                continue;
            };
            let lenient = auth.verify == ClientVerify::Optional && tls.no_ca.contains(sni);
            let value = if lenient { &no_ca } else { &ca };
            let slot = out.entry(key).or_insert_with(|| value.clone());
            if !lenient {
                *slot = ca.clone();
            }
        }
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
        let mut live: BTreeMap<&MapKey, Vec<Option<&MapValue>>> = BTreeMap::new();
        for (k, v) in &self.0 {
            live.entry(k).or_default().push(v.as_ref());
        }
        let mut out = Vec::new();
        for (k, v) in desired {
            match live.get(k) {
                None => out.push(Command::AddMap(
                    MapTarget::live(file.clone()),
                    k.clone(),
                    v.clone(),
                )),
                Some(have) if have.iter().any(|h| *h != Some(v)) => {
                    out.push(Command::SetMap(file.clone(), k.clone(), v.clone()))
                }
                Some(_) => {}
            }
        }
        out.extend(
            live.keys()
                .filter(|k| !desired.contains_key(**k))
                .map(|k| Command::DelMap(file.clone(), (*k).clone())),
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
        settings_entries(
            &GlobalSettings {
                hsts: Some(Hsts {
                    max_age,
                    include_subdomains: true,
                    preload: false,
                }),
                ..Default::default()
            },
            &TlsFiles::default(),
        )
    }

    #[test]
    fn hsts_is_one_entry_and_off_is_none() {
        assert_eq!(render_settings_map(&hsts(600)), "hsts 600.s\n");
        assert!(settings_entries(&GlobalSettings::default(), &TlsFiles::default()).is_empty());
    }

    #[test]
    fn client_certificate_names_are_ca_or_no_ca_and_fail_closed() {
        use crate::names::SniFilter;
        use crate::proto::command::{ClientAuth, CrtListEntry};
        let file = |n: &str| FilePath::new(format!("/etc/haproxy/certs/{n}")).unwrap();
        let line = |verify: Option<ClientVerify>, names: &[&str]| {
            CrtListEntry::new(
                file("site.pem"),
                names.iter().map(|n| SniFilter::new(*n).unwrap()),
            )
            .unwrap()
            .with_auth(verify.map(|verify| ClientAuth {
                verify,
                ca_file: file("ns_ca.1.client-ca.pem"),
                crl_file: None,
            }))
        };
        let tls = TlsFiles {
            crt_list: vec![
                line(None, &["plain.test", "n2.test"]),
                line(
                    Some(ClientVerify::Required),
                    &["m.test", "s.w.test", "r.test"],
                ),
                line(
                    Some(ClientVerify::Optional),
                    &["n.test", "*.w.test", "o.test"],
                ),
                // A name on two lines is refused if either refuses.
                line(Some(ClientVerify::Optional), &["n2.test", "r.test"]),
            ],
            // no-ca only on a `verify optional` line; a plain line's name asks for nothing.
            no_ca: [
                "n.test",
                "*.w.test",
                "m.test",
                "plain.test",
                "n2.test",
                "r.test",
            ]
            .into_iter()
            .map(|n| SniFilter::new(n).unwrap())
            .collect(),
            ..TlsFiles::default()
        };
        let got = render_settings_map(&settings_entries(&GlobalSettings::default(), &tls));
        assert_eq!(
            got,
            "verify:*.w.test no-ca\n\
             verify:m.test ca\n\
             verify:n.test no-ca\n\
             verify:n2.test no-ca\n\
             verify:o.test ca\n\
             verify:r.test ca\n\
             verify:s.w.test ca\n"
        );
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
