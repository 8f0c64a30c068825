//! Free TCP ports for the processes the tests and the local stack start.
//!
//! A port must stay free from the moment it is chosen until the child process binds it, and
//! two things got in the way in CI, each failing a test with "port … is taken":
//! - Binding port 0 returns a port from the kernel's ephemeral range, the range it also draws
//!   the source port of every outgoing connection from, so any Kafka or HTTP client of a test
//!   running in parallel can take it. Ports are therefore drawn from below that range
//!   (`/proc/sys/net/ipv4/ip_local_port_range`), where the kernel never picks source ports,
//!   and never handed out twice by one process.
//! - The socket that probes a port is inherited by a child that another thread forks while
//!   it is open, and stays bound in that child until its `exec`. So probing and spawning
//!   exclude each other ([`spawn_excluding_probes`]), and a drawn port is not probed again.

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};
use std::net::TcpListener;
use std::sync::Mutex;

use anyhow::bail;

/// The lowest port handed out: above the registered services most machines run.
const LOWEST: u16 = 15_000;

/// Ports this process has already handed out; a port is never reused by one test process,
/// even after its stack stopped, as a restarted component keeps its port.
static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A port on 127.0.0.1 that is free now, outside the ephemeral range, and not handed out
/// before by this process.
pub fn free_port() -> anyhow::Result<u16> {
    let highest = ephemeral_start().saturating_sub(1);
    if highest <= LOWEST {
        // A machine whose ephemeral range starts low: fall back on the kernel's choice.
        return Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port());
    }
    let span = u64::from(highest - LOWEST) + 1;
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let handed_out = handed_out.get_or_insert_with(HashSet::new);
    // A random start per call, so two test processes on one machine rarely meet.
    let seed = RandomState::new().hash_one(std::process::id());
    for step in 0..span {
        let port = LOWEST + ((seed.wrapping_add(step)) % span) as u16;
        if handed_out.contains(&port) {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            handed_out.insert(port);
            return Ok(port);
        }
    }
    bail!("no free TCP port between {LOWEST} and {highest} on 127.0.0.1")
}

/// Runs `spawn` (which forks) while no port is being probed, so that no child inherits a
/// probing socket.
pub fn spawn_excluding_probes<T>(spawn: impl FnOnce() -> T) -> T {
    let _probes_wait = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    spawn()
}

/// The first port of the kernel's ephemeral range (Linux's default when unreadable).
fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_free_below_the_ephemeral_range_and_never_repeated() {
        let ports: Vec<u16> = (0..50).map(|_| free_port().unwrap()).collect();
        let distinct: HashSet<_> = ports.iter().collect();
        assert_eq!(distinct.len(), ports.len(), "a port was handed out twice");
        for port in ports {
            assert!(port < ephemeral_start(), "{port} is in the ephemeral range");
            TcpListener::bind(("127.0.0.1", port)).expect("a handed-out port is free");
        }
    }
}
