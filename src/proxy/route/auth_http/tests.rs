//! The auth_http client against a small HTTP server in the test, which checks what nginx
//! would send and answers as an auth service would (or would not).

use super::*;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::mpsc;
use std::thread;

/// What the test server does with one connection.
enum Reply {
    /// Reads the request, then sends these bytes and closes.
    Send(Vec<u8>),
    /// Reads the request, then sends nothing for this long.
    Stall(Duration),
    /// Reads the request, then closes without a word.
    Close,
}

/// Serves `replies` in turn, one per connection, and passes each request it read on.
fn serve(replies: Vec<Reply>) -> (AuthHttpUrl, mpsc::Receiver<String>) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for reply in replies {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut request = Vec::new();
            let mut byte = [0u8; 1];
            while !request.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                request.push(byte[0]);
            }
            let _ = tx.send(String::from_utf8(request).unwrap());
            match reply {
                Reply::Send(bytes) => {
                    let _ = stream.write_all(&bytes);
                }
                Reply::Stall(time) => thread::sleep(time),
                Reply::Close => {}
            }
        }
    });
    let url = format!("http://127.0.0.1:{port}/mail/auth?v=1")
        .parse()
        .unwrap();
    (url, rx)
}

fn ok(extra: &str) -> Reply {
    Reply::Send(
        format!(
            "HTTP/1.0 200 OK\r\nauth-status: OK\r\nAuth-Server: 198.51.100.1\r\nAUTH-PORT: 143\r\n\
             {extra}Content-Length: 5\r\n\r\nbody!"
        )
        .into_bytes(),
    )
}

fn request(user: &str, password: &str) -> LookupRequest {
    LookupRequest {
        protocol: Protocol::Imap,
        user: user.to_owned(),
        password: password.to_owned(),
        client_ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 42)),
        client_port: 51000,
        secure: true,
        attempt: 2,
    }
}

fn client(url: AuthHttpUrl) -> AuthHttp {
    AuthHttp::new(url, Duration::from_secs(5), BackendTls::Starttls)
}

/// The headers of a request the test server read, in order, and its request line.
fn headers(request: &str) -> (String, Vec<(String, String)>) {
    let mut lines = request.split("\r\n");
    let first = lines.next().unwrap().to_owned();
    let headers = lines
        .take_while(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(": ").unwrap();
            (n.to_owned(), v.to_owned())
        })
        .collect();
    (first, headers)
}

#[test]
fn ok_answer_is_a_route_and_the_request_is_what_nginx_sends() {
    let (url, requests) = serve(vec![ok("")]);
    let route = client(url.clone())
        .lookup(&request("alice@example.org", "secret"))
        .unwrap();
    assert_eq!(
        route,
        Route {
            backend: Backend {
                host: "198.51.100.1".into(),
                port: 143,
                tls: BackendTls::Starttls,
            },
            user: "alice@example.org".into(),
            password: None,
        }
    );
    let (line, h) = headers(&requests.recv().unwrap());
    assert_eq!(line, "GET /mail/auth?v=1 HTTP/1.0");
    let expected = [
        ("Host", "127.0.0.1"),
        ("Auth-Method", "plain"),
        ("Auth-User", "alice@example.org"),
        ("Auth-Pass", "secret"),
        ("Auth-Protocol", "imap"),
        ("Auth-Login-Attempt", "2"),
        ("Client-IP", "192.0.2.42"),
        ("Auth-SSL", "on"),
    ];
    let got: Vec<(&str, &str)> = h.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    assert_eq!(got, expected);
}

#[test]
fn pop3_clear_text_and_ipv4_mapped_client() {
    let (url, requests) = serve(vec![ok("")]);
    let mut req = request("bob", "pw");
    req.protocol = Protocol::Pop3;
    req.secure = false;
    req.attempt = 1;
    req.client_ip = IpAddr::V6(Ipv4Addr::new(203, 0, 113, 5).to_ipv6_mapped());
    client(url).lookup(&req).unwrap();
    let (_, h) = headers(&requests.recv().unwrap());
    let find = |name: &str| h.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    assert_eq!(find("Auth-Protocol").as_deref(), Some("pop3"));
    assert_eq!(find("Auth-Login-Attempt").as_deref(), Some("1"));
    assert_eq!(find("Client-IP").as_deref(), Some("203.0.113.5"));
    assert_eq!(find("Auth-SSL"), None, "only for encrypted clients");
}

#[test]
fn user_and_password_are_percent_encoded_as_nginx_does() {
    assert_eq!(escape("pass with a %"), "pass%20with%20a%20%25");
    assert_eq!(escape("tab\there\r\nnul\0"), "tab%09here%0D%0Anul%00");
    assert_eq!(escape("ünï+cøde/?&=#~\u{7f}"), "ünï+cøde/?&=#~\u{7f}");
    assert_eq!(escape("%25"), "%2525");
    let (url, requests) = serve(vec![ok("")]);
    client(url)
        .lookup(&request("us er%", "p a%ss\r\nX-Injected: 1"))
        .unwrap();
    let text = requests.recv().unwrap();
    assert!(!text.contains("\r\nX-Injected"), "{text}");
    let (_, h) = headers(&text);
    assert!(
        h.contains(&("Auth-User".into(), "us%20er%25".into())),
        "{h:?}"
    );
    assert!(
        h.contains(&("Auth-Pass".into(), "p%20a%25ss%0D%0AX-Injected:%201".into())),
        "{h:?}"
    );
}

#[test]
fn overrides_and_the_backend_tls_extension() {
    let (url, _requests) = serve(vec![
        ok("Auth-User: alice*master\r\nAuth-Pass: master pass\r\nX-Postern-Backend-TLS: tls\r\n"),
        ok("x-postern-backend-tls: plain\r\n"),
        ok("X-Postern-Backend-TLS: ssl\r\n"),
    ]);
    let c = client(url);
    let route = c.lookup(&request("alice", "pw")).unwrap();
    assert_eq!(route.user, "alice*master");
    assert_eq!(
        route.password.as_deref(),
        Some("master pass"),
        "taken as it is"
    );
    assert_eq!(route.backend.tls, BackendTls::Tls);
    assert_eq!(
        c.lookup(&request("alice", "pw")).unwrap().backend.tls,
        BackendTls::Plain
    );
    let e = c.lookup(&request("alice", "pw")).unwrap_err();
    assert!(
        matches!(&e, RouteError::Unavailable(m) if m.contains("X-Postern-Backend-TLS")),
        "{e:?}"
    );
}

#[test]
fn refusal_with_and_without_auth_wait() {
    let (url, requests) = serve(vec![
        Reply::Send(
            b"HTTP/1.0 200 OK\r\nAuth-Status: Invalid login or password\r\nAuth-Wait: 3\r\n\r\n"
                .to_vec(),
        ),
        Reply::Send(
            b"HTTP/1.1 200 OK\nAuth-Status: Account disabled\nAuth-Wait: soon\n\n".to_vec(),
        ),
        Reply::Send(
            b"HTTP/1.0 200 OK\r\nAuth-Status: Go away\r\nAuth-Error-Code: 535 5.7.8\r\n\r\n"
                .to_vec(),
        ),
    ]);
    let c = client(url);
    assert_eq!(
        c.lookup(&request("alice", "wrong")),
        Err(RouteError::Refused {
            message: "Invalid login or password".into(),
            wait: Some(Duration::from_secs(3)),
        })
    );
    // As nginx, an Auth-Wait that is not a number is ignored.
    assert_eq!(
        c.lookup(&request("alice", "wrong")),
        Err(RouteError::Refused {
            message: "Account disabled".into(),
            wait: None,
        })
    );
    assert_eq!(
        c.lookup(&request("alice", "wrong")),
        Err(RouteError::Refused {
            message: "Go away".into(),
            wait: None,
        })
    );
    assert_eq!(requests.iter().take(3).count(), 3);
}

#[test]
fn wait_status_asks_again() {
    let wait = b"HTTP/1.0 200 OK\r\nAuth-Status: WAIT\r\nAuth-Wait: 0\r\n\r\n".to_vec();
    let (url, requests) = serve(vec![Reply::Send(wait.clone()), ok("")]);
    let route = client(url).lookup(&request("alice", "pw")).unwrap();
    assert_eq!(route.backend.port, 143);
    assert_eq!(requests.iter().take(2).count(), 2);
    let replies = (0..=MAX_WAIT_ROUNDS)
        .map(|_| Reply::Send(wait.clone()))
        .collect();
    let (url, _requests) = serve(replies);
    let e = client(url).lookup(&request("alice", "pw")).unwrap_err();
    assert!(
        matches!(&e, RouteError::Unavailable(m) if m.contains("WAIT")),
        "{e:?}"
    );
}

#[test]
fn garbage_is_unavailable() {
    let cases: &[(&[u8], &str)] = &[
        (b"SMTP/1.0 200 OK\r\n\r\n", "not an HTTP status line"),
        (b"HTTP/1.0 2000 OK\r\n\r\n", "not an HTTP status line"),
        (b"HTTP/1.0 500 Internal Server Error\r\nAuth-Status: OK\r\n\r\n", "not 200"),
        (b"HTTP/1.0 302 Found\r\nLocation: /\r\n\r\n", "not 200"),
        (b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n", "no Auth-Status"),
        (b"HTTP/1.0 200 OK\r\nAuth-Status: OK\r\nAuth-Port: 143\r\n\r\n", "without Auth-Server"),
        (b"HTTP/1.0 200 OK\r\nAuth-Status: OK\r\nAuth-Server: h\r\n\r\n", "without Auth-Port"),
        (
            b"HTTP/1.0 200 OK\r\nAuth-Status: OK\r\nAuth-Server: h\r\nAuth-Port: 0\r\n\r\n",
            "Auth-Port",
        ),
        (
            b"HTTP/1.0 200 OK\r\nAuth-Status: OK\r\nAuth-Server: a b\r\nAuth-Port: 1\r\n\r\n",
            "Auth-Server",
        ),
        (
            b"HTTP/1.0 200 OK\r\nAuth-Status: OK\r\nAuth-Status: Nope\r\n\r\n",
            "more than one auth-status",
        ),
        (b"HTTP/1.0 200 OK\r\nAuth-Status OK\r\n\r\n", "malformed header"),
        (b"HTTP/1.0 200 OK\r\n Auth-Status: OK\r\n\r\n", "malformed header"),
        (b"HTTP/1.0 200 OK\r\nAuth-Status: O\x01K\r\n\r\n", "control character"),
        (b"HTTP/1.0 200 OK\r\nAuth-Status: \xffOK\r\n\r\n", "not UTF-8"),
        (b"HTTP/1.0 200 OK\r\nAuth-Status: OK\r\n", "ended before its headers"),
        (b"", "ended before its headers"),
        (
            b"HTTP/1.0 200 OK\r\nAuth-Status: OK\r\nAuth-Server: h\r\nAuth-Port: 1\r\nAuth-User: \r\n\r\n",
            "empty Auth-User",
        ),
    ];
    let replies = cases.iter().map(|(r, _)| Reply::Send(r.to_vec())).collect();
    let (url, _requests) = serve(replies);
    let c = client(url.clone());
    for (response, expected) in cases {
        match c.lookup(&request("alice", "pw")) {
            Err(RouteError::Unavailable(m)) => assert!(
                m.contains(expected) && m.contains(&url.to_string()),
                "{:?}: {m}",
                String::from_utf8_lossy(response)
            ),
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(response)),
        }
    }
}

#[test]
fn oversized_headers_are_unavailable() {
    let mut huge = b"HTTP/1.0 200 OK\r\n".to_vec();
    while huge.len() <= MAX_RESPONSE + 100 {
        huge.extend_from_slice(b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    let (url, _requests) = serve(vec![Reply::Send(huge)]);
    let e = client(url).lookup(&request("alice", "pw")).unwrap_err();
    assert!(
        matches!(&e, RouteError::Unavailable(m) if m.contains("bytes of headers")),
        "{e:?}"
    );
}

#[test]
fn slow_closed_and_absent_services_are_unavailable() {
    let (url, _requests) = serve(vec![Reply::Close, Reply::Stall(Duration::from_secs(3))]);
    let c = AuthHttp::new(url, Duration::from_millis(300), BackendTls::Starttls);
    let e = c.lookup(&request("alice", "pw")).unwrap_err();
    assert!(
        matches!(&e, RouteError::Unavailable(m) if m.contains("ended before its headers")),
        "{e:?}"
    );
    let started = Instant::now();
    let e = c.lookup(&request("alice", "pw")).unwrap_err();
    assert!(
        matches!(&e, RouteError::Unavailable(m) if m.contains("no answer within")),
        "{e:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // Nobody listening.
    let port = {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/").parse().unwrap();
    let e = client(url).lookup(&request("alice", "pw")).unwrap_err();
    assert!(
        matches!(&e, RouteError::Unavailable(m) if m.contains("cannot connect")),
        "{e:?}"
    );
}

#[test]
fn server_addresses() {
    assert_eq!(parse_server("192.0.2.1").unwrap(), "192.0.2.1");
    assert_eq!(parse_server("2001:db8::1").unwrap(), "2001:db8::1");
    assert_eq!(parse_server("[2001:DB8::1]").unwrap(), "2001:db8::1");
    assert_eq!(
        parse_server("imap.example.org").unwrap(),
        "imap.example.org"
    );
    assert!(parse_server("").is_err());
    assert!(parse_server("a/b").is_err());
    assert!(parse_server("[nope]").is_err());
}

#[test]
fn urls() {
    let url: AuthHttpUrl = "http://auth.example.org/auth".parse().unwrap();
    assert_eq!(
        url,
        AuthHttpUrl {
            host: "auth.example.org".into(),
            port: 80,
            path: "/auth".into(),
        }
    );
    assert_eq!(url.to_string(), "http://auth.example.org:80/auth");
    let url: AuthHttpUrl = "http://[::1]:8080".parse().unwrap();
    assert_eq!(
        (url.host.as_str(), url.port, url.path.as_str()),
        ("::1", 8080, "/")
    );
    assert_eq!(url.host_header(), "[::1]");
    let url: AuthHttpUrl = "http://[::1]/x".parse().unwrap();
    assert_eq!(url.port, 80);
    assert_eq!(
        "http://127.0.0.1:9000/mail-auth"
            .parse::<AuthHttpUrl>()
            .unwrap()
            .port,
        9000
    );
    for (bad, expected) in [
        ("https://auth.example.org/", "https is not supported"),
        ("auth.example.org/auth", "expected http://"),
        ("ftp://auth.example.org/", "expected http://"),
        ("http://auth.example.org:0/", "between 1 and 65535"),
        ("http://auth.example.org:x/", "not a number"),
        ("http:///auth", "empty host"),
        ("http://user:pw@auth/", "user information"),
        ("http://::1:80/", "in brackets"),
        ("http://[::1/", "no ']'"),
        ("http://[::1]x/", "expected [IPV6]:PORT"),
        ("http://auth/a b", "space"),
    ] {
        let e = bad.parse::<AuthHttpUrl>().unwrap_err();
        assert!(e.contains(expected), "{bad}: {e}");
    }
}
