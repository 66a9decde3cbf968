//! The not-authenticated state: STARTTLS, LOGIN and AUTHENTICATE (RFC 3501 section 6.2, SASL-IR
//! of RFC 4959), under the connection's login policy.
//!
//! Refusals by policy come before any password is looked at, and say what would work
//! (`[PRIVACYREQUIRED]`, RFC 5530). The answer to a wrong password and to a right password
//! for an account whose IMAP access is switched off differ, but only after the password was
//! checked, so the difference tells a guesser nothing.

use super::{Event, LoginReply, Pending, Phase, Session, Wait};
use crate::auth::{Credentials, Mechanism, SaslExchange, SaslStep};
use crate::imap::capability::Refusal;
use crate::imap::{CommandBody, Secret};

impl Session {
    pub(super) fn not_authenticated(&mut self, tag: String, body: CommandBody) -> Option<Event> {
        match body {
            CommandBody::StartTls => self.starttls(tag),
            CommandBody::Login { username, password } => self.login(tag, username, password),
            CommandBody::Authenticate {
                mechanism,
                initial_response,
            } => self.authenticate(tag, &mechanism, initial_response),
            _ => {
                self.bad(&tag, "Log in first.");
                None
            }
        }
    }

    fn starttls(&mut self, tag: String) -> Option<Event> {
        if self.tls_active {
            self.bad(&tag, "TLS is already active.");
            return None;
        }
        if !self.offer().starttls() {
            self.bad(&tag, "STARTTLS is not available.");
            return None;
        }
        self.output
            .line(format_args!("{tag} OK Begin TLS negotiation now."));
        // Whatever came after the command was sent in clear and must not be acted on.
        self.reader.clear();
        self.pending = Some(Pending::Tls);
        Some(Event::StartTls)
    }

    fn refuse(&mut self, tag: &str, refusal: Refusal) {
        let text = match refusal {
            Refusal::TlsRequired if self.offer().starttls() => {
                "[PRIVACYREQUIRED] Authentication requires TLS: use STARTTLS first."
            }
            Refusal::TlsRequired => {
                "[PRIVACYREQUIRED] Authentication requires TLS: use the IMAPS port."
            }
            Refusal::Cleartext => {
                "[PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure (SSL/TLS) \
                 connections."
            }
            Refusal::Unsupported => "Unsupported authentication mechanism.",
        };
        self.output.line(format_args!("{tag} NO {text}"));
        self.count_bad();
    }

    fn login(
        &mut self,
        tag: String,
        username: Vec<u8>,
        password: Secret<Vec<u8>>,
    ) -> Option<Event> {
        if let Some(refusal) = self.offer().login() {
            self.refuse(&tag, refusal);
            return None;
        }
        let (Ok(user), Ok(password)) = (String::from_utf8(username), String::from_utf8(password.0))
        else {
            self.no(&tag, Some("AUTHENTICATIONFAILED"), "Authentication failed.");
            self.count_bad();
            return None;
        };
        self.begin_login(
            tag,
            Credentials::Password {
                authzid: None,
                user,
                password,
            },
        )
    }

    fn begin_login(&mut self, tag: String, credentials: Credentials) -> Option<Event> {
        self.pending = Some(Pending::Reply {
            tag,
            wait: Wait::Login,
        });
        Some(Event::Login(credentials))
    }

    fn authenticate(
        &mut self,
        tag: String,
        mechanism: &str,
        initial: Option<Secret<String>>,
    ) -> Option<Event> {
        let Some(mech) = Mechanism::parse(mechanism) else {
            self.refuse(&tag, Refusal::Unsupported);
            return None;
        };
        if let Some(refusal) = self.offer().mechanism(mech) {
            self.refuse(&tag, refusal);
            return None;
        }
        let mut exchange = Box::new(SaslExchange::new(mech, &self.challenge));
        let step = exchange.start(initial.as_ref().map(|s| s.0.as_str()));
        self.sasl_step(tag, exchange, step)
    }

    pub(super) fn sasl_response(
        &mut self,
        tag: String,
        mut exchange: Box<SaslExchange>,
        line: &[u8],
    ) -> Option<Event> {
        let step = match std::str::from_utf8(line) {
            Ok(text) => exchange.step(text),
            Err(_) => SaslStep::Malformed("invalid base64 data"),
        };
        self.sasl_step(tag, exchange, step)
    }

    fn sasl_step(
        &mut self,
        tag: String,
        exchange: Box<SaslExchange>,
        step: SaslStep,
    ) -> Option<Event> {
        match step {
            SaslStep::Challenge(challenge) => {
                self.output.line(format_args!("+ {challenge}"));
                self.reader.expect_line();
                self.pending = Some(Pending::Sasl { tag, exchange });
                None
            }
            SaslStep::Done(credentials) => self.begin_login(tag, credentials),
            SaslStep::Cancelled => {
                self.bad(&tag, "Authentication cancelled.");
                None
            }
            SaslStep::Malformed(reason) => {
                self.bad(&tag, &format!("Authentication failed: {reason}."));
                None
            }
        }
    }

    /// Answers [`Event::Login`]. Ignored if no login is outstanding.
    pub fn on_login(&mut self, reply: LoginReply) {
        let Some(Pending::Reply {
            tag,
            wait: Wait::Login,
        }) = self.pending.take()
        else {
            return;
        };
        match reply {
            LoginReply::Ok { user } => {
                self.user = Some(user);
                self.phase = Phase::Authenticated;
                self.bad_commands = 0;
                let caps = self.offer().capabilities(true);
                self.ok(&tag, &format!("[CAPABILITY {caps}] Logged in"));
            }
            LoginReply::Proxied { capability } => {
                self.ok(&tag, &format!("[CAPABILITY {capability}] Logged in"));
                // Stop reading commands, but keep what the client pipelined for the backend.
                self.finished = true;
                self.phase = Phase::Logout;
            }
            LoginReply::Failed => {
                self.no(&tag, Some("AUTHENTICATIONFAILED"), "Authentication failed.");
                self.count_bad();
            }
            LoginReply::Rejected { text, close } => {
                self.no(&tag, Some("AUTHENTICATIONFAILED"), &text);
                self.count_bad();
                if close && !self.finished {
                    self.output
                        .line(format_args!("* BYE Closing after the failed login."));
                    self.finish();
                }
            }
            LoginReply::Disabled => {
                self.no(
                    &tag,
                    Some("AUTHORIZATIONFAILED"),
                    "IMAP access is disabled for this account.",
                );
                self.count_bad();
            }
            LoginReply::TlsRequired => {
                self.no(
                    &tag,
                    Some("PRIVACYREQUIRED"),
                    "This account must authenticate over TLS.",
                );
                self.count_bad();
            }
            LoginReply::TooManySessions => {
                // RFC 5530: LIMIT is "an implementation limit of some kind", and the
                // client should not retry at once.
                self.no(
                    &tag,
                    Some("LIMIT"),
                    "Too many IMAP sessions of this account are open already.",
                );
            }
            LoginReply::Refused { code, text } => self.no(&tag, Some(&code), &text),
            LoginReply::TempFail(reason) => {
                let text = if reason.trim().is_empty() {
                    "Temporary authentication failure, try again later.".to_owned()
                } else {
                    reason
                };
                self.no(&tag, Some("UNAVAILABLE"), &text);
            }
        }
    }
}
