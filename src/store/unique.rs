//! New Maildir base names, as Dovecot makes them: `<secs>.M<usecs>P<pid>.<host>`.
//!
//! Uniqueness across processes comes from the PID and the host name; within this process
//! from a clock that never hands out the same microsecond twice (Dovecot does the same by
//! waiting for the clock to move). Using Dovecot's shape also gives new mail the same place
//! in Dovecot's file-name order as mail Dovecot itself saved at that moment.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use super::owner;

/// The last `(seconds, microseconds)` handed out by this process.
static LAST: Mutex<(u64, u32)> = Mutex::new((0, 0));

/// A base name no other message in any maildir of this host has.
pub(super) fn base_name() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut stamp = (now.as_secs(), now.subsec_micros());
    {
        let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
        if stamp <= *last {
            stamp = if last.1 >= 999_999 {
                (last.0 + 1, 0)
            } else {
                (last.0, last.1 + 1)
            };
        }
        *last = stamp;
    }
    format!(
        "{}.M{}P{}.{}",
        stamp.0,
        stamp.1,
        std::process::id(),
        host_part()
    )
}

/// The host name as it may appear in a file name: Dovecot writes `/` as `\057` and `:` as
/// `\072`, the two characters a Maildir name cannot hold.
fn host_part() -> String {
    owner::hostname()
        .replace('/', "\\057")
        .replace(':', "\\072")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_and_dovecot_shaped() {
        let names: Vec<String> = (0..2000).map(|_| base_name()).collect();
        let set: HashSet<&String> = names.iter().collect();
        assert_eq!(set.len(), names.len());
        let first = &names[0];
        let (secs, rest) = first.split_once(".M").unwrap();
        assert!(secs.parse::<u64>().unwrap() > 1_600_000_000);
        let (usecs, rest) = rest.split_once('P').unwrap();
        assert!(usecs.parse::<u32>().unwrap() < 1_000_000);
        let (pid, host) = rest.split_once('.').unwrap();
        assert_eq!(pid, std::process::id().to_string());
        assert!(!host.contains('/') && !host.contains(':'));
        // Later names sort later in Dovecot's order.
        assert!(
            super::super::filename::dovecot_sort_cmp(names[0].as_bytes(), names[1999].as_bytes())
                .is_lt()
        );
    }
}
