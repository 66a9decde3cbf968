//! The route source a `[proxy]` table builds, end to end.

use super::*;
use crate::config::Config;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const BASE: &str = r#"
[auth]
passwd_file = "users"
[pop3]
login_type = "plaintext"
[[listener]]
kind = "pop3"
address = "127.0.0.1:1110"
"#;

fn proxy(table: &str, dir: &Path) -> ProxyConfig {
    let text = format!("{BASE}\n[proxy]\n{table}");
    Config::parse(&text, &dir.join("postern.toml"))
        .unwrap_or_else(|e| panic!("{e}"))
        .proxy
        .expect("a [proxy] table")
}

fn request(user: &str, password: &str, protocol: Protocol) -> LookupRequest {
    LookupRequest {
        protocol,
        user: user.to_owned(),
        password: password.to_owned(),
        client_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        client_port: 40000,
        secure: true,
        attempt: 1,
    }
}

#[test]
fn static_routes() {
    let dir = tempfile::tempdir().unwrap();
    let config = proxy(
        "route = \"static\"\nimap_backend = \"[2001:db8::5]:993\"\nbackend_tls = \"tls\"\n",
        dir.path(),
    );
    let source = RouteSource::load(&config).unwrap();
    let route = source
        .lookup(&request("alice", "pw", Protocol::Imap))
        .unwrap();
    assert_eq!(
        route,
        Route {
            backend: Backend {
                host: "2001:db8::5".into(),
                port: 993,
                tls: BackendTls::Tls,
            },
            user: "alice".into(),
            password: None,
        }
    );
    assert_eq!(
        source.lookup(&request("alice", "pw", Protocol::Pop3)),
        Err(RouteError::NoRoute)
    );
    assert!(matches!(source.kind(), RouteSourceKind::Static(_)));
}

#[test]
fn route_file_is_read_relative_to_the_config_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("routes"),
        "@example.org imap imap1:143\n* pop3 pop:110 plain\n",
    )
    .unwrap();
    let config = proxy("route = \"file\"\nroute_file = \"routes\"\n", dir.path());
    assert_eq!(
        config.route_file.as_deref(),
        Some(dir.path().join("routes").as_path())
    );
    let source = RouteSource::load(&config).unwrap();
    let route = source
        .lookup(&request("bob@example.org", "pw", Protocol::Imap))
        .unwrap();
    assert_eq!(route.backend.host, "imap1");
    assert_eq!(
        route.backend.tls,
        BackendTls::Starttls,
        "proxy.backend_tls's default"
    );
    assert_eq!(
        source
            .lookup(&request("bob@example.org", "pw", Protocol::Pop3))
            .unwrap()
            .backend
            .tls,
        BackendTls::Plain
    );
    assert_eq!(
        source.lookup(&request("bob@example.net", "pw", Protocol::Imap)),
        Err(RouteError::NoRoute)
    );
    // A broken file fails the load (check-config, reload) with file:line.
    std::fs::write(dir.path().join("routes"), "* imap a:143\n* imap b:143\n").unwrap();
    let e = RouteSource::load(&config).unwrap_err().to_string();
    assert!(
        e.contains("routes:2: ") && e.contains("already routed on line 1"),
        "{e}"
    );
    std::fs::remove_file(dir.path().join("routes")).unwrap();
    let e = RouteSource::load(&config).unwrap_err().to_string();
    assert!(e.starts_with("cannot read route file "), "{e}");
}

/// An auth service that counts its requests and accepts only the password `good`.
fn counting_service() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            seen.fetch_add(1, Ordering::SeqCst);
            let mut request = Vec::new();
            let mut byte = [0u8; 1];
            while !request.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                request.push(byte[0]);
            }
            let request = String::from_utf8_lossy(&request);
            let answer = if request.contains("\r\nAuth-Pass: good\r\n") {
                "HTTP/1.0 200 OK\r\nAuth-Status: OK\r\nAuth-Server: 192.0.2.9\r\nAuth-Port: 143\r\n\r\n"
            } else {
                "HTTP/1.0 200 OK\r\nAuth-Status: Invalid login or password\r\nAuth-Wait: 1\r\n\r\n"
            };
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    (format!("http://127.0.0.1:{port}/auth"), count)
}

#[test]
fn auth_http_with_its_cache() {
    let dir = tempfile::tempdir().unwrap();
    let (url, count) = counting_service();
    let config = proxy(
        &format!("route = \"auth-http\"\nauth_http = \"{url}\"\ncache_ttl = \"1h\"\n"),
        dir.path(),
    );
    assert_eq!(config.cache_size, 10_000);
    let source = RouteSource::load(&config).unwrap();
    let good = request("alice", "good", Protocol::Imap);
    let route = source.lookup(&good).unwrap();
    assert_eq!(route.backend.host, "192.0.2.9");
    assert_eq!(source.lookup(&good).unwrap(), route);
    assert_eq!(
        count.load(Ordering::SeqCst),
        1,
        "the second login came from the cache"
    );
    // A wrong password never reuses the success, and refusals are not cached.
    let bad = request("alice", "bad", Protocol::Imap);
    for _ in 0..2 {
        assert!(matches!(
            source.lookup(&bad),
            Err(RouteError::Refused { .. })
        ));
    }
    assert_eq!(count.load(Ordering::SeqCst), 3);
    // Another protocol is another key.
    source
        .lookup(&request("alice", "good", Protocol::Pop3))
        .unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 4);

    // cache_size = 0: every login asks.
    let uncached = proxy(
        &format!("route = \"auth-http\"\nauth_http = \"{url}\"\ncache_size = 0\n"),
        dir.path(),
    );
    let source = RouteSource::load(&uncached).unwrap();
    source.lookup(&good).unwrap();
    source.lookup(&good).unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 6);
}

#[test]
fn host_port() {
    let hp: HostPort = "mail.example.org:143".parse().unwrap();
    assert_eq!(hp.to_string(), "mail.example.org:143");
    let hp: HostPort = "[::1]:993".parse().unwrap();
    assert_eq!((hp.host.as_str(), hp.port), ("::1", 993));
    assert_eq!(hp.to_string(), "[::1]:993");
    assert_eq!(
        hp.backend(BackendTls::Tls),
        Backend {
            host: "::1".into(),
            port: 993,
            tls: BackendTls::Tls
        }
    );
    for bad in [
        "mail",
        "mail:",
        ":1",
        "mail:99999",
        "::1:143",
        "[::1]",
        "a b:1",
    ] {
        assert!(bad.parse::<HostPort>().is_err(), "{bad}");
    }
    for mode in [BackendTls::Plain, BackendTls::Starttls, BackendTls::Tls] {
        assert_eq!(BackendTls::parse(mode.as_str()), Some(mode));
    }
    assert_eq!(BackendTls::parse("TLS"), None);
}

#[test]
fn a_source_can_be_shared_by_a_thread_pool() {
    fn shared<T: Send + Sync>() {}
    shared::<RouteSource>();
}
