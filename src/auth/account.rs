//! One account from the passwd-file: who the user is, where the mail lives, what they may use.
//!
//! An [`Account`] is immutable and shared (`Arc`) between the database, the success cache and
//! every session that logged in as it; a reload builds new ones instead of changing these.

use super::maildir;
use super::scheme::Secret;
use crate::config::Protocol;
use crate::policy::{LoginType, RetrievalFormat};
use std::fmt;
use std::path::PathBuf;

/// An account, as read from one passwd-file line.
#[derive(Debug)]
pub struct Account {
    pub user: String,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub gecos: String,
    pub home: Option<PathBuf>,
    pub shell: String,
    /// Extra fields in file order, (key, value) with value "" for bare keys.
    pub extra: Vec<(String, String)>,
    /// Extra field `pop3=off|on`; on unless switched off.
    pub pop3_enabled: bool,
    /// Extra field `imap=off|on`; on unless switched off.
    pub imap_enabled: bool,
    /// Extra fields `pop3_login_type=` / `imap_login_type=`: tightens the protocol's login type
    /// for this account (see [`LoginType::stricter`]).
    pub pop3_login_type: Option<LoginType>,
    pub imap_login_type: Option<LoginType>,
    /// Extra fields `pop3_retrieval_format=` / `imap_retrieval_format=`: replaces the
    /// protocol's retrieval format for this account.
    pub pop3_retrieval_format: Option<RetrievalFormat>,
    pub imap_retrieval_format: Option<RetrievalFormat>,
    /// Dovecot's `nologin` extra field: every login is refused.
    pub nologin: bool,
    pub(crate) secret: StoredSecret,
}

/// The parsed secret plus a fingerprint of its text, which the success cache keys on so that a
/// password changed in the file can never be answered from an old cache entry.
pub(crate) struct StoredSecret {
    pub(crate) parsed: Secret,
    pub(crate) fingerprint: [u8; 32],
}

impl fmt::Debug for StoredSecret {
    /// The scheme only; even the fingerprint is a fast hash of the password for PLAIN.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.parsed, f)
    }
}

impl Account {
    /// Dovecot's `%n`: the part before the last `@` (the whole name if there is none).
    pub fn local_part(&self) -> &str {
        self.user
            .rsplit_once('@')
            .map_or(self.user.as_str(), |(local, _)| local)
    }

    /// Dovecot's `%d`: the part after the last `@` ("" if there is none).
    pub fn domain(&self) -> &str {
        self.user.rsplit_once('@').map_or("", |(_, domain)| domain)
    }

    /// The Maildir path.
    ///
    /// An extra field `userdb_mail` (preferred) or `mail` of the form `maildir:PATH[:opts]`
    /// wins over `template`. Either one is expanded: `%u` user, `%n` local part, `%d` domain,
    /// `%h` home, `%%` a percent sign (also `%{user}`, `%{username}`, `%{domain}`, `%{home}`),
    /// and a leading `~` or `~/` means the home directory. Mail locations in other formats
    /// (`mdbox:`, ...) are ignored, since only Maildir is served. `None` if the expansion needs
    /// a home directory and the account has none.
    pub fn maildir(&self, template: &str) -> Option<PathBuf> {
        let configured = ["userdb_mail", "mail"].iter().find_map(|wanted| {
            self.extra
                .iter()
                .find(|(key, _)| key == wanted)
                .and_then(|(_, value)| maildir_path(value))
        });
        maildir::expand(configured.unwrap_or(template), self).map(PathBuf::from)
    }

    /// May this account use `protocol` at all (the `pop3=` / `imap=` switches)?
    pub fn enabled(&self, protocol: Protocol) -> bool {
        match protocol {
            Protocol::Pop3 => self.pop3_enabled,
            Protocol::Imap => self.imap_enabled,
        }
    }

    /// The login type in force for this account on `protocol`, given the protocol's own.
    pub fn login_type(&self, protocol: Protocol, configured: LoginType) -> LoginType {
        let own = match protocol {
            Protocol::Pop3 => self.pop3_login_type,
            Protocol::Imap => self.imap_login_type,
        };
        own.map_or(configured, |own| configured.stricter(own))
    }

    /// The retrieval format for this account on `protocol`, given the protocol's own.
    pub fn retrieval_format(
        &self,
        protocol: Protocol,
        configured: RetrievalFormat,
    ) -> RetrievalFormat {
        let own = match protocol {
            Protocol::Pop3 => self.pop3_retrieval_format,
            Protocol::Imap => self.imap_retrieval_format,
        };
        own.unwrap_or(configured)
    }

    /// Can this account answer APOP? Only with the password stored in clear.
    pub fn supports_apop(&self) -> bool {
        self.plaintext_secret().is_some()
    }

    /// Can this account answer CRAM-MD5? With a cleartext password or a `{CRAM-MD5}` context.
    pub fn supports_cram_md5(&self) -> bool {
        self.secret.parsed.supports_cram_md5()
    }

    /// The password itself if it is stored in clear (APOP needs it); `None` otherwise.
    pub fn plaintext_secret(&self) -> Option<&str> {
        self.secret.parsed.plaintext()
    }
}

/// The PATH of a `maildir:PATH[:opts]` mail location.
fn maildir_path(location: &str) -> Option<&str> {
    let (format, rest) = location.split_once(':')?;
    if !format.eq_ignore_ascii_case("maildir") {
        return None;
    }
    let path = rest.split(':').next().unwrap_or_default();
    (!path.is_empty()).then_some(path)
}

#[cfg(test)]
mod tests {
    use super::super::PasswdDb;
    use std::path::Path;

    fn account(line: &str) -> std::sync::Arc<super::Account> {
        let db = PasswdDb::parse(line, "test").unwrap();
        let user = line.split(':').next().unwrap();
        db.lookup(user).unwrap()
    }

    #[test]
    fn local_part_and_domain_split_at_the_last_at() {
        let a = account("first.last@example.org:{PLAIN}x");
        assert_eq!((a.local_part(), a.domain()), ("first.last", "example.org"));
        let a = account("odd@name@example.org:{PLAIN}x");
        assert_eq!((a.local_part(), a.domain()), ("odd@name", "example.org"));
        let a = account("alice:{PLAIN}x");
        assert_eq!((a.local_part(), a.domain()), ("alice", ""));
    }

    #[test]
    fn maildir_template_expansions() {
        let a = account("bob@example.org:{PLAIN}x:1000:1000::/home/bob");
        let dir = |t: &str| a.maildir(t);
        assert_eq!(
            dir("/var/mail/%d/%n/Maildir").as_deref(),
            Some(Path::new("/var/mail/example.org/bob/Maildir"))
        );
        assert_eq!(
            dir("/srv/%u").as_deref(),
            Some(Path::new("/srv/bob@example.org"))
        );
        assert_eq!(
            dir("%h/Maildir").as_deref(),
            Some(Path::new("/home/bob/Maildir"))
        );
        assert_eq!(
            dir("~/Maildir").as_deref(),
            Some(Path::new("/home/bob/Maildir"))
        );
        assert_eq!(dir("~").as_deref(), Some(Path::new("/home/bob")));
        assert_eq!(
            dir("/m/%{domain}/%{username}/100%%").as_deref(),
            Some(Path::new("/m/example.org/bob/100%"))
        );
        assert_eq!(
            dir("/m/%{user}/%{home}").as_deref(),
            Some(Path::new("/m/bob@example.org//home/bob"))
        );
        // Unknown escapes stay as written rather than silently vanishing.
        assert_eq!(
            dir("/m/%x/%{nope}/%").as_deref(),
            Some(Path::new("/m/%x/%{nope}/%"))
        );
        // `~` is only special at the start.
        assert_eq!(dir("/m/~/x").as_deref(), Some(Path::new("/m/~/x")));
    }

    #[test]
    fn maildir_without_home() {
        let a = account("carol:{PLAIN}x");
        assert_eq!(a.maildir("~/Maildir"), None);
        assert_eq!(a.maildir("%h/Maildir"), None);
        assert_eq!(
            a.maildir("/var/mail/%u").as_deref(),
            Some(Path::new("/var/mail/carol"))
        );
    }

    #[test]
    fn mail_extra_field_wins() {
        let a = account("dave:{PLAIN}x:::::: mail=maildir:/srv/mail/%n:LAYOUT=fs");
        assert_eq!(
            a.maildir("~/Maildir").as_deref(),
            Some(Path::new("/srv/mail/dave"))
        );
        let a = account("erin:{PLAIN}x::::/home/erin:: mail=maildir:/a userdb_mail=maildir:~/Mail");
        assert_eq!(
            a.maildir("/t").as_deref(),
            Some(Path::new("/home/erin/Mail"))
        );
        let a = account("fay:{PLAIN}x::::/home/fay:: userdb_mail=mdbox:~/mdbox");
        assert_eq!(
            a.maildir("~/Maildir").as_deref(),
            Some(Path::new("/home/fay/Maildir"))
        );
    }

    #[test]
    fn mechanism_support_follows_the_scheme() {
        let plain = account("p:{PLAIN}secret");
        assert!(plain.supports_apop() && plain.supports_cram_md5());
        assert_eq!(plain.plaintext_secret(), Some("secret"));
        let cram =
            account("c:{CRAM-MD5}458da499ccc3c888e803711566013a1929ebb210d3e8147b68469ce4a25d3819");
        assert!(!cram.supports_apop() && cram.supports_cram_md5());
        assert_eq!(cram.plaintext_secret(), None);
        let hashed = account("h:{SHA256}f7RERuWhObO3oHciFhtpNCnGhD0FNBL7CyE3AkK4vbA=");
        assert!(!hashed.supports_apop() && !hashed.supports_cram_md5());
    }

    #[test]
    fn per_account_policy_fields() {
        use crate::config::Protocol::*;
        use crate::policy::{LoginType::*, RetrievalFormat::*};
        let a = account("p:{PLAIN}x:::::: pop3_login_type=secure imap_retrieval_format=text-only");
        assert_eq!(a.login_type(Pop3, Plaintext), Secure);
        assert_eq!(a.login_type(Imap, Plaintext), Plaintext);
        assert_eq!(a.retrieval_format(Imap, Original), TextOnly);
        assert_eq!(a.retrieval_format(Pop3, Best), Best);
        // An account cannot loosen what its protocol demands.
        let a = account("q:{PLAIN}x:::::: imap_login_type=plaintext");
        assert_eq!(a.login_type(Imap, Secure), Secure);
        for bad in ["pop3_login_type=open", "imap_retrieval_format=html"] {
            let e = super::super::PasswdDb::parse(&format!("r:{{PLAIN}}x:::::: {bad}"), "t");
            assert!(e.is_err(), "{bad}");
        }
    }

    #[test]
    fn debug_redacts_the_secret() {
        let shown = format!("{:?}", account("p:{PLAIN}hunter2"));
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("PLAIN"), "{shown}");
    }
}
