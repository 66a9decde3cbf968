//! A passwd-file as text that can be edited without disturbing it: every line keeps its raw
//! bytes and line ending, and an edit rewrites only the field it is about.
//!
//! [`crate::auth::PasswdDb`] reads a passwd-file into accounts and forgets the text; an
//! administrator's file has comments, blank lines, a chosen order, CRLF endings from some
//! Windows editor and extra fields for other software (Dovecot's `userdb_quota_rule=`, a
//! provisioning system's own), and all of that must survive `postern account set`. So this
//! module never re-serialises an account from its parsed form: it splices the one field (or
//! one extra-field token) that changes into the line as it was. Checking that the result is a
//! valid file is left to `PasswdDb::parse`, which the caller runs on the rendered text, so the
//! editor and the server can never disagree about what is valid.

use std::fmt;

/// Why an edit was refused. The file is never half-edited: callers render only after every
/// edit succeeded.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("no account {0:?}")]
    NoSuchUser(String),
    #[error("account {0:?} already exists")]
    UserExists(String),
    #[error("{what} {value:?} cannot be stored: {reason}")]
    BadField {
        what: &'static str,
        value: String,
        reason: &'static str,
    },
}

/// One change to an account's extra fields (the space-separated `key=value` list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtraEdit {
    /// `key=value` exactly once: the first occurrence gets the value, later duplicates (which
    /// would win, since the last occurrence counts) are dropped, and a missing one is appended.
    Set { key: String, value: String },
    /// Every `key=…` (or bare `key`) goes.
    Remove { key: String },
    /// An on/off field (`pop3=`, `imap=`) whose absence means on. Nothing is written when the
    /// account already is as asked, so `--pop3 on` on an account without `pop3=` changes
    /// nothing; otherwise as `Set` with `on` or `off`.
    Switch { key: String, on: bool },
    /// A bare flag such as `nologin`, whose presence is all that counts: added when missing,
    /// every occurrence removed when `present` is false.
    Flag { key: String, present: bool },
}

/// A new account line for [`PasswdText::add`]. Empty strings leave a field empty.
#[derive(Debug, Clone, Default)]
pub struct NewAccount {
    pub user: String,
    /// The whole password field, `{SCHEME}…`.
    pub password: String,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub gecos: String,
    pub home: String,
    pub shell: String,
    /// Extra fields, each `key=value` or a bare `key`.
    pub extra: Vec<String>,
}

/// One line of the file: its text without the terminator, and the terminator as found.
#[derive(Clone)]
struct Line {
    text: String,
    /// `"\n"`, `"\r\n"`, or (only for a last line without a newline) `""` or `"\r"`.
    end: &'static str,
}

impl Line {
    /// The user name if this is an account line, with the same rule `PasswdDb::parse` uses for
    /// what is a comment or blank line.
    fn user(&self) -> Option<&str> {
        let trimmed = self.text.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            return None;
        }
        Some(self.text.split(':').next().unwrap_or_default())
    }
}

/// An account line as read, for listing.
#[derive(Debug, Clone, Copy)]
pub struct AccountLine<'a> {
    /// 1-based, as in `PasswdDb`'s error messages.
    pub number: usize,
    pub user: &'a str,
    /// The line without its terminator.
    pub text: &'a str,
}

/// The whole file, line by line.
#[derive(Clone)]
pub struct PasswdText {
    lines: Vec<Line>,
}

/// The number of `:`-separated fields an account line has at most; the last, the extra
/// fields, may itself contain `:` (`userdb_mail=maildir:~/Mail`).
const FIELDS: usize = 8;
const PASSWORD: usize = 1;
const EXTRA: usize = 7;

impl PasswdText {
    /// Splits `text` into lines exactly as `PasswdDb::parse` does (on `\n`, a `\r` before it
    /// belonging to the line ending). Never fails: validity is `PasswdDb::parse`'s business.
    pub fn parse(text: &str) -> PasswdText {
        let mut lines = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            let (piece, end, next) = match rest.find('\n') {
                Some(i) if rest[..i].ends_with('\r') => (&rest[..i - 1], "\r\n", &rest[i + 1..]),
                Some(i) => (&rest[..i], "\n", &rest[i + 1..]),
                None => match rest.strip_suffix('\r') {
                    Some(piece) => (piece, "\r", ""),
                    None => (rest, "", ""),
                },
            };
            lines.push(Line {
                text: piece.to_owned(),
                end,
            });
            rest = next;
        }
        PasswdText { lines }
    }

    /// The file's text; byte for byte the input if nothing was edited.
    pub fn render(&self) -> String {
        let size = self.lines.iter().map(|l| l.text.len() + 2).sum();
        let mut out = String::with_capacity(size);
        for line in &self.lines {
            out.push_str(&line.text);
            out.push_str(line.end);
        }
        out
    }

    /// Every account line, in file order.
    pub fn accounts(&self) -> impl Iterator<Item = AccountLine<'_>> {
        self.lines.iter().enumerate().filter_map(|(i, line)| {
            line.user().map(|user| AccountLine {
                number: i + 1,
                user,
                text: &line.text,
            })
        })
    }

    /// The account line of `user`.
    pub fn account(&self, user: &str) -> Option<AccountLine<'_>> {
        self.accounts().find(|a| a.user == user)
    }

    fn index_of(&self, user: &str) -> Result<usize, EditError> {
        self.lines
            .iter()
            .position(|line| line.user() == Some(user))
            .ok_or_else(|| EditError::NoSuchUser(user.to_owned()))
    }

    /// Appends a new account at the end of the file, with the file's own line ending.
    pub fn add(&mut self, account: &NewAccount) -> Result<(), EditError> {
        if self.account(&account.user).is_some() {
            return Err(EditError::UserExists(account.user.clone()));
        }
        let text = account.render()?;
        let newline = self.newline();
        if let Some(last) = self.lines.last_mut()
            && matches!(last.end, "" | "\r")
        {
            // The last line had no newline; it needs one now that something follows it.
            last.end = newline;
        }
        self.lines.push(Line { text, end: newline });
        Ok(())
    }

    /// Deletes `user`'s line (with its line ending); every other line stays as it was.
    pub fn remove(&mut self, user: &str) -> Result<(), EditError> {
        let index = self.index_of(user)?;
        self.lines.remove(index);
        Ok(())
    }

    /// Replaces `user`'s password field with `field` (`{SCHEME}…`). True if it changed.
    pub fn set_password(&mut self, user: &str, field: &str) -> Result<bool, EditError> {
        check_field("password", field)?;
        let index = self.index_of(user)?;
        let line = &mut self.lines[index];
        let mut fields = split_fields(&line.text);
        if fields.len() <= PASSWORD {
            fields.resize(PASSWORD + 1, "");
        }
        if fields[PASSWORD] == field {
            return Ok(false);
        }
        fields[PASSWORD] = field;
        line.text = fields.join(":");
        Ok(true)
    }

    /// Applies `edits` in order to `user`'s extra fields. True if the line changed.
    pub fn edit_extra(&mut self, user: &str, edits: &[ExtraEdit]) -> Result<bool, EditError> {
        let index = self.index_of(user)?;
        self.edit_extra_at(index, edits)
    }

    /// Applies `edits` to every account whose name `select` accepts; one pass over the file,
    /// so a bulk change of 10,000 accounts costs one rewrite. Returns (matched, changed).
    pub fn edit_extra_where(
        &mut self,
        mut select: impl FnMut(&str) -> bool,
        edits: &[ExtraEdit],
    ) -> Result<(usize, usize), EditError> {
        for edit in edits {
            edit.check()?;
        }
        let (mut matched, mut changed) = (0, 0);
        for index in 0..self.lines.len() {
            if self.lines[index].user().is_some_and(&mut select) {
                matched += 1;
                changed += usize::from(self.edit_extra_at(index, edits)?);
            }
        }
        Ok((matched, changed))
    }

    fn edit_extra_at(&mut self, index: usize, edits: &[ExtraEdit]) -> Result<bool, EditError> {
        let line = &mut self.lines[index];
        let fields = split_fields(&line.text);
        let mut extra = fields.get(EXTRA).copied().unwrap_or_default().to_owned();
        for edit in edits {
            edit.check()?;
            edit.apply(&mut extra);
        }
        if extra == fields.get(EXTRA).copied().unwrap_or_default() {
            return Ok(false);
        }
        let mut fields = fields;
        // A short line (`alice:{PLAIN}x`) gains the empty uid..shell fields it left out.
        fields.resize(FIELDS, "");
        fields[EXTRA] = &extra;
        line.text = fields.join(":");
        Ok(true)
    }

    /// The line ending new lines get: CRLF if most of the file uses it, else LF.
    fn newline(&self) -> &'static str {
        let crlf = self.lines.iter().filter(|l| l.end == "\r\n").count();
        let lf = self.lines.iter().filter(|l| l.end == "\n").count();
        if crlf > lf { "\r\n" } else { "\n" }
    }
}

impl fmt::Debug for PasswdText {
    /// The size only: lines hold password fields.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswdText")
            .field("lines", &self.lines.len())
            .finish()
    }
}

impl NewAccount {
    fn render(&self) -> Result<String, EditError> {
        check_field("user name", &self.user)?;
        check_field("password", &self.password)?;
        check_field("gecos", &self.gecos)?;
        check_field("home", &self.home)?;
        check_field("shell", &self.shell)?;
        for item in &self.extra {
            check_token("extra field", item)?;
        }
        let id = |n: Option<u32>| n.map(|n| n.to_string()).unwrap_or_default();
        let mut fields = vec![
            self.user.clone(),
            self.password.clone(),
            id(self.uid),
            id(self.gid),
            self.gecos.clone(),
            self.home.clone(),
            self.shell.clone(),
            self.extra.join(" "),
        ];
        // Dovecot's own short form: trailing empty fields are left out.
        while fields.len() > PASSWORD + 1 && fields.last().is_some_and(String::is_empty) {
            fields.pop();
        }
        Ok(fields.join(":"))
    }
}

impl ExtraEdit {
    fn key(&self) -> &str {
        match self {
            ExtraEdit::Set { key, .. }
            | ExtraEdit::Remove { key }
            | ExtraEdit::Switch { key, .. }
            | ExtraEdit::Flag { key, .. } => key,
        }
    }

    fn check(&self) -> Result<(), EditError> {
        check_token("extra field name", self.key())?;
        if self.key().contains('=') {
            return Err(bad("extra field name", self.key(), "contains '='"));
        }
        if let ExtraEdit::Set { value, .. } = self {
            check_token("extra field value", value)?;
        }
        Ok(())
    }

    fn apply(&self, extra: &mut String) {
        match self {
            ExtraEdit::Set { key, value } => set(extra, key, &format!("{key}={value}")),
            ExtraEdit::Remove { key } => {
                for (start, end) in occurrences(extra, key).into_iter().rev() {
                    remove_token(extra, start, end);
                }
            }
            ExtraEdit::Switch { key, on } => {
                // The last occurrence is the one `PasswdDb` obeys.
                let current = tokens(extra)
                    .filter(|t| t.key == *key)
                    .last()
                    .map(|t| switch_value(t.value));
                let duplicates = tokens(extra).filter(|t| t.key == *key).count() > 1;
                if current.unwrap_or(Some(true)) != Some(*on) || duplicates {
                    let value = if *on { "on" } else { "off" };
                    set(extra, key, &format!("{key}={value}"));
                }
            }
            ExtraEdit::Flag { key, present: true } => {
                if !tokens(extra).any(|t| t.key == *key) {
                    append(extra, key);
                }
            }
            ExtraEdit::Flag {
                key,
                present: false,
            } => ExtraEdit::Remove { key: key.clone() }.apply(extra),
        }
    }
}

/// `key=…` becomes `wanted` in place (first occurrence), later duplicates go, or it is appended.
fn set(extra: &mut String, key: &str, wanted: &str) {
    let found = occurrences(extra, key);
    let Some(&(start, end)) = found.first() else {
        append(extra, wanted);
        return;
    };
    // Removed from the back, so the positions found before stay valid.
    for &(s, e) in found[1..].iter().rev() {
        remove_token(extra, s, e);
    }
    if extra[start..end] != *wanted {
        extra.replace_range(start..end, wanted);
    }
}

/// Byte ranges of the tokens named `key`, in order.
fn occurrences(extra: &str, key: &str) -> Vec<(usize, usize)> {
    tokens(extra)
        .filter(|t| t.key == key)
        .map(|t| (t.start, t.end))
        .collect()
}

fn append(extra: &mut String, token: &str) {
    if !extra.is_empty() && !extra.ends_with(|c: char| c.is_ascii_whitespace()) {
        extra.push(' ');
    }
    extra.push_str(token);
}

/// Removes a token and one run of the whitespace around it, so its neighbours keep exactly
/// one separator between them.
fn remove_token(extra: &mut String, start: usize, end: usize) {
    let bytes = extra.as_bytes();
    let before = bytes[..start]
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_whitespace())
        .count();
    let (from, to) = if before > 0 {
        (start - before, end)
    } else {
        let after = bytes[end..]
            .iter()
            .take_while(|b| b.is_ascii_whitespace())
            .count();
        (start, end + after)
    };
    extra.replace_range(from..to, "");
}

/// A `key=value` (or bare `key`) token of the extra field, by byte position.
#[derive(Clone, Copy)]
struct Token<'a> {
    start: usize,
    end: usize,
    key: &'a str,
    value: &'a str,
}

/// The tokens the way `PasswdDb` splits them (`split_ascii_whitespace`), with positions.
fn tokens(extra: &str) -> impl Iterator<Item = Token<'_>> {
    let bytes = extra.as_bytes();
    let mut pos = 0;
    std::iter::from_fn(move || {
        while pos < bytes.len() && bytes[pos].is_ascii_whitespace() {
            pos += 1;
        }
        if pos == bytes.len() {
            return None;
        }
        let start = pos;
        while pos < bytes.len() && !bytes[pos].is_ascii_whitespace() {
            pos += 1;
        }
        let item = &extra[start..pos];
        let (key, value) = item.split_once('=').unwrap_or((item, ""));
        Some(Token {
            start,
            end: pos,
            key,
            value,
        })
    })
}

/// What `PasswdDb` makes of an on/off value; `None` for one it would refuse.
fn switch_value(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "on" | "yes" | "true" | "1" => Some(true),
        "off" | "no" | "false" | "0" => Some(false),
        _ => None,
    }
}

fn split_fields(text: &str) -> Vec<&str> {
    text.splitn(FIELDS, ':').collect()
}

fn bad(what: &'static str, value: &str, reason: &'static str) -> EditError {
    EditError::BadField {
        what,
        value: value.to_owned(),
        reason,
    }
}

/// A value for one of the `:`-separated fields.
fn check_field(what: &'static str, value: &str) -> Result<(), EditError> {
    if value.contains(':') {
        return Err(bad(what, value, "contains ':', the field separator"));
    }
    if value.chars().any(char::is_control) {
        return Err(bad(
            what,
            value,
            "contains a line break or control character",
        ));
    }
    Ok(())
}

/// One space-separated extra-field token.
fn check_token(what: &'static str, value: &str) -> Result<(), EditError> {
    if value.is_empty() && what != "extra field value" {
        return Err(bad(what, value, "is empty"));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad(
            what,
            value,
            "contains whitespace or a control character",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
