//! End-to-end verification through the [`Authenticator`]: every credential shape, the cache,
//! reloads, and the decoy for unknown users.

use super::*;
use crate::auth::cram::{CramContext, hex_lower};
use md5::{Digest, Md5};

const BCRYPT_DEMO: &str = "$2y$04$La3bcdAcsdaOBkn7HS1Fyu5vBx2M0Yf3Nm54ldyLXtOUKQthSFfG2";
const SHA256_DEMO: &str =
    "$5$rounds=1000$h74lXt5OW4LE2Yua$5oIo/9Qb2yElUPSYEtfc4fcV4Onns8nCbvB7ewbHD93";
const CRAM_DEMO: &str =
    "{CRAM-MD5}458da499ccc3c888e803711566013a1929ebb210d3e8147b68469ce4a25d3819";

fn users() -> String {
    format!(
        "plain:{{PLAIN}}demo\n\
         bcrypt@example.org:{{BLF-CRYPT}}{BCRYPT_DEMO}\n\
         sha:{SHA256_DEMO}\n\
         cram:{CRAM_DEMO}\n\
         locked:{{PLAIN}}demo:::::: nologin\n\
         broken:{{SHA512}}%%%\n\
         shadow:!{SHA256_DEMO}\n\
         empty:\n"
    )
}

fn auth_with(text: &str, settings: AuthSettings) -> Authenticator {
    Authenticator::new(PasswdDb::parse(text, "test").unwrap(), settings)
}

fn auth() -> Authenticator {
    auth_with(&users(), AuthSettings::default())
}

fn pass(user: &str, password: &str) -> Credentials {
    Credentials::Password {
        authzid: None,
        user: user.into(),
        password: password.into(),
    }
}

fn apop(user: &str, secret: &str) -> Credentials {
    let timestamp = "<4711.1700000000@postern.example>";
    let digest = hex_lower(
        &Md5::new()
            .chain_update(timestamp)
            .chain_update(secret)
            .finalize(),
    );
    Credentials::Apop {
        user: user.into(),
        timestamp: timestamp.into(),
        digest,
    }
}

fn cram(user: &str, secret: &str) -> Credentials {
    let challenge = "<4712.1700000000@postern.example>";
    let digest = hex_lower(&CramContext::from_secret(secret.as_bytes()).hmac(challenge.as_bytes()));
    Credentials::CramMd5 {
        user: user.into(),
        challenge: challenge.into(),
        digest,
    }
}

fn succeeds(result: AuthResult, user: &str) {
    match result {
        AuthResult::Success(account) => assert_eq!(account.user, user),
        other => panic!("expected success for {user}, got {other:?}"),
    }
}

fn fails(result: AuthResult) {
    assert!(
        matches!(result, AuthResult::Failure),
        "expected failure, got {result:?}"
    );
}

#[test]
fn is_send_and_sync() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Authenticator>();
    shareable::<Arc<Account>>();
}

#[test]
fn passwords_for_every_kind_of_secret() {
    let auth = auth();
    for user in ["plain", "bcrypt@example.org", "sha", "cram"] {
        succeeds(auth.verify(&pass(user, "demo")), user);
        fails(auth.verify(&pass(user, "demo2")));
        fails(auth.verify(&pass(user, "")));
    }
}

#[test]
fn apop_only_with_plaintext_secrets() {
    let auth = auth();
    succeeds(auth.verify(&apop("plain", "demo")), "plain");
    fails(auth.verify(&apop("plain", "demo2")));
    fails(auth.verify(&apop("sha", "demo")));
    fails(auth.verify(&apop("cram", "demo")));
}

#[test]
fn cram_md5_with_plaintext_or_stored_context() {
    let auth = auth();
    succeeds(auth.verify(&cram("plain", "demo")), "plain");
    succeeds(auth.verify(&cram("cram", "demo")), "cram");
    fails(auth.verify(&cram("cram", "Demo")));
    fails(auth.verify(&cram("bcrypt@example.org", "demo")));
}

#[test]
fn authzid_must_be_the_user() {
    let auth = auth();
    let with = |authzid: &str| Credentials::Password {
        authzid: Some(authzid.into()),
        user: "plain".into(),
        password: "demo".into(),
    };
    succeeds(auth.verify(&with("plain")), "plain");
    fails(auth.verify(&with("admin")));
    assert!(
        auth.check_cached(&with("admin")).is_none(),
        "a cached success must not leak past authzid"
    );
}

#[test]
fn nologin_refuses_even_the_right_password() {
    let auth = auth();
    fails(auth.verify(&pass("locked", "demo")));
    fails(auth.verify(&apop("locked", "demo")));
    assert!(auth.check_cached(&pass("locked", "demo")).is_none());
}

#[test]
fn malformed_secret_is_a_temporary_failure() {
    let auth = auth();
    match auth.verify(&pass("broken", "x")) {
        AuthResult::TempFail(message) => assert!(message.contains("broken"), "{message}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_users_run_the_decoy() {
    let auth = auth();
    let runs = || auth.decoy_runs.load(Ordering::Relaxed);
    fails(auth.verify(&pass("nobody", "demo")));
    assert_eq!(runs(), 1);
    fails(auth.verify(&apop("nobody", "demo")));
    fails(auth.verify(&cram("nobody", "demo")));
    assert_eq!(runs(), 3);
    // Known users never touch it, whatever the outcome.
    fails(auth.verify(&pass("sha", "wrong")));
    succeeds(auth.verify(&pass("sha", "demo")), "sha");
    fails(auth.verify(&apop("sha", "demo")));
    assert_eq!(runs(), 3);
    // Accounts whose secret refuses everything cost the same as unknown ones.
    fails(auth.verify(&pass("shadow", "demo")));
    fails(auth.verify(&pass("empty", "")));
    assert_eq!(runs(), 5);
}

#[test]
fn decoy_costs_like_the_accounts() {
    let text = format!("a:{BCRYPT_DEMO}\nb:{BCRYPT_DEMO}\nc:{{PLAIN}}x\n");
    let auth = auth_with(&text, AuthSettings::default());
    assert_eq!(
        decoy::cost_class(&auth.current().decoy),
        Some(decoy::CostClass::Bcrypt { cost: 4 })
    );
    // A reload with other schemes rebuilds the decoy.
    auth.replace_db(PasswdDb::parse(&format!("a:{SHA256_DEMO}\n"), "test").unwrap());
    assert!(matches!(
        decoy::cost_class(&auth.current().decoy),
        Some(decoy::CostClass::Sha { rounds: 1000, .. })
    ));
}

#[test]
fn cache_answers_repeat_logins_only() {
    let auth = auth();
    let creds = pass("bcrypt@example.org", "demo");
    assert!(auth.check_cached(&creds).is_none(), "nothing cached yet");
    succeeds(auth.verify(&creds), "bcrypt@example.org");
    succeeds(
        auth.check_cached(&creds).expect("cached"),
        "bcrypt@example.org",
    );
    assert!(
        auth.check_cached(&pass("bcrypt@example.org", "demo2"))
            .is_none()
    );
    assert!(auth.check_cached(&pass("sha", "demo")).is_none());
    // Failures and non-password mechanisms are never cached.
    fails(auth.verify(&pass("sha", "nope")));
    assert!(auth.check_cached(&pass("sha", "nope")).is_none());
    succeeds(auth.verify(&apop("plain", "demo")), "plain");
    assert!(auth.check_cached(&apop("plain", "demo")).is_none());
    assert!(auth.check_cached(&pass("plain", "demo")).is_none());
}

#[test]
fn a_changed_password_in_the_file_misses_the_cache() {
    let auth = auth();
    succeeds(auth.verify(&pass("plain", "demo")), "plain");
    assert!(auth.check_cached(&pass("plain", "demo")).is_some());

    let changed = users().replace("plain:{PLAIN}demo", "plain:{PLAIN}new");
    auth.replace_db(PasswdDb::parse(&changed, "test").unwrap());
    assert!(auth.check_cached(&pass("plain", "demo")).is_none());
    fails(auth.verify(&pass("plain", "demo")));
    succeeds(auth.verify(&pass("plain", "new")), "plain");
    assert!(auth.db().lookup("plain").unwrap().plaintext_secret() == Some("new"));
}

#[test]
fn the_fingerprint_alone_guards_against_stale_entries() {
    // Even an entry written after a reload (a verification that raced it) cannot answer for a
    // changed secret, because the key includes the stored secret.
    let auth = auth();
    let old = auth.db().lookup("plain").unwrap();
    let key = auth.cache.key("plain", "demo", &old.secret.fingerprint);
    auth.replace_db(
        PasswdDb::parse(&users().replace("{PLAIN}demo\n", "{PLAIN}other\n"), "t").unwrap(),
    );
    auth.cache.insert(key, Instant::now());
    assert!(auth.check_cached(&pass("plain", "demo")).is_none());
}

#[test]
fn reload_clears_the_cache() {
    let auth = auth();
    succeeds(auth.verify(&pass("plain", "demo")), "plain");
    auth.replace_db(PasswdDb::parse(&users(), "test").unwrap());
    assert!(auth.check_cached(&pass("plain", "demo")).is_none());
}

#[test]
fn cache_entries_expire() {
    let settings = AuthSettings {
        cache_ttl: Duration::from_millis(30),
        ..AuthSettings::default()
    };
    let auth = auth_with(&users(), settings);
    succeeds(auth.verify(&pass("plain", "demo")), "plain");
    std::thread::sleep(Duration::from_millis(60));
    assert!(auth.check_cached(&pass("plain", "demo")).is_none());
}

#[test]
fn cache_can_be_disabled() {
    let settings = AuthSettings {
        cache_size: 0,
        ..AuthSettings::default()
    };
    let auth = auth_with(&users(), settings);
    succeeds(auth.verify(&pass("plain", "demo")), "plain");
    assert!(auth.check_cached(&pass("plain", "demo")).is_none());
}

#[test]
fn penalty_uses_the_settings() {
    let settings = AuthSettings {
        failure_delay: Duration::from_millis(100),
        max_failure_delay: Duration::from_millis(250),
        ..AuthSettings::default()
    };
    let auth = auth_with("", settings);
    let ip = "192.0.2.9".parse().unwrap();
    assert_eq!(
        auth.penalty().record_failure(ip),
        Duration::from_millis(100)
    );
    assert_eq!(
        auth.penalty().record_failure(ip),
        Duration::from_millis(200)
    );
    assert_eq!(
        auth.penalty().record_failure(ip),
        Duration::from_millis(250)
    );
    auth.penalty().record_success(ip);
    assert_eq!(auth.penalty().current(ip), Duration::ZERO);
}

#[test]
fn defaults_match_dovecot() {
    let d = AuthSettings::default();
    assert_eq!(d.cache_size, 1024);
    assert_eq!(d.cache_ttl, Duration::from_secs(3600));
    assert_eq!(d.failure_delay, Duration::from_secs(2));
    assert_eq!(d.max_failure_delay, Duration::from_secs(15));
}

#[test]
fn debug_output_has_no_secrets() {
    let auth = auth();
    let shown = format!("{:?} {:?}", auth, auth.verify(&pass("plain", "demo")));
    assert!(!shown.contains("demo"), "{shown}");
}
