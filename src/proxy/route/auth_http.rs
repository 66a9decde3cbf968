//! An nginx `auth_http` client: the protocol of nginx's `ngx_mail_auth_http_module`, so an
//! auth service written for an nginx mail proxy works unchanged behind Postern.
//!
//! For each login Postern sends one HTTP/1.0 request, without a body:
//!
//! ```text
//! GET /auth HTTP/1.0
//! Host: auth.example.org
//! Auth-Method: plain
//! Auth-User: alice@example.org
//! Auth-Pass: pass%20with%20a%20%25
//! Auth-Protocol: imap
//! Auth-Login-Attempt: 1
//! Client-IP: 192.0.2.42
//! Auth-SSL: on
//! ```
//!
//! As nginx does, the user name and password are percent-encoded for the header: space,
//! `%` and the control characters 0x00 to 0x1F become `%XX`, everything else (UTF-8
//! included) is sent as it is. `Auth-SSL: on` is sent when the client's connection is
//! encrypted. `Client-Host` is not sent (Postern does not resolve client addresses, and
//! nginx leaves it out too when it has no name).
//!
//! The answer must be `200`; its headers (names in any case) carry the decision and its
//! body is ignored:
//!
//! - `Auth-Status: OK` with `Auth-Server` (an IP address or a host name) and `Auth-Port`:
//!   the backend. `Auth-User` and `Auth-Pass`, when present, replace the user name and the
//!   password the proxy logs in to the backend with (taken as they are, not decoded, as in
//!   nginx). nginx's protocol cannot say how to talk to the backend, so that is
//!   `proxy.backend_tls`, unless the answer carries Postern's extension header
//!   **`X-Postern-Backend-TLS: plain|starttls|tls`**, which nginx ignores.
//! - `Auth-Status: WAIT`: ask again after `Auth-Wait` seconds (nginx's way to hold a login
//!   while the service is busy). Postern asks at most [`MAX_WAIT_ROUNDS`] more times and
//!   waits at most [`MAX_WAIT`] each time, then gives up as unavailable.
//! - any other `Auth-Status`: the login is refused, with that text as the message for the
//!   client ([`RouteError::Refused`]); `Auth-Wait: N` says to answer after N seconds and let
//!   the client try again. Without `Auth-Wait` nginx closes the connection after the
//!   message. `Auth-Error-Code` is for SMTP in nginx and is ignored.
//!
//! The service's host name is resolved for every request (with the system's resolver,
//! which has its own timeouts), so a changed address needs no reload; the timeout covers
//! connecting, sending and reading the answer.
//!
//! Anything else (the service down or slow past `proxy.auth_http_timeout`, another status
//! code, no `Auth-Status`, `OK` without a server or port, a malformed header, more than
//! [`MAX_RESPONSE`] bytes of headers) is [`RouteError::Unavailable`]: the client is told to
//! try again later, never let in.

use std::fmt;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv6Addr, TcpStream, ToSocketAddrs};
use std::str::FromStr;
use std::time::{Duration, Instant};

use super::{Backend, BackendTls, LookupRequest, Route, RouteError, check_host_name, parse_port};
use crate::config::Protocol;

/// Largest answer read, status line and headers; the body is never read.
pub const MAX_RESPONSE: usize = 16 * 1024;
/// Times an `Auth-Status: WAIT` answer is followed by another request.
pub const MAX_WAIT_ROUNDS: u32 = 3;
/// Longest `Auth-Wait` honoured before asking again after `WAIT`.
pub const MAX_WAIT: Duration = Duration::from_secs(10);

/// `proxy.auth_http`: `http://host[:port][/path]` (port 80 and path `/` unless given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthHttpUrl {
    /// A host name or an IP address, without brackets.
    pub host: String,
    pub port: u16,
    /// The request target, query included.
    pub path: String,
}

impl AuthHttpUrl {
    /// The `Host` header: the host as written in the URL, without the port (as nginx).
    fn host_header(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }
}

impl fmt::Display for AuthHttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "http://{}:{}{}",
            self.host_header(),
            self.port,
            self.path
        )
    }
}

impl FromStr for AuthHttpUrl {
    type Err = String;

    fn from_str(text: &str) -> Result<AuthHttpUrl, String> {
        let rest = match text.split_once("://") {
            Some(("http", rest)) => rest,
            Some(("https", _)) => {
                return Err(format!(
                    "{text:?}: https is not supported; use http:// to a service on loopback or \
                     a trusted network"
                ));
            }
            _ => return Err(format!("{text:?}: expected http://host:port/path")),
        };
        let (authority, path) = match rest.find('/') {
            Some(slash) => rest.split_at(slash),
            None => (rest, "/"),
        };
        if path
            .bytes()
            .any(|b| b.is_ascii_control() || b == b' ' || b >= 0x80)
        {
            return Err(format!(
                "{text:?}: the path has a space or a character that is not ASCII"
            ));
        }
        if authority.contains('@') {
            return Err(format!("{text:?}: user information is not supported"));
        }
        let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
            let (host, after) = inner
                .split_once(']')
                .ok_or_else(|| format!("{text:?}: no ']' after the IPv6 address"))?;
            if host.parse::<Ipv6Addr>().is_err() {
                return Err(format!("{text:?}: {host:?} is not an IPv6 address"));
            }
            match after {
                "" => (host, None),
                _ => match after.strip_prefix(':') {
                    Some(port) => (host, Some(port)),
                    None => return Err(format!("{text:?}: expected [IPV6]:PORT")),
                },
            }
        } else {
            match authority.rsplit_once(':') {
                Some((host, _)) if host.contains(':') => {
                    return Err(format!("{text:?}: an IPv6 address goes in brackets"));
                }
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        if !host.contains(':') {
            check_host_name(host).map_err(|e| format!("{text:?}: {e}"))?;
        }
        let port = match port {
            None => 80,
            Some(port) => parse_port(port).map_err(|e| format!("{text:?}: {e}"))?,
        };
        Ok(AuthHttpUrl {
            host: host.to_owned(),
            port,
            path: path.to_owned(),
        })
    }
}

impl<'de> serde::Deserialize<'de> for AuthHttpUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<AuthHttpUrl, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The client of one auth_http service.
#[derive(Debug, Clone)]
pub struct AuthHttp {
    url: AuthHttpUrl,
    timeout: Duration,
    default_tls: BackendTls,
}

/// What an answer means.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Route(Route),
    /// `Auth-Status: WAIT`: ask again after this long.
    Wait(Duration),
}

impl AuthHttp {
    /// Asks the service at `url`, allowing `timeout` for each exchange; backends are spoken
    /// to with `default_tls` unless an answer says otherwise.
    pub fn new(url: AuthHttpUrl, timeout: Duration, default_tls: BackendTls) -> AuthHttp {
        AuthHttp {
            url,
            timeout,
            default_tls,
        }
    }

    pub fn url(&self) -> &AuthHttpUrl {
        &self.url
    }

    /// Asks the service where `request`'s user goes (and whether the password is right).
    /// Blocking: up to `timeout` per exchange, more after `Auth-Status: WAIT`.
    pub fn lookup(&self, request: &LookupRequest) -> Result<Route, RouteError> {
        let text = self.request_text(request);
        let mut rounds = 0;
        loop {
            let response = self
                .exchange(text.as_bytes())
                .map_err(|e| RouteError::Unavailable(format!("auth_http {}: {e}", self.url)))?;
            match interpret(&response, request, self.default_tls) {
                Ok(Answer::Route(route)) => return Ok(route),
                Ok(Answer::Wait(wait)) if rounds < MAX_WAIT_ROUNDS => {
                    rounds += 1;
                    std::thread::sleep(wait.min(MAX_WAIT));
                }
                Ok(Answer::Wait(_)) => {
                    return Err(RouteError::Unavailable(format!(
                        "auth_http {}: still Auth-Status: WAIT after {MAX_WAIT_ROUNDS} retries",
                        self.url
                    )));
                }
                Err(RouteError::Unavailable(e)) => {
                    return Err(RouteError::Unavailable(format!(
                        "auth_http {}: {e}",
                        self.url
                    )));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The request nginx would send for this login.
    fn request_text(&self, request: &LookupRequest) -> String {
        let protocol = match request.protocol {
            Protocol::Imap => "imap",
            Protocol::Pop3 => "pop3",
        };
        let mut text = format!(
            "GET {} HTTP/1.0\r\n\
             Host: {}\r\n\
             Auth-Method: plain\r\n\
             Auth-User: {}\r\n\
             Auth-Pass: {}\r\n\
             Auth-Protocol: {protocol}\r\n\
             Auth-Login-Attempt: {}\r\n\
             Client-IP: {}\r\n",
            self.url.path,
            self.url.host_header(),
            escape(&request.user),
            escape(&request.password),
            request.attempt,
            request.client_ip.to_canonical(),
        );
        if request.secure {
            text.push_str("Auth-SSL: on\r\n");
        }
        text.push_str("\r\n");
        text
    }

    /// Connects, sends `request` and reads the answer up to the end of its headers, all
    /// within `timeout`.
    fn exchange(&self, request: &[u8]) -> Result<Vec<u8>, String> {
        let deadline = Instant::now() + self.timeout;
        let timed_out = || format!("no answer within {:?}", self.timeout);
        let remaining = || {
            deadline
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())
                .ok_or_else(timed_out)
        };
        let io_error = |e: std::io::Error| match e.kind() {
            ErrorKind::WouldBlock | ErrorKind::TimedOut => timed_out(),
            _ => e.to_string(),
        };
        let addresses = (self.url.host.as_str(), self.url.port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {}: {e}", self.url.host))?;
        let mut stream = None;
        let mut failure = format!("{} has no address", self.url.host);
        for address in addresses {
            match TcpStream::connect_timeout(&address, remaining()?) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => failure = format!("cannot connect to {address}: {}", io_error(e)),
            }
        }
        let mut stream = stream.ok_or(failure)?;
        let _ = stream.set_nodelay(true);
        stream
            .set_write_timeout(Some(remaining()?))
            .map_err(io_error)?;
        stream.write_all(request).map_err(io_error)?;
        let mut response = Vec::with_capacity(1024);
        let mut chunk = [0u8; 4096];
        loop {
            stream
                .set_read_timeout(Some(remaining()?))
                .map_err(io_error)?;
            let n = match stream.read(&mut chunk) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_error(e)),
            };
            if n == 0 {
                return Ok(response);
            }
            let searched_from = response.len().saturating_sub(3);
            response.extend_from_slice(&chunk[..n]);
            if let Some(end) = header_end(&response, searched_from) {
                response.truncate(end);
                return Ok(response);
            }
            if response.len() > MAX_RESPONSE {
                return Err(format!("more than {MAX_RESPONSE} bytes of headers"));
            }
        }
    }
}

/// Where the headers end (just past the empty line), searching from `from`.
fn header_end(bytes: &[u8], from: usize) -> Option<usize> {
    (from..bytes.len()).find_map(|i| {
        let rest = &bytes[i..];
        if rest.starts_with(b"\r\n\r\n") {
            Some(i + 4)
        } else if rest.starts_with(b"\n\n") {
            Some(i + 2)
        } else if rest.starts_with(b"\n\r\n") {
            Some(i + 3)
        } else {
            None
        }
    })
}

/// nginx's escaping of Auth-User and Auth-Pass: space, `%` and 0x00 to 0x1F as `%XX`.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == ' ' || c == '%' || (c as u32) < 0x20 {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// The headers of an answer, names lowercased, in order.
fn parse_headers(response: &[u8]) -> Result<Vec<(String, String)>, String> {
    let end = header_end(response, 0).ok_or("the answer ended before its headers did")?;
    let text = std::str::from_utf8(&response[..end]).map_err(|_| "the headers are not UTF-8")?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let status = lines.next().unwrap_or_default();
    let code = status
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(1..))
        .and_then(|rest| rest.strip_prefix(' '))
        .filter(|rest| rest.len() == 3 || rest.as_bytes().get(3) == Some(&b' '))
        .and_then(|rest| rest.get(..3))
        .filter(|code| code.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| format!("not an HTTP status line: {:?}", shorten(status)))?;
    if code != "200" {
        return Err(format!("answered {:?}, not 200", shorten(status)));
    }
    let mut headers = Vec::new();
    for line in lines {
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("malformed header line {:?}", shorten(line)))?;
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if name.is_empty() || !name.bytes().all(token) {
            return Err(format!("malformed header line {:?}", shorten(line)));
        }
        let value = value.trim_matches([' ', '\t']);
        if value.chars().any(|c| c.is_control() && c != '\t') {
            return Err(format!("header {name} has a control character"));
        }
        headers.push((name.to_ascii_lowercase(), value.to_owned()));
    }
    Ok(headers)
}

/// What an answer says about `request`.
fn interpret(
    response: &[u8],
    request: &LookupRequest,
    default_tls: BackendTls,
) -> Result<Answer, RouteError> {
    let headers = parse_headers(response).map_err(RouteError::Unavailable)?;
    // A header that decides something must be there once: two Auth-Status or two
    // Auth-Server headers are a broken service, not a choice to make here.
    let get = |name: &str| -> Result<Option<&str>, RouteError> {
        let mut found = headers.iter().filter(|(n, _)| n == name).map(|(_, v)| v);
        let first = found.next();
        if found.next().is_some() {
            return Err(RouteError::Unavailable(format!(
                "more than one {name} header"
            )));
        }
        Ok(first.map(String::as_str))
    };
    let status = get("auth-status")?
        .ok_or_else(|| RouteError::Unavailable("no Auth-Status header".into()))?;
    // As nginx: a value that is not a number of seconds is ignored.
    let wait = get("auth-wait")?
        .and_then(|w| w.parse::<u64>().ok())
        .map(Duration::from_secs);
    match status {
        "OK" => {}
        "WAIT" => return Ok(Answer::Wait(wait.unwrap_or_default())),
        message => {
            return Err(RouteError::Refused {
                message: message.to_owned(),
                wait,
            });
        }
    }
    let unavailable = |e: String| RouteError::Unavailable(e);
    let server = get("auth-server")?
        .ok_or_else(|| unavailable("Auth-Status: OK without Auth-Server".into()))?;
    let port =
        get("auth-port")?.ok_or_else(|| unavailable("Auth-Status: OK without Auth-Port".into()))?;
    let host = parse_server(server).map_err(|e| unavailable(format!("Auth-Server: {e}")))?;
    let port = parse_port(port).map_err(|e| unavailable(format!("Auth-Port: {e}")))?;
    let tls = match get("x-postern-backend-tls")? {
        None => default_tls,
        Some(mode) => BackendTls::parse(mode).ok_or_else(|| {
            unavailable(format!(
                "X-Postern-Backend-TLS: {mode:?} is not plain, starttls or tls"
            ))
        })?,
    };
    let user = match get("auth-user")? {
        None => request.user.clone(),
        Some("") => return Err(unavailable("empty Auth-User".into())),
        Some(user) => user.to_owned(),
    };
    let password = get("auth-pass")?.map(str::to_owned);
    Ok(Answer::Route(Route {
        backend: Backend { host, port, tls },
        user,
        password,
    }))
}

/// `Auth-Server`: an IP address (IPv6 with or without brackets) or a host name.
fn parse_server(server: &str) -> Result<String, String> {
    let bare = server
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(server);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(ip.to_string());
    }
    check_host_name(server)?;
    Ok(server.to_owned())
}

fn shorten(text: &str) -> String {
    text.chars().take(80).collect()
}

#[cfg(test)]
mod tests;
