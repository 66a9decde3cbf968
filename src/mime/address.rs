//! Address lists for ENVELOPE, parsed the way Dovecot 2.3 parses them.
//!
//! mail-parser's address parser decodes RFC 2047 names and repairs broken lists in its own
//! way; ENVELOPE carries the raw (still encoded) phrase and, for broken input, Dovecot's
//! repairs: `MISSING_MAILBOX`, `MISSING_DOMAIN`, `SYNTAX_ERROR`, `INVALID_ROUTE`, a lone
//! word taken as a display name, a comment taken as the name of a bare addr-spec. Clients
//! show these, so they must be the same words in the same places. Groups are the RFC 3501
//! way: a start entry with the group name as mailbox and an end entry of four NILs.

use super::rfc822::{Cursor, Ret};

/// One ENVELOPE address entry; `None` is NIL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Address {
    pub name: Option<Vec<u8>>,
    pub route: Option<Vec<u8>>,
    pub mailbox: Option<Vec<u8>>,
    pub domain: Option<Vec<u8>>,
    invalid: bool,
}

struct AddressParser<'a> {
    c: Cursor<'a>,
    addr: Address,
    out: Vec<Address>,
}

/// Parses an address header's unfolded value.
pub(crate) fn parse(value: &[u8]) -> Vec<Address> {
    let mut p = AddressParser {
        c: Cursor::new(value),
        addr: Address::default(),
        out: Vec::new(),
    };
    p.c.last_comment = Some(Vec::new());
    p.c.replace_nul = true;
    if p.c.skip_lwsp() > 0 {
        p.address_list();
    }
    p.out
}

impl AddressParser<'_> {
    fn add(&mut self) {
        self.out.push(std::mem::take(&mut self.addr));
    }

    fn add_fixed(&mut self) {
        if self.addr.mailbox.is_none() {
            self.addr.mailbox = Some(b"MISSING_MAILBOX".to_vec());
            self.addr.invalid = true;
        }
        if self.addr.domain.as_ref().is_none_or(|d| d.is_empty()) {
            self.addr.domain = Some(b"MISSING_DOMAIN".to_vec());
            self.addr.invalid = true;
        }
        self.add();
    }

    fn local_part(&mut self) -> Ret {
        let mut s = Vec::new();
        let ret = if self.c.peek() == b'"' {
            self.c.parse_quoted_string(&mut s)
        } else {
            self.c.parse_dot_atom(&mut s)
        };
        if ret < 0 {
            return -1;
        }
        self.addr.mailbox = Some(s);
        ret
    }

    fn domain(&mut self) -> Ret {
        let mut s = Vec::new();
        let ret = self.c.parse_domain(&mut s);
        if ret < 0 {
            return -1;
        }
        self.addr.domain = Some(s);
        ret
    }

    fn domain_list(&mut self) -> Ret {
        let mut s = Vec::new();
        loop {
            if self.c.at_end() {
                return 0;
            }
            if self.c.peek() != b'@' {
                break;
            }
            if !s.is_empty() {
                s.push(b',');
            }
            s.push(b'@');
            let ret = self.c.parse_domain(&mut s);
            if ret <= 0 {
                return ret;
            }
            while self.c.skip_lwsp() > 0 && self.c.peek() == b',' {
                self.c.pos += 1;
            }
        }
        self.addr.route = Some(s);
        1
    }

    fn angle_addr(&mut self) -> Ret {
        self.c.pos += 1; // '<'
        if self.c.skip_lwsp() <= 0 {
            return -1;
        }
        if self.c.peek() == b'@' {
            if self.domain_list() > 0 && self.c.peek() == b':' {
                self.c.pos += 1;
            } else {
                self.addr.route = Some(b"INVALID_ROUTE".to_vec());
                if self.c.at_end() {
                    return -1;
                }
            }
            if self.c.skip_lwsp() <= 0 {
                return -1;
            }
        }
        if self.c.peek() != b'>' {
            if self.local_part() <= 0 {
                return -1;
            }
            if self.c.peek() == b'@' && self.domain() <= 0 {
                return -1;
            }
        }
        if self.c.peek() != b'>' {
            return -1;
        }
        self.c.pos += 1;
        self.c.skip_lwsp()
    }

    fn name_addr(&mut self) -> Ret {
        let mut s = Vec::new();
        if self.c.parse_phrase(&mut s) <= 0 || self.c.peek() != b'<' {
            return -1;
        }
        self.addr.name = if s.is_empty() { None } else { Some(s) };
        if self.angle_addr() < 0 {
            self.addr.domain = Some(b"SYNTAX_ERROR".to_vec());
            self.addr.invalid = true;
        }
        Ret::from(!self.c.at_end())
    }

    fn addr_spec(&mut self) -> Ret {
        if let Some(c) = self.c.last_comment.as_mut() {
            c.clear();
        }
        let quoted = self.c.peek() == b'"';
        let mut ret = self.local_part();
        let mut ret2 = -2;
        if ret <= 0 {
            self.addr.invalid = true;
        }
        if ret != 0 && !self.c.at_end() && self.c.peek() == b'@' {
            ret2 = self.domain();
            if ret2 <= 0 {
                ret = ret2;
            }
        }
        let comment = self.c.last_comment.clone().unwrap_or_default();
        if !comment.is_empty() {
            self.addr.name = Some(comment);
        } else if ret2 == -2 {
            // A word without @domain: a mailbox if it stands alone, else the start of a
            // display name.
            let mut s = self.addr.mailbox.clone().unwrap_or_default();
            s.push(b' ');
            let before = s.len();
            self.c.parse_phrase(&mut s);
            if s.len() != before {
                self.addr.mailbox = None;
                self.addr.name = Some(s);
            } else if !quoted {
                self.addr.domain = Some(Vec::new());
            }
            self.addr.invalid = true;
            ret = -1;
        }
        ret
    }

    fn mailbox(&mut self) -> Ret {
        let start = self.c.pos;
        let mut ret = self.name_addr();
        if ret < 0 {
            self.c.pos = start;
            ret = self.addr_spec();
            if self.addr.invalid
                && self.addr.name.is_none()
                && self.addr.mailbox.is_some()
                && self.addr.domain.is_none()
            {
                self.addr.name = self.addr.mailbox.take();
            }
        }
        if ret < 0 {
            self.addr.invalid = true;
        }
        self.add_fixed();
        ret
    }

    fn group(&mut self) -> Ret {
        let mut s = Vec::new();
        if self.c.parse_phrase(&mut s) <= 0 || self.c.peek() != b':' {
            return -1;
        }
        self.c.pos += 1;
        let mut ret = self.c.skip_lwsp();
        if ret <= 0 {
            self.addr.invalid = true;
        }
        self.addr.mailbox = Some(s);
        self.add();
        if ret > 0 && self.c.peek() != b';' {
            loop {
                // A broken mailbox does not end the group.
                self.mailbox();
                if self.c.at_end() || self.c.peek() != b',' {
                    break;
                }
                self.c.pos += 1;
                if self.c.skip_lwsp() <= 0 {
                    ret = -1;
                    break;
                }
            }
        }
        if ret >= 0 {
            if self.c.at_end() || self.c.peek() != b';' {
                ret = -1;
            } else {
                self.c.pos += 1;
                ret = self.c.skip_lwsp();
            }
        }
        if ret < 0 {
            self.addr.invalid = true;
        }
        self.add();
        if ret == 0 { 0 } else { 1 }
    }

    fn address(&mut self) -> Ret {
        let start = self.c.pos;
        let ret = self.group();
        if ret >= 0 {
            return ret;
        }
        self.c.pos = start;
        // A failed group attempt leaves nothing behind.
        self.addr = Address::default();
        self.mailbox()
    }

    fn address_list(&mut self) {
        loop {
            if self.address() == 0 {
                break;
            }
            if self.c.at_end() || self.c.peek() != b',' {
                break;
            }
            self.c.pos += 1;
            let ret = self.c.skip_lwsp();
            if ret <= 0 {
                if ret < 0 {
                    // ends with some garbage
                    self.add_fixed();
                }
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(v: &str) -> Vec<[Option<String>; 4]> {
        parse(v.as_bytes())
            .into_iter()
            .map(|a| {
                let s = |x: Option<Vec<u8>>| x.map(|x| String::from_utf8_lossy(&x).into_owned());
                [s(a.name), s(a.route), s(a.mailbox), s(a.domain)]
            })
            .collect()
    }

    fn o(s: &str) -> Option<String> {
        Some(s.to_owned())
    }

    #[test]
    fn plain_and_named() {
        assert_eq!(
            show("\"Joe Q. Public\" <john.q.public@example.com>, a@b"),
            vec![
                [
                    o("Joe Q. Public"),
                    None,
                    o("john.q.public"),
                    o("example.com")
                ],
                [None, None, o("a"), o("b")],
            ]
        );
    }

    #[test]
    fn groups() {
        assert_eq!(
            show("A Group:Ed Jones <c@a.test>,joe@where.test;, Undisclosed recipients:;"),
            vec![
                [None, None, o("A Group"), None],
                [o("Ed Jones"), None, o("c"), o("a.test")],
                [None, None, o("joe"), o("where.test")],
                [None, None, None, None],
                [None, None, o("Undisclosed recipients"), None],
                [None, None, None, None],
            ]
        );
    }

    #[test]
    fn repairs() {
        assert_eq!(
            show("user"),
            vec![[None, None, o("user"), o("MISSING_DOMAIN")]]
        );
        assert_eq!(
            show("a@b (Comment Name)"),
            vec![[o("Comment Name"), None, o("a"), o("b")]]
        );
        assert_eq!(
            show("Name <@route:x@y>"),
            vec![[o("Name"), o("@route"), o("x"), o("y")]]
        );
        assert!(show("").is_empty());
    }
}
