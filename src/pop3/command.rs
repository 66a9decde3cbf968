//! Parsing one POP3 command line into a [`Command`].
//!
//! The grammar is RFC 1939 section 3 plus CAPA (RFC 2449), AUTH (RFC 5034) and STLS (RFC 2595).
//! Parsing does not depend on the session state, so every malformed-input path is decided (and
//! tested) here and the state machine only ever sees well-formed commands. The leniency is
//! Dovecot's: keywords in any case, runs of spaces between arguments. A [`ParseError`] displays
//! as the text of the `-ERR` reply.

use super::response::sanitize;

/// A syntactically valid command. Message numbers are kept as the digits the client sent: only
/// the maildrop knows whether such a message exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Command<'a> {
    User(&'a str),
    /// The password exactly as sent: everything after `PASS `, spaces included.
    Pass(&'a str),
    Apop {
        user: &'a str,
        digest: &'a str,
    },
    /// `AUTH` alone lists the mechanisms; `AUTH mech [initial-response]` starts an exchange.
    Auth {
        mechanism: Option<&'a str>,
        initial_response: Option<&'a str>,
    },
    Stls,
    Capa,
    Quit,
    Stat,
    List(Option<MessageNumber<'a>>),
    Retr(MessageNumber<'a>),
    Dele(MessageNumber<'a>),
    Noop,
    Rset,
    Top(MessageNumber<'a>, u32),
    Uidl(Option<MessageNumber<'a>>),
}

/// A message-number argument: one or more ASCII digits, not yet checked against the maildrop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct MessageNumber<'a>(pub(super) &'a str);

/// Why a line is not a valid command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum ParseError {
    #[error("Empty command.")]
    Empty,
    #[error("Command contains a NUL byte.")]
    Nul,
    #[error("Command is not valid UTF-8.")]
    NotUtf8,
    #[error("Unknown command: {0}")]
    Unknown(String),
    #[error("Missing {0}.")]
    Missing(&'static str),
    #[error("Invalid {what}: {value}")]
    Invalid { what: &'static str, value: String },
    #[error("Too many arguments for {0}.")]
    TooManyArguments(&'static str),
}

/// Longest keyword echoed in "Unknown command": enough to recognise a typo, too short to
/// reflect a payload.
const MAX_ECHOED_KEYWORD: usize = 20;

impl Command<'_> {
    /// The keyword, for replies and logs.
    pub(super) fn name(&self) -> &'static str {
        match self {
            Command::User(_) => "USER",
            Command::Pass(_) => "PASS",
            Command::Apop { .. } => "APOP",
            Command::Auth { .. } => "AUTH",
            Command::Stls => "STLS",
            Command::Capa => "CAPA",
            Command::Quit => "QUIT",
            Command::Stat => "STAT",
            Command::List(_) => "LIST",
            Command::Retr(_) => "RETR",
            Command::Dele(_) => "DELE",
            Command::Noop => "NOOP",
            Command::Rset => "RSET",
            Command::Top(..) => "TOP",
            Command::Uidl(_) => "UIDL",
        }
    }
}

/// Parses one line (without its CRLF).
pub(super) fn parse(line: &[u8]) -> Result<Command<'_>, ParseError> {
    if line.contains(&0) {
        return Err(ParseError::Nul);
    }
    let line = std::str::from_utf8(line).map_err(|_| ParseError::NotUtf8)?;
    let line = line.trim_start_matches(' ');
    let (keyword, rest) = line.split_once(' ').unwrap_or((line, ""));
    if keyword.is_empty() {
        return Err(ParseError::Empty);
    }
    let mut args = rest.split(' ').filter(|a| !a.is_empty());
    let command = match keyword.to_ascii_uppercase().as_str() {
        // USER and PASS take the rest of the line: names and passwords may contain spaces.
        "USER" => match rest.trim_matches(' ') {
            "" => return Err(ParseError::Missing("user name")),
            name => return user_name(name).map(Command::User),
        },
        "PASS" if rest.is_empty() => return Err(ParseError::Missing("password")),
        "PASS" => return Ok(Command::Pass(rest)),
        "APOP" => {
            let (Some(user), Some(digest)) = (args.next(), args.next()) else {
                return Err(ParseError::Missing("user name or digest"));
            };
            if digest.len() != 32 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(invalid("APOP digest", digest));
            }
            Command::Apop {
                user: user_name(user)?,
                digest,
            }
        }
        "AUTH" => Command::Auth {
            mechanism: args.next(),
            initial_response: args.next(),
        },
        "STLS" => Command::Stls,
        "CAPA" => Command::Capa,
        "QUIT" => Command::Quit,
        "STAT" => Command::Stat,
        "NOOP" => Command::Noop,
        "RSET" => Command::Rset,
        "LIST" => Command::List(args.next().map(message_number).transpose()?),
        "UIDL" => Command::Uidl(args.next().map(message_number).transpose()?),
        "RETR" => Command::Retr(required_message_number(args.next())?),
        "DELE" => Command::Dele(required_message_number(args.next())?),
        "TOP" => {
            let msg = required_message_number(args.next())?;
            let lines = args.next().ok_or(ParseError::Missing("line count"))?;
            Command::Top(msg, line_count(lines)?)
        }
        _ => {
            let mut shown = sanitize(keyword.as_bytes());
            if shown.len() > MAX_ECHOED_KEYWORD {
                shown.truncate(MAX_ECHOED_KEYWORD);
                shown.push_str("...");
            }
            return Err(ParseError::Unknown(shown));
        }
    };
    match args.next() {
        Some(_) => Err(ParseError::TooManyArguments(command.name())),
        None => Ok(command),
    }
}

fn invalid(what: &'static str, value: &str) -> ParseError {
    ParseError::Invalid {
        what,
        value: sanitize(value.as_bytes()),
    }
}

/// No account name contains control characters; refusing them here keeps them out of the
/// account database and the logs.
fn user_name(name: &str) -> Result<&str, ParseError> {
    if name.chars().any(char::is_control) {
        Err(invalid("user name", name))
    } else {
        Ok(name)
    }
}

fn is_number(arg: &str) -> bool {
    !arg.is_empty() && arg.bytes().all(|b| b.is_ascii_digit())
}

fn message_number(arg: &str) -> Result<MessageNumber<'_>, ParseError> {
    if is_number(arg) {
        Ok(MessageNumber(arg))
    } else {
        Err(invalid("message number", arg))
    }
}

fn required_message_number(arg: Option<&str>) -> Result<MessageNumber<'_>, ParseError> {
    message_number(arg.ok_or(ParseError::Missing("message number"))?)
}

/// A TOP line count. A count too big for `u32` means "all of it", so it saturates instead of
/// failing.
fn line_count(arg: &str) -> Result<u32, ParseError> {
    if !is_number(arg) {
        return Err(invalid("line count", arg));
    }
    Ok(arg.parse().unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &str) -> Command<'_> {
        parse(line.as_bytes()).unwrap_or_else(|e| panic!("{line:?}: {e}"))
    }

    fn err(line: &[u8]) -> String {
        match parse(line) {
            Ok(c) => panic!("{line:?} parsed as {c:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn keywords_are_case_insensitive_and_spaces_lenient() {
        assert_eq!(ok("stat"), Command::Stat);
        assert_eq!(ok("  NoOp  "), Command::Noop);
        assert_eq!(ok("list   7 "), Command::List(Some(MessageNumber("7"))));
        assert_eq!(ok("Top 1  0"), Command::Top(MessageNumber("1"), 0));
        assert_eq!(ok("uidl"), Command::Uidl(None));
        assert_eq!(ok("capa"), Command::Capa);
        assert_eq!(ok("stls"), Command::Stls);
        assert_eq!(ok("quit"), Command::Quit);
        assert_eq!(ok("rset"), Command::Rset);
        assert_eq!(ok("retr 2"), Command::Retr(MessageNumber("2")));
        assert_eq!(ok("dele 3"), Command::Dele(MessageNumber("3")));
    }

    #[test]
    fn user_and_pass_keep_the_rest_of_the_line() {
        assert_eq!(ok("USER  john doe "), Command::User("john doe"));
        assert_eq!(
            ok("PASS  secret with spaces "),
            Command::Pass(" secret with spaces ")
        );
        assert_eq!(err(b"USER"), "Missing user name.");
        assert_eq!(err(b"USER   "), "Missing user name.");
        assert_eq!(err(b"PASS"), "Missing password.");
        assert_eq!(err(b"USER a\rb"), "Invalid user name: a?b");
        assert_eq!(err(b"USER a\x1b[2J"), "Invalid user name: a?[2J");
        assert_eq!(ok("USER j\u{f6}rg"), Command::User("j\u{f6}rg"));
    }

    #[test]
    fn apop_needs_a_hex_digest() {
        let digest = "c4c9334bac560ecc979e58001b3e22fb";
        assert_eq!(
            ok(&format!("APOP mrose {digest}")),
            Command::Apop {
                user: "mrose",
                digest
            }
        );
        assert_eq!(err(b"APOP mrose"), "Missing user name or digest.");
        assert_eq!(err(b"APOP mrose xyz"), "Invalid APOP digest: xyz");
        assert_eq!(
            err(format!("APOP a\x07 {digest}").as_bytes()),
            "Invalid user name: a?"
        );
        assert_eq!(
            err(format!("APOP mrose {digest} extra").as_bytes()),
            "Too many arguments for APOP."
        );
    }

    #[test]
    fn auth_forms() {
        assert_eq!(
            ok("AUTH"),
            Command::Auth {
                mechanism: None,
                initial_response: None
            }
        );
        assert_eq!(
            ok("auth plain ="),
            Command::Auth {
                mechanism: Some("plain"),
                initial_response: Some("=")
            }
        );
        assert_eq!(err(b"AUTH PLAIN a b"), "Too many arguments for AUTH.");
    }

    #[test]
    fn bad_numbers() {
        assert_eq!(err(b"RETR"), "Missing message number.");
        assert_eq!(err(b"RETR -1"), "Invalid message number: -1");
        assert_eq!(err(b"RETR +1"), "Invalid message number: +1");
        assert_eq!(err(b"DELE x"), "Invalid message number: x");
        assert_eq!(err(b"LIST 1x"), "Invalid message number: 1x");
        assert_eq!(err(b"UIDL 1 2"), "Too many arguments for UIDL.");
        assert_eq!(err(b"TOP 1"), "Missing line count.");
        assert_eq!(err(b"TOP 1 -5"), "Invalid line count: -5");
        assert_eq!(err(b"TOP x 5"), "Invalid message number: x");
        assert_eq!(
            ok("TOP 1 99999999999999999999"),
            Command::Top(MessageNumber("1"), u32::MAX)
        );
        // Overflowing numbers are syntactically fine; the maildrop says there is no such message.
        assert_eq!(
            ok("RETR 99999999999999999999999"),
            Command::Retr(MessageNumber("99999999999999999999999"))
        );
    }

    #[test]
    fn no_argument_commands_refuse_arguments() {
        for c in ["STAT", "NOOP", "RSET", "QUIT", "CAPA", "STLS"] {
            assert_eq!(
                err(format!("{c} 1").as_bytes()),
                format!("Too many arguments for {c}.")
            );
        }
    }

    #[test]
    fn garbage() {
        assert_eq!(err(b""), "Empty command.");
        assert_eq!(err(b"   "), "Empty command.");
        assert_eq!(err(b"STAT\0"), "Command contains a NUL byte.");
        assert_eq!(err(b"\xff\xfe\xfd"), "Command is not valid UTF-8.");
        assert_eq!(err(b"XYZZY"), "Unknown command: XYZZY");
        assert_eq!(err(b"GET / HTTP/1.1"), "Unknown command: GET");
        assert_eq!(err(b"\x1b[31m"), "Unknown command: ?[31m");
        let long = err(&[b'A'; 500]);
        assert_eq!(
            long,
            format!("Unknown command: {}...", "A".repeat(MAX_ECHOED_KEYWORD))
        );
    }
}
