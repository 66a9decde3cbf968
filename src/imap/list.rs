//! LIST and LSUB pattern matching (RFC 3501 section 6.3.8).
//!
//! `*` matches any run of characters, `%` any run without the hierarchy separator, and
//! everything else itself, except that the name `INBOX` (and the `INBOX` level of its
//! children) matches in any case. Matching is a table over pattern and name positions, so a
//! hostile pattern of a thousand wildcards costs its length times the name's, never an
//! exponential backtrack.

/// Does `name` (wire form) match `pattern` with hierarchy separator `sep`?
pub fn matches(pattern: &[u8], name: &[u8], sep: u8) -> bool {
    let inbox_len = inbox_prefix(name, sep);
    // reach[i]: the pattern so far can match exactly name[..i].
    let mut reach = vec![false; name.len() + 1];
    reach[0] = true;
    for &p in pattern {
        let mut next = vec![false; name.len() + 1];
        match p {
            b'*' => {
                let mut any = false;
                for i in 0..=name.len() {
                    any |= reach[i];
                    next[i] = any;
                }
            }
            b'%' => {
                let mut any = false;
                for i in 0..=name.len() {
                    if i > 0 && name[i - 1] == sep {
                        any = false;
                    }
                    any |= reach[i];
                    next[i] = any;
                }
            }
            _ => {
                for i in 0..name.len() {
                    let same = if i < inbox_len {
                        name[i].eq_ignore_ascii_case(&p)
                    } else {
                        name[i] == p
                    };
                    next[i + 1] = reach[i] && same;
                }
            }
        }
        reach = next;
        if !reach.contains(&true) {
            return false;
        }
    }
    reach[name.len()]
}

/// How many leading bytes of `name` are the case-insensitive `INBOX` level.
fn inbox_prefix(name: &[u8], sep: u8) -> usize {
    let inbox = b"INBOX";
    if name.len() >= inbox.len()
        && name[..inbox.len()].eq_ignore_ascii_case(inbox)
        && (name.len() == inbox.len() || name[inbox.len()] == sep)
    {
        inbox.len()
    } else {
        0
    }
}

/// The canonical pattern for `LIST reference pattern`: the two are joined, as most servers
/// (Dovecot among them) interpret the reference.
pub fn join(reference: &[u8], pattern: &[u8]) -> Vec<u8> {
    let mut full = reference.to_vec();
    full.extend_from_slice(pattern);
    full
}

/// What LSUB lists for `pattern`, given the subscribed names: every subscribed name that
/// matches, and — RFC 3501's special case for `%` — every unsubscribed parent that matches
/// while a subscribed descendant of it does not, flagged `\Noselect` (`true` here).
pub fn lsub(pattern: &[u8], subscribed: &[String], sep: u8) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = Vec::new();
    for name in subscribed {
        if matches(pattern, name.as_bytes(), sep) {
            if !out.iter().any(|(n, _)| n == name) {
                out.push((name.clone(), false));
            }
            continue;
        }
        let bytes = name.as_bytes();
        for (i, &b) in bytes.iter().enumerate() {
            if b != sep {
                continue;
            }
            let parent = &name[..i];
            if subscribed.iter().any(|s| s == parent) || out.iter().any(|(n, _)| n == parent) {
                continue;
            }
            if matches(pattern, parent.as_bytes(), sep) {
                out.push((parent.to_owned(), true));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, n: &str) -> bool {
        matches(p.as_bytes(), n.as_bytes(), b'.')
    }

    #[test]
    fn wildcards() {
        assert!(m("*", "a.b.c"));
        assert!(m("%", "Sent"));
        assert!(!m("%", "a.b"));
        assert!(m("a.%", "a.b"));
        assert!(!m("a.%", "a.b.c"));
        assert!(m("a.*", "a.b.c"));
        assert!(m("*b*", "a.b.c"));
        assert!(m("%.%", "a.b"));
        assert!(!m("a", "ab"));
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(m("S%t", "Sent"));
        assert!(!m("s%t", "Sent"));
    }

    #[test]
    fn inbox_matches_in_any_case() {
        assert!(m("inbox", "INBOX"));
        assert!(m("InBox.%", "INBOX.sub"));
        assert!(!m("inboxes", "INBOX"));
        assert!(!m("sent", "Sent"));
    }

    #[test]
    fn hostile_patterns_stay_cheap() {
        let pattern = "*%".repeat(5000);
        assert!(matches(pattern.as_bytes(), &[b'a'; 200], b'.'));
        let pattern = format!("{}x", "*".repeat(10_000));
        assert!(!matches(pattern.as_bytes(), &[b'a'; 200], b'.'));
    }

    #[test]
    fn lsub_percent_lists_unsubscribed_parents_as_noselect() {
        let subs = vec!["foo.bar".to_owned(), "top".to_owned()];
        let mut got = lsub(b"%", &subs, b'.');
        got.sort();
        assert_eq!(
            got,
            vec![("foo".to_owned(), true), ("top".to_owned(), false)]
        );
        assert_eq!(lsub(b"*", &subs, b'.').len(), 2);
        assert_eq!(
            lsub(b"foo.%", &subs, b'.'),
            vec![("foo.bar".to_owned(), false)]
        );
    }
}
