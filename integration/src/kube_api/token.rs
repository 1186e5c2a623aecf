//! Continue tokens: where the next page of a list starts, and which list it belongs to.

use super::resources::Kind;
use super::store::Key;

/// `<rv>-<compactions>-<hex of "namespace/name">`: the list's resourceVersion, the
/// compaction it belongs to and the last key served.
pub(crate) fn encode(rv: u64, compactions: u64, namespace: &str, name: &str) -> String {
    let position: String = format!("{namespace}/{name}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{rv}-{compactions}-{position}")
}

pub(crate) fn decode(kind: &'static Kind, token: &str) -> Option<(u64, u64, Key)> {
    let mut parts = token.splitn(3, '-');
    let rv = parts.next()?.parse().ok()?;
    let compactions = parts.next()?.parse().ok()?;
    let hex = parts.next()?;
    if hex.len() % 2 != 0 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    let position = String::from_utf8(bytes).ok()?;
    let (namespace, name) = position.split_once('/')?;
    Some((
        rv,
        compactions,
        (kind.plural, namespace.into(), name.into()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let kind = Kind::by_name("services").unwrap();
        let token = encode(17, 2, "ns-1", "web.x");
        assert_eq!(
            decode(kind, &token),
            Some((17, 2, ("services", "ns-1".into(), "web.x".into())))
        );
        for bad in ["", "1-2", "1-2-0", "1-2-zz", "x-2-6162", "1-2-6162"] {
            assert_eq!(decode(kind, bad), None, "{bad:?}");
        }
    }
}
