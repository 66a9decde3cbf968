//! Operating-system limits that decide whether a run of N connections can even start.
//!
//! Every connection is a file descriptor, so the open-file limit must exceed the connection
//! count; and every connection from one source address to one server port needs its own
//! ephemeral port, of which Linux hands out about 28,000 by default. Both are checked before
//! the run, because hitting them midway produces thousands of confusing connect errors
//! ("Too many open files", "Cannot assign requested address") instead of one clear message.

use std::net::IpAddr;

/// Descriptors kept free beyond one per connection: the runtime, stdio, files the run opens
/// (users file, CA file, Maildir samples for verification) and listener sockets in tests.
pub const FD_MARGIN: u64 = 256;

/// Where Linux keeps the ephemeral port range.
const PORT_RANGE_FILE: &str = "/proc/sys/net/ipv4/ip_local_port_range";

/// A limit that stops the run from starting, with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    #[error(
        "{connections} connections need about {needed} open files, but the limit is {soft} \
         (hard limit {hard}) and could not be raised further.\n\
         Raise it, then run again:\n\
         \x20 - this shell:  ulimit -n {needed}   (as root, or up to the hard limit)\n\
         \x20 - per user:    in /etc/security/limits.conf add\n\
         \x20                  *  soft  nofile  {needed}\n\
         \x20                  *  hard  nofile  {needed}\n\
         \x20                then log in again\n\
         \x20 - a service:   LimitNOFILE={needed} in its systemd unit ([Service] section)\n\
         \x20 - system wide: check that fs.nr_open and fs.file-max are at least {needed}"
    )]
    OpenFiles {
        connections: usize,
        needed: u64,
        soft: u64,
        hard: u64,
    },
    #[error("cannot read or change the open-file limit: {0}")]
    Rlimit(#[source] std::io::Error),
    #[error(
        "{connections} connections to one server port need {connections} local ports, but \
         {sources} source address(es) × {ports} ephemeral ports (range {low}-{high} in \
         {PORT_RANGE_FILE}) give only {available}.\n\
         Use more source addresses, e.g. --source-ips 127.0.0.1-127.0.0.{suggest} (every \
         127.x.y.z address is local), or widen the range: \
         sysctl -w net.ipv4.ip_local_port_range=\"1024 65535\""
    )]
    Ports {
        connections: usize,
        sources: usize,
        ports: u64,
        low: u16,
        high: u16,
        available: u64,
        suggest: u64,
    },
}

/// Raises the soft open-file limit as far as the hard limit allows and checks that it covers
/// `connections` plus [`FD_MARGIN`]. Returns the limit now in force.
pub fn ensure_open_files(connections: usize) -> Result<u64, LimitError> {
    let needed = connections as u64 + FD_MARGIN;
    let soft = rlimit::increase_nofile_limit(u64::MAX).map_err(LimitError::Rlimit)?;
    if soft >= needed {
        return Ok(soft);
    }
    let (_, hard) = rlimit::Resource::NOFILE.get().map_err(LimitError::Rlimit)?;
    Err(LimitError::OpenFiles {
        connections,
        needed,
        soft,
        hard,
    })
}

/// Parses the contents of `ip_local_port_range` ("32768\t60999").
pub fn parse_port_range(text: &str) -> Option<(u16, u16)> {
    let mut parts = text.split_whitespace().map(|p| p.parse::<u16>().ok());
    let low = parts.next()??;
    let high = parts.next()??;
    (low <= high).then_some((low, high))
}

/// The ephemeral port range in force, or Linux's default if it cannot be read.
pub fn ephemeral_port_range() -> (u16, u16) {
    std::fs::read_to_string(PORT_RANGE_FILE)
        .ok()
        .and_then(|text| parse_port_range(&text))
        .unwrap_or((32768, 60999))
}

/// Checks that `connections` concurrent connections fit into the ephemeral ports of the
/// source addresses (the default source address counts as one).
pub fn check_ports(
    connections: usize,
    source_ips: &[IpAddr],
    range: (u16, u16),
) -> Result<(), LimitError> {
    let (low, high) = range;
    let ports = u64::from(high - low) + 1;
    let sources = source_ips.len().max(1);
    let available = ports * sources as u64;
    if (connections as u64) <= available {
        return Ok(());
    }
    // Enough 127.0.0.x addresses, with a little headroom, for the suggestion.
    let suggest = (connections as u64).div_ceil(ports).clamp(2, 254);
    Err(LimitError::Ports {
        connections,
        sources,
        ports,
        low,
        high,
        available,
        suggest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_range_parsing() {
        assert_eq!(parse_port_range("32768\t60999\n"), Some((32768, 60999)));
        assert_eq!(parse_port_range("60999 32768"), None);
        assert_eq!(parse_port_range("x"), None);
    }

    #[test]
    fn ports_suffice_or_advise_source_ips() {
        let range = (32768, 60999);
        assert!(check_ports(28_000, &[], range).is_ok());
        let err = check_ports(50_000, &[], range).unwrap_err().to_string();
        assert!(err.contains("--source-ips 127.0.0.1-127.0.0.2"), "{err}");
        let two: Vec<IpAddr> = vec!["127.0.0.1".parse().unwrap(), "127.0.0.2".parse().unwrap()];
        assert!(check_ports(50_000, &two, range).is_ok());
    }

    #[test]
    fn open_file_limit_covers_small_runs() {
        assert!(ensure_open_files(10).unwrap() >= 10 + FD_MARGIN);
    }

    #[test]
    fn impossible_open_file_count_is_refused_with_advice() {
        let err = ensure_open_files(usize::MAX / 4).unwrap_err().to_string();
        assert!(err.contains("ulimit -n"), "{err}");
        assert!(err.contains("/etc/security/limits.conf"), "{err}");
        assert!(err.contains("LimitNOFILE"), "{err}");
    }
}
