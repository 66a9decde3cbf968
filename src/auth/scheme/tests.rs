//! Scheme vectors generated with Dovecot 2.3's `doveadm pw -s SCHEME -p PASSWORD`, so that
//! passwd-files written for Dovecot verify here exactly as they do there.

use super::*;

const PW: &str = "pässword 1";

fn parse(field: &str) -> Secret {
    Secret::parse(field).unwrap_or_else(|e| panic!("{field}: {e}"))
}

fn assert_verifies(field: &str, good: &str, bad: &str) {
    let secret = parse(field);
    assert_eq!(
        secret.verify_password(good),
        Verdict::Match,
        "{field} with the right password"
    );
    assert_eq!(
        secret.verify_password(bad),
        Verdict::Mismatch,
        "{field} with a wrong password"
    );
}

#[test]
fn plaintext_schemes() {
    assert_verifies("{PLAIN}pässword 1", PW, "pässword");
    assert_verifies("{CLEAR}pässword 1", PW, "pässword 10");
    assert_verifies("{CLEARTEXT}pässword 1", PW, "PÄSSWORD 1");
    assert_verifies("{PLAIN.B64}ZGVtbw==", "demo", "demo2");
    assert_verifies("{PLAIN.BASE64}ZGVtbw==", "demo", "ZGVtbw==");
    assert_verifies("{PLAIN.HEX}613a62", "a:b", "613a62");
    assert_eq!(parse("{plain}x").plaintext(), Some("x"));
}

#[test]
fn cram_md5_scheme() {
    assert_verifies(
        "{CRAM-MD5}80aec1449634d113e46324e5809848338c28256a7d6da9b7914aa2ece45e4479",
        PW,
        "pässword 2",
    );
    assert_verifies(
        "{CRAM-MD5.B64}RY2kmczDyIjoA3EVZgE6GSnrshDT6BR7aEac5KJdOBk=",
        "demo",
        "dem",
    );
    // A key longer than an MD5 block is hashed first.
    assert_verifies(
        "{CRAM-MD5}8103bb3a2a4b96a9ca9cce4efecc8d22ebe7163dff7401afb5aa16d4edcf9f1f",
        &"x".repeat(70),
        &"x".repeat(71),
    );
}

#[test]
fn digest_schemes() {
    assert_verifies(
        "{PLAIN-MD5}ee0a0fa09df7c1e10c13c2792a1c5fba",
        PW,
        "pässword 2",
    );
    assert_verifies("{LDAP-MD5}/gHOKn+6yPr67XyYKgTiKQ==", "demo", "demo ");
    assert_verifies("{SMD5}U7nJifri1QUJJDEZttGdaxqK+kc=", PW, "pässword");
    assert_verifies(
        "{SHA256}f7RERuWhObO3oHciFhtpNCnGhD0FNBL7CyE3AkK4vbA=",
        PW,
        "pässword",
    );
    assert_verifies(
        "{SHA256.B64}KpdRbDVLaISM29j1SiJqClWyHtE44getbFy7nACqWuo=",
        "demo",
        "Demo",
    );
    assert_verifies(
        "{SSHA256}QrqNvGrG4rdozCwtpmr5Qyi8eTZeg7XFMiOFhnkhIpw6BzCz",
        PW,
        "x",
    );
    assert_verifies(
        "{SHA512}CKWQ1bFe+6HuV0fkV78KrhRH5bOjFVbkHBnd8vTWw2lc3YVFx8X2I6wtGQoVpZVuVsftC++RLO5GPIvd7H4Lyg==",
        PW,
        "pässword",
    );
    assert_verifies(
        "{SHA512.HEX}26c669cd0814ac40e5328752b21c4aa6450d16295e4eec30356a06a911c23983aaebe12d5da38eeebfc1b213be650498df8419194d5a26c7e0a50af156853c79",
        "demo",
        "demo2",
    );
    assert_verifies(
        "{SSHA512}ZWHBMDPmM/Hl8S3949addS6zVtsewaT8cw1SyoC3NZhTrvp5OO1ilY3CU5Ie/5VlygcjPq6jDnmx9zJuiYIlaD6WzGc=",
        PW,
        "pässword 1 ",
    );
    assert_verifies(
        "{SSHA512.hex}46af6a0ed6cb6898b226c6c4f4dd88ac82d1e354d9f85d4a33caf4df1eb5f9db2990dc93b35a9c291ddbd4be301c181c72b3ed5cca1c2015813b639abf2a4eb1a2c8c1c2",
        "demo",
        "demo!",
    );
}

#[test]
fn encoding_is_guessed_like_dovecot_without_a_suffix() {
    // Hex in a base64 scheme, and base64 in a hex scheme.
    assert_verifies(
        "{SHA512}26c669cd0814ac40e5328752b21c4aa6450d16295e4eec30356a06a911c23983aaebe12d5da38eeebfc1b213be650498df8419194d5a26c7e0a50af156853c79",
        "demo",
        "demo2",
    );
    assert_verifies("{PLAIN-MD5}/gHOKn+6yPr67XyYKgTiKQ==", "demo", "demo2");
    // An explicit suffix is taken at its word.
    assert!(matches!(
        parse("{PLAIN-MD5.HEX}/gHOKn+6yPr67XyYKgTiKQ=="),
        Secret::Malformed { .. }
    ));
}

#[test]
fn crypt_family_schemes() {
    assert_verifies(
        "{SHA512-CRYPT}$6$d7RiGAlYoFPYXxi6$gWFDvQk5FDTrzSqKKk7hyEfogquEuiNMcNHxGtPofob4A/4fkjB2Vs11dwX9H/Tm8bV/rkXfyTT3niBum1uJs.",
        PW,
        "pässword",
    );
    assert_verifies(
        "{SHA256-CRYPT}$5$lPMy5Z5Hmpr6iWCR$XMS9pOMsjcfRKC9ram8wRJuDRX1MifdKhPu61URR5i0",
        PW,
        "pässword",
    );
    assert_verifies(
        "{SHA512-CRYPT}$6$rounds=10000$VE7GC4jrvM6XlfEx$MSOaClzOkz9t462iVQ55Ej/nQ1yIJiH/YbLbXFCohKtlAbQAcryDfljKG7KosWRPL3ZiHioOMyQZcwp74BktI1",
        "demo",
        "demo2",
    );
    assert_verifies(
        "{BLF-CRYPT}$2y$05$aW78U03ktC.dvqN62PeSWu8RvWdPrY3IeuT1zul1MtoEFz5ga1aBG",
        PW,
        "x",
    );
    assert_verifies(
        "{CRYPT}$2y$05$29hWCpDTUJe9FBlO6UC43Oj5UzaMe6clyBKGCty5wh66frxt6qBW2",
        PW,
        "x",
    );
    assert_verifies(
        "{MD5-CRYPT}$1$gMl3YIaY$8eNqtxiYOPCXXjEV9rje41",
        PW,
        "pässword",
    );
    assert_verifies("{MD5}$1$75yjYKN4$C/ztnlMd.6xkarcxMJ.oT1", PW, "pässword");
    // No scheme prefix: legacy crypt(3), recognised by the hash's own prefix.
    assert_verifies(
        "$5$lPMy5Z5Hmpr6iWCR$XMS9pOMsjcfRKC9ram8wRJuDRX1MifdKhPu61URR5i0",
        PW,
        "x",
    );
    assert_verifies("$1$gMl3YIaY$8eNqtxiYOPCXXjEV9rje41", PW, "x");
}

#[test]
fn argon2id_scheme() {
    // libsodium's 64 MiB parameters make this the slowest test in a debug build.
    assert_verifies(
        "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$vsRYrFIsy/I4we0jJcPVzw$XgTXFVfmeBgnFMRMGXsDcrghpbim0FYMeZoMfBCeFiE",
        PW,
        "pässword",
    );
}

#[test]
fn empty_password_never_matches() {
    let secret = parse("{PLAIN}");
    assert_eq!(secret.plaintext(), Some(""));
    assert_eq!(secret.verify_password(""), Verdict::Mismatch);
    // `doveadm pw -s SSHA512 -p ''`
    let secret = parse(
        "{SSHA512}FJp04qPaYNkcJok98RjQnOx5dQXB5cGN4LvzDvu2n3/4JBVEB2BybqYYt8C120ZkpgC4FNfNdkgY24rFa3MtjNwzTqA=",
    );
    assert_eq!(secret.verify_password(""), Verdict::Mismatch);
    assert!(matches!(parse(""), Secret::None));
    assert_eq!(parse("").verify_password("anything"), Verdict::Mismatch);
}

#[test]
fn unknown_schemes_and_suffixes_are_load_errors() {
    assert_eq!(
        Secret::parse("{SHA1024}abc").unwrap_err(),
        SchemeError::Unknown("SHA1024".into())
    );
    assert_eq!(
        Secret::parse("{SHA512.B32}abc").unwrap_err(),
        SchemeError::Unknown("SHA512.B32".into())
    );
    assert_eq!(
        Secret::parse("{SHA512-CRYPT.HEX}$6$x$y").unwrap_err(),
        SchemeError::NoSuffix("SHA512-CRYPT.HEX".into())
    );
    assert!(matches!(
        Secret::parse("hunter2"),
        Err(SchemeError::UnsupportedCrypt(_))
    ));
    assert!(matches!(
        Secret::parse("{CRYPT}abJnggxhB/yWI"),
        Err(SchemeError::UnsupportedCrypt(_))
    ));
}

#[test]
fn damaged_values_become_malformed_and_break_logins() {
    for field in [
        "{CRAM-MD5}458da499",
        "{SHA512}not*base64",
        "{SSHA256}QrqNvA==",
        "{SHA512-CRYPT}$6$salt$short",
        "{PLAIN.B64}/w==",
    ] {
        let secret = parse(field);
        assert!(matches!(secret, Secret::Malformed { .. }), "{field}");
        assert!(
            matches!(secret.verify_password("x"), Verdict::Broken(_)),
            "{field}"
        );
        assert!(
            matches!(secret.verify_apop("<1@x>", "00"), Verdict::Broken(_)),
            "{field}"
        );
    }
}

#[test]
fn apop_needs_a_plaintext_secret() {
    // RFC 1939's example: MD5("<1896.697170952@dbc.mtview.ca.us>tanstaaf").
    let ts = "<1896.697170952@dbc.mtview.ca.us>";
    let digest = "c4c9334bac560ecc979e58001b3e22fb";
    let secret = parse("{PLAIN}tanstaaf");
    assert_eq!(secret.verify_apop(ts, digest), Verdict::Match);
    assert_eq!(
        secret.verify_apop(ts, &digest.to_ascii_uppercase()),
        Verdict::Match
    );
    assert_eq!(
        secret.verify_apop("<1897.697170952@dbc.mtview.ca.us>", digest),
        Verdict::Mismatch
    );
    assert_eq!(secret.verify_apop(ts, "c4c9"), Verdict::Mismatch);
    let hashed = parse("{SHA256}f7RERuWhObO3oHciFhtpNCnGhD0FNBL7CyE3AkK4vbA=");
    assert_eq!(hashed.verify_apop(ts, digest), Verdict::Unusable);
}

#[test]
fn cram_md5_from_plaintext_or_stored_context_only() {
    // RFC 2195's example exchange.
    let challenge = "<1896.697170952@postoffice.reston.mci.net>";
    let digest = "b913a602c7eda7a495b4e6e7334d3890";
    assert_eq!(
        parse("{PLAIN}tanstaaftanstaaf").verify_cram(challenge, digest),
        Verdict::Match
    );
    assert_eq!(
        parse("{PLAIN}tanstaaf").verify_cram(challenge, digest),
        Verdict::Mismatch
    );

    // A stored Dovecot context answers a response computed from the plaintext `demo`.
    let stored =
        parse("{CRAM-MD5}458da499ccc3c888e803711566013a1929ebb210d3e8147b68469ce4a25d3819");
    let challenge = "<1896.697170952@postern.example>";
    let response = hex_lower(&CramContext::from_secret(b"demo").hmac(challenge.as_bytes()));
    assert_eq!(stored.verify_cram(challenge, &response), Verdict::Match);
    assert_eq!(
        stored.verify_cram("<other@postern.example>", &response),
        Verdict::Mismatch
    );

    let bcrypt = parse("{BLF-CRYPT}$2y$05$aW78U03ktC.dvqN62PeSWu8RvWdPrY3IeuT1zul1MtoEFz5ga1aBG");
    assert_eq!(bcrypt.verify_cram(challenge, &response), Verdict::Unusable);
    assert!(!bcrypt.supports_cram_md5() && stored.supports_cram_md5());
}

#[test]
fn debug_shows_the_scheme_only() {
    let shown = format!("{:?}", parse("{PLAIN}hunter2"));
    assert_eq!(shown, "Secret(PLAIN)");
}
