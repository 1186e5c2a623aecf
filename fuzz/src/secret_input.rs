//! The secrets target's input: a TLS Secret's `tls.crt` and `tls.key`, split at the first
//! line `--KEY--`; without it, the whole input is both (as a combined PEM file is read).

/// The line between `tls.crt` and `tls.key`.
pub const SEP: &[u8] = b"\n--KEY--\n";

/// `(tls.crt, tls.key)`.
pub fn split(data: &[u8]) -> (&[u8], &[u8]) {
    match data.windows(SEP.len()).position(|w| w == SEP) {
        Some(at) => (&data[..at], &data[at + SEP.len()..]),
        None => (data, data),
    }
}

/// The input for `crt` and `key` (the seeds).
pub fn join(crt: &[u8], key: &[u8]) -> Vec<u8> {
    [crt, SEP, key].concat()
}
