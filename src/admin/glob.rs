//! Shell-style `*` and `?` patterns on account names (`'*@example.org'`, `'user??'`), for
//! `postern account list PATTERN` and `set --match PATTERN`.
//!
//! Only the two wildcards: user names are matched whole, and brackets or escapes would make a
//! typo in a bulk change harder to notice than it is worth.

/// Does `name` match `pattern` as a whole? `*` matches any run of characters (also none), `?`
/// exactly one; everything else only itself, case-sensitively (as the passwd lookup is).
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    let (mut p, mut n) = (0, 0);
    // Where the last `*` was, and how much of the name it had swallowed: one backtrack point
    // is enough for `*`-only patterns, which keeps matching linear-ish instead of exponential.
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(&c) if c == '?' || c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    p = sp + 1;
                    n = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn wildcards() {
        for (pattern, name, expected) in [
            ("*@example.org", "alice@example.org", true),
            ("*@example.org", "alice@example.org.evil", false),
            ("*@example.org", "@example.org", true),
            ("alice", "alice", true),
            ("alice", "Alice", false),
            ("alice", "alice2", false),
            ("user?", "user1", true),
            ("user?", "user10", false),
            ("user??", "user10", true),
            ("*", "", true),
            ("", "", true),
            ("", "a", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false),
            ("?ä*", "xäy", true),
            ("**", "anything", true),
        ] {
            assert_eq!(glob_match(pattern, name), expected, "{pattern} vs {name}");
        }
    }
}
