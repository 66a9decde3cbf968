//! Who holds a dotlock: the `<pid>:<hostname>` line Dovecot writes into its lock files,
//! and whether that process still runs.
//!
//! Dovecot and Postern must be able to tell each other's abandoned locks from live ones, so
//! we write the same line and judge it the same way: a lock from a dead process on this
//! host is stale at once, while a live one is respected.

use std::path::Path;
use std::sync::OnceLock;

/// This host's name as Dovecot writes it into lock files (`gethostname()`).
pub(super) fn hostname() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_owned())
            .ok()
            .filter(|s| !s.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "localhost".to_owned())
    })
}

/// The lock-file contents that name this process.
pub(super) fn this_process() -> String {
    format!("{}:{}", std::process::id(), hostname())
}

/// The PID in lock-file contents, if they name a process on this host.
pub(super) fn local_pid(contents: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(contents).ok()?;
    let text = text.strip_suffix('\n').unwrap_or(text);
    let (pid, host) = text.split_once(':')?;
    if host != hostname() {
        return None;
    }
    pid.parse::<u32>().ok().filter(|&p| p > 0)
}

/// Whether a process with this PID exists (zombies included, as with `kill(pid, 0)`).
pub(super) fn is_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_own_line() {
        let line = this_process();
        assert_eq!(local_pid(line.as_bytes()), Some(std::process::id()));
        assert_eq!(
            local_pid(format!("{line}\n").as_bytes()),
            Some(std::process::id())
        );
    }

    #[test]
    fn other_hosts_and_garbage_are_unknown() {
        assert_eq!(local_pid(b"123:some-other-host.invalid"), None);
        assert_eq!(local_pid(b""), None);
        assert_eq!(local_pid(b"3 V1 N1"), None);
        assert_eq!(local_pid(format!("0:{}", hostname()).as_bytes()), None);
    }

    #[test]
    fn liveness() {
        assert!(is_alive(std::process::id()));
        // PIDs are below 2^22 on Linux.
        assert!(!is_alive(4_194_304 + 17));
    }
}
