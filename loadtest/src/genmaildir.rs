//! `postern-load gen-maildir`: a deterministic generator of realistic Maildirs to load-test
//! against.
//!
//! Benchmarks need mailboxes that look like real ones, because a server's cost depends on
//! what it parses and sends: plain text, multipart/alternative with HTML, base64
//! attachments, reply threads (In-Reply-To / References), RFC 2047 encoded headers in UTF-8
//! and ISO-8859-1, sizes from 2 KB to 200 KB skewed towards small. And they must be
//! reproducible, so that two servers (or two versions of one) are compared on the very same
//! bytes: everything derives from `--seed` through ChaCha8, and the same seed gives
//! byte-identical files, file names and passwd-file.
//!
//! Files are laid out as an MDA leaves them: LF line ends, written into `tmp/` and renamed
//! into `cur/` (seen, `:2,S`, about 70 %) or `new/`, named
//! `TIME.M<n>P<pid>.gen,S=<size>,W=<size with CRLF>` so servers can take sizes from the name.
//! The default profile is one 10,000-message user `big` plus `--users` users of 50 messages
//! (`user0001`, ...), and a Dovecot passwd-file that points each home at `OUT/home/USER`.
//!
//! Speed: message metadata is drawn in order per mailbox (threads need earlier messages),
//! bodies come from a per-message seed, so they are built and written on all cores.

use base64::Engine as _;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, UNIX_EPOCH};

/// Smallest message file (LF line ends), in bytes.
pub const MIN_SIZE: u64 = 2 * 1024;
/// Largest message, in bytes, for both the LF and the CRLF size.
pub const MAX_SIZE: u64 = 200 * 1024;
/// The mail domain of generated users.
pub const DOMAIN: &str = "example.org";
/// Delivery time of the newest message (2024-01-01T00:00:00Z): fixed so output is identical
/// whenever it is generated.
const NEWEST: i64 = 1_704_067_200;
/// Mailboxes span this much time before [`NEWEST`] (two years).
const SPAN_SECS: i64 = 2 * 365 * 86_400;

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    #[error(
        "{} already exists; choose a new --out directory or remove it first",
        .0.display()
    )]
    Exists(PathBuf),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("password must not contain ':' or a line break")]
    BadPassword,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> GenError + '_ {
    move |source| GenError::Io {
        path: path.to_owned(),
        source,
    }
}

/// What to generate.
#[derive(Clone, Debug)]
pub struct GenConfig {
    /// Output directory: `OUT/passwd` and `OUT/home/USER/Maildir`.
    pub out: PathBuf,
    pub seed: u64,
    /// Messages in the INBOX of the user `big`; 0 leaves that user out.
    pub big_messages: usize,
    /// Number of ordinary users (`user0001`, ...).
    pub users: usize,
    /// Messages per ordinary user.
    pub messages_per_user: usize,
    /// Everyone's password (stored as `{PLAIN}`).
    pub password: String,
    /// Threads building and writing messages; 0 = one per core. Output does not depend on it.
    pub threads: usize,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            out: PathBuf::from("maildirs"),
            seed: 1,
            big_messages: 10_000,
            users: 100,
            messages_per_user: 50,
            password: "password".to_owned(),
            threads: 0,
        }
    }
}

/// One generated user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenUser {
    pub name: String,
    pub home: PathBuf,
    pub maildir: PathBuf,
    pub messages: usize,
    /// Sum of the message sizes (LF line ends).
    pub bytes: u64,
}

/// What was written.
#[derive(Clone, Debug)]
pub struct GenSummary {
    pub out: PathBuf,
    pub passwd_file: PathBuf,
    pub users: Vec<GenUser>,
    pub messages: usize,
    pub bytes: u64,
}

impl GenSummary {
    /// The paths and totals, for the terminal.
    pub fn describe(&self, elapsed: Duration) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "wrote {} messages ({:.1} MB) for {} users in {:.2} s",
            self.messages,
            self.bytes as f64 / 1e6,
            self.users.len(),
            elapsed.as_secs_f64()
        );
        let _ = writeln!(out, "passwd-file: {}", self.passwd_file.display());
        let _ = writeln!(
            out,
            "maildirs:    {}",
            self.out.join("home/%u/Maildir").display()
        );
        for user in self.users.iter().take(3) {
            let _ = writeln!(
                out,
                "  {:<10} {:>6} messages  {}",
                user.name,
                user.messages,
                user.maildir.display()
            );
        }
        if self.users.len() > 3 {
            let _ = writeln!(out, "  ... and {} more", self.users.len() - 3);
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Vocabulary.

const WORDS: &[&str] = &[
    "the",
    "of",
    "and",
    "to",
    "in",
    "a",
    "is",
    "that",
    "for",
    "it",
    "as",
    "was",
    "with",
    "be",
    "by",
    "on",
    "not",
    "he",
    "this",
    "are",
    "or",
    "his",
    "from",
    "at",
    "which",
    "but",
    "have",
    "an",
    "had",
    "they",
    "you",
    "were",
    "their",
    "one",
    "all",
    "we",
    "can",
    "her",
    "has",
    "there",
    "been",
    "if",
    "more",
    "when",
    "will",
    "would",
    "who",
    "so",
    "no",
    "meeting",
    "report",
    "budget",
    "project",
    "schedule",
    "review",
    "draft",
    "server",
    "mailbox",
    "customer",
    "invoice",
    "deadline",
    "release",
    "quarter",
    "numbers",
    "update",
    "please",
    "thanks",
    "attached",
    "following",
    "question",
    "proposal",
    "agenda",
    "minutes",
    "team",
    "office",
    "travel",
    "weekend",
    "holiday",
    "contract",
    "support",
    "ticket",
    "issue",
    "network",
    "backup",
    "migration",
    "estimate",
    "feedback",
    "summary",
    "design",
    "test",
    "results",
    "performance",
    "latency",
    "storage",
    "account",
    "password",
    "security",
    "training",
    "lunch",
    "coffee",
    "tomorrow",
    "today",
    "yesterday",
    "morning",
    "afternoon",
    "evening",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "January",
    "March",
    "September",
    "December",
    "should",
    "could",
    "might",
    "must",
    "need",
    "want",
    "think",
    "know",
    "see",
    "send",
    "call",
    "check",
    "confirm",
    "discuss",
    "prepare",
    "finish",
    "start",
    "change",
    "move",
    "keep",
    "before",
    "after",
    "during",
    "between",
    "about",
    "again",
    "also",
    "still",
    "already",
    "soon",
    "later",
    "maybe",
    "probably",
    "quickly",
    "carefully",
    "important",
    "urgent",
    "small",
    "large",
    "new",
    "old",
    "first",
    "last",
    "next",
    "final",
    "current",
    "previous",
    "several",
    "many",
    "few",
    "every",
    "some",
];

/// Words that make a body non-ASCII (8bit or quoted-printable).
const INTL_WORDS: &[&str] = &[
    "café",
    "naïve",
    "résumé",
    "Grüße",
    "Straße",
    "über",
    "déjà",
    "señor",
    "mañana",
    "Ærø",
    "smørrebrød",
    "Zürich",
    "København",
    "crème",
    "façade",
    "jalapeño",
    "Łódź",
    "Привет",
    "спасибо",
    "日本語",
    "ありがとう",
    "谢谢",
    "😀",
    "€",
    "naïveté",
    "coördinate",
];

const FIRST_NAMES: &[&str] = &[
    "Alice", "Bob", "Carol", "David", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Mallory",
    "Niaj", "Olivia", "Peggy", "Rupert", "Sybil", "Trent", "Victor", "Walter", "Wendy",
];
const LAST_NAMES: &[&str] = &[
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Robinson",
    "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood",
];
/// Display names outside ASCII: Latin-1 ones may be Q-encoded in ISO-8859-1, the rest need
/// UTF-8.
const INTL_NAMES: &[&str] = &[
    "José García",
    "François Dupont",
    "Jürgen Müller",
    "Søren Kjærgaard",
    "Zoë Ångström",
    "Ana Peña",
    "Renée Lefèvre",
    "Björn Öberg",
    "Łukasz Wiśniewski",
    "Jiří Dvořák",
    "Ярослав Петров",
    "山田 太郎",
    "Αλέξανδρος Παπαδόπουλος",
];
const SENDER_DOMAINS: &[&str] = &[
    "example.com",
    "example.net",
    "mail.example.com",
    "lists.example.net",
    "corp.example",
    "example.edu",
];
const SUBJECTS: &[&str] = &[
    "Quarterly report",
    "Meeting notes",
    "Project update",
    "Invoice attached",
    "Question about the budget",
    "Schedule for next week",
    "Server migration plan",
    "Holiday photos",
    "Draft proposal for review",
    "Lunch on Friday?",
    "Your ticket has been updated",
    "Weekly summary",
    "Contract renewal",
    "Performance test results",
    "Reminder: deadline tomorrow",
    "Travel arrangements",
];
const INTL_SUBJECTS: &[&str] = &[
    "Grüße aus München",
    "Café meeting tomorrow",
    "Résumé attached",
    "Réunion de l'équipe",
    "Año nuevo, presupuesto nuevo",
    "Smørrebrød på fredag",
    "Привет из Москвы",
    "会議の議事録",
    "Weekend photos 🎉",
    "Preis: 100 €",
    "Zażółć gęślą jaźń",
];
const ATTACHMENTS: &[(&str, &str, &[u8])] = &[
    ("application/pdf", "report.pdf", b"%PDF-1.4\n"),
    (
        "image/jpeg",
        "photo.jpg",
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    ),
    ("image/png", "diagram.png", b"\x89PNG\r\n\x1a\n"),
    ("application/zip", "archive.zip", b"PK\x03\x04"),
    ("application/pdf", "résumé.pdf", b"%PDF-1.5\n"),
    (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "budget.xlsx",
        b"PK\x03\x04",
    ),
    ("text/csv", "numbers.csv", b""),
    ("application/octet-stream", "données.bin", b""),
];
const MAILERS: &[&str] = &[
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.5.0",
    "X-Mailer: Microsoft Outlook 16.0",
    "X-Mailer: Apple Mail (2.3731.700.6)",
    "User-Agent: Mutt/2.2.12 (2023-09-09)",
    "User-Agent: Roundcube Webmail/1.6.5",
];
/// Sender time zones, in minutes east of UTC.
const ZONES: &[i32] = &[0, 60, 120, -300, -480, 330, 540, 600, -180];

fn pick<'a, T>(rng: &mut impl Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

// ---------------------------------------------------------------------------------------------
// Encodings.

/// RFC 2047 B-encoding in UTF-8, split into encoded-words of at most 75 characters (never
/// inside a character), joined by folding whitespace.
pub fn encode_b_utf8(text: &str) -> String {
    // "=?UTF-8?B?" + "?=" is 12 characters; 45 bytes make 60 base64 characters.
    const CHUNK: usize = 45;
    let mut words = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let mut end = (start + CHUNK).min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let encoded = base64::engine::general_purpose::STANDARD.encode(&text[start..end]);
        words.push(format!("=?UTF-8?B?{encoded}?="));
        start = end;
    }
    words.join("\n ")
}

/// RFC 2047 Q-encoding in ISO-8859-1, or `None` if `text` has characters outside Latin-1.
pub fn encode_q_latin1(text: &str) -> Option<String> {
    // "=?ISO-8859-1?Q?" + "?=" is 17 characters, leaving 58 for the text.
    const ROOM: usize = 58;
    let mut words = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        let code = u32::from(c);
        if code > 0xff {
            return None;
        }
        let piece = if c == ' ' {
            "_".to_owned()
        } else if c.is_ascii_alphanumeric() || "!*+-/".contains(c) {
            c.to_string()
        } else {
            format!("={code:02X}")
        };
        if current.len() + piece.len() > ROOM {
            words.push(format!("=?ISO-8859-1?Q?{current}?="));
            current.clear();
        }
        current.push_str(&piece);
    }
    if !current.is_empty() || words.is_empty() {
        words.push(format!("=?ISO-8859-1?Q?{current}?="));
    }
    Some(words.join("\n "))
}

/// Header text as a sender would write it: as is when ASCII, else encoded-words, Q in
/// ISO-8859-1 when `latin1` is preferred and possible, B in UTF-8 otherwise.
fn header_text(text: &str, latin1: bool) -> String {
    if text.is_ascii() {
        return text.to_owned();
    }
    if latin1 && let Some(q) = encode_q_latin1(text) {
        return q;
    }
    encode_b_utf8(text)
}

/// Quoted-printable (RFC 2045) of LF-separated text, soft line breaks keeping lines within
/// 76 characters.
pub fn encode_qp(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let bytes = line.as_bytes();
        let mut width = 0;
        for (j, &b) in bytes.iter().enumerate() {
            let last = j + 1 == bytes.len();
            let plain = (b == b' ' || b == b'\t') && !last || (33..=126).contains(&b) && b != b'=';
            let piece_len = if plain { 1 } else { 3 };
            // Room for the piece plus the '=' of a soft break (or, on the last one, nothing).
            if width + piece_len > 75 {
                out.push_str("=\n");
                width = 0;
            }
            if plain {
                out.push(char::from(b));
            } else {
                let _ = write!(out, "={b:02X}");
            }
            width += piece_len;
        }
    }
    out
}

/// Base64 in lines of 76 characters, each followed by LF.
fn base64_lines(data: &[u8], out: &mut Vec<u8>) {
    let encoded = base64::engine::general_purpose::STANDARD.encode(data);
    for line in encoded.as_bytes().chunks(76) {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
}

/// RFC 2231 parameter value for a file name, plain when ASCII.
fn filename_param(name: &str) -> String {
    if name.is_ascii() {
        return format!("filename=\"{name}\"");
    }
    let mut encoded = String::from("filename*=UTF-8''");
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"._-".contains(&b) {
            encoded.push(char::from(b));
        } else {
            let _ = write!(encoded, "%{b:02X}");
        }
    }
    encoded
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// An RFC 5322 date for Unix time `t` in a zone `offset_min` minutes east of UTC.
pub fn rfc5322_date(t: i64, offset_min: i32) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let local = t + i64::from(offset_min) * 60;
    let days = local.div_euclid(86_400);
    let secs = local.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let sign = if offset_min < 0 { '-' } else { '+' };
    let offset = offset_min.unsigned_abs();
    format!(
        "{}, {} {} {} {:02}:{:02}:{:02} {sign}{:02}{:02}",
        DAYS[days.rem_euclid(7) as usize],
        day,
        MONTHS[month as usize - 1],
        year,
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        offset / 60,
        offset % 60
    )
}

// ---------------------------------------------------------------------------------------------
// Messages.

/// Structure of a message body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    Plain,
    Alternative,
    /// multipart/mixed: a text (or text + HTML) part and attachments.
    Attachments {
        alternative: bool,
        count: u8,
    },
}

/// Everything about one message that is decided in mailbox order.
#[derive(Clone, Debug)]
struct Meta {
    user: usize,
    /// Position in the mailbox, also the `M<n>` of the file name.
    index: usize,
    pid: u32,
    delivered: i64,
    seen: bool,
    from_name: String,
    from_addr: String,
    latin1: bool,
    zone: i32,
    subject: String,
    message_id: String,
    in_reply_to: Option<String>,
    references: Vec<String>,
    target: u64,
    shape: Shape,
    intl_body: bool,
    body_seed: u64,
}

/// What a later reply needs of an earlier message.
#[derive(Clone, Debug)]
struct Sent {
    subject: String,
    message_id: String,
    references: Vec<String>,
}

/// A message size drawn from 2 KB .. ~196 KB, skewed towards small (median about 5 KB,
/// about one in seven over 50 KB). The top is kept below 200 KB so that the CRLF size still
/// fits.
fn draw_size(rng: &mut impl Rng) -> u64 {
    const HIGH: f64 = 196_000.0;
    let u: f64 = rng.random();
    let size = MIN_SIZE as f64 * (HIGH / MIN_SIZE as f64).powf(u.powf(2.5));
    size as u64
}

fn lowercase_ascii_local(name: &str, rng: &mut impl Rng) -> String {
    let ascii: String = name
        .chars()
        .filter(|c| c.is_ascii_alphabetic() || *c == ' ')
        .collect::<String>()
        .trim()
        .to_ascii_lowercase()
        .replace(' ', ".");
    if ascii.is_empty() {
        format!("user{}", rng.random_range(100..1000))
    } else {
        ascii
    }
}

/// Draws the metadata of every message of one mailbox, oldest first.
fn mailbox_meta(seed: u64, user: usize, count: usize) -> Vec<Meta> {
    let mut rng =
        ChaCha8Rng::seed_from_u64(seed ^ (user as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let pid = rng.random_range(1000..60_000);
    let start = NEWEST - SPAN_SECS;
    let step = SPAN_SECS / count.max(1) as i64;
    let mut sent: Vec<Sent> = Vec::with_capacity(count);
    let mut metas = Vec::with_capacity(count);
    for index in 0..count {
        let delivered = start + index as i64 * step + rng.random_range(0..step.max(1));
        let (from_name, latin1) = if rng.random_bool(0.25) {
            let name = *pick(&mut rng, INTL_NAMES);
            (name.to_owned(), rng.random_bool(0.5))
        } else {
            (
                format!(
                    "{} {}",
                    pick(&mut rng, FIRST_NAMES),
                    pick(&mut rng, LAST_NAMES)
                ),
                false,
            )
        };
        let from_addr = format!(
            "{}@{}",
            lowercase_ascii_local(&from_name, &mut rng),
            pick(&mut rng, SENDER_DOMAINS)
        );
        let message_id = format!(
            "<{}.{:08x}.{index}@{}>",
            delivered,
            rng.random::<u32>(),
            from_addr.split('@').nth(1).unwrap_or("example.com")
        );
        // About a third of the mail answers one of the 50 messages before it.
        let parent = (!sent.is_empty() && rng.random_bool(0.35)).then(|| {
            let back = rng.random_range(0..sent.len().min(50));
            sent[sent.len() - 1 - back].clone()
        });
        let (subject, in_reply_to, references) = match parent {
            Some(parent) => {
                let base = parent
                    .subject
                    .strip_prefix("Re: ")
                    .unwrap_or(&parent.subject);
                let mut references = parent.references.clone();
                references.push(parent.message_id.clone());
                // Mail clients trim long chains, keeping the root and the latest ones.
                if references.len() > 12 {
                    references.drain(1..references.len() - 11);
                }
                (format!("Re: {base}"), Some(parent.message_id), references)
            }
            None => {
                let subject = if rng.random_bool(0.25) {
                    (*pick(&mut rng, INTL_SUBJECTS)).to_owned()
                } else {
                    let base = *pick(&mut rng, SUBJECTS);
                    if rng.random_bool(0.3) {
                        format!("{base} #{}", rng.random_range(100..10_000))
                    } else {
                        base.to_owned()
                    }
                };
                (subject, None, Vec::new())
            }
        };
        sent.push(Sent {
            subject: subject.clone(),
            message_id: message_id.clone(),
            references: references.clone(),
        });
        let target = draw_size(&mut rng);
        let shape = if target > 40_000 && rng.random_bool(0.8) || rng.random_bool(0.12) {
            Shape::Attachments {
                alternative: rng.random_bool(0.4),
                count: if rng.random_bool(0.8) {
                    1
                } else {
                    rng.random_range(2..=3)
                },
            }
        } else if rng.random_bool(0.45) {
            Shape::Alternative
        } else {
            Shape::Plain
        };
        metas.push(Meta {
            user,
            index,
            pid,
            delivered,
            seen: rng.random_bool(0.7),
            latin1,
            from_name,
            from_addr,
            zone: *pick(&mut rng, ZONES),
            subject,
            message_id,
            in_reply_to,
            references,
            target,
            shape,
            intl_body: rng.random_bool(0.2),
            body_seed: rng.random(),
        });
    }
    metas
}

/// Appends wrapped paragraphs of prose until `text` has grown by at least `len` bytes.
fn prose(rng: &mut impl Rng, len: usize, intl: bool, text: &mut String) {
    let goal = text.len() + len;
    while text.len() < goal {
        let mut column = 0;
        for _ in 0..rng.random_range(2..7) {
            let words = rng.random_range(5..18);
            for w in 0..words {
                let word = if intl && rng.random_bool(0.08) {
                    *pick(rng, INTL_WORDS)
                } else {
                    *pick(rng, WORDS)
                };
                let width = word.chars().count();
                if column > 0 && column + 1 + width > 72 {
                    text.push('\n');
                    column = 0;
                } else if column > 0 {
                    text.push(' ');
                    column += 1;
                }
                if w == 0 {
                    let mut chars = word.chars();
                    if let Some(first) = chars.next() {
                        text.extend(first.to_uppercase());
                        text.push_str(chars.as_str());
                    }
                } else {
                    text.push_str(word);
                }
                column += width;
            }
            text.push('.');
            column += 1;
        }
        text.push_str("\n\n");
    }
}

/// The plain-text body: greeting, prose, quoted parent for replies, signature.
fn body_text(rng: &mut impl Rng, meta: &Meta, len: usize) -> String {
    let mut text = String::with_capacity(len + 256);
    let _ = write!(text, "Hi,\n\n");
    prose(rng, len.saturating_sub(120), meta.intl_body, &mut text);
    if meta.in_reply_to.is_some() {
        let _ = writeln!(text, "On an earlier day, someone wrote:");
        let mut quoted = String::new();
        prose(rng, 200, false, &mut quoted);
        for line in quoted.lines() {
            if line.is_empty() {
                text.push_str(">\n");
            } else {
                let _ = writeln!(text, "> {line}");
            }
        }
        text.push('\n');
    }
    let _ = write!(text, "-- \n{}\n", meta.from_name);
    text
}

/// The HTML alternative of a text body.
fn body_html(text: &str) -> String {
    let mut html = String::with_capacity(text.len() * 5 / 4 + 200);
    html.push_str(
        "<!DOCTYPE html>\n<html>\n<head>\n<meta http-equiv=\"Content-Type\" \
         content=\"text/html; charset=utf-8\">\n</head>\n<body style=\"font-family: Arial, \
         sans-serif; font-size: 14px;\">\n",
    );
    for paragraph in text.split("\n\n").filter(|p| !p.trim().is_empty()) {
        html.push_str("<p>");
        for c in paragraph.chars() {
            match c {
                '<' => html.push_str("&lt;"),
                '>' => html.push_str("&gt;"),
                '&' => html.push_str("&amp;"),
                '\n' => html.push_str("<br>\n"),
                c => html.push(c),
            }
        }
        html.push_str("</p>\n");
    }
    html.push_str("</body>\n</html>\n");
    html
}

/// Appends a text part (headers and body) with a transfer encoding that suits it.
fn text_part(rng: &mut impl Rng, subtype: &str, text: &str, out: &mut Vec<u8>) {
    let _ = writeln!(out, "Content-Type: text/{subtype}; charset=\"utf-8\"");
    // HTML is usually sent quoted-printable (long lines); text as 7bit when ASCII.
    let qp = subtype == "html" || !text.is_ascii() && rng.random_bool(0.5);
    if qp {
        out.extend_from_slice(b"Content-Transfer-Encoding: quoted-printable\n\n");
        out.extend_from_slice(encode_qp(text).as_bytes());
    } else {
        let cte = if text.is_ascii() { "7bit" } else { "8bit" };
        let _ = write!(out, "Content-Transfer-Encoding: {cte}\n\n");
        out.extend_from_slice(text.as_bytes());
    }
    if !out.ends_with(b"\n") {
        out.push(b'\n');
    }
}

fn boundary(rng: &mut impl Rng) -> String {
    format!("=_gen_{:016x}", rng.random::<u64>())
}

/// A multipart/alternative (text + HTML) entity: its own Content-Type header and body.
fn alternative(rng: &mut impl Rng, text: &str, out: &mut Vec<u8>) {
    let b = boundary(rng);
    let _ = write!(
        out,
        "Content-Type: multipart/alternative; boundary=\"{b}\"\n\n"
    );
    let _ = writeln!(out, "--{b}");
    text_part(rng, "plain", text, out);
    let _ = writeln!(out, "\n--{b}");
    text_part(rng, "html", &body_html(text), out);
    let _ = writeln!(out, "\n--{b}--");
}

/// Appends an attachment part of about `encoded_len` bytes of base64.
fn attachment(rng: &mut impl Rng, encoded_len: usize, out: &mut Vec<u8>) {
    let &(mime, name, magic) = pick(rng, ATTACHMENTS);
    // base64 turns 3 bytes into 4 characters, plus a LF per 76.
    let raw_len = (encoded_len * 3 / 4 * 76 / 77).max(magic.len() + 16);
    let mut data = Vec::with_capacity(raw_len);
    data.extend_from_slice(magic);
    if mime == "text/csv" {
        let mut csv = String::from("date,account,amount,comment\n");
        while csv.len() < raw_len {
            let _ = writeln!(
                csv,
                "2023-{:02}-{:02},{},{}.{:02},{}",
                rng.random_range(1..13),
                rng.random_range(1..29),
                rng.random_range(1000..9999),
                rng.random_range(0..100_000),
                rng.random_range(0..100),
                pick(rng, WORDS)
            );
        }
        data.extend_from_slice(csv.as_bytes());
    } else {
        let start = data.len();
        data.resize(raw_len.max(start), 0);
        rng.fill_bytes(&mut data[start..]);
    }
    let _ = writeln!(out, "Content-Type: {mime}; name=\"{}\"", name_ascii(name));
    let _ = write!(
        out,
        "Content-Disposition: attachment; {}\nContent-Transfer-Encoding: base64\n\n",
        filename_param(name)
    );
    base64_lines(&data, out);
}

/// A name= parameter for old clients: non-ASCII letters replaced.
fn name_ascii(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii() { c } else { '_' })
        .collect()
}

/// Builds one message with a body of about `budget` bytes, LF line ends.
fn build_message(meta: &Meta, rng: &mut impl Rng, budget: usize, user_name: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(budget + 2048);
    let to = format!("{user_name}@{DOMAIN}");
    let sent = meta.delivered - rng.random_range(2..600);
    let relay = rng.random_range(1..255);
    let _ = write!(
        out,
        "Return-Path: <{from}>\nDelivered-To: {to}\nReceived: from mx{relay}.{domain} \
         (mx{relay}.{domain} [192.0.2.{relay}])\n\tby mail.{DOMAIN} (Postfix) with ESMTPS id \
         {queue:010X}\n\tfor <{to}>; {date}\n",
        from = meta.from_addr,
        domain = meta.from_addr.split('@').nth(1).unwrap_or("example.com"),
        queue = rng.random::<u64>() & 0xff_ffff_ffff,
        date = rfc5322_date(meta.delivered, 0),
    );
    let _ = writeln!(out, "Message-ID: {}", meta.message_id);
    let _ = writeln!(out, "Date: {}", rfc5322_date(sent, meta.zone));
    if meta.from_name.is_ascii() {
        let _ = writeln!(out, "From: \"{}\" <{}>", meta.from_name, meta.from_addr);
    } else {
        let display = header_text(&meta.from_name, meta.latin1);
        let _ = writeln!(out, "From: {display} <{}>", meta.from_addr);
    }
    let _ = writeln!(out, "To: {to}");
    if rng.random_bool(0.2) {
        let _ = writeln!(
            out,
            "Cc: {} {} <{}@{}>",
            pick(rng, FIRST_NAMES),
            pick(rng, LAST_NAMES),
            pick(rng, WORDS),
            pick(rng, SENDER_DOMAINS)
        );
    }
    let _ = writeln!(out, "Subject: {}", header_text(&meta.subject, meta.latin1));
    if let Some(parent) = &meta.in_reply_to {
        let _ = write!(out, "In-Reply-To: {parent}\nReferences:");
        for (i, reference) in meta.references.iter().enumerate() {
            let sep = if i == 0 { " " } else { "\n " };
            let _ = write!(out, "{sep}{reference}");
        }
        out.push(b'\n');
    }
    if rng.random_bool(0.7) {
        let _ = writeln!(out, "{}", pick(rng, MAILERS));
    }
    out.extend_from_slice(b"MIME-Version: 1.0\n");
    let header_len = out.len();
    let budget = budget.saturating_sub(header_len);

    match meta.shape {
        Shape::Plain => {
            let text = body_text(rng, meta, budget);
            text_part(rng, "plain", &text, &mut out);
        }
        Shape::Alternative => {
            // HTML comes out a little larger than the text it repeats.
            let text = body_text(rng, meta, budget * 4 / 9);
            alternative(rng, &text, &mut out);
        }
        Shape::Attachments {
            alternative: alt,
            count,
        } => {
            let text_len = rng.random_range(150..1500).min(budget / 3);
            let text = body_text(rng, meta, text_len);
            let used = if alt { text.len() * 9 / 4 } else { text.len() };
            let per_attachment = budget.saturating_sub(used + 600) / usize::from(count);
            let b = boundary(rng);
            let _ = write!(
                out,
                "Content-Type: multipart/mixed; boundary=\"{b}\"\n\nThis is a multi-part \
                 message in MIME format.\n\n--{b}\n"
            );
            if alt {
                alternative(rng, &text, &mut out);
            } else {
                text_part(rng, "plain", &text, &mut out);
            }
            for _ in 0..count {
                let _ = writeln!(out, "\n--{b}");
                attachment(rng, per_attachment, &mut out);
            }
            let _ = writeln!(out, "\n--{b}--");
        }
    }
    out
}

/// Size with CRLF line ends: every LF becomes two bytes.
pub fn crlf_size(message: &[u8]) -> u64 {
    let lines = message.iter().filter(|&&b| b == b'\n').count();
    message.len() as u64 + lines as u64
}

/// Builds a message within [`MIN_SIZE`] ..= [`MAX_SIZE`] (both sizes), adjusting the body
/// budget when the first try lands outside.
fn sized_message(meta: &Meta, user_name: &str) -> Vec<u8> {
    let mut budget = meta.target as usize;
    let mut attempt = 0u64;
    loop {
        // Each try has its own stream, so the result depends only on the seed.
        let mut rng = ChaCha8Rng::seed_from_u64(meta.body_seed.wrapping_add(attempt));
        let message = build_message(meta, &mut rng, budget, user_name);
        let size = message.len() as u64;
        let crlf = crlf_size(&message);
        if size < MIN_SIZE {
            budget += (MIN_SIZE - size) as usize + 256;
        } else if crlf > MAX_SIZE {
            budget = budget.saturating_sub((crlf - MAX_SIZE) as usize + 2048);
        } else {
            return message;
        }
        attempt += 1;
    }
}

/// The file name an MDA would give it (without the `:2,` info for `new/`).
fn file_name(meta: &Meta, size: u64, crlf: u64) -> String {
    let base = format!(
        "{}.M{}P{}.gen,S={size},W={crlf}",
        meta.delivered, meta.index, meta.pid
    );
    if meta.seen {
        format!("{base}:2,S")
    } else {
        base
    }
}

/// Writes a message into `tmp/` and renames it into `cur/` or `new/`, as a delivery agent
/// does, with the delivery time as modification time.
fn deliver(maildir: &Path, meta: &Meta, message: &[u8]) -> Result<(), GenError> {
    let name = file_name(meta, message.len() as u64, crlf_size(message));
    let tmp = maildir.join("tmp").join(&name);
    let mut file = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
    file.write_all(message).map_err(io_err(&tmp))?;
    let mtime = UNIX_EPOCH + Duration::from_secs(meta.delivered.max(0) as u64);
    file.set_modified(mtime).map_err(io_err(&tmp))?;
    drop(file);
    let dest = maildir
        .join(if meta.seen { "cur" } else { "new" })
        .join(&name);
    std::fs::rename(&tmp, &dest).map_err(io_err(&dest))?;
    Ok(())
}

/// Generates everything described by `cfg`.
pub fn generate(cfg: &GenConfig) -> Result<GenSummary, GenError> {
    if cfg.password.contains([':', '\n', '\r']) {
        return Err(GenError::BadPassword);
    }
    std::fs::create_dir_all(&cfg.out).map_err(io_err(&cfg.out))?;
    let out = std::fs::canonicalize(&cfg.out).map_err(io_err(&cfg.out))?;
    let home_root = out.join("home");
    let passwd_file = out.join("passwd");
    for existing in [&home_root, &passwd_file] {
        if existing.exists() {
            return Err(GenError::Exists(existing.clone()));
        }
    }

    let mut names = Vec::new();
    if cfg.big_messages > 0 {
        names.push(("big".to_owned(), cfg.big_messages));
    }
    let width = cfg.users.to_string().len().max(4);
    for i in 1..=cfg.users {
        names.push((format!("user{i:0width$}"), cfg.messages_per_user));
    }

    let mut users = Vec::with_capacity(names.len());
    let mut jobs: Vec<Meta> = Vec::new();
    for (user, (name, count)) in names.iter().enumerate() {
        let home = home_root.join(name);
        let maildir = home.join("Maildir");
        for sub in ["cur", "new", "tmp"] {
            let dir = maildir.join(sub);
            std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        }
        jobs.extend(mailbox_meta(cfg.seed, user, *count));
        users.push(GenUser {
            name: name.clone(),
            home,
            maildir,
            messages: *count,
            bytes: 0,
        });
    }

    let threads = if cfg.threads == 0 {
        crate::procstat::available_cores()
    } else {
        cfg.threads
    };
    let next = AtomicUsize::new(0);
    let bytes = Mutex::new(vec![0u64; users.len()]);
    let first_error: Mutex<Option<GenError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, 64) {
            scope.spawn(|| {
                let mut local = vec![0u64; users.len()];
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(meta) = jobs.get(i) else { break };
                    let user = &users[meta.user];
                    let message = sized_message(meta, &user.name);
                    if let Err(e) = deliver(&user.maildir, meta, &message) {
                        first_error
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .get_or_insert(e);
                        // Stop everyone: the output is incomplete anyway.
                        next.store(usize::MAX / 2, Ordering::Relaxed);
                        break;
                    }
                    local[meta.user] += message.len() as u64;
                }
                let mut total = bytes.lock().unwrap_or_else(|p| p.into_inner());
                for (sum, add) in total.iter_mut().zip(local) {
                    *sum += add;
                }
            });
        }
    });
    if let Some(e) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    for (user, sum) in users
        .iter_mut()
        .zip(bytes.into_inner().unwrap_or_else(|p| p.into_inner()))
    {
        user.bytes = sum;
    }

    let mut passwd = String::new();
    for user in &users {
        let _ = writeln!(
            passwd,
            "{}:{{PLAIN}}{}::::{}::",
            user.name,
            cfg.password,
            user.home.display()
        );
    }
    std::fs::write(&passwd_file, passwd).map_err(io_err(&passwd_file))?;

    Ok(GenSummary {
        messages: users.iter().map(|u| u.messages).sum(),
        bytes: users.iter().map(|u| u.bytes).sum(),
        out,
        passwd_file,
        users,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc5322_date(0, 0), "Thu, 1 Jan 1970 00:00:00 +0000");
        assert_eq!(rfc5322_date(NEWEST, 0), "Mon, 1 Jan 2024 00:00:00 +0000");
        assert_eq!(
            rfc5322_date(NEWEST, -300),
            "Sun, 31 Dec 2023 19:00:00 -0500"
        );
        assert_eq!(
            rfc5322_date(951_782_400, 330),
            "Tue, 29 Feb 2000 05:30:00 +0530"
        );
    }

    #[test]
    fn encoded_words() {
        assert_eq!(
            encode_q_latin1("Café à midi").unwrap(),
            "=?ISO-8859-1?Q?Caf=E9_=E0_midi?="
        );
        assert!(encode_q_latin1("Łódź").is_none());
        assert_eq!(encode_b_utf8("Grüße"), "=?UTF-8?B?R3LDvMOfZQ==?=");
        let long = encode_b_utf8(&"日本語".repeat(20));
        for word in long.split("\n ") {
            assert!(word.len() <= 75, "{word}");
        }
        let long = encode_q_latin1(&"é".repeat(40)).unwrap();
        for word in long.split("\n ") {
            assert!(word.len() <= 75, "{word}");
        }
    }

    #[test]
    fn quoted_printable_lines_stay_short() {
        let text = format!("{}\nshort = line\ntrailing space ", "é".repeat(60));
        let qp = encode_qp(&text);
        for line in qp.lines() {
            assert!(line.len() <= 76, "{line}");
        }
        assert!(qp.contains("short =3D line"));
        assert!(qp.ends_with("trailing space=20"));
    }

    #[test]
    fn filename_parameters() {
        assert_eq!(filename_param("a.pdf"), "filename=\"a.pdf\"");
        assert_eq!(filename_param("é.pdf"), "filename*=UTF-8''%C3%A9.pdf");
    }

    #[test]
    fn sizes_are_skewed_and_bounded() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut sizes: Vec<u64> = (0..10_000).map(|_| draw_size(&mut rng)).collect();
        sizes.sort_unstable();
        assert!(sizes[0] >= MIN_SIZE);
        assert!(*sizes.last().unwrap() < MAX_SIZE);
        let median = sizes[sizes.len() / 2];
        assert!((3_000..10_000).contains(&median), "median {median}");
    }
}
