//! Sans-IO SASL server mechanisms (RFC 4422): PLAIN (RFC 4616), LOGIN (the expired
//! draft-murchison-sasl-login that every mail client still speaks) and CRAM-MD5 (RFC 2195).
//!
//! POP3 `AUTH` and IMAP `AUTHENTICATE` frame the exchange differently (`+ ` lines, tags), but
//! the mechanism logic is identical, so it lives here, seeing only base64 lines in and
//! challenges out. The result is [`Credentials`] for the [`Authenticator`](super::Authenticator);
//! nothing here knows whether a password is right.

use super::credentials::Credentials;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Clients differ on padding; accepting both costs nothing.
const CLIENT_B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

const NOT_IN_PROGRESS: &str = "no authentication exchange in progress";

/// A SASL mechanism we serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Plain,
    Login,
    CramMd5,
}

impl Mechanism {
    /// Case-insensitive: "PLAIN", "LOGIN", "CRAM-MD5".
    pub fn parse(name: &str) -> Option<Self> {
        [Mechanism::Plain, Mechanism::Login, Mechanism::CramMd5]
            .into_iter()
            .find(|mech| mech.name().eq_ignore_ascii_case(name))
    }

    /// The registered name, as advertised.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
            Mechanism::CramMd5 => "CRAM-MD5",
        }
    }

    /// True for mechanisms that send the password itself (PLAIN, LOGIN), which login policy
    /// may forbid before TLS.
    pub fn sends_cleartext(self) -> bool {
        matches!(self, Mechanism::Plain | Mechanism::Login)
    }
}

/// What the protocol layer should do next.
#[derive(Debug)]
pub enum SaslStep {
    /// Send this challenge, already base64-encoded ("" for an empty challenge).
    Challenge(String),
    /// The exchange is complete; verify these.
    Done(Credentials),
    /// The client sent "*".
    Cancelled,
    /// The client's data was unusable; the message is for the client. The exchange is over.
    Malformed(&'static str),
}

#[derive(Debug)]
enum State {
    NotStarted,
    AwaitingPlain,
    AwaitingLoginUser,
    AwaitingLoginPassword { user: String },
    AwaitingCramResponse,
    Over,
}

/// One server-side SASL exchange.
#[derive(Debug)]
pub struct SaslExchange {
    mech: Mechanism,
    challenge: String,
    state: State,
}

impl SaslExchange {
    /// `challenge` is a unique string such as `<1896.697170952@postern.example>` made by the
    /// caller; CRAM-MD5 sends it as its challenge.
    pub fn new(mech: Mechanism, challenge: &str) -> Self {
        SaslExchange {
            mech,
            challenge: challenge.to_owned(),
            state: State::NotStarted,
        }
    }

    /// Begins the exchange. `initial_response` is the client's base64 initial response, if it
    /// sent one ("=" is an empty one).
    pub fn start(&mut self, initial_response: Option<&str>) -> SaslStep {
        if !matches!(self.state, State::NotStarted) {
            return self.fail("authentication exchange already started");
        }
        match (self.mech, initial_response) {
            (Mechanism::CramMd5, Some(_)) => {
                self.fail("CRAM-MD5 does not take an initial response")
            }
            (Mechanism::CramMd5, None) => {
                self.state = State::AwaitingCramResponse;
                SaslStep::Challenge(STANDARD.encode(&self.challenge))
            }
            (Mechanism::Plain, None) => {
                self.state = State::AwaitingPlain;
                SaslStep::Challenge(String::new())
            }
            (Mechanism::Login, None) => {
                self.state = State::AwaitingLoginUser;
                SaslStep::Challenge(STANDARD.encode("Username:"))
            }
            (Mechanism::Plain, Some(response)) => {
                self.state = State::AwaitingPlain;
                self.step(response)
            }
            (Mechanism::Login, Some(response)) => {
                self.state = State::AwaitingLoginUser;
                self.step(response)
            }
        }
    }

    /// Feeds one client line (base64, without CRLF). "*" cancels.
    pub fn step(&mut self, line: &str) -> SaslStep {
        if line == "*" {
            self.state = State::Over;
            return SaslStep::Cancelled;
        }
        let state = std::mem::replace(&mut self.state, State::Over);
        if matches!(state, State::NotStarted | State::Over) {
            return SaslStep::Malformed(NOT_IN_PROGRESS);
        }
        let Some(data) = decode(line) else {
            return SaslStep::Malformed("invalid base64 data");
        };
        match state {
            State::AwaitingPlain => parse_plain(&data),
            State::AwaitingLoginUser => match text(&data) {
                Some("") => SaslStep::Malformed("empty user name"),
                Some(user) => {
                    self.state = State::AwaitingLoginPassword {
                        user: user.to_owned(),
                    };
                    SaslStep::Challenge(STANDARD.encode("Password:"))
                }
                None => SaslStep::Malformed("user name is not valid UTF-8 or contains NUL"),
            },
            State::AwaitingLoginPassword { user } => match text(&data) {
                Some(password) => SaslStep::Done(Credentials::Password {
                    authzid: None,
                    user,
                    password: password.to_owned(),
                }),
                None => SaslStep::Malformed("password is not valid UTF-8 or contains NUL"),
            },
            State::AwaitingCramResponse => self.parse_cram(&data),
            State::NotStarted | State::Over => SaslStep::Malformed(NOT_IN_PROGRESS),
        }
    }

    fn parse_cram(&self, data: &[u8]) -> SaslStep {
        let Some(response) = text(data) else {
            return SaslStep::Malformed("response is not valid UTF-8 or contains NUL");
        };
        // The user name may contain spaces; the digest never does.
        let Some((user, digest)) = response.rsplit_once(' ') else {
            return SaslStep::Malformed("expected a user name, a space and a digest");
        };
        if user.is_empty() {
            return SaslStep::Malformed("empty user name");
        }
        if digest.len() != 32 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return SaslStep::Malformed("digest must be 32 hex digits");
        }
        SaslStep::Done(Credentials::CramMd5 {
            user: user.to_owned(),
            challenge: self.challenge.clone(),
            digest: digest.to_ascii_lowercase(),
        })
    }

    fn fail(&mut self, message: &'static str) -> SaslStep {
        self.state = State::Over;
        SaslStep::Malformed(message)
    }
}

/// Base64 to bytes; "=" stands for an empty response.
fn decode(line: &str) -> Option<Vec<u8>> {
    if line == "=" {
        return Some(Vec::new());
    }
    CLIENT_B64.decode(line).ok()
}

/// UTF-8 text without NUL, which no user name or password may contain.
fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok().filter(|s| !s.contains('\0'))
}

/// `authzid NUL authcid NUL passwd` (RFC 4616).
fn parse_plain(data: &[u8]) -> SaslStep {
    let fields: Vec<&[u8]> = data.split(|&b| b == 0).collect();
    let [authzid, user, password] = fields.as_slice() else {
        return SaslStep::Malformed(
            "expected authorization id, user name and password separated by NUL",
        );
    };
    let (Ok(authzid), Ok(user), Ok(password)) = (
        std::str::from_utf8(authzid),
        std::str::from_utf8(user),
        std::str::from_utf8(password),
    ) else {
        return SaslStep::Malformed("credentials are not valid UTF-8");
    };
    if user.is_empty() {
        return SaslStep::Malformed("empty user name");
    }
    if password.is_empty() {
        return SaslStep::Malformed("empty password");
    }
    SaslStep::Done(Credentials::Password {
        authzid: (!authzid.is_empty()).then(|| authzid.to_owned()),
        user: user.to_owned(),
        password: password.to_owned(),
    })
}

#[cfg(test)]
mod tests;
