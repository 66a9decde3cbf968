//! Expanding a mail-location template for one account, with Dovecot's variable names.
//!
//! Administrators copy `mail_location` values from Dovecot configurations, so the same `%u`,
//! `%n`, `%d`, `%h` and `~` must mean the same thing here. Unknown escapes are kept literally
//! rather than dropped, so a typo shows up in the resulting path instead of silently merging
//! users' directories.

use super::account::Account;

/// Expands `template` for `account`; `None` if it needs a home directory the account lacks.
pub(crate) fn expand(template: &str, account: &Account) -> Option<String> {
    let home = || account.home.as_ref().and_then(|h| h.to_str());
    let mut out = String::with_capacity(template.len() + 32);

    let rest = if template == "~" {
        out.push_str(home()?);
        ""
    } else if let Some(rest) = template.strip_prefix("~/") {
        out.push_str(home()?.trim_end_matches('/'));
        out.push('/');
        rest
    } else {
        template
    };

    let mut chars = rest.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(&(_, next)) = chars.peek() else {
            out.push('%');
            break;
        };
        let short = match next {
            'u' => Some(account.user.as_str()),
            'n' => Some(account.local_part()),
            'd' => Some(account.domain()),
            'h' => Some(home()?),
            '%' => Some("%"),
            _ => None,
        };
        if let Some(value) = short {
            chars.next();
            out.push_str(value);
            continue;
        }
        if next == '{' {
            let after = &rest[at + 2..];
            if let Some((name, _)) = after.split_once('}') {
                let long = match name {
                    "user" => Some(account.user.as_str()),
                    "username" => Some(account.local_part()),
                    "domain" => Some(account.domain()),
                    "home" => Some(home()?),
                    _ => None,
                };
                if let Some(value) = long {
                    out.push_str(value);
                    // Skip `{name}`: the brace pair plus the name's characters.
                    for _ in 0..name.chars().count() + 2 {
                        chars.next();
                    }
                    continue;
                }
            }
        }
        out.push('%');
    }
    Some(out)
}
