//! End to end through the binary: `postern-load run pop3-download` against a minimal POP3
//! server started by this test, with the JSON report, the plot and server sampling (the
//! "server" is this test process).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

/// The mailbox: two messages, as sent on the wire (CRLF, no dot-stuffing needed).
const MESSAGES: [&str; 2] = [
    "From: a@example.com\r\nSubject: one\r\n\r\nHello.\r\n",
    "From: b@example.com\r\nSubject: two\r\n\r\nSecond message,\r\nwith two lines.\r\n",
];

/// Answers one client: USER/PASS (password "pw"), STAT, LIST, UIDL, RETR, RSET, NOOP, QUIT.
fn serve(stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    out.write_all(b"+OK tiny POP3 ready\r\n")?;
    let total: usize = MESSAGES.iter().map(|m| m.len()).sum();
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut words = line.split_whitespace();
        let command = words.next().unwrap_or("").to_ascii_uppercase();
        let arg = words.next().unwrap_or("");
        let reply = match command.as_str() {
            "USER" | "RSET" | "NOOP" => "+OK\r\n".to_owned(),
            "PASS" if arg == "pw" => "+OK logged in\r\n".to_owned(),
            "PASS" => "-ERR [AUTH] wrong password\r\n".to_owned(),
            "STAT" => format!("+OK {} {total}\r\n", MESSAGES.len()),
            "LIST" => {
                let mut r = format!("+OK {} messages\r\n", MESSAGES.len());
                for (i, m) in MESSAGES.iter().enumerate() {
                    r += &format!("{} {}\r\n", i + 1, m.len());
                }
                r + ".\r\n"
            }
            "UIDL" => {
                let mut r = "+OK\r\n".to_owned();
                for i in 0..MESSAGES.len() {
                    r += &format!("{} uid{}\r\n", i + 1, i + 1);
                }
                r + ".\r\n"
            }
            "RETR" => match arg.parse::<usize>().ok().and_then(|n| MESSAGES.get(n - 1)) {
                Some(m) => format!("+OK {} octets\r\n{m}.\r\n", m.len()),
                None => "-ERR no such message\r\n".to_owned(),
            },
            "QUIT" => {
                out.write_all(b"+OK bye\r\n")?;
                return Ok(());
            }
            _ => "-ERR unknown command\r\n".to_owned(),
        };
        out.write_all(reply.as_bytes())?;
    }
}

fn start_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve(stream));
        }
    });
    port
}

#[test]
fn pop3_download_end_to_end() {
    let port = start_server();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let svg = dir.path().join("latency.svg");
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_postern-load"))
        .args([
            "run",
            "pop3-download",
            "--port",
            &port.to_string(),
            "--user",
            "alice",
            "--password",
            "pw",
            "--connections",
            "3",
            "--duration",
            "2s",
            "--timeout",
            "5s",
            "--server-pid",
            &std::process::id().to_string(),
            "--json",
            json.to_str().unwrap(),
            "--plot",
            svg.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    // The run stops by itself at its time cap.
    assert!(start.elapsed() < Duration::from_secs(15));

    // People: the table, and a progress line a second.
    for step in [
        "connect", "login", "select", "fetch", "retr", "logout", "session",
    ] {
        assert!(
            stdout.lines().any(|l| l.starts_with(step)),
            "no {step} row:\n{stdout}"
        );
    }
    assert!(stdout.contains("errors:      none"), "{stdout}");
    assert!(stdout.contains("server:      pid"), "{stdout}");
    assert!(
        stderr.contains("sessions") && stderr.contains("p99"),
        "{stderr}"
    );

    // Machines: the JSON agrees with what the server served.
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["scenario"], "pop3-download");
    assert_eq!(report["connections"], 3);
    assert_eq!(report["errors_total"], 0, "{:#}", report["errors"]);
    let sessions = report["throughput"]["sessions"].as_u64().unwrap();
    assert!(sessions > 0);
    let steps = report["steps"].as_array().unwrap();
    let count = |name: &str| {
        steps
            .iter()
            .find(|s| s["step"] == name)
            .map_or(0, |s| s["count"].as_u64().unwrap())
    };
    assert!(
        count("retr") >= 2 * sessions,
        "two RETRs per completed session"
    );
    assert_eq!(count("session"), sessions);
    let bytes = report["throughput"]["bytes"].as_u64().unwrap();
    let mailbox: u64 = MESSAGES.iter().map(|m| m.len() as u64).sum();
    assert!(
        bytes >= sessions * mailbox,
        "{bytes} bytes for {sessions} sessions"
    );
    assert!(report["throughput"]["mb_per_sec"].as_f64().unwrap() > 0.0);
    assert!(report["server"]["processes_before"].as_u64().unwrap() >= 1);
    assert!(report["server"]["rss_max_bytes"].as_u64().unwrap() > 0);
    assert!(report["generator"]["cores"].as_u64().unwrap() >= 1);
    assert!(!report["samples"].as_array().unwrap().is_empty());

    // The plot has a line for every step in the report.
    let plot = std::fs::read_to_string(&svg).unwrap();
    assert!(plot.starts_with("<svg"));
    assert_eq!(plot.matches("<polyline").count(), steps.len());

    // The JSON alone is enough to draw the same plot again.
    let again = dir.path().join("again.svg");
    let out = Command::new(env!("CARGO_BIN_EXE_postern-load"))
        .args(["plot", json.to_str().unwrap(), again.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&again).unwrap(), plot);
}
