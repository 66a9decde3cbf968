//! The PROXY protocol header (HAProxy's, versions 1 and 2), parsed sans-IO.
//!
//! A load balancer such as HAProxy that relays a client's TCP connection to Postern opens a
//! connection of its own, so the socket's peer address is the balancer's. With the PROXY
//! protocol the balancer sends, before anything else on the connection, one header naming
//! the client's address: version 1 as a text line
//! (`PROXY TCP4 192.0.2.7 198.51.100.1 56324 995\r\n`), version 2 as a binary block that
//! starts with a 12-byte signature. Postern then treats that address as the client's for
//! everything: connection limits per IP, the failed-login penalty, the session table, logs.
//! See <https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt>.
//!
//! The header is trusted data about the client, which is why it is accepted only from the
//! configured proxies' addresses and why this parser is strict: it takes exactly what the
//! specification allows and refuses everything else with a reason, rather than guessing.
//! A lenient parser would let a malformed or hostile header choose which address a
//! connection is charged to, or hide where it came from. It never reads past the header:
//! [`Parsed::Done`] says how many bytes the header took, and whatever follows (a TLS
//! ClientHello, a first command) belongs to the connection.
//!
//! [`parse`] is given the bytes received so far and answers [`Parsed::NeedMore`] until it
//! has a whole header; it reports an error as soon as the bytes it has cannot begin a valid
//! one. Version 2 TLVs are length-checked and skipped.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use serde::Deserialize;

/// The longest version 1 header, CRLF included (the specification's limit).
pub const V1_MAX_LEN: usize = 107;

/// The version 2 signature: `\r\n\r\n\0\r\nQUIT\n`.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// The fixed part of a version 2 header: signature, version/command, family, length.
pub const V2_FIXED_LEN: usize = 16;

/// The most bytes a version 2 header may carry after its fixed part (addresses and TLVs).
/// Addresses take at most 216 bytes (AF_UNIX); the rest leaves room for the TLVs HAProxy
/// sends (ALPN, authority, unique id, SSL details) without letting a peer make us buffer
/// up to 64 KiB before a session even starts.
pub const V2_MAX_PAYLOAD: usize = 512;

/// Which header versions a listener accepts (`proxy_protocol = "v1" | "v2" | "any"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Accept {
    V1,
    V2,
    Any,
}

impl Accept {
    fn allows(self, version: Version) -> bool {
        matches!(
            (self, version),
            (Accept::Any, _) | (Accept::V1, Version::V1) | (Accept::V2, Version::V2)
        )
    }
}

/// A header version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Version::V1 => "v1",
            Version::V2 => "v2",
        })
    }
}

/// What the bytes so far amount to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// A valid beginning; the header is not complete yet.
    NeedMore,
    /// A complete header of `header_len` bytes. `source` is the client, `destination` the
    /// address the client connected to. Both are `None` for a v2 LOCAL header (the proxy's
    /// own connection, e.g. a health check), a v1 `UNKNOWN` one and a v2 `AF_UNSPEC` one:
    /// then the socket's own addresses stand.
    Done {
        header_len: usize,
        source: Option<SocketAddr>,
        destination: Option<SocketAddr>,
    },
}

/// Why a header was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("not a PROXY protocol header")]
    NotProxy,
    #[error("a PROXY protocol {got} header, but this listener accepts only {accepted}")]
    VersionNotAccepted { got: Version, accepted: Version },
    #[error("v1 header longer than {V1_MAX_LEN} bytes or without CRLF")]
    V1TooLong,
    #[error("v1 header: a CR not followed by LF, or an LF without CR")]
    V1LineEnd,
    #[error("v1 header: byte {0:#04x} is not printable ASCII")]
    V1Character(u8),
    #[error("v1 header: unknown protocol {0:?} (TCP4, TCP6 or UNKNOWN)")]
    V1Protocol(String),
    #[error("v1 header: expected 6 space-separated fields, got {0}")]
    V1Fields(usize),
    #[error("v1 header: {field} {value:?} is not an {family} address")]
    V1Address {
        field: &'static str,
        value: String,
        family: &'static str,
    },
    #[error("v1 header: {field} {value:?} is not a port (0 to 65535, no leading zero)")]
    V1Port { field: &'static str, value: String },
    #[error("v2 header: version {0} (only 2 exists)")]
    V2Version(u8),
    #[error("v2 header: unknown command {0:#x} (0 LOCAL, 1 PROXY)")]
    V2Command(u8),
    #[error("v2 header: unknown address family {0:#x}")]
    V2Family(u8),
    #[error("v2 header: unknown transport protocol {0:#x}")]
    V2Transport(u8),
    #[error("v2 header: {0} is not a TCP connection a mail client can make")]
    V2Unsupported(&'static str),
    #[error("v2 header: {len} bytes of addresses and TLVs, more than the {V2_MAX_PAYLOAD} allowed")]
    V2TooLarge { len: usize },
    #[error("v2 header: {len} bytes cannot hold {family} addresses ({needed} bytes)")]
    V2TooShort {
        len: usize,
        family: &'static str,
        needed: usize,
    },
    #[error("v2 header: a TLV runs past the end of the header")]
    V2Tlv,
}

/// Parses the start of a connection's input: `bytes` are all the bytes received so far.
pub fn parse(bytes: &[u8], accept: Accept) -> Result<Parsed, HeaderError> {
    let Some(&first) = bytes.first() else {
        return Ok(Parsed::NeedMore);
    };
    let version = match first {
        b'P' => Version::V1,
        b'\r' => Version::V2,
        _ => return Err(HeaderError::NotProxy),
    };
    if !accept.allows(version) {
        let accepted = match version {
            Version::V1 => Version::V2,
            Version::V2 => Version::V1,
        };
        // Only say "wrong version" for what really looks like the other version.
        let looks_like = match version {
            Version::V1 => b"PROXY ".starts_with(&bytes[..bytes.len().min(6)]),
            Version::V2 => V2_SIGNATURE.starts_with(&bytes[..bytes.len().min(12)]),
        };
        return Err(if looks_like {
            HeaderError::VersionNotAccepted {
                got: version,
                accepted,
            }
        } else {
            HeaderError::NotProxy
        });
    }
    match version {
        Version::V1 => parse_v1(bytes),
        Version::V2 => parse_v2(bytes),
    }
}

fn parse_v1(bytes: &[u8]) -> Result<Parsed, HeaderError> {
    const PREFIX: &[u8] = b"PROXY ";
    let n = bytes.len().min(PREFIX.len());
    if bytes[..n] != PREFIX[..n] {
        return Err(HeaderError::NotProxy);
    }
    let window = &bytes[..bytes.len().min(V1_MAX_LEN)];
    for (i, &b) in window.iter().enumerate() {
        match b {
            b'\r' => match bytes.get(i + 1) {
                Some(b'\n') if i + 2 <= V1_MAX_LEN => return v1_line(&bytes[..i], i + 2),
                Some(b'\n') => return Err(HeaderError::V1TooLong),
                Some(_) => return Err(HeaderError::V1LineEnd),
                None if i + 2 > V1_MAX_LEN => return Err(HeaderError::V1TooLong),
                None => return Ok(Parsed::NeedMore),
            },
            b'\n' => return Err(HeaderError::V1LineEnd),
            0x20..=0x7e => {}
            other => return Err(HeaderError::V1Character(other)),
        }
    }
    if bytes.len() >= V1_MAX_LEN {
        return Err(HeaderError::V1TooLong);
    }
    Ok(Parsed::NeedMore)
}

/// Parses a whole v1 line (CRLF excluded); `header_len` counts the CRLF.
fn v1_line(line: &[u8], header_len: usize) -> Result<Parsed, HeaderError> {
    // Printable ASCII was checked byte by byte.
    let line = std::str::from_utf8(line).map_err(|_| HeaderError::NotProxy)?;
    let fields: Vec<&str> = line.split(' ').collect();
    let protocol = fields.get(1).copied().unwrap_or("");
    let family = match protocol {
        // "the receiver must ignore anything presented before the CRLF is found"
        "UNKNOWN" => {
            return Ok(Parsed::Done {
                header_len,
                source: None,
                destination: None,
            });
        }
        "TCP4" => "IPv4",
        "TCP6" => "IPv6",
        other => return Err(HeaderError::V1Protocol(other.to_owned())),
    };
    if fields.len() != 6 {
        return Err(HeaderError::V1Fields(fields.len()));
    }
    let address = |field: &'static str, value: &str| -> Result<IpAddr, HeaderError> {
        let parsed = if family == "IPv4" {
            value.parse::<Ipv4Addr>().map(IpAddr::V4).ok()
        } else {
            value.parse::<Ipv6Addr>().map(IpAddr::V6).ok()
        };
        parsed.ok_or_else(|| HeaderError::V1Address {
            field,
            value: value.to_owned(),
            family,
        })
    };
    let port = |field: &'static str, value: &str| -> Result<u16, HeaderError> {
        let well_formed = !value.is_empty()
            && value.len() <= 5
            && value.bytes().all(|b| b.is_ascii_digit())
            && (value == "0" || !value.starts_with('0'));
        well_formed
            .then(|| value.parse::<u16>().ok())
            .flatten()
            .ok_or_else(|| HeaderError::V1Port {
                field,
                value: value.to_owned(),
            })
    };
    let src = address("source address", fields[2])?;
    let dst = address("destination address", fields[3])?;
    let sport = port("source port", fields[4])?;
    let dport = port("destination port", fields[5])?;
    Ok(Parsed::Done {
        header_len,
        source: Some(SocketAddr::new(src, sport)),
        destination: Some(SocketAddr::new(dst, dport)),
    })
}

fn parse_v2(bytes: &[u8]) -> Result<Parsed, HeaderError> {
    let n = bytes.len().min(V2_SIGNATURE.len());
    if bytes[..n] != V2_SIGNATURE[..n] {
        return Err(HeaderError::NotProxy);
    }
    let Some(&version_command) = bytes.get(12) else {
        return Ok(Parsed::NeedMore);
    };
    if version_command >> 4 != 2 {
        return Err(HeaderError::V2Version(version_command >> 4));
    }
    let local = match version_command & 0x0f {
        0 => true,
        1 => false,
        other => return Err(HeaderError::V2Command(other)),
    };
    let Some(&family_transport) = bytes.get(13) else {
        return Ok(Parsed::NeedMore);
    };
    // (family name, address block length); None for AF_UNSPEC.
    let family = match family_transport >> 4 {
        0 => None,
        1 => Some(("IPv4", 12)),
        2 => Some(("IPv6", 36)),
        3 => Some(("AF_UNIX", 216)),
        other => return Err(HeaderError::V2Family(other)),
    };
    let transport = family_transport & 0x0f;
    if transport > 2 {
        return Err(HeaderError::V2Transport(transport));
    }
    // A LOCAL header's family and addresses are to be ignored; a PROXY one must describe a
    // TCP connection over IP (or say nothing, AF_UNSPEC).
    if !local {
        match (family, transport) {
            (None, 0) | (Some(("IPv4" | "IPv6", _)), 1) => {}
            (Some(("AF_UNIX", _)), _) => return Err(HeaderError::V2Unsupported("AF_UNIX")),
            (_, 2) => return Err(HeaderError::V2Unsupported("a datagram (UDP)")),
            (None, _) => return Err(HeaderError::V2Unsupported("AF_UNSPEC with a transport")),
            (Some(_), _) => return Err(HeaderError::V2Unsupported("an unspecified transport")),
        }
    }
    if bytes.len() < V2_FIXED_LEN {
        return Ok(Parsed::NeedMore);
    }
    let len = usize::from(u16::from_be_bytes([bytes[14], bytes[15]]));
    if len > V2_MAX_PAYLOAD {
        return Err(HeaderError::V2TooLarge { len });
    }
    let needed = match family {
        Some((name, needed)) if !local && len < needed => {
            return Err(HeaderError::V2TooShort {
                len,
                family: name,
                needed,
            });
        }
        Some((_, needed)) if !local => needed,
        _ => 0,
    };
    let header_len = V2_FIXED_LEN + len;
    if bytes.len() < header_len {
        return Ok(Parsed::NeedMore);
    }
    let payload = &bytes[V2_FIXED_LEN..header_len];
    if local {
        // The proxy speaking for itself: addresses and TLVs are to be ignored.
        return Ok(Parsed::Done {
            header_len,
            source: None,
            destination: None,
        });
    }
    let (addresses, mut tlvs) = payload.split_at(needed);
    while !tlvs.is_empty() {
        if tlvs.len() < 3 {
            return Err(HeaderError::V2Tlv);
        }
        let value_len = usize::from(u16::from_be_bytes([tlvs[1], tlvs[2]]));
        let Some(rest) = tlvs.get(3 + value_len..) else {
            return Err(HeaderError::V2Tlv);
        };
        tlvs = rest;
    }
    let port = |at: usize| u16::from_be_bytes([addresses[at], addresses[at + 1]]);
    let (source, destination) = match family {
        Some(("IPv4", _)) => {
            let ip = |at: usize| {
                IpAddr::V4(Ipv4Addr::from(
                    <[u8; 4]>::try_from(&addresses[at..at + 4]).expect("4 bytes"),
                ))
            };
            (
                Some(SocketAddr::new(ip(0), port(8))),
                Some(SocketAddr::new(ip(4), port(10))),
            )
        }
        Some(("IPv6", _)) => {
            let ip = |at: usize| {
                IpAddr::V6(Ipv6Addr::from(
                    <[u8; 16]>::try_from(&addresses[at..at + 16]).expect("16 bytes"),
                ))
            };
            (
                Some(SocketAddr::new(ip(0), port(32))),
                Some(SocketAddr::new(ip(16), port(34))),
            )
        }
        _ => (None, None),
    };
    Ok(Parsed::Done {
        header_len,
        source,
        destination,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn done(header_len: usize, source: Option<&str>, destination: Option<&str>) -> Parsed {
        Parsed::Done {
            header_len,
            source: source.map(sa),
            destination: destination.map(sa),
        }
    }

    /// A v2 header: command (0 LOCAL, 1 PROXY), family/transport byte, payload.
    fn v2(command: u8, family: u8, payload: &[u8]) -> Vec<u8> {
        let mut h = V2_SIGNATURE.to_vec();
        h.push(0x20 | command);
        h.push(family);
        h.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        h.extend_from_slice(payload);
        h
    }

    fn v4_payload() -> Vec<u8> {
        let mut p = vec![192, 0, 2, 7, 198, 51, 100, 1];
        p.extend_from_slice(&56324u16.to_be_bytes());
        p.extend_from_slice(&995u16.to_be_bytes());
        p
    }

    fn v6_payload() -> Vec<u8> {
        let mut p = Vec::new();
        p.extend_from_slice(&"2001:db8::7".parse::<Ipv6Addr>().unwrap().octets());
        p.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        p.extend_from_slice(&40000u16.to_be_bytes());
        p.extend_from_slice(&143u16.to_be_bytes());
        p
    }

    /// Every valid header of the tests, with what it must parse to.
    fn valid() -> Vec<(Vec<u8>, Parsed)> {
        let v1 = |s: &str| s.as_bytes().to_vec();
        let longest_v6 = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff \
                          ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
        assert_eq!(longest_v6.len(), 104);
        // The specification's worst case, which its 107-byte limit is made for.
        let longest = longest_v6.replacen("TCP6", "UNKNOWN", 1);
        assert_eq!(longest.len(), V1_MAX_LEN);
        let mut with_tlvs = v4_payload();
        with_tlvs.extend_from_slice(&[0x01, 0x00, 0x02, b'h', b'2']); // ALPN
        with_tlvs.extend_from_slice(&[0x04, 0x00, 0x00]); // NOOP, empty
        let v4 = Some("192.0.2.7:56324");
        let v4d = Some("198.51.100.1:995");
        vec![
            (
                v1("PROXY TCP4 192.0.2.7 198.51.100.1 56324 995\r\n"),
                done(45, v4, v4d),
            ),
            (
                v1("PROXY TCP6 2001:db8::7 2001:db8::1 40000 143\r\n"),
                done(46, Some("[2001:db8::7]:40000"), Some("[2001:db8::1]:143")),
            ),
            (
                v1("PROXY TCP6 ::ffff:192.0.2.7 ::1 0 65535\r\n"),
                done(41, Some("[::ffff:192.0.2.7]:0"), Some("[::1]:65535")),
            ),
            (
                v1(longest_v6),
                done(
                    104,
                    Some("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"),
                    Some("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"),
                ),
            ),
            (v1(&longest), done(107, None, None)),
            (v1("PROXY UNKNOWN\r\n"), done(15, None, None)),
            (
                v1("PROXY UNKNOWN ffff::1 ::2 1 2\r\n"),
                done(31, None, None),
            ),
            (v2(1, 0x11, &v4_payload()), done(28, v4, v4d)),
            (
                v2(1, 0x21, &v6_payload()),
                done(52, Some("[2001:db8::7]:40000"), Some("[2001:db8::1]:143")),
            ),
            (v2(1, 0x11, &with_tlvs), done(36, v4, v4d)),
            (v2(0, 0x00, &[]), done(16, None, None)),
            // LOCAL ignores whatever family and addresses it carries.
            (v2(0, 0x11, &v4_payload()), done(28, None, None)),
            (v2(0, 0x31, &[0; 3]), done(19, None, None)),
            (v2(1, 0x00, &[]), done(16, None, None)),
            (v2(1, 0x00, &[0x04, 0x00, 0x01, 0]), done(20, None, None)),
        ]
    }

    #[test]
    fn valid_headers_parse() {
        for (header, want) in valid() {
            assert_eq!(parse(&header, Accept::Any), Ok(want), "{header:?}");
        }
    }

    #[test]
    fn valid_headers_split_byte_by_byte() {
        for (header, want) in valid() {
            for cut in 0..header.len() {
                assert_eq!(
                    parse(&header[..cut], Accept::Any),
                    Ok(Parsed::NeedMore),
                    "{header:?} cut at {cut}"
                );
            }
            // What follows the header is not looked at, and not counted.
            let mut more = header.clone();
            more.extend_from_slice(b"CAPA\r\n\x16\x03\x01\0\0\r\n\r\n\0");
            for end in header.len()..=more.len() {
                assert_eq!(parse(&more[..end], Accept::Any), Ok(want.clone()));
            }
        }
    }

    #[test]
    fn listener_versions() {
        let v1 = b"PROXY TCP4 192.0.2.7 198.51.100.1 56324 995\r\n";
        let v2 = v2(1, 0x11, &v4_payload());
        assert!(matches!(parse(v1, Accept::V1), Ok(Parsed::Done { .. })));
        assert!(matches!(parse(&v2, Accept::V2), Ok(Parsed::Done { .. })));
        let wrong_v1 = Err(HeaderError::VersionNotAccepted {
            got: Version::V1,
            accepted: Version::V2,
        });
        let wrong_v2 = Err(HeaderError::VersionNotAccepted {
            got: Version::V2,
            accepted: Version::V1,
        });
        assert_eq!(parse(v1, Accept::V2), wrong_v1);
        assert_eq!(parse(b"PRO", Accept::V2), wrong_v1);
        assert_eq!(parse(&v2, Accept::V1), wrong_v2);
        assert_eq!(parse(b"\r\n\r", Accept::V1), wrong_v2);
        assert_eq!(parse(b"PASS x\r\n", Accept::V2), Err(HeaderError::NotProxy));
        assert_eq!(parse(b"\r\r", Accept::V1), Err(HeaderError::NotProxy));
        assert!(
            parse(
                &HeaderError::V1TooLong.to_string().into_bytes(),
                Accept::Any
            )
            .is_err(),
            "error text is no header"
        );
    }

    /// Every way a header can be wrong that the tests know of, with the error it must give.
    fn invalid() -> Vec<(Vec<u8>, HeaderError)> {
        use HeaderError::*;
        let v1 = |s: &str| s.as_bytes().to_vec();
        let addr = |field, value: &str, family| V1Address {
            field,
            value: value.into(),
            family,
        };
        let port = |field, value: &str| V1Port {
            field,
            value: value.into(),
        };
        let mut unix = vec![0u8; 216];
        unix[0] = b'/';
        let mut bad_tlv = v4_payload();
        bad_tlv.extend_from_slice(&[0x01, 0x00, 0x05, b'h', b'2']);
        let mut short_tlv = v4_payload();
        short_tlv.extend_from_slice(&[0x01, 0x00]);
        let mut too_large = v2(1, 0x11, &[0; 513]);
        too_large.truncate(16);
        let mut wrong_version = v2(1, 0x11, &v4_payload());
        wrong_version[12] = 0x11;
        vec![
            (v1("GET / HTTP/1.0\r\n"), NotProxy),
            (v1("CAPA\r\n"), NotProxy),
            (v1("PROXY\r\n"), NotProxy),
            (v1("proxy TCP4 1.2.3.4 1.2.3.5 1 2\r\n"), NotProxy),
            (v1("PROXYTCP4\r\n"), NotProxy),
            (
                v1("PROXY TCP4 192.0.2.7 198.51.100.1 56324 995\n"),
                V1LineEnd,
            ),
            (
                v1("PROXY TCP4 192.0.2.7 198.51.100.1 56324 995\r\r\n"),
                V1LineEnd,
            ),
            (
                v1("PROXY TCP4 192.0.2.7\t198.51.100.1 56324 995\r\n"),
                V1Character(b'\t'),
            ),
            (
                v1("PROXY TCP4 192.0.2.7 198.51.100.1 56324 995\0\r\n"),
                V1Character(0),
            ),
            (
                v1("PROXY TCP4 192.0.2.7 198.51.100.1 56324 \u{e9}\r\n"),
                V1Character(0xc3),
            ),
            (
                v1(&format!("PROXY UNKNOWN {}\r\n", "x".repeat(92))),
                V1TooLong,
            ),
            (
                v1(&format!("PROXY UNKNOWN {}\r\n", "x".repeat(200))),
                V1TooLong,
            ),
            (v1(&format!("PROXY UNKNOWN {}", "x".repeat(93))), V1TooLong),
            (
                v1("PROXY TCP5 1.2.3.4 1.2.3.5 1 2\r\n"),
                V1Protocol("TCP5".into()),
            ),
            (v1("PROXY \r\n"), V1Protocol("".into())),
            (
                v1("PROXY tcp4 1.2.3.4 1.2.3.5 1 2\r\n"),
                V1Protocol("tcp4".into()),
            ),
            (v1("PROXY TCP4 1.2.3.4 1.2.3.5 1\r\n"), V1Fields(5)),
            (v1("PROXY TCP4 1.2.3.4 1.2.3.5 1 2 3\r\n"), V1Fields(7)),
            (v1("PROXY TCP4  1.2.3.4 1.2.3.5 1 2\r\n"), V1Fields(7)),
            (v1("PROXY TCP4 1.2.3.4 1.2.3.5 1 2 \r\n"), V1Fields(7)),
            (
                v1("PROXY TCP4 ::1 1.2.3.5 1 2\r\n"),
                addr("source address", "::1", "IPv4"),
            ),
            (
                v1("PROXY TCP6 ::1 1.2.3.5 1 2\r\n"),
                addr("destination address", "1.2.3.5", "IPv6"),
            ),
            (
                v1("PROXY TCP4 1.2.3.256 1.2.3.5 1 2\r\n"),
                addr("source address", "1.2.3.256", "IPv4"),
            ),
            (
                v1("PROXY TCP4 01.2.3.4 1.2.3.5 1 2\r\n"),
                addr("source address", "01.2.3.4", "IPv4"),
            ),
            (
                v1("PROXY TCP4 example.org 1.2.3.5 1 2\r\n"),
                addr("source address", "example.org", "IPv4"),
            ),
            (
                v1("PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n"),
                addr("source address", "fe80::1%eth0", "IPv6"),
            ),
            (
                v1("PROXY TCP4 1.2.3.4 1.2.3.5 65536 2\r\n"),
                port("source port", "65536"),
            ),
            (
                v1("PROXY TCP4 1.2.3.4 1.2.3.5 1 0110\r\n"),
                port("destination port", "0110"),
            ),
            (
                v1("PROXY TCP4 1.2.3.4 1.2.3.5 -1 2\r\n"),
                port("source port", "-1"),
            ),
            (
                v1("PROXY TCP4 1.2.3.4 1.2.3.5 +1 2\r\n"),
                port("source port", "+1"),
            ),
            (
                v1("PROXY TCP4 1.2.3.4 1.2.3.5 1 99999999999999999999\r\n"),
                port("destination port", "99999999999999999999"),
            ),
            (b"\r\n\r\n\0\r\nQUIT\r".to_vec(), NotProxy),
            (b"\r\n\r\n\x01".to_vec(), NotProxy),
            (wrong_version, V2Version(1)),
            (v2(2, 0x11, &v4_payload()), V2Command(2)),
            (v2(0xf, 0x11, &v4_payload()), V2Command(0xf)),
            (v2(1, 0x41, &v4_payload()), V2Family(4)),
            (v2(0, 0x41, &v4_payload()), V2Family(4)),
            (v2(1, 0x13, &v4_payload()), V2Transport(3)),
            (v2(1, 0x31, &unix), V2Unsupported("AF_UNIX")),
            (
                v2(1, 0x12, &v4_payload()),
                V2Unsupported("a datagram (UDP)"),
            ),
            (
                v2(1, 0x10, &v4_payload()),
                V2Unsupported("an unspecified transport"),
            ),
            (
                v2(1, 0x01, &[]),
                V2Unsupported("AF_UNSPEC with a transport"),
            ),
            (too_large, V2TooLarge { len: 513 }),
            (
                v2(0, 0x00, &[0; 600])[..16].to_vec(),
                V2TooLarge { len: 600 },
            ),
            (
                v2(1, 0x11, &v4_payload()[..11]),
                V2TooShort {
                    len: 11,
                    family: "IPv4",
                    needed: 12,
                },
            ),
            (
                v2(1, 0x21, &v4_payload()),
                V2TooShort {
                    len: 12,
                    family: "IPv6",
                    needed: 36,
                },
            ),
            (v2(1, 0x11, &bad_tlv), V2Tlv),
            (v2(1, 0x11, &short_tlv), V2Tlv),
        ]
    }

    #[test]
    fn malformed_headers_are_refused_with_their_reason() {
        for (header, want) in invalid() {
            assert_eq!(parse(&header, Accept::Any), Err(want), "{header:?}");
        }
    }

    /// Fed byte by byte, a malformed header is NeedMore until the first byte that cannot
    /// belong to a valid header, and the same error from then on.
    #[test]
    fn malformed_headers_split_byte_by_byte() {
        for (header, want) in invalid() {
            let mut failed_at = None;
            for end in 0..=header.len() {
                match parse(&header[..end], Accept::Any) {
                    Ok(Parsed::NeedMore) => {
                        assert!(failed_at.is_none(), "{header:?}: NeedMore after an error")
                    }
                    Ok(done) => panic!("{header:?} cut at {end}: {done:?}"),
                    Err(e) => {
                        failed_at.get_or_insert(end);
                        // Errors found early are the same, except the v1 ones that are
                        // only judged on the whole line.
                        if !matches!(want, HeaderError::V1TooLong) {
                            assert_eq!(e, want, "{header:?} cut at {end}");
                        }
                    }
                }
            }
            assert!(failed_at.is_some(), "{header:?}");
        }
    }

    #[test]
    fn errors_are_reported_early() {
        assert_eq!(parse(b"X", Accept::Any), Err(HeaderError::NotProxy));
        assert_eq!(
            parse(b"PROXY TCP4 \x01", Accept::Any),
            Err(HeaderError::V1Character(1))
        );
        assert_eq!(
            parse(b"PROXY TCP4 1\r ", Accept::Any),
            Err(HeaderError::V1LineEnd)
        );
        let mut h = V2_SIGNATURE.to_vec();
        h.push(0x21);
        h.push(0x31);
        assert_eq!(
            parse(&h, Accept::Any),
            Err(HeaderError::V2Unsupported("AF_UNIX"))
        );
        // A v1 line that has reached 107 bytes without CRLF is refused without waiting.
        let mut long = b"PROXY UNKNOWN ".to_vec();
        long.resize(V1_MAX_LEN - 1, b'x');
        assert_eq!(parse(&long, Accept::Any), Ok(Parsed::NeedMore));
        long.push(b'\r');
        assert_eq!(parse(&long, Accept::Any), Err(HeaderError::V1TooLong));
    }

    /// Random input and mutated valid headers: no panic, and a header that parses never
    /// claims more bytes than it was given (nor fewer than the smallest header).
    #[test]
    fn random_and_mutated_input_never_panics() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x0050_524f_5859);
        let check = |bytes: &[u8]| {
            for accept in [Accept::V1, Accept::V2, Accept::Any] {
                if let Ok(Parsed::Done { header_len, .. }) = parse(bytes, accept) {
                    assert!(header_len <= bytes.len() && header_len >= 15, "{bytes:?}");
                }
            }
        };
        let seeds: Vec<Vec<u8>> = valid().into_iter().map(|(h, _)| h).collect();
        for _ in 0..20_000 {
            let len = rng.random_range(0..700);
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            // Give the random bytes a fair chance of getting past the first checks.
            match rng.random_range(0..3) {
                0 => bytes.splice(0..0, b"PROXY ".iter().copied()).for_each(drop),
                1 => bytes.splice(0..0, V2_SIGNATURE).for_each(drop),
                _ => {}
            }
            check(&bytes);
            let mut mutated = seeds[rng.random_range(0..seeds.len())].clone();
            for _ in 0..rng.random_range(1..4) {
                let at = rng.random_range(0..mutated.len());
                match rng.random_range(0..3) {
                    0 => mutated[at] = rng.random(),
                    1 => {
                        mutated.remove(at);
                    }
                    _ => mutated.insert(at, rng.random()),
                }
                if mutated.is_empty() {
                    break;
                }
            }
            check(&mutated);
            for cut in 0..mutated.len() {
                check(&mutated[..cut]);
            }
        }
    }
}
