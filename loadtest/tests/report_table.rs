//! The report from known recordings: the numbers in the table and in the JSON must be the
//! percentiles of what was recorded, and the JSON must read back into the same report.

use postern_load::metrics::{Recorder, Step};
use postern_load::report::{GeneratorUsage, Report, RunInfo, Sample};
use std::time::Duration;

/// RETR: 1 µs .. 1000 µs once each (values below 2048 µs are stored exactly);
/// LOGIN: 100 times 2 ms; 3 sessions; 5 MB; two error kinds.
fn known_report() -> Report {
    let rec = Recorder::with_shards(4);
    for us in 1..=1000 {
        rec.record(Step::Retr, Duration::from_micros(us));
    }
    for _ in 0..100 {
        rec.record(Step::Login, Duration::from_micros(2000));
    }
    for _ in 0..3 {
        rec.record(Step::Session, Duration::from_millis(1500));
        rec.session_done();
    }
    rec.bytes(5_000_000);
    rec.error("timeout");
    rec.error("timeout");
    rec.error("verify-mismatch");
    let info = RunInfo {
        scenario: "pop3-download".to_owned(),
        target: "127.0.0.1:110 (pop3, plain)".to_owned(),
        connections: 7,
        elapsed: Duration::from_secs(10),
    };
    let generator = GeneratorUsage::new(1.0, Duration::from_secs(10), 2, 0.2);
    let samples = vec![Sample {
        t_secs: 1.0,
        sessions: 1,
        operations: 500,
        generator_cpu_fraction: Some(0.05),
        ..Sample::default()
    }];
    Report::build(&info, &rec.snapshot(), Some(generator), None, samples)
}

#[test]
fn json_numbers_are_the_recorded_percentiles() {
    let report = known_report();
    let json: serde_json::Value = serde_json::from_str(&report.to_json().unwrap()).unwrap();
    let steps = json["steps"].as_array().unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s["step"].as_str().unwrap()).collect();
    assert_eq!(names, ["login", "retr", "session"]);

    let retr = &steps[1];
    assert_eq!(retr["count"], 1000);
    assert_eq!(retr["ops_per_sec"], 100.0);
    assert_eq!(retr["min_ms"], 0.001);
    assert_eq!(retr["p50_ms"], 0.5);
    assert_eq!(retr["p90_ms"], 0.9);
    assert_eq!(retr["p99_ms"], 0.99);
    // 99.9 % of 1000 values lands on the 999th or 1000th depending on rounding of the rank.
    let p999 = retr["p999_ms"].as_f64().unwrap();
    assert!(p999 == 0.999 || p999 == 1.0, "{p999}");
    assert_eq!(retr["max_ms"], 1.0);
    assert!((retr["mean_ms"].as_f64().unwrap() - 0.5005).abs() < 1e-9);
    let curve = retr["curve"].as_array().unwrap();
    assert_eq!(curve.first().unwrap()["nines"], 0.0);
    assert_eq!(curve.last().unwrap()["nines"], 4.0);

    let login = &steps[0];
    assert_eq!(login["count"], 100);
    assert_eq!(login["p50_ms"], 2.0);
    assert_eq!(login["max_ms"], 2.0);

    // 1.5 s is above the exact range: within the histogram's 0.1 %.
    let session = steps[2]["p50_ms"].as_f64().unwrap();
    assert!((session - 1500.0).abs() <= 1.5, "{session}");

    assert_eq!(json["errors"]["timeout"], 2);
    assert_eq!(json["errors"]["verify-mismatch"], 1);
    assert_eq!(json["errors_total"], 3);
    let t = &json["throughput"];
    assert_eq!(t["operations"], 1100, "sessions are not operations");
    assert_eq!(t["ops_per_sec"], 110.0);
    assert_eq!(t["bytes"], 5_000_000);
    assert_eq!(t["mb_per_sec"], 0.5);
    assert_eq!(t["sessions"], 3);
    assert_eq!(json["generator"]["fraction_of_cores"], 0.05);
    assert_eq!(json["generator"]["saturated"], false);
    assert_eq!(json["samples"][0]["generator_cpu_fraction"], 0.05);
    assert!(json["server"].is_null());
}

#[test]
fn json_round_trips() {
    let report = known_report();
    let text = report.to_json().unwrap();
    let back = Report::from_json(&text).unwrap();
    assert_eq!(back, report);
    assert_eq!(back.to_json().unwrap(), text);
    // Every top-level field a consumer relies on is present.
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    for key in [
        "tool",
        "version",
        "scenario",
        "target",
        "connections",
        "elapsed_secs",
        "steps",
        "errors",
        "errors_total",
        "throughput",
        "generator",
        "server",
        "samples",
        "warnings",
    ] {
        assert!(json.get(key).is_some(), "missing {key}");
    }
}

#[test]
fn table_is_aligned_and_shows_the_percentiles() {
    let table = known_report().to_table();
    let lines: Vec<&str> = table.lines().collect();
    let header = lines
        .iter()
        .position(|l| l.starts_with("step"))
        .expect("a header line");
    let head: Vec<&str> = lines[header].split_whitespace().collect();
    assert_eq!(
        head,
        [
            "step", "count", "ops/s", "p50", "ms", "p90", "ms", "p99", "ms", "p99.9", "ms", "max",
            "ms"
        ]
    );
    let rows = &lines[header + 1..header + 4];
    for row in rows {
        assert_eq!(row.len(), lines[header].len(), "aligned: {row:?}");
    }
    let retr: Vec<&str> = rows[1].split_whitespace().collect();
    assert_eq!(
        retr,
        [
            "retr", "1000", "100.0", "0.50", "0.90", "0.99", "1.00", "1.00"
        ]
    );
    let login: Vec<&str> = rows[0].split_whitespace().collect();
    assert_eq!(
        login,
        [
            "login", "100", "10.0", "2.00", "2.00", "2.00", "2.00", "2.00"
        ]
    );
    assert!(rows[2].starts_with("session"));

    assert!(table.contains("errors:      3 in total"), "{table}");
    assert!(table.contains("timeout          2"), "{table}");
    assert!(table.contains("verify-mismatch  1"), "{table}");
    assert!(
        table.contains("throughput:  1100 ops, 110.0 ops/s; 5.00 MB received, 0.50 MB/s"),
        "{table}"
    );
    assert!(table.contains("sessions:    3 completed, 0.3/s"), "{table}");
    assert!(
        table.contains("generator:   1.00 CPU s = 5.0 % of 2 cores"),
        "{table}"
    );
    assert!(!table.contains("WARNING"));
}

#[test]
fn saturated_generator_is_flagged() {
    let rec = Recorder::new();
    rec.record(Step::Noop, Duration::from_micros(10));
    let info = RunInfo {
        scenario: "login-storm".to_owned(),
        target: "x".to_owned(),
        connections: 1,
        elapsed: Duration::from_secs(10),
    };
    let generator = GeneratorUsage::new(19.0, Duration::from_secs(10), 2, 0.0);
    assert!(generator.saturated);
    let report = Report::build(&info, &rec.snapshot(), Some(generator), None, Vec::new());
    assert_eq!(report.warnings.len(), 1);
    assert!(report.warnings[0].contains("saturated"));
    let table = report.to_table();
    assert!(table.contains("(SATURATED)"), "{table}");
    assert!(
        table.contains("WARNING: the load generator used 95 %"),
        "{table}"
    );
}

#[test]
fn empty_run_still_reports() {
    let info = RunInfo {
        scenario: "imap-sync".to_owned(),
        target: "x".to_owned(),
        connections: 1,
        elapsed: Duration::ZERO,
    };
    let report = Report::build(&info, &Recorder::new().snapshot(), None, None, Vec::new());
    assert!(report.steps.is_empty());
    assert_eq!(report.throughput.ops_per_sec, 0.0);
    assert!(report.to_table().contains("no operation was recorded"));
    assert!(Report::from_json(&report.to_json().unwrap()).is_ok());
}

#[test]
fn ceiling_comparison() {
    use postern_load::ceiling::CeilingReport;
    let ceiling = CeilingReport {
        duration_secs: 5.0,
        connections: 4,
        cores: 2,
        tcp_mb_per_sec: 2.0,
        tls_mb_per_sec: 1.0,
        tls_handshakes_per_sec: 400.0,
        tls_version: "TLSv1_3".to_owned(),
        tls_cipher_suite: "TLS13_AES_256_GCM_SHA384".to_owned(),
        tls_key: "ECDSA P-256".to_owned(),
    };
    let mut report = known_report();
    report.compare_with_ceiling(&ceiling, false);
    let c = report.ceiling.as_ref().unwrap();
    assert_eq!(c.transport, "tcp");
    assert_eq!(c.fraction_of_throughput, 0.25);
    assert_eq!(c.handshakes_per_sec, None);
    assert!(
        report
            .to_table()
            .contains("0.50 MB/s = 25.0 % of this machine's TCP ceiling (2.0 MB/s)")
    );

    // Over TLS: the TLS throughput ceiling, and handshakes against the handshake ceiling.
    let rec = Recorder::new();
    for _ in 0..1000 {
        rec.record(Step::TlsHandshake, Duration::from_millis(3));
    }
    rec.bytes(1_000_000);
    let info = RunInfo {
        scenario: "login-storm".to_owned(),
        target: "x".to_owned(),
        connections: 10,
        elapsed: Duration::from_secs(10),
    };
    let mut report = Report::build(&info, &rec.snapshot(), None, None, Vec::new());
    report.compare_with_ceiling(&ceiling, true);
    let c = report.ceiling.as_ref().unwrap();
    assert_eq!(c.fraction_of_throughput, 0.1);
    assert_eq!(c.handshakes_per_sec, Some(100.0));
    assert_eq!(c.fraction_of_handshakes, Some(0.25));
    let table = report.to_table();
    assert!(
        table.contains("100.0 TLS handshakes/s = 25.0 % of its 400.0/s"),
        "{table}"
    );
    assert_eq!(
        Report::from_json(&report.to_json().unwrap()).unwrap(),
        report
    );
}
