//! Loopback TCP ports for tests, each handed out once per machine while its process lives.
//!
//! A port found by binding 127.0.0.1:0 and releasing it can come back from the next call
//! (two frontends on one address: CI saw `BadBind`), can be handed to a test in another
//! process, and can be taken as the source port of an outgoing connection before HAProxy
//! binds it. Here a port comes from below the kernel's ephemeral range (so no outgoing
//! connection takes it) and is reserved by binding the abstract Unix socket
//! `@haproxy-agent-test-port-<port>`: that name is unique on the machine and is released
//! when the process exits, leaving nothing behind.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher as _, Hasher as _};
use std::net::TcpListener;
use std::os::linux::net::SocketAddrExt as _;
use std::os::unix::net::{SocketAddr, UnixListener};
use std::sync::Mutex;

/// The lowest port handed out.
const LOWEST: u16 = 20_000;
/// Tries before giving up (each try is one abstract-socket bind and one TCP bind).
const TRIES: usize = 10_000;

/// The reservations this process holds, kept until it exits.
static HELD: Mutex<Vec<UnixListener>> = Mutex::new(Vec::new());

/// A TCP port on 127.0.0.1 that is free now and that no other caller of this function, in
/// this process or another, gets while this process lives.
///
/// # Panics
/// When no port below the ephemeral range can be reserved in [`TRIES`] tries.
pub fn free_port() -> u16 {
    let highest = ephemeral_start().saturating_sub(1).max(LOWEST + 1_000);
    let span = u64::from(highest - LOWEST + 1);
    for _ in 0..TRIES {
        let port = LOWEST + u16::try_from(random() % span).expect("span fits in u16");
        if let Some(reservation) = reserve(port) {
            HELD.lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push(reservation);
            return port;
        }
    }
    panic!("no free port in {LOWEST}..={highest} after {TRIES} tries");
}

/// The reservation of `port`, if no one holds it and it can be bound on 127.0.0.1 now.
fn reserve(port: u16) -> Option<UnixListener> {
    let name = format!("haproxy-agent-test-port-{port}");
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).ok()?;
    let reservation = UnixListener::bind_addr(&addr).ok()?;
    TcpListener::bind(("127.0.0.1", port)).ok()?;
    Some(reservation)
}

/// The first port of the kernel's ephemeral range (32768 when it cannot be read).
fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// A random number (std's per-instance hasher keys; no RNG crate needed).
fn random() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_is_never_handed_out_twice_and_can_be_bound() {
        let ports: Vec<u16> = (0..200).map(|_| free_port()).collect();
        let mut unique = ports.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ports.len(), "a port came back: {ports:?}");
        for port in ports {
            assert!(
                port >= LOWEST && port < ephemeral_start(),
                "{port} out of range"
            );
            TcpListener::bind(("127.0.0.1", port)).expect("a handed-out port binds");
        }
    }

    #[test]
    fn a_reserved_port_cannot_be_reserved_again() {
        let port = free_port();
        assert!(reserve(port).is_none(), "{port} was reserved twice");
    }
}
