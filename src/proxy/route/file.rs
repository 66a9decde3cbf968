//! The route file: which backend each user, domain or everyone else goes to.
//!
//! One route per line, fields separated by spaces or tabs:
//!
//! ```text
//! # KEY              PROTOCOL  HOST:PORT              [plain|starttls|tls]
//! alice@example.org  imap      imap2.example.org:993  tls
//! @example.org       imap      imap1.example.org:143  starttls
//! @example.org       pop3      [2001:db8::11]:110
//! *                  imap      10.0.0.5:143           plain
//! ```
//!
//! KEY is a user name (matched exactly, as the passwd-file does), `@domain` (matched
//! against what follows the last `@` of the user name, ignoring case) or `*`. PROTOCOL is
//! `imap` or `pop3`. Without a mode the line uses `proxy.backend_tls`. A lookup takes the
//! user's own line, else the domain's, else `*`, else there is no route. `#` starts a
//! comment, at the start of a line or as a field of its own after the route.
//!
//! Loading is all-or-nothing and strict (duplicate KEY and PROTOCOL, bad address, unknown
//! protocol or mode...), with `file:line: reason`, so a reload that finds a broken file
//! keeps the table already in force.

use std::collections::HashMap;
use std::path::Path;

use super::{Backend, BackendTls, HostPort, LookupRequest, Route, RouteError, RouteLoadError};
use crate::config::Protocol;

/// A loaded route file: immutable; a reload loads a new one.
#[derive(Debug, Default)]
pub struct RouteTable {
    origin: String,
    users: HashMap<(String, Protocol), Backend>,
    /// Keyed by the lowercased domain.
    domains: HashMap<(String, Protocol), Backend>,
    imap_default: Option<Backend>,
    pop3_default: Option<Backend>,
    lines: usize,
}

/// What a line routes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    User(String),
    Domain(String),
    Everyone,
}

impl RouteTable {
    /// Reads and parses the route file at `path`; lines without a mode use `default_tls`.
    pub fn load(path: &Path, default_tls: BackendTls) -> Result<RouteTable, RouteLoadError> {
        let origin = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| RouteLoadError::Io {
            path: path.to_owned(),
            source,
        })?;
        let text = crate::line_file::utf8_text(bytes).map_err(|line| RouteLoadError::Line {
            origin: origin.clone(),
            line,
            reason: "not valid UTF-8".to_owned(),
        })?;
        RouteTable::parse(&text, &origin, default_tls)
    }

    /// Parses route-file text; `origin` names it in errors (usually the file name).
    pub fn parse(
        text: &str,
        origin: &str,
        default_tls: BackendTls,
    ) -> Result<RouteTable, RouteLoadError> {
        let mut table = RouteTable {
            origin: origin.to_owned(),
            ..RouteTable::default()
        };
        let mut first_seen: HashMap<(Key, Protocol), usize> = HashMap::new();
        for (line, content) in crate::line_file::content_lines(text) {
            let trimmed = content.trim();
            let error = |reason: String| RouteLoadError::Line {
                origin: origin.to_owned(),
                line,
                reason,
            };
            let (key, protocol, backend) = parse_line(trimmed, default_tls).map_err(error)?;
            if let Some(earlier) = first_seen.get(&(key.clone(), protocol)) {
                return Err(error(format!(
                    "{} {} already routed on line {earlier}",
                    key_text(&key),
                    protocol_name(protocol)
                )));
            }
            first_seen.insert((key.clone(), protocol), line);
            match key {
                Key::User(user) => {
                    table.users.insert((user, protocol), backend);
                }
                Key::Domain(domain) => {
                    table.domains.insert((domain, protocol), backend);
                }
                Key::Everyone => match protocol {
                    Protocol::Imap => table.imap_default = Some(backend),
                    Protocol::Pop3 => table.pop3_default = Some(backend),
                },
            }
            table.lines += 1;
        }
        Ok(table)
    }

    /// The backend for `user`: their own line, else their domain's, else `*`'s.
    pub fn find(&self, user: &str, protocol: Protocol) -> Option<&Backend> {
        if let Some(backend) = self.users.get(&(user.to_owned(), protocol)) {
            return Some(backend);
        }
        if let Some((_, domain)) = user.rsplit_once('@')
            && let Some(backend) = self.domains.get(&(domain.to_ascii_lowercase(), protocol))
        {
            return Some(backend);
        }
        match protocol {
            Protocol::Imap => self.imap_default.as_ref(),
            Protocol::Pop3 => self.pop3_default.as_ref(),
        }
    }

    /// [`find`](Self::find) as a route source: the client's user name and password go to
    /// the backend unchanged.
    pub fn lookup(&self, request: &LookupRequest) -> Result<Route, RouteError> {
        let backend = self
            .find(&request.user, request.protocol)
            .ok_or(RouteError::NoRoute)?;
        Ok(Route {
            backend: backend.clone(),
            user: request.user.clone(),
            password: None,
        })
    }

    /// Routes in the file.
    pub fn len(&self) -> usize {
        self.lines
    }

    pub fn is_empty(&self) -> bool {
        self.lines == 0
    }

    /// The file the table came from.
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

const SHAPE: &str = "expected KEY PROTOCOL HOST:PORT [plain|starttls|tls]";

fn parse_line(line: &str, default_tls: BackendTls) -> Result<(Key, Protocol, Backend), String> {
    let mut fields: Vec<&str> = line.split_ascii_whitespace().collect();
    if let Some(comment) = fields.iter().position(|f| f.starts_with('#')) {
        fields.truncate(comment);
    }
    let (key, protocol, address, mode) = match fields[..] {
        [key, protocol, address] => (key, protocol, address, None),
        [key, protocol, address, mode] => (key, protocol, address, Some(mode)),
        [_, _, _, _, extra, ..] => return Err(format!("unexpected {extra:?}: {SHAPE}")),
        _ => return Err(SHAPE.to_owned()),
    };
    let key = parse_key(key)?;
    let protocol = match protocol {
        "imap" => Protocol::Imap,
        "pop3" => Protocol::Pop3,
        other => {
            return Err(format!("unknown protocol {other:?}: expected imap or pop3"));
        }
    };
    let address: HostPort = address.parse()?;
    let tls = match mode {
        None => default_tls,
        Some(mode) => BackendTls::parse(mode)
            .ok_or_else(|| format!("unknown TLS mode {mode:?}: expected plain, starttls or tls"))?,
    };
    Ok((key, protocol, address.backend(tls)))
}

fn parse_key(key: &str) -> Result<Key, String> {
    if key == "*" {
        return Ok(Key::Everyone);
    }
    if key.chars().any(|c| c.is_control()) {
        return Err(format!("{key:?} contains a control character"));
    }
    if let Some(domain) = key.strip_prefix('@') {
        if domain.is_empty() || domain.contains('@') {
            return Err(format!("{key:?} is not @domain"));
        }
        return Ok(Key::Domain(domain.to_ascii_lowercase()));
    }
    if key.contains('*') {
        return Err(format!(
            "{key:?}: `*` stands alone (everyone); use @domain for a domain"
        ));
    }
    Ok(Key::User(key.to_owned()))
}

fn key_text(key: &Key) -> String {
    match key {
        Key::User(user) => user.clone(),
        Key::Domain(domain) => format!("@{domain}"),
        Key::Everyone => "*".to_owned(),
    }
}

fn protocol_name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Imap => "imap",
        Protocol::Pop3 => "pop3",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    const TLS: BackendTls = BackendTls::Starttls;

    fn table(text: &str) -> RouteTable {
        RouteTable::parse(text, "routes", TLS).unwrap_or_else(|e| panic!("{e}"))
    }

    fn error(text: &str) -> String {
        RouteTable::parse(text, "routes", TLS)
            .expect_err("should not load")
            .to_string()
    }

    fn backend(host: &str, port: u16, tls: BackendTls) -> Backend {
        Backend {
            host: host.to_owned(),
            port,
            tls,
        }
    }

    fn request(user: &str, protocol: Protocol) -> LookupRequest {
        LookupRequest {
            protocol,
            user: user.to_owned(),
            password: "secret".to_owned(),
            client_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            client_port: 40000,
            secure: true,
            attempt: 1,
        }
    }

    const SAMPLE: &str = "\
# routes
alice@example.org  imap  imap2.example.org:993  tls
@example.org       imap  imap1.example.org:143  starttls
@Example.ORG       pop3  [2001:db8::11]:110
\t
*                  imap  10.0.0.5:143           plain  # everyone else
bob                pop3  pop.internal:1110      plain\r
";

    #[test]
    fn precedence_user_then_domain_then_everyone() {
        let t = table(SAMPLE);
        assert_eq!(t.len(), 5);
        assert!(!t.is_empty());
        assert_eq!(t.origin(), "routes");
        let find = |user, protocol| t.find(user, protocol).cloned();
        assert_eq!(
            find("alice@example.org", Protocol::Imap),
            Some(backend("imap2.example.org", 993, BackendTls::Tls))
        );
        // alice has no POP3 line of her own: her domain's.
        assert_eq!(
            find("alice@example.org", Protocol::Pop3),
            Some(backend("2001:db8::11", 110, TLS))
        );
        assert_eq!(
            find("carol@example.org", Protocol::Imap),
            Some(backend("imap1.example.org", 143, BackendTls::Starttls))
        );
        // Domains ignore case; the part after the last @ counts.
        assert_eq!(
            find("dave@other@EXAMPLE.org", Protocol::Imap),
            Some(backend("imap1.example.org", 143, BackendTls::Starttls))
        );
        assert_eq!(
            find("erin@example.net", Protocol::Imap),
            Some(backend("10.0.0.5", 143, BackendTls::Plain))
        );
        // User names are exact.
        assert_eq!(
            find("Alice@example.org", Protocol::Imap),
            Some(backend("imap1.example.org", 143, BackendTls::Starttls))
        );
        assert_eq!(
            find("bob", Protocol::Pop3),
            Some(backend("pop.internal", 1110, BackendTls::Plain))
        );
        // No POP3 `*`: nobody else has a POP3 route.
        assert_eq!(find("erin@example.net", Protocol::Pop3), None);
        assert_eq!(
            find("bob@example.org", Protocol::Pop3).map(|b| b.port),
            Some(110)
        );
    }

    #[test]
    fn lookup_answers_routes() {
        let t = table(SAMPLE);
        let route = t
            .lookup(&request("carol@example.org", Protocol::Imap))
            .unwrap();
        assert_eq!(route.user, "carol@example.org");
        assert_eq!(route.password, None);
        assert_eq!(route.backend.host, "imap1.example.org");
        assert_eq!(
            t.lookup(&request("zed", Protocol::Pop3)),
            Err(RouteError::NoRoute)
        );
        assert_eq!(
            table("").lookup(&request("zed", Protocol::Imap)),
            Err(RouteError::NoRoute)
        );
    }

    #[test]
    fn every_error_names_the_line() {
        let cases: &[(&str, &str)] = &[
            ("alice imap\n", "expected KEY PROTOCOL HOST:PORT"),
            ("alice\n", "expected KEY PROTOCOL HOST:PORT"),
            ("alice imap h:143 tls extra\n", "unexpected \"extra\""),
            ("alice smtp h:25\n", "unknown protocol \"smtp\""),
            ("alice IMAP h:143\n", "unknown protocol \"IMAP\""),
            ("alice imap h:143 ssl\n", "unknown TLS mode \"ssl\""),
            ("alice imap h\n", "expected HOST:PORT"),
            ("alice imap h:\n", "port \"\" is not a number"),
            ("alice imap h:0\n", "port 0 is not between 1 and 65535"),
            (
                "alice imap h:65536\n",
                "port 65536 is not between 1 and 65535",
            ),
            ("alice imap h:+143\n", "port \"+143\" is not a number"),
            ("alice imap h:imap\n", "port \"imap\" is not a number"),
            ("alice imap :143\n", "empty host"),
            ("alice imap 2001:db8::1:143\n", "in brackets"),
            ("alice imap [2001:db8::1:143\n", "no ']'"),
            ("alice imap [example.org]:143\n", "not an IPv6 address"),
            ("alice imap [::1]143\n", "expected [IPV6]:PORT"),
            ("alice imap ho/st:143\n", "not a host name"),
            ("alice imap a..b:143\n", "not a host name"),
            ("@ imap h:143\n", "is not @domain"),
            ("@a@b imap h:143\n", "is not @domain"),
            ("*@example.org imap h:143\n", "`*` stands alone"),
            ("al\u{7}ice imap h:143\n", "control character"),
            (
                "alice imap h:143\n\nalice imap other:143\n",
                "alice imap already routed on line 1",
            ),
            (
                "@example.org pop3 h:110\n@EXAMPLE.org pop3 h:110\n",
                "@example.org pop3 already routed on line 1",
            ),
            (
                "* imap h:143\n* imap h:144 tls\n",
                "* imap already routed on line 1",
            ),
        ];
        for (text, expected) in cases {
            let e = error(text);
            let line = 1 + text.trim_end().matches('\n').count();
            assert!(
                e.starts_with(&format!("routes:{line}: ")) && e.contains(expected),
                "{text:?}: {e}"
            );
        }
        // The same key for the other protocol is no duplicate.
        assert_eq!(table("* imap h:143\n* pop3 h:110\n").len(), 2);
    }

    #[test]
    fn load_reads_the_file_and_reports_io_and_encoding() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("routes");
        std::fs::write(&path, "# ok\n* imap backend:143\n").unwrap();
        let t = RouteTable::load(&path, BackendTls::Tls).unwrap();
        assert_eq!(
            t.find("anyone", Protocol::Imap),
            Some(&backend("backend", 143, BackendTls::Tls))
        );
        std::fs::write(&path, b"* imap backend:143\nbob imap b\xff:143\n").unwrap();
        let e = RouteTable::load(&path, TLS).unwrap_err().to_string();
        assert!(e.ends_with(":2: not valid UTF-8"), "{e}");
        let e = RouteTable::load(&dir.path().join("missing"), TLS)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("cannot read route file ") && e.contains("missing"),
            "{e}"
        );
    }
}
