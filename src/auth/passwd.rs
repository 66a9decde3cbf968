//! The account database: a Dovecot-compatible passwd-file, read whole into memory.
//!
//! Format, one account per line:
//! `user:{SCHEME}secret:uid:gid:gecos:home:shell:extra fields`. Fields after the password may
//! be left out; extra fields are space-separated `key=value` or bare `key`. Keeping Dovecot's
//! format means a site can point Postern at the file its Dovecot already uses.
//!
//! Loading is all-or-nothing and strict: anything that would make an account behave other than
//! the administrator meant (unknown scheme, bad uid, duplicate user, unusable user name) fails
//! the load with `file:line`, so a live reload keeps the previous database instead.

pub use super::account::Account;
use super::account::StoredSecret;
use super::scheme::Secret;
use crate::policy::{LoginType, RetrievalFormat};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why a passwd-file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PasswdError {
    #[error("cannot read passwd-file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}:{line}: {reason}")]
    Line {
        origin: String,
        line: usize,
        reason: String,
    },
}

/// The accounts of one passwd-file.
pub struct PasswdDb {
    origin: String,
    accounts: HashMap<String, Arc<Account>>,
    any_apop: bool,
    any_cram_md5: bool,
}

impl PasswdDb {
    /// Reads and parses the file at `path`.
    pub fn load(path: &Path) -> Result<PasswdDb, PasswdError> {
        let origin = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| PasswdError::Io {
            path: path.to_owned(),
            source,
        })?;
        let text = crate::line_file::utf8_text(bytes).map_err(|line| PasswdError::Line {
            origin: origin.clone(),
            line,
            reason: "not valid UTF-8".to_owned(),
        })?;
        Self::parse(&text, &origin)
    }

    /// Parses passwd-file text; `origin` names it in errors (usually the file name).
    pub fn parse(text: &str, origin: &str) -> Result<PasswdDb, PasswdError> {
        let mut accounts: HashMap<String, Arc<Account>> = HashMap::new();
        let mut first_seen: HashMap<String, usize> = HashMap::new();
        for (line, content) in crate::line_file::content_lines(text) {
            let error = |reason: String| PasswdError::Line {
                origin: origin.to_owned(),
                line,
                reason,
            };
            let account = parse_line(content).map_err(error)?;
            if let Some(earlier) = first_seen.get(&account.user) {
                return Err(error(format!(
                    "user {} already defined on line {earlier}",
                    account.user
                )));
            }
            if let Secret::Malformed { scheme, reason } = &account.secret.parsed {
                tracing::warn!(
                    "{origin}:{line}: user {}: {scheme} secret is malformed ({reason}); \
                     logins will fail temporarily",
                    account.user
                );
            }
            first_seen.insert(account.user.clone(), line);
            accounts.insert(account.user.clone(), Arc::new(account));
        }
        let any_apop = accounts.values().any(|a| a.supports_apop());
        let any_cram_md5 = accounts.values().any(|a| a.supports_cram_md5());
        Ok(PasswdDb {
            origin: origin.to_owned(),
            accounts,
            any_apop,
            any_cram_md5,
        })
    }

    /// The account named exactly `user` (`name@domain` names are looked up whole).
    pub fn lookup(&self, user: &str) -> Option<Arc<Account>> {
        self.accounts.get(user).cloned()
    }

    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    /// True if at least one account can answer APOP (its password is stored in clear), so
    /// POP3 knows whether a greeting timestamp is worth advertising.
    pub fn any_apop(&self) -> bool {
        self.any_apop
    }

    /// True if at least one account can answer CRAM-MD5 (cleartext or `{CRAM-MD5}`), so the
    /// mechanism is only advertised when it can succeed for someone.
    pub fn any_cram_md5(&self) -> bool {
        self.any_cram_md5
    }

    /// Every account, in no particular order.
    pub(crate) fn accounts(&self) -> impl Iterator<Item = &Arc<Account>> {
        self.accounts.values()
    }
}

impl fmt::Debug for PasswdDb {
    /// A summary: listing every account would flood a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswdDb")
            .field("origin", &self.origin)
            .field("accounts", &self.accounts.len())
            .finish()
    }
}

/// One non-comment line into an account.
fn parse_line(line: &str) -> Result<Account, String> {
    // Extra fields may themselves contain ':' (`mail=maildir:~/Mail`), hence the limit.
    let mut fields = line.splitn(8, ':');
    let user = fields.next().unwrap_or_default();
    check_user_name(user)?;
    let password = fields
        .next()
        .ok_or_else(|| format!("user {user}: no password field"))?;
    let parsed = Secret::parse(password).map_err(|e| format!("user {user}: {e}"))?;
    let secret = StoredSecret {
        parsed,
        fingerprint: Sha256::digest(password.as_bytes()).into(),
    };
    let uid = parse_id(fields.next(), "uid")?;
    let gid = parse_id(fields.next(), "gid")?;
    let gecos = fields.next().unwrap_or_default().to_owned();
    let home = match fields.next().unwrap_or_default() {
        "" => None,
        home if home.starts_with('/') => Some(PathBuf::from(home)),
        home => return Err(format!("home directory {home:?} is not an absolute path")),
    };
    let shell = fields.next().unwrap_or_default().to_owned();
    let extra = parse_extra(fields.next().unwrap_or_default())?;

    let mut account = Account {
        user: user.to_owned(),
        uid,
        gid,
        gecos,
        home,
        shell,
        extra: Vec::new(),
        pop3_enabled: true,
        imap_enabled: true,
        pop3_login_type: None,
        imap_login_type: None,
        pop3_retrieval_format: None,
        imap_retrieval_format: None,
        nologin: false,
        secret,
    };
    for (key, value) in &extra {
        match key.as_str() {
            "pop3" => account.pop3_enabled = parse_switch(key, value)?,
            "imap" => account.imap_enabled = parse_switch(key, value)?,
            "pop3_login_type" => account.pop3_login_type = Some(parse_login_type(key, value)?),
            "imap_login_type" => account.imap_login_type = Some(parse_login_type(key, value)?),
            "pop3_retrieval_format" => {
                account.pop3_retrieval_format = Some(parse_format(key, value)?)
            }
            "imap_retrieval_format" => {
                account.imap_retrieval_format = Some(parse_format(key, value)?)
            }
            // Dovecot only looks at the field's presence.
            "nologin" => account.nologin = true,
            _ => {}
        }
    }
    account.extra = extra;
    Ok(account)
}

/// User names end up in file system paths (`%u`, `%n`), so they must be unable to escape a
/// directory, and must be sayable in a POP3 `USER` command.
fn check_user_name(user: &str) -> Result<(), String> {
    if user.is_empty() {
        return Err("empty user name".to_owned());
    }
    if user
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == '/')
    {
        return Err(format!(
            "user name {user:?} contains whitespace, a control character or '/'"
        ));
    }
    if user == "." || user == ".." {
        return Err(format!("user name {user:?} is not allowed"));
    }
    Ok(())
}

fn parse_id(field: Option<&str>, what: &str) -> Result<Option<u32>, String> {
    match field.unwrap_or_default() {
        "" => Ok(None),
        text => text
            .parse()
            .map(Some)
            .map_err(|_| format!("{what} {text:?} is not a number")),
    }
}

fn parse_extra(field: &str) -> Result<Vec<(String, String)>, String> {
    field
        .split_ascii_whitespace()
        .map(|item| {
            let (key, value) = item.split_once('=').unwrap_or((item, ""));
            if key.is_empty() {
                return Err(format!("extra field {item:?} has no name"));
            }
            Ok((key.to_owned(), value.to_owned()))
        })
        .collect()
}

fn parse_login_type(key: &str, value: &str) -> Result<LoginType, String> {
    LoginType::parse(value).ok_or_else(|| {
        format!("extra field {key}={value}: expected plaintext, plaintext-login or secure")
    })
}

fn parse_format(key: &str, value: &str) -> Result<RetrievalFormat, String> {
    RetrievalFormat::parse(value).ok_or_else(|| {
        format!(
            "extra field {key}={value}: expected original, text-only, html-only, html-and-text or best"
        )
    })
}

fn parse_switch(key: &str, value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "on" | "yes" | "true" | "1" => Ok(true),
        "off" | "no" | "false" | "0" => Ok(false),
        _ => Err(format!("extra field {key}={value}: expected on or off")),
    }
}

#[cfg(test)]
mod tests;
