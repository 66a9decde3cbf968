//! Command-line parsing and its mapping onto the scenario configuration, including the
//! errors a mistyped option must give.

use clap::Parser;
use postern_load::cli::{Cli, CliError, Command, RunArgs, parse_source_ips};
use postern_load::scenario::{Kind, Protocol, RunConfig, Transport};
use std::net::IpAddr;
use std::time::Duration;

fn run_args(args: &[&str]) -> Result<RunArgs, clap::Error> {
    let mut argv = vec!["postern-load", "run"];
    argv.extend_from_slice(args);
    match Cli::try_parse_from(argv)?.command {
        Command::Run(run) => Ok(*run),
        other => panic!("not a run: {other:?}"),
    }
}

fn config(args: &[&str]) -> Result<RunConfig, String> {
    run_args(args)
        .map_err(|e| e.to_string())?
        .to_run_config()
        .map_err(|e| e.to_string())
}

const LOGIN: [&str; 4] = ["--user", "alice", "--password", "pw"];

fn with_login(args: &[&str]) -> Vec<&'static str> {
    // Leaked only in tests, to keep the call sites short.
    let mut all: Vec<&'static str> = args
        .iter()
        .map(|a| &*Box::leak(a.to_string().into_boxed_str()))
        .collect();
    all.extend_from_slice(&LOGIN);
    all
}

#[test]
fn defaults() {
    let cfg = config(&with_login(&["pop3-download"])).unwrap();
    assert!(matches!(cfg.kind, Kind::Pop3Download { delete: false }));
    assert_eq!(cfg.host, "127.0.0.1");
    assert_eq!((cfg.port, cfg.pop3_port, cfg.imap_port), (110, 110, 143));
    assert_eq!(cfg.transport, Transport::Plain);
    assert_eq!(cfg.sni, "127.0.0.1");
    assert_eq!(cfg.users, vec![("alice".to_owned(), "pw".to_owned())]);
    assert_eq!(cfg.connections, 10);
    assert_eq!(cfg.sessions, None);
    assert_eq!(cfg.duration, Duration::from_secs(30));
    assert_eq!(cfg.timeout, Duration::from_secs(30));
    assert_eq!(cfg.link.bits_per_sec, None);
    assert_eq!(cfg.link.rtt, Duration::ZERO);
    assert!(cfg.source_ips.is_empty());
    assert_eq!(cfg.verify_sample, 0.0);
}

#[test]
fn ports_follow_protocol_and_transport() {
    let cfg = config(&with_login(&["pop3-download", "--transport", "tls"])).unwrap();
    assert_eq!((cfg.port, cfg.pop3_port, cfg.imap_port), (995, 995, 993));
    assert_eq!(cfg.transport, Transport::Tls);

    let cfg = config(&with_login(&[
        "imap-sync",
        "--port",
        "1143",
        "--newest",
        "7",
    ]))
    .unwrap();
    assert_eq!((cfg.port, cfg.imap_port, cfg.pop3_port), (1143, 1143, 110));
    assert!(matches!(cfg.kind, Kind::ImapSync { newest: 7 }));

    let cfg = config(&with_login(&[
        "login-storm",
        "--protocol",
        "imap",
        "--transport",
        "starttls",
        "--sni",
        "mail.example.org",
        "--insecure",
    ]))
    .unwrap();
    assert_eq!(cfg.port, 143);
    assert_eq!(cfg.login_protocol, Protocol::Imap);
    assert_eq!(cfg.transport, Transport::StartTls);
    assert_eq!(cfg.sni, "mail.example.org");
    assert!(cfg.insecure);
}

#[test]
fn link_profiles() {
    let cfg = config(&with_login(&["pop3-download", "--link", "256kbit,200ms"])).unwrap();
    assert_eq!(cfg.link.bits_per_sec, Some(256_000));
    assert_eq!(cfg.link.rtt, Duration::from_millis(200));
    let cfg = config(&with_login(&["pop3-download", "--link", "mobile"])).unwrap();
    assert!(cfg.link.bits_per_sec.is_some());
    assert!(cfg.link.rtt > Duration::ZERO);
    let cfg = config(&with_login(&["pop3-download", "--link", "unlimited"])).unwrap();
    assert_eq!(cfg.link.bits_per_sec, None);

    let err = config(&with_login(&["pop3-download", "--link", "fast"])).unwrap_err();
    assert!(err.contains("invalid link \"fast\""), "{err}");
    assert!(err.contains("256kbit,200ms"), "{err}");
}

#[test]
fn source_ip_ranges() {
    let ips = parse_source_ips("127.0.0.1-127.0.0.50").unwrap().0;
    assert_eq!(ips.len(), 50);
    assert_eq!(ips[0], "127.0.0.1".parse::<IpAddr>().unwrap());
    assert_eq!(ips[49], "127.0.0.50".parse::<IpAddr>().unwrap());
    let ips = parse_source_ips("127.0.0.250-127.0.1.2").unwrap().0;
    assert_eq!(ips.len(), 9, "ranges cross octet boundaries");
    let ips = parse_source_ips("127.0.0.1, 127.0.0.3,127.0.0.7-127.0.0.8")
        .unwrap()
        .0;
    assert_eq!(ips.len(), 4);
    let ips = parse_source_ips("::1-::3").unwrap().0;
    assert_eq!(ips.len(), 3);

    for (bad, expect) in [
        ("127.0.0.9-127.0.0.1", "ends before it starts"),
        ("127.0.0.1-::1", "mixes IPv4 and IPv6"),
        ("127.0.0.1,::1", "mixes IPv4 and IPv6"),
        ("127.0.0.256", "invalid source address"),
        ("127.0.0.1,,127.0.0.2", "empty item"),
        ("10.0.0.0-10.255.255.255", "at most 65536"),
    ] {
        let err = parse_source_ips(bad).unwrap_err();
        assert!(err.contains(expect), "{bad}: {err}");
    }

    let cfg = config(&with_login(&[
        "pop3-download",
        "--source-ips",
        "127.0.0.1-127.0.0.4",
    ]))
    .unwrap();
    assert_eq!(cfg.source_ips.len(), 4);
}

#[test]
fn mixed_runs() {
    let cfg = config(&with_login(&[
        "mixed",
        "--mix",
        "pop3-download=3,imap-sync=5",
        "--pop3-port",
        "1110",
        "--imap-port",
        "1143",
        "--delete",
        "--newest",
        "4",
    ]))
    .unwrap();
    assert_eq!((cfg.pop3_port, cfg.imap_port), (1110, 1143));
    let Kind::Mixed(parts) = &cfg.kind else {
        panic!("not mixed: {:?}", cfg.kind)
    };
    assert_eq!(parts.len(), 2);
    assert!(matches!(parts[0], (Kind::Pop3Download { delete: true }, 3)));
    assert!(matches!(parts[1], (Kind::ImapSync { newest: 4 }, 5)));

    let cfg = config(&with_login(&[
        "mixed",
        "--mix",
        "imap-idle=1,login-storm=2",
        "--maildir-template",
        "/srv/%u/Maildir",
        "--noop-every",
        "5s",
        "--deliveries",
        "3",
    ]))
    .unwrap();
    let Kind::Mixed(parts) = &cfg.kind else {
        panic!()
    };
    assert!(matches!(
        parts[0],
        (Kind::ImapIdle { noop_every: Some(d), deliveries: 3 }, 1) if d == Duration::from_secs(5)
    ));
    assert!(matches!(parts[1], (Kind::LoginStorm, 2)));
}

#[test]
fn everything_else_maps_through() {
    let cfg = config(&with_login(&[
        "pop3-download",
        "--host",
        "localhost",
        "--connections",
        "123",
        "--sessions",
        "1000",
        "--duration",
        "1.5m",
        "--timeout",
        "250ms",
        "--maildir-template",
        "/x/%u/Maildir",
        "--verify-sample",
        "0.1",
        "--cafile",
        "/etc/ca.pem",
    ]))
    .unwrap();
    assert_eq!(cfg.host, "localhost");
    assert_eq!(cfg.connections, 123);
    assert_eq!(cfg.sessions, Some(1000));
    assert_eq!(cfg.duration, Duration::from_secs(90));
    assert_eq!(cfg.timeout, Duration::from_millis(250));
    assert_eq!(cfg.maildir_template.as_deref(), Some("/x/%u/Maildir"));
    assert_eq!(cfg.verify_sample, 0.1);
    assert_eq!(
        cfg.cafile.as_deref(),
        Some(std::path::Path::new("/etc/ca.pem"))
    );
}

#[test]
fn users_from_a_passwd_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("passwd");
    std::fs::write(
        &file,
        "a:{PLAIN}one::::/home/a::\nb:{SHA256-CRYPT}$5$x$y\nc:{CLEAR}three\n",
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let cfg = config(&["imap-sync", "--users", file]).unwrap();
    assert_eq!(
        cfg.users,
        vec![
            ("a".to_owned(), "one".to_owned()),
            ("c".to_owned(), "three".to_owned())
        ]
    );

    let only_hashes = dir.path().join("hashed");
    std::fs::write(&only_hashes, "b:{SHA256-CRYPT}$5$x$y\n").unwrap();
    let err = config(&["imap-sync", "--users", only_hashes.to_str().unwrap()]).unwrap_err();
    assert!(err.contains("no usable account"), "{err}");
    assert!(err.contains("1 line(s)"), "{err}");

    let err = config(&["imap-sync", "--users", "/nonexistent/passwd"]).unwrap_err();
    assert!(err.contains("cannot read users file"), "{err}");
}

#[test]
fn bad_values_give_clear_errors() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["pop3-download", "--duration", "10x"],
            "invalid duration \"10x\"",
        ),
        (&["pop3-download", "--timeout", "soon"], "invalid duration"),
        (
            &["pop3-download", "--verify-sample", "2"],
            "expected a number from 0 to 1",
        ),
        (
            &["pop3-download", "--connections", "many"],
            "invalid value 'many'",
        ),
        (
            &["pop3-download", "--transport", "ssl"],
            "invalid value 'ssl'",
        ),
        (
            &["pop3-download", "--connections", "0"],
            "--connections must be at least 1",
        ),
        (
            &["pop3-download", "--duration", "0s"],
            "every run needs a time cap",
        ),
        (
            &["pop3-download", "--sessions", "0"],
            "--sessions must be at least 1",
        ),
        (&["mixed"], "mixed needs --mix"),
        (
            &["pop3-download", "--mix", "imap-sync=1"],
            "--mix only applies to the mixed",
        ),
        (&["mixed", "--mix", "imap-sync=0"], "must be at least 1"),
        (&["mixed", "--mix", "pop3=2"], "unknown scenario \"pop3\""),
        (&["mixed", "--mix", "imap-sync=x"], "invalid weight"),
        (&["imap-idle"], "need --maildir-template"),
        (
            &["pop3-download", "--verify-sample", "0.5"],
            "need --maildir-template",
        ),
        (
            &["pop3-download", "--maildir-template", "/srv/mail"],
            "must contain %u",
        ),
        (
            &[
                "imap-idle",
                "--maildir-template",
                "/m/%u",
                "--deliveries",
                "0",
            ],
            "--deliveries",
        ),
        (&["smtp-flood"], "invalid value 'smtp-flood'"),
    ];
    for (args, expect) in cases {
        let err = config(&with_login(args)).unwrap_err();
        assert!(err.contains(expect), "{args:?}: {err}");
    }
    // No accounts at all.
    let err = run_args(&["login-storm"])
        .unwrap()
        .to_run_config()
        .unwrap_err();
    assert!(matches!(err, CliError::MissingUsers), "{err}");
    // --user without --password is caught by the parser.
    let err = run_args(&["login-storm", "--user", "a"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("--password"), "{err}");
}

#[test]
fn other_subcommands_parse() {
    let cli = Cli::try_parse_from([
        "postern-load",
        "gen-maildir",
        "--out",
        "/tmp/x",
        "--seed",
        "9",
        "--users",
        "5",
        "--messages",
        "3",
        "--big-messages",
        "0",
    ])
    .unwrap();
    let Command::GenMaildir(args) = cli.command else {
        panic!()
    };
    let cfg = args.to_config();
    assert_eq!(
        (cfg.seed, cfg.users, cfg.messages_per_user, cfg.big_messages),
        (9, 5, 3, 0)
    );
    let cli = Cli::try_parse_from(["postern-load", "ceiling", "--duration", "2s"]).unwrap();
    let Command::Ceiling(args) = cli.command else {
        panic!()
    };
    assert_eq!(args.duration, Duration::from_secs(2));
    assert_eq!(args.connections, 4);
}
