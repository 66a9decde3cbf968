//! `postern account …`: looking at and changing accounts in the passwd-file, the way Exchange's
//! Get-CASMailbox and Set-CASMailbox do for POP3 and IMAP access.
//!
//! Everything that changes the file goes through [`crate::admin::passwd_file::edit`] (lock,
//! check, one atomic rewrite), so a command either makes its whole change or none of it; this
//! module only turns arguments into edits and results into lines for the administrator.

use crate::admin::passwd_file::{self, FileError};
use crate::admin::{ExtraEdit, NewAccount, PasswdText, glob_match};
use crate::auth::{Account, HashScheme, PasswdDb, hash_password};
use crate::config::{Config, Protocol};
use crate::policy::{LoginType, RetrievalFormat};
use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Where the configuration is when neither `--config` nor `--passwd-file` is given.
pub const DEFAULT_CONFIG: &str = "/etc/postern/postern.toml";

/// `postern account`.
#[derive(Debug, Args)]
pub struct AccountArgs {
    #[command(flatten)]
    pub file: FileArgs,
    /// Boxed: the settings make it large, and `main`'s command enum should stay small.
    #[command(subcommand)]
    pub command: Box<AccountCommand>,
}

/// Which passwd-file: the one a configuration names, or one given directly.
#[derive(Debug, Args)]
pub struct FileArgs {
    /// The configuration file whose `auth.passwd_file` is used [default: /etc/postern/postern.toml].
    #[arg(
        long,
        short,
        global = true,
        value_name = "FILE",
        conflicts_with = "passwd_file"
    )]
    pub config: Option<PathBuf>,
    /// The passwd-file itself.
    #[arg(long, global = true, value_name = "FILE")]
    pub passwd_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// One line per account: protocols, login type and retrieval format overrides, nologin.
    List {
        /// Only accounts whose name matches this pattern (`*` and `?`, e.g. '*@example.org').
        pattern: Option<String>,
    },
    /// Every field of one account (the password's scheme, never the password).
    Show { user: String },
    /// Add an account; refuses a user that already exists.
    Add(AddArgs),
    /// Set a new password.
    Passwd {
        user: String,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// Remove an account's line (its mail is not touched).
    Remove { user: String },
    /// Change protocol access and per-account overrides of one, some or all accounts.
    Set(SetArgs),
}

#[derive(Debug, Args)]
pub struct PasswordArgs {
    /// Read the password as one line from standard input instead of asking on the terminal.
    #[arg(long)]
    pub password_stdin: bool,
    /// The password scheme: ARGON2ID, SHA512-CRYPT, SHA256-CRYPT, BLF-CRYPT, SSHA512 or PLAIN.
    #[arg(long, default_value = "ARGON2ID", value_parser = parse_scheme)]
    pub scheme: HashScheme,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    pub user: String,
    #[command(flatten)]
    pub password: PasswordArgs,
    /// Home directory (absolute).
    #[arg(long)]
    pub home: Option<String>,
    #[arg(long)]
    pub uid: Option<u32>,
    #[arg(long)]
    pub gid: Option<u32>,
    /// The comment (full name) field.
    #[arg(long)]
    pub gecos: Option<String>,
    #[arg(long)]
    pub shell: Option<String>,
    /// Another extra field, `key=value` or a bare `key` (e.g. `userdb_mail=maildir:~/Mail`);
    /// may be repeated.
    #[arg(long = "extra", value_name = "FIELD")]
    pub extra: Vec<String>,
    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("target").required(true).multiple(false))]
pub struct SetArgs {
    /// The account to change.
    #[arg(group = "target")]
    pub user: Option<String>,
    /// Change every account.
    #[arg(long, group = "target")]
    pub all: bool,
    /// Change every account whose name matches this pattern (`*`, `?`).
    #[arg(long = "match", value_name = "PATTERN", group = "target")]
    pub pattern: Option<String>,
    #[command(flatten)]
    pub settings: Settings,
}

/// What `add` and `set` can set.
#[derive(Debug, Args, Default)]
pub struct Settings {
    /// Allow POP3 (extra field `pop3=`).
    #[arg(long, value_name = "on|off")]
    pub pop3: Option<OnOff>,
    /// Allow IMAP (extra field `imap=`).
    #[arg(long, value_name = "on|off")]
    pub imap: Option<OnOff>,
    /// The account's login type, `[pop3=|imap=]plaintext|plaintext-login|secure|default`;
    /// without a protocol, both. `default` removes the override. May be repeated.
    #[arg(long, value_name = "[PROTOCOL=]TYPE", value_parser = parse_login_type)]
    pub login_type: Vec<Override>,
    /// The account's retrieval format,
    /// `[pop3=|imap=]original|text-only|html-only|html-and-text|best|default`; without a
    /// protocol, both. `default` removes the override. May be repeated.
    #[arg(long, value_name = "[PROTOCOL=]FORMAT", value_parser = parse_retrieval_format)]
    pub retrieval_format: Vec<Override>,
    /// Refuse every login (Dovecot's `nologin` extra field).
    #[arg(long, value_name = "on|off")]
    pub nologin: Option<OnOff>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

/// One `--login-type` or `--retrieval-format` argument: for which protocols, and the value
/// (`None` for `default`, which removes the override).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    pub protocols: Vec<Protocol>,
    pub value: Option<&'static str>,
}

fn parse_scheme(s: &str) -> Result<HashScheme, String> {
    s.parse().map_err(|e: crate::auth::HashError| e.to_string())
}

fn parse_override(
    s: &str,
    value: impl Fn(&str) -> Option<&'static str>,
    expected: &str,
) -> Result<Override, String> {
    let (protocols, name) = match s.split_once('=') {
        Some(("pop3", name)) => (vec![Protocol::Pop3], name),
        Some(("imap", name)) => (vec![Protocol::Imap], name),
        Some((other, _)) => return Err(format!("unknown protocol {other:?}: use pop3= or imap=")),
        None => (vec![Protocol::Pop3, Protocol::Imap], s),
    };
    let value = match name {
        "default" => None,
        name => Some(value(name).ok_or_else(|| format!("expected {expected} or default"))?),
    };
    Ok(Override { protocols, value })
}

fn parse_login_type(s: &str) -> Result<Override, String> {
    parse_override(
        s,
        |n| LoginType::parse(n).map(LoginType::as_str),
        "plaintext, plaintext-login, secure",
    )
}

fn parse_retrieval_format(s: &str) -> Result<Override, String> {
    parse_override(
        s,
        |n| RetrievalFormat::parse(n).map(RetrievalFormat::as_str),
        "original, text-only, html-only, html-and-text, best",
    )
}

fn protocol_name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Pop3 => "pop3",
        Protocol::Imap => "imap",
    }
}

impl Settings {
    fn is_empty(&self) -> bool {
        self.pop3.is_none()
            && self.imap.is_none()
            && self.login_type.is_empty()
            && self.retrieval_format.is_empty()
            && self.nologin.is_none()
    }

    /// The extra-field edits, in the order the options were described (later overrides of the
    /// same protocol win, as they were given later).
    fn edits(&self) -> Vec<ExtraEdit> {
        let mut edits = Vec::new();
        for (key, value) in [("pop3", self.pop3), ("imap", self.imap)] {
            if let Some(value) = value {
                edits.push(ExtraEdit::Switch {
                    key: key.to_owned(),
                    on: value == OnOff::On,
                });
            }
        }
        for (suffix, overrides) in [
            ("login_type", &self.login_type),
            ("retrieval_format", &self.retrieval_format),
        ] {
            for o in overrides {
                for &protocol in &o.protocols {
                    let key = format!("{}_{suffix}", protocol_name(protocol));
                    edits.push(match o.value {
                        Some(value) => ExtraEdit::Set {
                            key,
                            value: value.to_owned(),
                        },
                        None => ExtraEdit::Remove { key },
                    });
                }
            }
        }
        if let Some(value) = self.nologin {
            edits.push(ExtraEdit::Flag {
                key: "nologin".to_owned(),
                present: value == OnOff::On,
            });
        }
        edits
    }
}

/// Runs `postern account …`.
pub fn run(args: AccountArgs) -> anyhow::Result<()> {
    let path = passwd_path(&args.file)?;
    let mut out = String::new();
    match *args.command {
        AccountCommand::List { pattern } => list(&path, pattern.as_deref(), &mut out)?,
        AccountCommand::Show { user } => show(&path, &user, &mut out)?,
        AccountCommand::Add(add_args) => add(&path, add_args, &mut out)?,
        AccountCommand::Passwd { user, password } => passwd(&path, &user, &password, &mut out)?,
        AccountCommand::Remove { user } => {
            edit(&path, false, |text| text.remove(&user))?;
            writeln!(out, "removed {user} (its mail was not touched)")?;
        }
        AccountCommand::Set(set_args) => set(&path, set_args, &mut out)?,
    }
    print!("{out}");
    Ok(())
}

fn passwd_path(file: &FileArgs) -> anyhow::Result<PathBuf> {
    if let Some(path) = &file.passwd_file {
        return Ok(path.clone());
    }
    let config = file
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
    let loaded = Config::load(&config).with_context(|| {
        format!(
            "finding the passwd-file through {} (or give --passwd-file)",
            config.display()
        )
    })?;
    Ok(loaded.auth.passwd_file)
}

fn edit<T>(
    path: &Path,
    create: bool,
    f: impl FnOnce(&mut PasswdText) -> Result<T, crate::admin::EditError>,
) -> anyhow::Result<T> {
    passwd_file::edit(path, create, f)
        .map(|(result, _)| result)
        .map_err(|e| match e {
            // The other errors already name the file (and the line).
            FileError::Edit(e) => anyhow::anyhow!("{}: {e}", path.display()),
            e => anyhow::Error::new(e),
        })
}

fn read(path: &Path) -> anyhow::Result<(PasswdText, PasswdDb)> {
    passwd_file::read(path).map_err(anyhow::Error::new)
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

fn or_default<T>(value: Option<T>, name: fn(T) -> &'static str) -> &'static str {
    value.map_or("default", name)
}

fn list(path: &Path, pattern: Option<&str>, out: &mut String) -> anyhow::Result<()> {
    let (text, db) = read(path)?;
    let accounts: Vec<_> = text
        .accounts()
        .filter(|a| pattern.is_none_or(|p| glob_match(p, a.user)))
        .filter_map(|a| db.lookup(a.user))
        .collect();
    let width = accounts
        .iter()
        .map(|a| a.user.chars().count())
        .chain([4])
        .max()
        .unwrap_or(4);
    writeln!(
        out,
        "{:width$}  POP3  IMAP  POP3-LOGIN       IMAP-LOGIN       POP3-FORMAT    IMAP-FORMAT    NOLOGIN",
        "USER"
    )?;
    for a in &accounts {
        writeln!(
            out,
            "{:width$}  {:4}  {:4}  {:15}  {:15}  {:13}  {:13}  {}",
            a.user,
            on_off(a.pop3_enabled),
            on_off(a.imap_enabled),
            or_default(a.pop3_login_type, LoginType::as_str),
            or_default(a.imap_login_type, LoginType::as_str),
            or_default(a.pop3_retrieval_format, RetrievalFormat::as_str),
            or_default(a.imap_retrieval_format, RetrievalFormat::as_str),
            if a.nologin { "yes" } else { "no" },
        )?;
    }
    Ok(())
}

/// The scheme label of a password field: what is between the braces, CRYPT without braces.
fn scheme_label(field: &str) -> &str {
    if field.is_empty() {
        return "(none: password logins always fail)";
    }
    field
        .strip_prefix('{')
        .and_then(|rest| rest.split_once('}'))
        .map_or("CRYPT", |(label, _)| label)
}

fn show(path: &Path, user: &str, out: &mut String) -> anyhow::Result<()> {
    let (text, db) = read(path)?;
    let (Some(line), Some(a)) = (text.account(user), db.lookup(user)) else {
        bail!("{}: no account {user:?}", path.display());
    };
    let password = line.text.split(':').nth(1).unwrap_or_default();
    show_account(&a, scheme_label(password), line.number, path, out)
}

fn show_account(
    a: &Account,
    scheme: &str,
    line: usize,
    path: &Path,
    out: &mut String,
) -> anyhow::Result<()> {
    let id = |n: Option<u32>| n.map_or_else(|| "(not set)".to_owned(), |n| n.to_string());
    let rows: [(&str, String); 15] = [
        ("user", a.user.clone()),
        ("line", format!("{}:{line}", path.display())),
        ("password scheme", scheme.to_owned()),
        ("uid", id(a.uid)),
        ("gid", id(a.gid)),
        ("gecos", a.gecos.clone()),
        (
            "home",
            a.home
                .as_ref()
                .map_or_else(|| "(not set)".to_owned(), |h| h.display().to_string()),
        ),
        ("shell", a.shell.clone()),
        ("pop3", on_off(a.pop3_enabled).to_owned()),
        ("imap", on_off(a.imap_enabled).to_owned()),
        (
            "pop3 login type",
            or_default(a.pop3_login_type, LoginType::as_str).to_owned(),
        ),
        (
            "imap login type",
            or_default(a.imap_login_type, LoginType::as_str).to_owned(),
        ),
        (
            "pop3 retrieval format",
            or_default(a.pop3_retrieval_format, RetrievalFormat::as_str).to_owned(),
        ),
        (
            "imap retrieval format",
            or_default(a.imap_retrieval_format, RetrievalFormat::as_str).to_owned(),
        ),
        ("nologin", if a.nologin { "yes" } else { "no" }.to_owned()),
    ];
    for (name, value) in rows {
        writeln!(out, "{:22} {value}", format!("{name}:"))?;
    }
    let extra: Vec<String> = a
        .extra
        .iter()
        .map(|(k, v)| {
            if v.is_empty() {
                k.clone()
            } else {
                format!("{k}={v}")
            }
        })
        .collect();
    writeln!(out, "{:22} {}", "extra fields:", extra.join(" "))?;
    Ok(())
}

fn add(path: &Path, args: AddArgs, out: &mut String) -> anyhow::Result<()> {
    // Refused before asking for a password nobody will use; checked again under the lock.
    match passwd_file::read(path) {
        Ok((text, _)) if text.account(&args.user).is_some() => {
            bail!("{}: account {:?} already exists", path.display(), args.user);
        }
        Ok(_) => {}
        // `add` may create the file.
        Err(FileError::Io { error, .. }) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    if let Some(home) = &args.home
        && !home.starts_with('/')
    {
        bail!("--home {home:?} is not an absolute path");
    }
    let password = super::password::read_new_password(args.password.password_stdin, &args.user)?;
    let scheme = args.password.scheme;
    let field = hash_password(scheme, &password)?;
    let account = NewAccount {
        user: args.user.clone(),
        password: field,
        uid: args.uid,
        gid: args.gid,
        gecos: args.gecos.unwrap_or_default(),
        home: args.home.unwrap_or_default(),
        shell: args.shell.unwrap_or_default(),
        extra: args.extra,
    };
    // The settings go through the same editor as `set`, so `add --pop3 on` writes nothing
    // for what is the default anyway, just as `set --pop3 on` does.
    let edits = args.settings.edits();
    edit(path, true, |text| {
        text.add(&account)?;
        text.edit_extra(&account.user, &edits)
    })?;
    writeln!(out, "added {} ({scheme})", args.user)?;
    Ok(())
}

fn passwd(path: &Path, user: &str, args: &PasswordArgs, out: &mut String) -> anyhow::Result<()> {
    let (text, _) = read(path)?;
    if text.account(user).is_none() {
        bail!("{}: no account {user:?}", path.display());
    }
    let password = super::password::read_new_password(args.password_stdin, user)?;
    let field = hash_password(args.scheme, &password)?;
    edit(path, false, |text| text.set_password(user, &field))?;
    writeln!(out, "password of {user} changed ({})", args.scheme)?;
    Ok(())
}

fn set(path: &Path, args: SetArgs, out: &mut String) -> anyhow::Result<()> {
    if args.settings.is_empty() {
        bail!("nothing to set: give --pop3, --imap, --login-type, --retrieval-format or --nologin");
    }
    let edits = args.settings.edits();
    let (matched, changed) = match (&args.user, &args.pattern) {
        (Some(user), _) => {
            let changed = edit(path, false, |text| text.edit_extra(user, &edits))?;
            (1, usize::from(changed))
        }
        (None, Some(pattern)) => {
            let counts = edit(path, false, |text| {
                text.edit_extra_where(|u| glob_match(pattern, u), &edits)
            })?;
            if counts.0 == 0 {
                bail!("{}: no account matches {pattern:?}", path.display());
            }
            counts
        }
        (None, None) => edit(path, false, |text| text.edit_extra_where(|_| true, &edits))?,
    };
    let noun = if matched == 1 { "account" } else { "accounts" };
    writeln!(out, "{changed} of {matched} {noun} changed")?;
    Ok(())
}
