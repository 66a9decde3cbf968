//! The `postern-load` binary as a user meets it: help, refusals before any traffic, and the
//! two modes that need no server (`gen-maildir`, `ceiling`).

use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn postern_load(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_postern-load"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn help_lists_the_modes_and_scenarios() {
    let out = postern_load(&["--help"]);
    assert!(out.status.success());
    let text = stdout(&out);
    for mode in ["run", "ceiling", "gen-maildir"] {
        assert!(text.contains(mode), "{text}");
    }
    let out = postern_load(&["run", "--help"]);
    let text = stdout(&out);
    for scenario in [
        "pop3-download",
        "imap-sync",
        "imap-idle",
        "login-storm",
        "mixed",
    ] {
        assert!(text.contains(scenario), "{text}");
    }
    for option in ["--link", "--source-ips", "--server-pid", "--plot", "--json"] {
        assert!(text.contains(option), "{option}");
    }
}

#[test]
fn bad_values_exit_with_usage_errors() {
    let out = postern_load(&[
        "run",
        "pop3-download",
        "--link",
        "56k",
        "--user",
        "a",
        "--password",
        "b",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("invalid link \"56k\""),
        "{}",
        stderr(&out)
    );

    let out = postern_load(&[
        "run",
        "pop3-download",
        "--source-ips",
        "127.0.0.9-127.0.0.1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("ends before it starts"),
        "{}",
        stderr(&out)
    );

    let out = postern_load(&["run", "pop3-download"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--users FILE"), "{}", stderr(&out));

    // A wrong --ceiling file is found before the run starts, not after it.
    let start = Instant::now();
    let out = postern_load(&[
        "run",
        "login-storm",
        "--user",
        "a",
        "--password",
        "b",
        "--ceiling",
        "/nonexistent/ceiling.json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot read --ceiling"),
        "{}",
        stderr(&out)
    );
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn too_many_connections_are_refused_before_connecting() {
    // Beyond both this machine's ephemeral ports and (most likely) its open-file limit:
    // whichever check trips first must say what to change, and nothing may be attempted.
    let start = Instant::now();
    let out = postern_load(&[
        "run",
        "login-storm",
        "--connections",
        "2000000",
        "--user",
        "a",
        "--password",
        "b",
        "--port",
        "9",
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("ulimit -n") || err.contains("--source-ips"),
        "{err}"
    );
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(
        stdout(&out).is_empty(),
        "no report for a run that never started"
    );
}

#[test]
fn gen_maildir_prints_its_paths() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("mail");
    let out = postern_load(&[
        "gen-maildir",
        "--out",
        out_dir.to_str().unwrap(),
        "--users",
        "2",
        "--messages",
        "3",
        "--big-messages",
        "20",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let root = std::fs::canonicalize(&out_dir).unwrap();
    let passwd = root.join("passwd");
    assert!(
        text.contains(&format!("passwd-file: {}", passwd.display())),
        "{text}"
    );
    assert!(text.contains("wrote 26 messages"), "{text}");
    assert!(text.contains("home/%u/Maildir"), "{text}");
    assert_eq!(std::fs::read_to_string(passwd).unwrap().lines().count(), 3);

    // A second run into the same place is refused.
    let again = postern_load(&["gen-maildir", "--out", out_dir.to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(stderr(&again).contains("already exists"));
}

#[test]
fn ceiling_runs_for_a_second_each_and_reports_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("ceiling.json");
    let start = Instant::now();
    let out = postern_load(&[
        "ceiling",
        "--duration",
        "1s",
        "--connections",
        "2",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Three measurements of one second each, plus set-up.
    assert!(start.elapsed() < Duration::from_secs(20));
    let text = stdout(&out);
    for line in ["TCP throughput", "TLS throughput", "TLS handshakes"] {
        assert!(text.contains(line), "{text}");
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for key in ["tcp_mb_per_sec", "tls_mb_per_sec", "tls_handshakes_per_sec"] {
        let value = report[key].as_f64().unwrap();
        assert!(value > 0.0 && value.is_finite(), "{key} = {value}");
    }
    assert_eq!(report["connections"], 2);
    assert!(report["tls_version"].as_str().unwrap().contains("TLS"));
}
