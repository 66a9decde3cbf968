//! TEMPORARY stand-in for `crate::auth` while that module is being written; it mirrors the agreed
//! API so the POP3 state machine can be built and tested first. Deleted once `crate::auth` lands.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

#[derive(Clone)]
pub enum Credentials {
    Password {
        authzid: Option<String>,
        user: String,
        password: String,
    },
    Apop {
        user: String,
        timestamp: String,
        digest: String,
    },
    CramMd5 {
        user: String,
        challenge: String,
        digest: String,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials(..)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Plain,
    Login,
    CramMd5,
}

impl Mechanism {
    pub fn parse(name: &str) -> Option<Self> {
        [Mechanism::Plain, Mechanism::Login, Mechanism::CramMd5]
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(name))
    }
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
            Mechanism::CramMd5 => "CRAM-MD5",
        }
    }
    pub fn sends_cleartext(self) -> bool {
        self != Mechanism::CramMd5
    }
}

pub struct SaslExchange {
    mech: Mechanism,
    challenge: String,
    user: Option<String>,
}

pub enum SaslStep {
    Challenge(String),
    Done(Credentials),
    Cancelled,
    Malformed(&'static str),
}

fn decode(s: &str) -> Result<String, &'static str> {
    if s == "=" {
        return Ok(String::new());
    }
    let bytes = STANDARD.decode(s).map_err(|_| "invalid base64")?;
    String::from_utf8(bytes).map_err(|_| "invalid UTF-8")
}

impl SaslExchange {
    pub fn new(mech: Mechanism, challenge: &str) -> Self {
        SaslExchange {
            mech,
            challenge: challenge.to_owned(),
            user: None,
        }
    }

    pub fn start(&mut self, initial_response: Option<&str>) -> SaslStep {
        match (self.mech, initial_response) {
            (Mechanism::Plain, None) => SaslStep::Challenge(String::new()),
            (Mechanism::Login, None) => SaslStep::Challenge(STANDARD.encode("Username:")),
            (Mechanism::CramMd5, None) => SaslStep::Challenge(STANDARD.encode(&self.challenge)),
            (Mechanism::CramMd5, Some(_)) => SaslStep::Malformed("unexpected initial response"),
            (_, Some(r)) => self.respond(r),
        }
    }

    pub fn step(&mut self, line: &str) -> SaslStep {
        if line == "*" {
            return SaslStep::Cancelled;
        }
        self.respond(line)
    }

    fn respond(&mut self, line: &str) -> SaslStep {
        let text = match decode(line) {
            Ok(t) => t,
            Err(e) => return SaslStep::Malformed(e),
        };
        match self.mech {
            Mechanism::Plain => {
                let mut parts = text.split('\0');
                match (parts.next(), parts.next(), parts.next(), parts.next()) {
                    (Some(z), Some(u), Some(p), None) if !u.is_empty() => {
                        SaslStep::Done(Credentials::Password {
                            authzid: (!z.is_empty()).then(|| z.to_owned()),
                            user: u.to_owned(),
                            password: p.to_owned(),
                        })
                    }
                    _ => SaslStep::Malformed("invalid PLAIN response"),
                }
            }
            Mechanism::Login => match self.user.take() {
                None => {
                    self.user = Some(text);
                    SaslStep::Challenge(STANDARD.encode("Password:"))
                }
                Some(user) => SaslStep::Done(Credentials::Password {
                    authzid: None,
                    user,
                    password: text,
                }),
            },
            Mechanism::CramMd5 => match text.rsplit_once(' ') {
                Some((u, d)) if !u.is_empty() && !d.is_empty() => {
                    SaslStep::Done(Credentials::CramMd5 {
                        user: u.to_owned(),
                        challenge: self.challenge.clone(),
                        digest: d.to_owned(),
                    })
                }
                _ => SaslStep::Malformed("invalid CRAM-MD5 response"),
            },
        }
    }
}
