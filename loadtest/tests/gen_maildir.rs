//! The Maildir generator: reproducible to the byte, sizes and names as documented, a
//! passwd-file that matches, and the variety of mail it promises.

use postern_load::genmaildir::{GenConfig, MAX_SIZE, MIN_SIZE, crlf_size, generate};
use std::collections::BTreeMap;
use std::path::Path;

fn config(out: &Path, seed: u64) -> GenConfig {
    GenConfig {
        out: out.to_owned(),
        seed,
        big_messages: 300,
        users: 3,
        messages_per_user: 20,
        password: "s3cret".to_owned(),
        threads: 3,
    }
}

/// Every file under `dir`, by path relative to it.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().display().to_string();
                files.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

#[test]
fn same_seed_same_bytes_different_seed_differs() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let c = tempfile::tempdir().unwrap();
    generate(&config(a.path(), 42)).unwrap();
    // A different thread count must not change anything.
    generate(&GenConfig {
        threads: 1,
        ..config(b.path(), 42)
    })
    .unwrap();
    generate(&config(c.path(), 43)).unwrap();

    let mut ta = tree(a.path());
    let mut tb = tree(b.path());
    let tc = tree(c.path());
    // The passwd-file names the output directory; apart from that it is identical too.
    let pa = String::from_utf8(ta.remove("passwd").unwrap()).unwrap();
    let pb = String::from_utf8(tb.remove("passwd").unwrap()).unwrap();
    let root_a = std::fs::canonicalize(a.path()).unwrap();
    let root_b = std::fs::canonicalize(b.path()).unwrap();
    assert_eq!(
        pa.replace(&root_a.display().to_string(), "OUT"),
        pb.replace(&root_b.display().to_string(), "OUT")
    );
    assert_eq!(ta.len(), 300 + 3 * 20);
    assert!(ta == tb, "same seed gave different output");

    let names_a: Vec<&String> = ta.keys().collect();
    let names_c: Vec<&String> = tc.keys().filter(|k| *k != "passwd").collect();
    assert_ne!(names_a, names_c, "different seeds gave the same names");
    let same_bodies = ta.values().filter(|v| tc.values().any(|w| w == *v)).count();
    assert_eq!(same_bodies, 0, "different seeds share messages");
}

#[test]
fn names_sizes_and_layout() {
    let out = tempfile::tempdir().unwrap();
    let summary = generate(&config(out.path(), 7)).unwrap();
    assert_eq!(summary.messages, 360);
    assert_eq!(summary.users.len(), 4);
    assert_eq!(summary.users[0].name, "big");
    assert_eq!(summary.users[1].name, "user0001");
    assert_eq!(summary.users[3].name, "user0003");

    let mut seen = 0;
    let mut total = 0;
    let mut bytes = 0;
    for user in &summary.users {
        assert!(user.maildir.join("tmp").is_dir());
        assert_eq!(
            std::fs::read_dir(user.maildir.join("tmp")).unwrap().count(),
            0
        );
        let mut count = 0;
        for sub in ["cur", "new"] {
            for entry in std::fs::read_dir(user.maildir.join(sub)).unwrap() {
                let entry = entry.unwrap();
                let name = entry.file_name().into_string().unwrap();
                let data = std::fs::read(entry.path()).unwrap();
                count += 1;
                bytes += data.len() as u64;

                // TIME.M<n>P<pid>.gen,S=<size>,W=<crlf size>[:2,S]
                let (base, info) = match name.split_once(':') {
                    Some((base, info)) => (base, Some(info)),
                    None => (name.as_str(), None),
                };
                assert_eq!(info.is_some(), sub == "cur", "{sub}/{name}");
                if let Some(info) = info {
                    assert_eq!(info, "2,S");
                    seen += 1;
                }
                let mut fields = base.split(',');
                let unique = fields.next().unwrap();
                let parts: Vec<&str> = unique.split('.').collect();
                assert_eq!(parts.len(), 3, "{name}");
                assert!(parts[0].parse::<u64>().is_ok(), "{name}");
                assert!(
                    parts[1].starts_with('M') && parts[1].contains('P'),
                    "{name}"
                );
                assert_eq!(parts[2], "gen");
                let s: u64 = fields
                    .next()
                    .unwrap()
                    .strip_prefix("S=")
                    .unwrap()
                    .parse()
                    .unwrap();
                let w: u64 = fields
                    .next()
                    .unwrap()
                    .strip_prefix("W=")
                    .unwrap()
                    .parse()
                    .unwrap();
                assert_eq!(s, data.len() as u64, "{name}");
                assert_eq!(w, crlf_size(&data), "{name}");
                let crlf = String::from_utf8_lossy(&data).replace('\n', "\r\n");
                assert_eq!(w, crlf.len() as u64, "{name}");
                assert!((MIN_SIZE..=MAX_SIZE).contains(&s), "{name}");
                assert!((MIN_SIZE..=MAX_SIZE).contains(&w), "{name}");
                assert!(!data.contains(&b'\r'), "LF line ends only: {name}");
                assert!(data.windows(2).any(|w| w == b"\n\n"), "header/body split");
            }
        }
        assert_eq!(count, user.messages);
        total += count;
    }
    assert_eq!(total, 360);
    assert_eq!(bytes, summary.bytes);
    let ratio = seen as f64 / total as f64;
    assert!((0.6..0.8).contains(&ratio), "seen ratio {ratio}");
}

#[test]
fn passwd_file_matches_the_homes() {
    let out = tempfile::tempdir().unwrap();
    let summary = generate(&config(out.path(), 1)).unwrap();
    let root = std::fs::canonicalize(out.path()).unwrap();
    assert_eq!(summary.passwd_file, root.join("passwd"));
    let text = std::fs::read_to_string(&summary.passwd_file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4);
    for (line, user) in lines.iter().zip(&summary.users) {
        let home = root.join("home").join(&user.name);
        assert_eq!(
            *line,
            format!("{}:{{PLAIN}}s3cret::::{}::", user.name, home.display())
        );
        assert_eq!(user.maildir, home.join("Maildir"));
        assert!(user.maildir.join("cur").is_dir());
    }
    // Running again into the same directory is refused rather than mixing two sets.
    let err = generate(&config(out.path(), 1)).unwrap_err().to_string();
    assert!(err.contains("already exists"), "{err}");
}

#[test]
fn mail_is_varied() {
    let out = tempfile::tempdir().unwrap();
    let summary = generate(&config(out.path(), 3)).unwrap();
    let files = tree(&summary.users[0].maildir);
    let texts: Vec<String> = files
        .values()
        .map(|d| String::from_utf8_lossy(d).into_owned())
        .collect();
    let count = |needle: &str| texts.iter().filter(|t| t.contains(needle)).count();
    for needle in [
        "=?UTF-8?B?",
        "=?ISO-8859-1?Q?",
        "In-Reply-To: <",
        "References: <",
        "Content-Type: multipart/alternative",
        "Content-Type: multipart/mixed",
        "Content-Type: text/html",
        "Content-Transfer-Encoding: base64",
        "Content-Transfer-Encoding: quoted-printable",
        "filename*=UTF-8''",
    ] {
        assert!(count(needle) > 0, "no message has {needle:?}");
    }
    let plain = texts
        .iter()
        .filter(|t| !t.contains("Content-Type: multipart/"))
        .count();
    assert!(plain > 30, "plain text messages: {plain}");

    // Replies point at messages of the same mailbox, and every multipart body is closed.
    let ids: Vec<&str> = texts
        .iter()
        .filter_map(|t| t.lines().find_map(|l| l.strip_prefix("Message-ID: ")))
        .collect();
    assert_eq!(ids.len(), texts.len());
    for text in &texts {
        if let Some(parent) = text.lines().find_map(|l| l.strip_prefix("In-Reply-To: ")) {
            assert!(ids.contains(&parent), "reply to unknown {parent}");
        }
        for (i, _) in text.match_indices("boundary=\"") {
            let start = i + "boundary=\"".len();
            let end = text[start..].find('"').unwrap() + start;
            let closing = format!("--{}--", &text[start..end]);
            assert!(text.contains(&closing), "unclosed multipart");
        }
    }

    // Small messages dominate, but big ones exist.
    let mut sizes: Vec<usize> = files.values().map(Vec::len).collect();
    sizes.sort_unstable();
    let median = sizes[sizes.len() / 2];
    assert!(median < 12_000, "median {median}");
    assert!(
        *sizes.last().unwrap() > 50_000,
        "largest {}",
        sizes.last().unwrap()
    );
}
