//! `get map <file> <sample>`: which entry of a map a sample matches, as HAProxy answers it.
//!
//! 2.6.12 prints `type=<match>, case=sensitive, found=no`, or, on a hit,
//! `type=<match>, case=…, found=yes, idx=<tree|list>, key="<key>", value="<value>",
//! type="<sample type>"`, with the key and value printed as they are (quotes inside them
//! are not escaped). Keys carry no `"` (map keys are validated words); a value runs to the
//! last `", type="`.

/// The entry a sample matched.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MapMatch {
    /// The map key (for a `regm` map: the regular expression) that matched.
    pub key: String,
    /// Its value, as the map holds it (a `regm` value's `\N` are not substituted here).
    pub value: String,
}

/// The reply to `get map`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MapLookup {
    /// The map's match method (`str`, `beg`, `regm`, …).
    pub method: String,
    /// The matching entry, if any.
    pub found: Option<MapMatch>,
}

impl MapLookup {
    /// Parses the normalized reply text; `None` when it is not of this shape (a refusal).
    pub fn parse(text: &str) -> Option<Self> {
        let rest = text.strip_prefix("type=")?;
        let (method, rest) = rest.split_once(", case=")?;
        let (_, rest) = rest.split_once(", found=")?;
        if method.is_empty() || method.contains(' ') {
            return None;
        }
        let method = method.to_string();
        if rest == "no" {
            return Some(Self {
                method,
                found: None,
            });
        }
        let rest = rest.strip_prefix("yes, idx=")?;
        let (_, rest) = rest.split_once(", key=\"")?;
        let (key, rest) = rest.split_once("\", value=\"")?;
        let (value, sample_type) = rest.rsplit_once("\", type=\"")?;
        if !sample_type.ends_with('"') || key.contains('\n') || value.contains('\n') {
            return None;
        }
        Some(Self {
            method,
            found: Some(MapMatch {
                key: key.to_string(),
                value: value.to_string(),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::command::Command;
    use crate::proto::reply::{Refusal, Reply, normalize, parse_reply};
    use crate::{FilePath, MapKey};

    macro_rules! fixture {
        ($name:literal) => {
            include_bytes!(concat!("../../tests/fixtures/", $name))
        };
    }

    fn get(raw: &[u8]) -> Result<Reply, crate::proto::ReplyError> {
        let cmd = Command::GetMap(
            FilePath::new("/tmp/getmap/exact.map").unwrap(),
            MapKey::new("a.example/x").unwrap(),
        );
        parse_reply(&cmd, normalize(normalize(raw)))
    }

    fn hit(method: &str, key: &str, value: &str) -> Reply {
        Reply::MapLookup(MapLookup {
            method: method.into(),
            found: Some(MapMatch {
                key: key.into(),
                value: value.into(),
            }),
        })
    }

    #[test]
    fn get_map_replies_recorded_from_haproxy_2_6_12() {
        let cases: [(&[u8], Reply); 5] = [
            (
                fixture!("get_map_exact_found.txt"),
                hit("str", "a.example/x", "be_a|https"),
            ),
            (
                fixture!("get_map_prefix_found.txt"),
                hit("beg", "a.example/api", "ns_api_80||||/api"),
            ),
            (
                fixture!("get_map_regex_found.txt"),
                hit("regm", r"^a\.example/(v[0-9])/", r"ns_ver_80||||\1"),
            ),
            (
                fixture!("get_map_quotes_in_value.txt"),
                hit("str", "b.example/", r#"be_"b"\x"#),
            ),
            (
                fixture!("get_map_not_found.txt"),
                Reply::MapLookup(MapLookup {
                    method: "str".into(),
                    found: None,
                }),
            ),
        ];
        for (raw, want) in cases {
            assert_eq!(
                get(raw).unwrap(),
                want,
                "{:?}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn get_map_of_an_unknown_map_is_refused() {
        let e = get(fixture!("get_map_unknown_map.txt")).unwrap_err();
        assert_eq!(e.refusal(), Some(Refusal::UnknownMap));
    }

    #[test]
    fn get_map_encodes_file_then_sample() {
        let cmd = Command::GetMap(
            FilePath::new("/etc/haproxy/maps/exact.map").unwrap(),
            MapKey::new("a.example/x").unwrap(),
        );
        assert_eq!(
            cmd.to_text().unwrap(),
            "get map /etc/haproxy/maps/exact.map a.example/x"
        );
        assert!(cmd.is_read_only());
        assert_eq!(cmd.name(), "get map");
    }

    proptest::proptest! {
        #[test]
        fn any_hit_reads_back(
            method in "[a-z]{1,5}",
            key in "[!#-~]{1,40}",
            value in "[ -~]{0,60}",
        ) {
            let text = format!(
                "type={method}, case=sensitive, found=yes, idx=tree, key=\"{key}\", value=\"{value}\", type=\"str\""
            );
            let want = MapLookup {
                method,
                found: Some(MapMatch { key, value }),
            };
            proptest::prop_assert_eq!(MapLookup::parse(&text), Some(want));
        }

        #[test]
        fn any_text_parses_without_panicking(text in "\\PC{0,200}") {
            let _ = MapLookup::parse(&text);
        }
    }

    #[test]
    fn other_shapes_are_not_lookups() {
        for text in [
            "",
            "found=no",
            "type=str, case=sensitive, found=maybe",
            "type=str, case=sensitive, found=yes, idx=tree, key=\"a\"",
            "type=str, case=sensitive, found=yes, idx=tree, key=\"a\", value=\"b\"",
        ] {
            assert_eq!(MapLookup::parse(text), None, "{text}");
        }
    }
}
