//! Message flags as Maildir keeps them: letters in the file name's `:2,<flags>` info part.
//!
//! The five IMAP system flags are `D` (\Draft), `F` (\Flagged), `R` (\Answered), `S` (\Seen)
//! and `T` (\Deleted); the letters `a`..`z` are keywords, letter *i* standing for keyword
//! index *i* of the folder's `dovecot-keywords` file. Dovecot keeps the letters sorted by
//! ASCII code and leaves every character it does not interpret (`P` for "passed", a second
//! `,`-separated flag set) where it was; [`render`] does the same, so that a rename done by
//! Postern is the rename Dovecot would have done, and nothing another client wrote is lost.
//!
//! A [`Flags`] value is eight bytes and `Copy`: the IMAP layer keeps one per message and
//! compares old and new to decide which FETCH responses to send.

use super::filename::INFO_SEP;

/// The IMAP system flags Maildir stores (`\Recent` is a session property, not stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SystemFlags(u8);

/// Letter, bit and IMAP name of each system flag, in the letters' ASCII order (the order
/// they appear in a file name).
const SYSTEM: [(u8, u8, &str); 5] = [
    (b'D', SystemFlags::DRAFT.0, "\\Draft"),
    (b'F', SystemFlags::FLAGGED.0, "\\Flagged"),
    (b'R', SystemFlags::ANSWERED.0, "\\Answered"),
    (b'S', SystemFlags::SEEN.0, "\\Seen"),
    (b'T', SystemFlags::DELETED.0, "\\Deleted"),
];

/// The order Dovecot lists system flags in a FETCH FLAGS response.
const IMAP_ORDER: [SystemFlags; 5] = [
    SystemFlags::ANSWERED,
    SystemFlags::FLAGGED,
    SystemFlags::DELETED,
    SystemFlags::SEEN,
    SystemFlags::DRAFT,
];

impl SystemFlags {
    pub const DRAFT: SystemFlags = SystemFlags(1);
    pub const FLAGGED: SystemFlags = SystemFlags(2);
    pub const ANSWERED: SystemFlags = SystemFlags(4);
    pub const SEEN: SystemFlags = SystemFlags(8);
    pub const DELETED: SystemFlags = SystemFlags(16);
    /// Every system flag.
    pub const ALL: SystemFlags = SystemFlags(31);

    pub const fn empty() -> SystemFlags {
        SystemFlags(0)
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub const fn contains(self, other: SystemFlags) -> bool {
        self.0 & other.0 == other.0
    }

    pub const fn union(self, other: SystemFlags) -> SystemFlags {
        SystemFlags(self.0 | other.0)
    }

    pub const fn difference(self, other: SystemFlags) -> SystemFlags {
        SystemFlags(self.0 & !other.0)
    }

    pub fn insert(&mut self, other: SystemFlags) {
        self.0 |= other.0;
    }

    pub fn remove(&mut self, other: SystemFlags) {
        self.0 &= !other.0;
    }

    /// The flag an IMAP name stands for (`\Seen`, case-insensitive), or `None` for anything
    /// else (`\Recent`, keywords).
    pub fn from_imap(name: &str) -> Option<SystemFlags> {
        SYSTEM
            .iter()
            .find(|(_, _, n)| n.eq_ignore_ascii_case(name))
            .map(|&(_, bit, _)| SystemFlags(bit))
    }

    /// The IMAP names of the flags set, in the order Dovecot sends them.
    pub fn imap_names(self) -> impl Iterator<Item = &'static str> {
        IMAP_ORDER
            .into_iter()
            .filter(move |f| self.contains(*f))
            .map(|f| {
                SYSTEM
                    .iter()
                    .find(|(_, bit, _)| *bit == f.0)
                    .map_or("", |(_, _, name)| name)
            })
    }
}

/// A set of keyword indexes (0..26) of one folder's `dovecot-keywords`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct KeywordSet(u32);

/// Maildir has a letter for 26 keywords per folder, `a`..`z`.
pub const MAX_KEYWORDS: u8 = 26;

impl KeywordSet {
    pub const fn empty() -> KeywordSet {
        KeywordSet(0)
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether keyword index `idx` is set.
    pub const fn contains(self, idx: u8) -> bool {
        idx < MAX_KEYWORDS && self.0 & (1 << idx) != 0
    }

    /// Sets keyword index `idx`; indexes from 26 on cannot be stored and are ignored.
    pub fn insert(&mut self, idx: u8) {
        if idx < MAX_KEYWORDS {
            self.0 |= 1 << idx;
        }
    }

    pub fn remove(&mut self, idx: u8) {
        if idx < MAX_KEYWORDS {
            self.0 &= !(1 << idx);
        }
    }

    pub const fn union(self, other: KeywordSet) -> KeywordSet {
        KeywordSet(self.0 | other.0)
    }

    pub const fn difference(self, other: KeywordSet) -> KeywordSet {
        KeywordSet(self.0 & !other.0)
    }

    /// The indexes set, ascending.
    pub fn iter(self) -> impl Iterator<Item = u8> {
        (0..MAX_KEYWORDS).filter(move |&i| self.contains(i))
    }

    pub const fn len(self) -> u32 {
        self.0.count_ones()
    }
}

/// The flags of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags {
    pub system: SystemFlags,
    pub keywords: KeywordSet,
}

impl Flags {
    pub const fn empty() -> Flags {
        Flags {
            system: SystemFlags::empty(),
            keywords: KeywordSet::empty(),
        }
    }

    pub const fn is_empty(self) -> bool {
        self.system.is_empty() && self.keywords.is_empty()
    }

    /// The flags in a Maildir file name, read as Dovecot reads them: from the *last* `:`, an
    /// info part `2,` and then letters up to the end or the next `,`. A name without such an
    /// info part (a file still in `new/`) has no flags.
    pub fn from_filename(name: &[u8]) -> Flags {
        let mut flags = Flags::empty();
        for &c in old_flags(name).0 {
            if c == b',' {
                break;
            }
            match c {
                b'a'..=b'z' => flags.keywords.insert(c - b'a'),
                _ => {
                    if let Some(&(_, bit, _)) = SYSTEM.iter().find(|(l, _, _)| *l == c) {
                        flags.system.insert(SystemFlags(bit));
                    }
                }
            }
        }
        flags
    }
}

/// The characters after `:2,` (empty if the name has no such info part) and the name
/// without its info part (everything before the last `:`).
fn old_flags(name: &[u8]) -> (&[u8], &[u8]) {
    match name.iter().rposition(|&b| b == INFO_SEP) {
        Some(i) => {
            let info = &name[i + 1..];
            let flags = info.strip_prefix(b"2,").unwrap_or(&[]);
            (flags, &name[..i])
        }
        None => (&[], name),
    }
}

/// Whether Dovecot interprets this flag character (and so rewrites it from the flags).
fn is_known(c: u8) -> bool {
    c.is_ascii_lowercase() || SYSTEM.iter().any(|(l, _, _)| *l == c)
}

/// The file name `name` gets when its message's flags become `flags`: Dovecot's
/// `maildir_filename_flags_kw_set`. The known letters are written in ASCII order; every
/// character Dovecot does not know stays, with the known letters slotted around it in order,
/// and a second `,`-separated flag set is kept verbatim.
pub fn render(name: &[u8], flags: Flags) -> Vec<u8> {
    let (old, stem) = old_flags(name);
    let mut out = Vec::with_capacity(stem.len() + 3 + 8 + old.len());
    out.extend_from_slice(stem);
    out.extend_from_slice(b":2,");
    let mut pending_system = flags.system;
    let mut pending_keywords = !flags.keywords.is_empty();
    let mut rest = old;
    loop {
        while let Some((&c, tail)) = rest.split_first() {
            if !is_known(c) {
                break;
            }
            rest = tail;
        }
        // The next character we keep, or past everything at the end of the set.
        let next: u16 = match rest.first() {
            None | Some(b',') => 256,
            Some(&c) => u16::from(c),
        };
        for &(letter, bit, _) in &SYSTEM {
            if pending_system.contains(SystemFlags(bit)) && next > u16::from(letter) {
                out.push(letter);
                pending_system.remove(SystemFlags(bit));
            }
        }
        if pending_keywords && next > u16::from(b'a') {
            out.extend(flags.keywords.iter().map(|i| b'a' + i));
            pending_keywords = false;
        }
        match rest.split_first() {
            None => break,
            Some((b',', _)) => {
                out.extend_from_slice(rest);
                break;
            }
            Some((&c, tail)) => {
                out.push(c);
                rest = tail;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(system: SystemFlags, keywords: &[u8]) -> Flags {
        let mut k = KeywordSet::empty();
        for &i in keywords {
            k.insert(i);
        }
        Flags {
            system,
            keywords: k,
        }
    }

    fn r(name: &str, f: Flags) -> String {
        String::from_utf8(render(name.as_bytes(), f)).unwrap()
    }

    #[test]
    fn parses_system_flags_and_keywords() {
        let f = Flags::from_filename(b"1.M2P3.h,S=6,W=8:2,FSab");
        assert_eq!(f.system, SystemFlags::FLAGGED.union(SystemFlags::SEEN));
        assert_eq!(f.keywords.iter().collect::<Vec<_>>(), vec![0, 1]);
        assert_eq!(Flags::from_filename(b"1.M2P3.h"), Flags::empty());
        assert_eq!(Flags::from_filename(b"1.M2P3.h:2,"), Flags::empty());
        // Unknown letters are ignored; a second flag set is not ours.
        let f = Flags::from_filename(b"1.M2.h:2,PRT,XS");
        assert_eq!(f.system, SystemFlags::ANSWERED.union(SystemFlags::DELETED));
        // The info part is after the last colon; another info version has no flags.
        assert_eq!(
            Flags::from_filename(b"1.M2:x:2,D").system,
            SystemFlags::DRAFT
        );
        assert_eq!(Flags::from_filename(b"1.M2.h:1,S"), Flags::empty());
    }

    #[test]
    fn renders_in_dovecot_order() {
        // What Dovecot 2.3.19 wrote for STORE +FLAGS ($Forwarded NonJunk \Flagged) on :2,S.
        let f = flags(SystemFlags::FLAGGED.union(SystemFlags::SEEN), &[0, 1]);
        assert_eq!(r("1.M2.h,S=6,W=8:2,S", f), "1.M2.h,S=6,W=8:2,FSab");
        assert_eq!(r("1.M2.h", f), "1.M2.h:2,FSab");
        assert_eq!(r("1.M2.h:2,FSab", Flags::empty()), "1.M2.h:2,");
        let all = flags(SystemFlags::ALL, &[25, 2]);
        assert_eq!(r("x:2,", all), "x:2,DFRSTcz");
    }

    #[test]
    fn keeps_unknown_characters_in_place() {
        let f = flags(SystemFlags::ALL, &[0]);
        assert_eq!(r("x:2,P", f), "x:2,DFPRSTa");
        assert_eq!(r("x:2,P", Flags::empty()), "x:2,P");
        // Above 'z': keywords go before it.
        assert_eq!(r("x:2,S{", flags(SystemFlags::SEEN, &[3])), "x:2,Sd{");
        // A second flag set survives untouched.
        assert_eq!(r("x:2,S,Q7", flags(SystemFlags::DRAFT, &[])), "x:2,D,Q7");
        // An info part of another version is replaced.
        assert_eq!(r("x:1,abc", flags(SystemFlags::SEEN, &[])), "x:2,S");
    }

    #[test]
    fn round_trips() {
        for name in ["a:2,", "a:2,DFRST", "a:2,Sbdz", "a:2,FPS"] {
            let f = Flags::from_filename(name.as_bytes());
            assert_eq!(r(name, f), name);
        }
    }

    #[test]
    fn imap_names_and_sets() {
        let s = SystemFlags::SEEN.union(SystemFlags::ANSWERED);
        assert_eq!(s.imap_names().collect::<Vec<_>>(), ["\\Answered", "\\Seen"]);
        assert_eq!(SystemFlags::from_imap("\\sEEN"), Some(SystemFlags::SEEN));
        assert_eq!(SystemFlags::from_imap("\\Recent"), None);
        let mut k = KeywordSet::empty();
        k.insert(30);
        assert!(k.is_empty());
        k.insert(25);
        assert!(k.contains(25) && k.len() == 1);
        assert_eq!(std::mem::size_of::<Flags>(), 8);
    }
}
