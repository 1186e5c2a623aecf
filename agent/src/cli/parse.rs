//! Value parsers shared by several flags: networks, `namespace/name` keys, durations.

/// Parses a network (`10.0.0.0/8`, `2001:db8::/32`, or an address).
pub fn parse_cidr(s: &str) -> Result<haproxy::config::Cidr, String> {
    haproxy::config::Cidr::parse(s.trim()).map_err(|_| format!("{s:?} is not an IP network"))
}

/// Parses `namespace/name`.
pub fn parse_object_key(s: &str) -> Result<crate::store::ObjectKey, String> {
    match s.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok(crate::store::ObjectKey::new(ns, name))
        }
        _ => Err(format!("{s:?} is not namespace/name")),
    }
}

/// Parses durations written like `500ms`, `30s`, `2m`, `1h`.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("duration {s:?} needs a unit (ms, s, m, h)"))?;
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("duration {s:?} does not start with a number"))?;
    let ms = match unit {
        "ms" => n,
        "s" => n.saturating_mul(1000),
        "m" => n.saturating_mul(60_000),
        "h" => n.saturating_mul(3_600_000),
        _ => {
            return Err(format!(
                "duration {s:?} has unknown unit {unit:?} (ms, s, m, h)"
            ));
        }
    };
    Ok(std::time::Duration::from_millis(ms))
}
