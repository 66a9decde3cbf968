#!/usr/bin/env python3
"""Real-client IMAP4rev1 checks, one scenario per run, driven by the Rust integration tests.

    imap_client.py SCENARIO --host H --port N [--tls-port N] --mode plain|starttls|tls
                   [--cafile PEM] --user U --password P [scenario options]

Scenarios: capability login authenticate mailboxes append-fetch store search copy-move
expunge idle two-sessions id-enable corpus bad-input starttls-injection.

Each passed check prints `ok <check>`; the first failure exits 1 with the command sent,
the response received and what was expected. The checks follow the RFCs (3501 and the
extensions Postern advertises), not one server's texts or capability list. Scenarios
work in mailboxes of their own (named `<prefix>...`, removed at the end) so that they can
run on any account, except where INBOX itself is the subject (INBOX rename, idle).
"""
import argparse
import base64
import hashlib
import hmac
import imaplib
import json
import os
import random
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from imap_support import (  # noqa: E402
    CheckFailed,
    Closed,
    Imap,
    Literal,
    add_server_args,
    astr,
    check,
    crlf,
    fail,
    flagset,
    message,
    mutf7_decode,
    mutf7_encode,
    ok,
    parse_date_time,
    parse_uid_set,
    quote,
    run,
    show,
    to_json,
    uid_set,
)

SCENARIOS = {}


def scenario(name):
    def reg(fn):
        SCENARIOS[name] = fn
        return fn

    return reg


def prefix(args):
    """A mailbox name prefix unique to this run."""
    return args.prefix or "pt%d%04d" % (os.getpid() % 100000, random.randrange(10000))


def session(args, name="A", mode=None):
    """A logged-in connection."""
    c = Imap(args, mode=mode, name=name)
    c.login()
    return c


class Boxes:
    """Mailboxes a scenario created, deleted at the end (children first)."""

    def __init__(self, c):
        self.c = c
        self.names = []

    def create(self, name):
        self.c.cmd("CREATE ", quote(name), what="CREATE " + name)
        self.names.append(name)
        return name

    def cleanup(self):
        for n in sorted(set(self.names), key=lambda x: -len(x)):
            self.c.cmd("DELETE ", quote(n), expect=None)


def flags_no_recent(v):
    return flagset(v) - {"\\Recent"}


# =======================================================================================
# capability


def parse_cap_expectations(values):
    out = []
    for v in values or []:
        stage, _, cap = v.rpartition(":")
        stage = stage or "login"
        if stage not in ("pre", "login", "auth"):
            raise SystemExit("--expect-cap stage must be pre, login or auth: %r" % v)
        out.append((stage, cap.upper()))
    return out


@scenario("capability")
def sc_capability(args):
    """Greeting, CAPABILITY before/after STARTTLS and after login, and their consistency."""
    want = parse_cap_expectations(args.expect_cap)
    refuse = parse_cap_expectations(args.expect_no_cap)
    first_mode = "plain" if args.mode == "starttls" else args.mode
    c = Imap(args, mode=first_mode, name="A")
    ok("greeting is * OK")
    stages = {}
    pre = c.capability()
    ok("CAPABILITY before login lists IMAP4rev1")
    if c.greeting.code == "CAPABILITY":
        greet = set(x.upper() for x in c.greeting.code_args.split())
        check(greet == pre, "the [CAPABILITY] in the greeting differs from the CAPABILITY answer",
              got=c.greeting, expected=" ".join(sorted(pre)))
        ok("greeting [CAPABILITY] equals CAPABILITY")
    stages["pre"] = pre
    if args.mode == "tls":
        check("STARTTLS" not in pre, "STARTTLS advertised on an implicit-TLS connection",
              got=" ".join(sorted(pre)))
        ok("no STARTTLS on the TLS port")
    if args.mode == "starttls":
        check("STARTTLS" in pre, "STARTTLS not advertised on the plain port", got=" ".join(sorted(pre)))
        r = c.cmd("STARTTLS")
        check(c.buf == b"", "plaintext after the STARTTLS OK", got=c.buf)
        c._wrap_tls()
        ok("STARTTLS handshake, certificate verified for localhost")
        tls = c.capability()
        check("STARTTLS" not in tls, "STARTTLS still advertised after STARTTLS", got=" ".join(sorted(tls)))
        ok("no STARTTLS after STARTTLS")
        r = c.cmd("STARTTLS", expect=("BAD", "NO"), what="a second STARTTLS must be refused")
        ok("second STARTTLS refused with %s" % r.tagged.kind)
        stages["login"] = tls
    else:
        stages["login"] = pre
    login_caps = stages["login"]
    mechs = sorted(x[5:] for x in login_caps if x.startswith("AUTH="))
    print("# capabilities before login: %s" % " ".join(sorted(login_caps)))
    if "LOGINDISABLED" in login_caps:
        check(args.mode == "plain", "LOGINDISABLED advertised over TLS", got=" ".join(sorted(login_caps)))
        r = c.login(expect="NO")
        ok("LOGIN refused with NO under LOGINDISABLED")
        r = c.cmd("NOOP")
        for stage, cap in want + refuse:
            check(stage != "auth", "cannot check post-login capabilities: login is disabled here")
    else:
        r = c.login()
        ok("LOGIN")
        code_caps = None
        if r.tagged.code == "CAPABILITY":
            code_caps = set(x.upper() for x in r.tagged.code_args.split())
        auth = c.capability()
        if code_caps is not None:
            check(code_caps == auth, "the [CAPABILITY] in the LOGIN OK differs from CAPABILITY after login",
                  got=r.tagged, expected=" ".join(sorted(auth)))
            ok("LOGIN [CAPABILITY] equals CAPABILITY")
        stages["auth"] = auth
        print("# capabilities after login: %s" % " ".join(sorted(auth)))
        for bad in ("LOGINDISABLED", "STARTTLS"):
            check(bad not in auth, "%s advertised in the authenticated state" % bad, got=" ".join(sorted(auth)))
        authm = [x for x in auth if x.startswith("AUTH=")]
        check(not authm, "AUTH= mechanisms advertised in the authenticated state", got=" ".join(authm))
        ok("no LOGINDISABLED, STARTTLS or AUTH= after login")
        r = c.cmd("STARTTLS", expect=("BAD", "NO"), what="STARTTLS in the authenticated state")
        ok("STARTTLS refused after login (%s)" % r.tagged.kind)
        r = c.cmd("LOGIN ", quote(args.user), " ", quote(args.password), expect=("BAD", "NO"),
                  what="LOGIN in the authenticated state")
        ok("LOGIN refused after login (%s)" % r.tagged.kind)
    for stage, cap in want:
        check(stage in stages, "no %s stage on this connection for --expect-cap %s" % (stage, cap))
        check(cap in stages[stage], "%s not advertised at stage %s" % (cap, stage),
              got=" ".join(sorted(stages[stage])))
        ok("%s advertised (%s)" % (cap, stage))
    for stage, cap in refuse:
        check(stage in stages, "no %s stage on this connection for --expect-no-cap %s" % (stage, cap))
        check(cap not in stages[stage], "%s advertised at stage %s" % (cap, stage),
              got=" ".join(sorted(stages[stage])))
        ok("%s not advertised (%s)" % (cap, stage))
    if mechs:
        print("# mechanisms: %s" % " ".join(mechs))
    c.logout()
    ok("LOGOUT")


# =======================================================================================
# login


def expect_eof(c, seconds=5):
    deadline = time.monotonic() + seconds
    try:
        while True:
            r = c.read_response(deadline)
            fail("%s: data after LOGOUT's tagged OK" % c.name, got=r)
    except Closed:
        return
    except (socket.timeout, TimeoutError):
        fail("%s: the server did not close the connection within %d s after LOGOUT" % (c.name, seconds))


@scenario("login")
def sc_login(args):
    """LOGIN good/bad/good, literals, LOGOUT (* BYE, tagged OK, close), and Python's imaplib."""
    c = Imap(args, name="A")
    caps = c.capability()
    check("LOGINDISABLED" not in caps, "LOGINDISABLED: this mode cannot test LOGIN (use capability)",
          got=" ".join(sorted(caps)))
    c.login()
    ok("LOGIN with the right password")
    r = c.cmd("LOGOUT")
    byes = [u for u in r.untagged if u.kind == "BYE"]
    check(len(byes) == 1, "LOGOUT must send one * BYE before the tagged OK", sent=r.sent, got=r.all())
    ok("LOGOUT: * BYE then tagged OK")
    expect_eof(c)
    ok("connection closed after LOGOUT")

    c = Imap(args, name="B")
    c.login(password=args.password + "-wrong", expect="NO")
    ok("LOGIN with a wrong password: NO")
    c.login(user="no-such-user-%d" % os.getpid(), expect="NO")
    ok("LOGIN of an unknown user: NO")
    c.cmd("NOOP")
    ok("session goes on after failed logins")
    c.cmd("SELECT INBOX", expect=("BAD", "NO"), what="SELECT before login")
    ok("SELECT refused before login")
    c.login()
    ok("LOGIN right after failures")
    c.cmd("SELECT INBOX")
    ok("authenticated: SELECT INBOX")
    c.logout()

    # Literals for user name and password (synchronizing, and LITERAL+ when advertised).
    c = Imap(args, name="C")
    c.cmd("LOGIN ", Literal(args.user), " ", Literal(args.password))
    ok("LOGIN with synchronizing literals")
    c.logout()
    c = Imap(args, name="D")
    if c.has("LITERAL+"):
        c.cmd("LOGIN ", Literal(args.user, plus=True), " ", Literal(args.password, plus=True))
        ok("LOGIN with non-synchronizing literals (LITERAL+)")
    c.close()

    # Python's stock client.
    ctx = None
    if args.mode != "plain":
        ctx = ssl.create_default_context(cafile=args.cafile)
    try:
        if args.mode == "tls":
            m = imaplib.IMAP4_SSL("localhost", args.tls_port or args.port, ssl_context=ctx, timeout=args.timeout)
        else:
            m = imaplib.IMAP4("localhost", args.port, timeout=args.timeout)
            if args.mode == "starttls":
                m.starttls(ssl_context=ctx)
        typ, _ = m.login(args.user, args.password)
        check(typ == "OK", "imaplib login", got=str(typ))
        typ, data = m.select("INBOX", readonly=True)
        check(typ == "OK", "imaplib select", got=str(data))
        typ, data = m.noop()
        typ, data = m.logout()
        check(typ == "BYE", "imaplib logout must see BYE", got=str((typ, data)))
    except imaplib.IMAP4.error as e:
        fail("Python's imaplib failed: %s" % e)
    ok("imaplib: login, select, logout")


# =======================================================================================
# authenticate


def b64(b):
    return base64.b64encode(b if isinstance(b, bytes) else b.encode()).decode()


def sasl(c, mech, user, password, initial=False, cancel_at=None, garbage_at=None):
    """Runs AUTHENTICATE; returns the tagged response. cancel_at/garbage_at: step index
    at which to send '*' or invalid base64 instead of the answer."""
    tag = c.tag()
    steps = []
    if mech == "PLAIN":
        steps = [b"\0" + user.encode() + b"\0" + password.encode()]
    elif mech == "LOGIN":
        steps = [user.encode(), password.encode()]
    line = "%s AUTHENTICATE %s" % (tag, mech)
    step = 0
    if initial:
        if garbage_at == 0:
            line += " !!!not-base64!!!"
        else:
            line += " " + b64(steps[0])
        step = 1
    c.send(line + "\r\n")
    sent = [line]
    while True:
        r = c.next_response()
        if r.tag == tag:
            return r, sent
        if r.tag == "*":
            continue
        check(r.tag == "+", "unexpected response during AUTHENTICATE", sent=sent, got=r)
        if cancel_at == step:
            c.send("*\r\n")
            sent.append("*")
            step += 1
            continue
        if garbage_at == step:
            c.send("!!!not-base64!!!\r\n")
            sent.append("!!!not-base64!!!")
            step += 1
            continue
        if mech == "CRAM-MD5":
            try:
                challenge = base64.b64decode(r.text, validate=True)
            except ValueError:
                fail("CRAM-MD5 challenge is not base64", sent=sent, got=r)
            check(challenge.startswith(b"<") and challenge.endswith(b">") and b"@" in challenge,
                  "CRAM-MD5 challenge is not in msg-id form <...@...> (RFC 2195)", sent=sent, got=challenge)
            digest = hmac.new(password.encode(), challenge, hashlib.md5).hexdigest()
            answer = b64("%s %s" % (user, digest))
        else:
            check(step < len(steps), "more challenges than the mechanism has steps", sent=sent, got=r)
            answer = b64(steps[step])
        step += 1
        c.send(answer + "\r\n")
        sent.append(answer)


@scenario("authenticate")
def sc_authenticate(args):
    mech = args.mech.upper()
    c = Imap(args, name="A")
    caps = c.capability()
    check("AUTH=" + mech in caps, "AUTH=%s not advertised" % mech, got=" ".join(sorted(caps)))
    ok("AUTH=%s advertised" % mech)
    sasl_ir = "SASL-IR" in caps and mech != "CRAM-MD5"

    r, sent = sasl(c, mech, args.user, args.password)
    check(r.kind == "OK", "AUTHENTICATE %s with the right credentials" % mech, sent=sent, got=r,
          expected="tagged OK")
    ok("AUTHENTICATE %s" % mech)
    c.cmd("SELECT INBOX")
    ok("authenticated state after AUTHENTICATE")
    c.cmd("AUTHENTICATE " + mech, expect=("BAD", "NO"), what="AUTHENTICATE when already authenticated")
    ok("AUTHENTICATE refused after authentication")
    c.logout()

    if sasl_ir:
        c = Imap(args, name="B")
        r, sent = sasl(c, mech, args.user, args.password, initial=True)
        check(r.kind == "OK", "AUTHENTICATE %s with an initial response (SASL-IR)" % mech, sent=sent, got=r)
        ok("AUTHENTICATE %s with SASL-IR initial response" % mech)
        c.logout()
    else:
        print("# SASL-IR not tested (not advertised, or not for %s)" % mech)

    c = Imap(args, name="C")
    r, sent = sasl(c, mech, args.user, args.password + "-wrong")
    check(r.kind == "NO", "AUTHENTICATE with a wrong password", sent=sent, got=r, expected="tagged NO")
    ok("wrong password: NO")
    r, sent = sasl(c, mech, args.user, args.password, cancel_at=0)
    check(r.kind == "BAD", "cancelled AUTHENTICATE (RFC 3501 6.2.2: MUST reject with BAD)", sent=sent, got=r,
          expected="tagged BAD")
    ok("cancel with '*': BAD")
    if mech == "LOGIN":
        r, sent = sasl(c, mech, args.user, args.password, cancel_at=1)
        check(r.kind == "BAD", "AUTHENTICATE LOGIN cancelled at the second step", sent=sent, got=r,
              expected="tagged BAD")
        ok("cancel at the second step: BAD")
    r, sent = sasl(c, mech, args.user, args.password, garbage_at=0)
    check(r.kind in ("BAD", "NO"), "invalid base64 in an AUTHENTICATE answer", sent=sent, got=r,
          expected="tagged BAD or NO")
    ok("invalid base64 answer: %s" % r.kind)
    if sasl_ir:
        r, sent = sasl(c, mech, args.user, args.password, initial=True, garbage_at=0)
        check(r.kind in ("BAD", "NO"), "invalid base64 as SASL-IR initial response", sent=sent, got=r,
              expected="tagged BAD or NO")
        ok("invalid base64 initial response: %s" % r.kind)
    c.cmd("AUTHENTICATE X-NO-SUCH-MECH", expect=("BAD", "NO"), what="an unknown SASL mechanism")
    ok("unknown mechanism refused")
    c.cmd("NOOP")
    r, sent = sasl(c, mech, args.user, args.password)
    check(r.kind == "OK", "AUTHENTICATE after failures in the same session", sent=sent, got=r)
    ok("AUTHENTICATE succeeds after failures in the same session")
    c.logout()


# =======================================================================================
# main


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scenario", choices=sorted(SCENARIOS))
    add_server_args(p)
    p.add_argument("--prefix", help="mailbox name prefix (default: unique per run)")
    p.add_argument("--expect-cap", action="append", metavar="[STAGE:]CAP",
                   help="capability: CAP must be advertised at STAGE: pre (on connect), "
                        "login (where LOGIN is sent: after STARTTLS in starttls mode; default), auth")
    p.add_argument("--expect-no-cap", action="append", metavar="[STAGE:]CAP")
    p.add_argument("--mech", default="PLAIN", help="authenticate: PLAIN, LOGIN or CRAM-MD5")
    p.add_argument("--special-use", action="store_true",
                   help="mailboxes: require \\Sent \\Drafts \\Trash \\Junk on LIST")
    p.add_argument("--mailbox", default="INBOX", help="idle: the mailbox to watch")
    p.add_argument("--within", type=float, default=2.0, help="idle: seconds allowed for each notification")
    p.add_argument("--deliver-dir", help="idle: the Maildir (cur/new/tmp) of --mailbox; deliver there as an MTA")
    p.add_argument("--chown", help="idle: uid:gid to give a delivered file")
    p.add_argument("--corpus", help="corpus: directory of messages")
    p.add_argument("--json", help="corpus: write per-message BODYSTRUCTURE/ENVELOPE/RFC822.SIZE here")
    p.add_argument("--nul-as-0x80", action="store_true",
                   help="corpus: allow NUL bytes to come back as 0x80 (Dovecot does that)")
    args = p.parse_args()
    SCENARIOS[args.scenario](args)
    print("ok scenario %s" % args.scenario)


if __name__ == "__main__":
    run(main)
