#!/usr/bin/env python3
"""Real-client IMAP4rev1 checks, one scenario per run, driven by the Rust integration tests.

    imap_client.py SCENARIO --host H --port N [--tls-port N] --mode plain|starttls|tls
                   [--cafile PEM] --user U --password P [scenario options]

plain: no TLS on --port; starttls: STARTTLS on --port; tls: implicit TLS on --tls-port. The
certificate is verified against --cafile for the name localhost.

Scenarios (each runnable alone):
  capability          greeting, CAPABILITY before/after STARTTLS and after LOGIN, [CAPABILITY]
                      codes equal to CAPABILITY, LOGIN refused under LOGINDISABLED;
                      --expect-cap [pre:|login:|auth:]CAP, --expect-no-cap ... assert policy
  login               LOGIN good / wrong password / unknown user / good, literals, LOGOUT, imaplib
  authenticate        --mech PLAIN|LOGIN|CRAM-MD5: with and without SASL-IR, '*' cancel, bad base64
  mailboxes           CREATE (nested, modified UTF-7), LIST forms, LSUB, (UN)SUBSCRIBE, STATUS,
                      RENAME (children, INBOX), DELETE, NAMESPACE, CHILDREN, SPECIAL-USE
                      (--special-use requires \Sent \Drafts \Trash \Junk)
  append-fetch        APPEND/APPENDUID, SELECT/EXAMINE responses, every FETCH item and section
  store               STORE [+-]FLAGS[.SILENT], keywords, \Recent, UID STORE, persistence
  search              every RFC 3501 search key, CHARSET UTF-8, BADCHARSET, UID SEARCH
  copy-move           COPY/UID COPY/MOVE/UID MOVE, COPYUID, TRYCREATE
  expunge             EXPUNGE order, UID EXPUNGE, CLOSE, UNSELECT, CHECK, NOOP, EXAMINE
  idle                IDLE notifications within --within s; --deliver-dir DIR [--chown U:G]
                      delivers into a Maildir instead of APPEND (--mailbox, default INBOX)
  two-sessions        flags, expunges, new mail and \Recent between two sessions
  id-enable           ID before/after login, ENABLE, UNSELECT
  corpus              --corpus DIR: byte-exact BODY[] and RFC822.SIZE; --json FILE report
  bad-input           raw protocol abuse; the server must answer, never hang
  starttls-injection  a command pipelined after STARTTLS is never executed (CVE-2011-0411)

Each passed check prints `ok <check>` (lines starting with `#` are information); the first
failure exits 1 with the command sent, the response received and what was expected. The
checks follow the RFCs (3501 and the extensions Postern advertises), not one server's texts
or capability list. Where Dovecot 2.3 deviates from an RFC the check stays strict and a
documented --dovecot-quirk-... switch allows exactly that deviation. Scenarios work in
mailboxes of their own (named `<prefix>...`, removed at the end) so that they can run on
any account, except where INBOX itself is the subject (RENAME INBOX, idle).
"""
import argparse
import base64
import calendar
import hashlib
import hmac
import imaplib
import json
import os
import random
import re
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from imap_support import (  # noqa: E402
    Closed,
    Imap,
    Literal,
    add_server_args,
    astr,
    check,
    crlf,
    fail,
    flagset,
    imaplib_connect,
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
        check("LOGINDISABLED" not in auth, "LOGINDISABLED advertised after a successful LOGIN",
              got=" ".join(sorted(auth)))
        ok("no LOGINDISABLED after login")
        # STARTTLS and AUTH= after login are useless but not forbidden by RFC 3501: the
        # caller can refuse them with --expect-no-cap auth:STARTTLS.
        left = sorted(x for x in auth if x == "STARTTLS" or x.startswith("AUTH="))
        if left:
            print("# still advertised after login: %s" % " ".join(left))
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
    try:
        m = imaplib_connect(args)
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
# mailboxes

SPECIAL_USE = {"\\ALL", "\\ARCHIVE", "\\DRAFTS", "\\FLAGGED", "\\JUNK", "\\SENT", "\\TRASH"}


def list_names(c, ref, pattern, cmd="LIST"):
    r, entries = c.list(ref, pattern, cmd=cmd)
    names = [e.name for e in entries]
    check(len(names) == len(set(names)), "%s returned a name twice" % cmd, sent=r.sent, got=r.all())
    for e in entries:
        check("\\HASCHILDREN" not in e.attrs or "\\HASNOCHILDREN" not in e.attrs,
              "both \\HasChildren and \\HasNoChildren on one mailbox", sent=r.sent, got=e.resp)
    return r, {e.name: e for e in entries}


def expect_names(c, ref, pattern, want, cmd="LIST", optional=()):
    """LIST/LSUB must return exactly `want` (plus, possibly, names in `optional`)."""
    r, got = list_names(c, ref, pattern, cmd)
    extra = set(got) - set(want) - set(optional)
    missing = set(want) - set(got)
    check(not extra and not missing, "%s %s %s: wrong set of names (missing %s, unexpected %s)"
          % (cmd, quote(ref), quote(pattern), sorted(missing), sorted(extra)),
          sent=r.sent, got=r.all(), expected="exactly %s" % sorted(want))
    return got


def personal_namespace(c, sep):
    if not c.has("NAMESPACE"):
        return ""
    r = c.cmd("NAMESPACE")
    ns = r.of("NAMESPACE")
    check(len(ns) == 1 and len(ns[0].data) == 3, "NAMESPACE must give one * NAMESPACE with 3 parts",
          sent=r.sent, got=r.all())
    for part in ns[0].data:
        check(part is None or (isinstance(part, list) and part and all(
            isinstance(d, list) and len(d) >= 2 and isinstance(d[0], bytes) and (d[1] is None or isinstance(d[1], bytes))
            for d in part)), "malformed NAMESPACE part (RFC 2342)", sent=r.sent, got=ns[0])
    personal = ns[0].data[0]
    check(personal, "no personal namespace", sent=r.sent, got=ns[0])
    pfx, psep = astr(personal[0][0]), astr(personal[0][1])
    check(psep == sep, "the personal namespace separator differs from LIST's", sent=r.sent, got=ns[0],
          expected="separator %r" % sep)
    ok("NAMESPACE: personal prefix %r, separator %r" % (pfx, psep))
    return pfx


@scenario("mailboxes")
def sc_mailboxes(args):
    c = session(args)
    sep = c.separator()
    check(sep is not None and len(sep) == 1, 'LIST "" "": a one-character hierarchy separator',
          got=str(sep))
    ok('LIST "" "": separator %r' % sep)
    ns = personal_namespace(c, sep)
    P = ns + prefix(args)
    boxes = Boxes(c)
    S = sep

    uni = "Ünïcødé ☃ & Co"
    uni_enc = mutf7_encode(uni)
    check(mutf7_decode(uni_enc) == uni, "self-test of modified UTF-7")
    for name in (P, P + S + "a", P + S + "a" + S + "b" + S + "c", P + S + uni_enc):
        boxes.create(name)
    ok("CREATE flat, nested a%sb%sc and a modified UTF-7 name (%s)" % (S, S, uni_enc))
    c.cmd("CREATE ", quote(P + S + "a"), expect="NO", what="CREATE of an existing mailbox")
    ok("CREATE of an existing mailbox: NO")
    c.cmd("CREATE INBOX", expect="NO", what="CREATE INBOX")
    ok("CREATE INBOX: NO")

    # LIST forms.
    r, everything = list_names(c, "", "*")
    check("INBOX" in [n.upper() for n in everything], 'LIST "" "*" without INBOX', sent=r.sent, got=r.all())
    for e in everything.values():
        check(e.sep == sep, "LIST entry with another separator", sent=r.sent, got=e.resp)
    for name in (P, P + S + "a", P + S + "a" + S + "b" + S + "c", P + S + uni_enc):
        check(name in everything, 'LIST "" "*" misses %s' % name, sent=r.sent, got=r.all())
    ok('LIST "" "*" lists INBOX and every created mailbox')
    got = expect_names(c, "", "inbox", ["INBOX"])
    ok('LIST "" "inbox" answers INBOX (case-insensitive)')
    expect_names(c, "", P, [P])
    level1 = [P + S + "a", P + S + uni_enc]
    expect_names(c, "", P + S + "%", level1)
    ok("LIST with %: one level only")
    # a.b exists only as a parent: RFC 3501 6.3.8 returns it (as \Noselect if not a mailbox).
    implicit = P + S + "a" + S + "b"
    got = expect_names(c, "", P + S + "a" + S + "%", [implicit])
    ok("LIST %s%%: the implicit level %s is listed (attributes %s)" % (P + S + "a" + S, implicit,
                                                                     " ".join(sorted(got[implicit].attrs)) or "none"))
    got = expect_names(c, "", P + S + "*", level1 + [P + S + "a" + S + "b" + S + "c"], optional=[implicit])
    ok("LIST with *: all levels")
    expect_names(c, P + S, "%", level1)
    ok("LIST with a reference name")
    got = expect_names(c, "", P + S + uni_enc, [P + S + uni_enc])
    check(mutf7_decode(list(got)[0][len(P + S):]) == uni, "modified UTF-7 name changed", got=list(got)[0])
    ok("non-ASCII name round-trips in modified UTF-7")
    expect_names(c, "", P.upper() + S + "*" if P.upper() != P else P + "X" + S + "*", [])
    ok("mailbox names are case-sensitive")

    # CHILDREN (RFC 3348) when advertised.
    if c.has("CHILDREN"):
        _, got = list_names(c, "", P + "*")
        leaf = P + S + "a" + S + "b" + S + "c"
        check("\\HASCHILDREN" in got[P].attrs, "CHILDREN advertised but %s lacks \\HasChildren" % P,
              got=got[P].resp)
        check("\\HASCHILDREN" in got[P + S + "a"].attrs, "%s lacks \\HasChildren" % (P + S + "a"),
              got=got[P + S + "a"].resp)
        check("\\HASNOCHILDREN" in got[leaf].attrs, "%s lacks \\HasNoChildren" % leaf, got=got[leaf].resp)
        ok("CHILDREN: \\HasChildren on parents, \\HasNoChildren on the leaf")

    # Special-use (RFC 6154).
    _, allboxes = list_names(c, "", "*")
    found = {}
    for e in allboxes.values():
        for a in e.attrs & SPECIAL_USE:
            found.setdefault(a, []).append(e.name)
    if c.has("SPECIAL-USE"):
        print("# special-use: %s" % ", ".join("%s=%s" % (k, v) for k, v in sorted(found.items())))
        for e in allboxes.values():
            if e.attrs & SPECIAL_USE:
                check("\\NOSELECT" not in e.attrs and "\\NONEXISTENT" not in e.attrs,
                      "a special-use attribute on a non-selectable mailbox", got=e.resp)
    if args.special_use:
        check(c.has("SPECIAL-USE"), "--special-use: SPECIAL-USE is not advertised", got=" ".join(sorted(c.caps)))
        for a in ("\\SENT", "\\DRAFTS", "\\TRASH", "\\JUNK"):
            check(a in found, "no mailbox with %s on LIST" % a, expected="\\Sent \\Drafts \\Trash \\Junk")
        ok("special-use \\Sent \\Drafts \\Trash \\Junk on LIST")
    elif found and not c.has("SPECIAL-USE"):
        fail("special-use attributes without the SPECIAL-USE capability", got=str(found))

    # LSUB / SUBSCRIBE / UNSUBSCRIBE.
    A, ABC = P + S + "a", P + S + "a" + S + "b" + S + "c"
    expect_names(c, "", P + "*", [], cmd="LSUB")
    c.cmd("SUBSCRIBE ", quote(A))
    expect_names(c, "", P + "*", [A], cmd="LSUB")
    c.cmd("SUBSCRIBE ", quote(ABC))
    expect_names(c, "", P + "*", [A, ABC], cmd="LSUB")
    ok("SUBSCRIBE shows in LSUB, only what is subscribed")
    c.cmd("UNSUBSCRIBE ", quote(A))
    expect_names(c, "", P + "*", [ABC], cmd="LSUB")
    ok("UNSUBSCRIBE")

    # STATUS.
    st = c.status(A)
    check(st.get("MESSAGES") == 0 and st.get("RECENT") == 0 and st.get("UNSEEN") == 0
          and st.get("UIDNEXT", 0) >= 1 and st.get("UIDVALIDITY", 0) >= 1,
          "STATUS of an empty mailbox", got=str(st), expected="MESSAGES 0 RECENT 0 UNSEEN 0 UIDNEXT>=1 UIDVALIDITY>=1")
    c.append(A, message([("Subject", "one")], "1\r\n"), flags=["\\Seen"])
    r = c.append(A, message([("Subject", "two")], "2\r\n"))
    st2 = c.status(A)
    check(st2["MESSAGES"] == 2 and st2["UNSEEN"] == 1 and st2["RECENT"] == 2
          and st2["UIDVALIDITY"] == st["UIDVALIDITY"] and st2["UIDNEXT"] >= st["UIDNEXT"] + 2,
          "STATUS after appending a seen and an unseen message", got=str(st2),
          expected="MESSAGES 2 UNSEEN 1 RECENT 2, same UIDVALIDITY, UIDNEXT grown by >= 2")
    if r.tagged.code == "APPENDUID":
        v, u = r.tagged.code_args.split()
        check(int(v) == st2["UIDVALIDITY"] and st2["UIDNEXT"] > int(u), "STATUS disagrees with APPENDUID",
              got="%s vs %s" % (r.tagged.code_args, st2))
    ok("STATUS MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN")
    c.cmd("STATUS ", quote(P + S + "nonexistent"), " (MESSAGES)", expect="NO", what="STATUS of a missing mailbox")
    ok("STATUS of a missing mailbox: NO")

    # RENAME with children.
    R = P + S + "r"
    c.cmd("RENAME ", quote(A), " ", quote(R))
    boxes.names += [R, R + S + "b" + S + "c"]
    expect_names(c, "", P + S + "*", [R, R + S + "b" + S + "c", P + S + uni_enc], optional=[R + S + "b"])
    st3 = c.status(R)
    check(st3["MESSAGES"] == 2, "messages lost in RENAME", got=str(st3))
    ok("RENAME moves the children and the messages")
    c.cmd("RENAME ", quote(R), " ", quote(P + S + uni_enc), expect="NO", what="RENAME onto an existing mailbox")
    c.cmd("RENAME ", quote(P + S + "nonexistent"), " ", quote(P + S + "x"), expect="NO",
          what="RENAME of a missing mailbox")
    ok("RENAME onto an existing or from a missing mailbox: NO")

    # DELETE.
    c.cmd("DELETE ", quote(R + S + "b" + S + "c"))
    _, got = list_names(c, "", P + S + "*")
    check(R + S + "b" + S + "c" not in got, "a deleted mailbox is still listed", got=str(sorted(got)))
    ok("DELETE")
    c.cmd("SUBSCRIBE ", quote(R))
    boxes.create(R + S + "child")
    r = c.cmd("DELETE ", quote(R), expect=("OK", "NO"))
    _, got = list_names(c, "", P + S + "*")
    check(R + S + "child" in got, "DELETE of a parent removed its child", got=str(sorted(got)))
    if r.tagged.kind == "OK":
        listed_selectable = R in got and "\\NOSELECT" not in got[R].attrs
        if listed_selectable and args.dovecot_quirk_deleted_parent_listed:
            # Dovecot 2.3 (Maildir++) keeps listing the deleted parent without \Noselect,
            # though it is gone: STATUS and SELECT answer NO.
            c.cmd("STATUS ", quote(R), " (MESSAGES)", expect="NO", what="STATUS of a deleted parent")
            print("# dovecot quirk allowed: deleted parent still listed without \\Noselect")
        else:
            check(not listed_selectable,
                  "a parent deleted with OK must be gone from LIST or carry \\Noselect (RFC 3501 6.3.4)",
                  got=got.get(R) and got[R].resp, expected="no LIST entry, or (\\Noselect ...)")
        ok("DELETE of a parent with children: OK, children kept")
    else:
        check(R in got and c.status(R)["MESSAGES"] == 2, "DELETE refused but the parent changed",
              got=str(sorted(got)))
        ok("DELETE of a parent with children: NO, nothing changed")
    c.cmd("DELETE INBOX", expect="NO", what="DELETE INBOX")
    c.cmd("DELETE ", quote(P + S + "nonexistent"), expect="NO", what="DELETE of a missing mailbox")
    ok("DELETE INBOX or a missing mailbox: NO")

    # RENAME INBOX: its messages move, INBOX stays and is empty. Put them back afterwards.
    probe = "inbox rename probe " + P
    c.append("INBOX", message([("Subject", probe)], "probe\r\n"))
    n_inbox = c.status("INBOX")["MESSAGES"]
    moved = P + S + "oldinbox"
    r = c.cmd("RENAME INBOX ", quote(moved), expect=("OK", "NO") if args.dovecot_quirk_no_inbox_rename else "OK",
              what="RENAME INBOX (RFC 3501 6.3.5: permitted, moves the messages)")
    if r.tagged.kind == "NO":
        # Dovecot 2.3 answers NO [CANNOT] "Renaming INBOX isn't supported".
        check(c.status("INBOX")["MESSAGES"] == n_inbox, "a refused RENAME INBOX changed INBOX")
        expect_names(c, "", moved, [])
        print("# dovecot quirk allowed: RENAME INBOX refused (%s)" % show(r.tagged.raw, 200))
        ok("RENAME INBOX refused, INBOX unchanged (quirk)")
    else:
        boxes.names.append(moved)
        st = c.status("INBOX")
        check(st["MESSAGES"] == 0, "INBOX not empty after RENAME INBOX", got=str(st))
        check(c.status(moved)["MESSAGES"] == n_inbox, "RENAME INBOX did not move all messages")
        expect_names(c, "", "INBOX", ["INBOX"])
        ok("RENAME INBOX: messages moved, INBOX still exists and is empty")
        c.cmd("SELECT ", quote(moved))
        c.cmd("COPY 1:* INBOX")
        c.cmd("CLOSE")
        check(c.status("INBOX")["MESSAGES"] == n_inbox, "could not put the INBOX messages back")
    # Remove the probe from INBOX again.
    c.cmd("SELECT INBOX")
    _, hits = c.search("SUBJECT %s" % quote(probe))
    check(len(hits) == 1, "the INBOX probe message", got=str(hits))
    c.cmd("STORE %d +FLAGS.SILENT (\\Deleted)" % hits[0])
    if c.has("UIDPLUS"):
        c.cmd("UID EXPUNGE %d" % c.uid_of(hits[0]))
    else:
        c.cmd("EXPUNGE")
    c.cmd("CLOSE")

    c.cmd("UNSUBSCRIBE ", quote(R), expect=None)
    c.cmd("UNSUBSCRIBE ", quote(ABC), expect=None)
    c.cmd("UNSUBSCRIBE ", quote(R + S + "b" + S + "c"), expect=None)
    boxes.cleanup()
    _, got = list_names(c, "", P + "*")
    check(not got, "mailboxes left after cleanup", got=str(sorted(got)))
    c.logout()


# =======================================================================================
# append-fetch


def nested_message():
    """A message with a known tree (1 text, 2 alternative(2.1 text, 2.2 html), 3 base64
    attachment, 4 message/rfc822) and every section's exact bytes."""
    E = {}
    header = (
        b"Return-Path: <alice@example.org>\r\n"
        b"Received: from a.example.org by b.example.org; Mon, 7 Feb 1994 21:52:25 -0800\r\n"
        b"Received: from c.example.org by a.example.org; Mon, 7 Feb 1994 21:50:00 -0800\r\n"
        b"Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n"
        b"From: \"Alice Example\" <alice@example.org>\r\n"
        b"Sender: secretary@example.org\r\n"
        b"Reply-To: replies@example.org\r\n"
        b"To: Bob <bob@example.net>, carol@example.com\r\n"
        b"Cc: team: dave@example.com, \"Erin E.\" <erin@example.com>;\r\n"
        b"Subject: Nested test message\r\n"
        b"Message-ID: <nested-1@example.org>\r\n"
        b"In-Reply-To: <parent@example.org>\r\n"
        b"X-Custom: first line\r\n"
        b"  folded continuation\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=\"outer-b\"\r\n"
        b"\r\n"
    )
    p1_mime = b"Content-Type: text/plain; charset=us-ascii\r\n\r\n"
    p1_body = b"part one line 1\r\npart one line 2\r\n"
    p21_mime = b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    p21_body = b"inner plain caf=C3=A9\r\n"
    p22_mime = b"Content-Type: text/html; charset=utf-8\r\n\r\n"
    p22_body = b"<p>inner html</p>\r\n"
    p2_mime = b"Content-Type: multipart/alternative; boundary=\"inner-b\"\r\n\r\n"
    p2_body = (b"--inner-b\r\n" + p21_mime + p21_body + b"\r\n--inner-b\r\n" + p22_mime + p22_body
               + b"\r\n--inner-b--\r\n")
    p3_mime = (b"Content-Type: application/octet-stream; name=\"data.bin\"\r\n"
               b"Content-Transfer-Encoding: base64\r\n"
               b"Content-ID: <part3@example.org>\r\n"
               b"Content-Description: some bytes\r\n"
               b"Content-Disposition: attachment; filename=\"data.bin\"\r\n\r\n")
    p3_body = b"AAECAwQFBgcICQ==\r\n"
    p4_mime = b"Content-Type: message/rfc822\r\n\r\n"
    p4_header = (b"From: Inner Sender <inner@example.org>\r\n"
                 b"To: outer@example.org\r\n"
                 b"Subject: inner message\r\n"
                 b"Date: Tue, 8 Feb 1994 10:00:00 +0000\r\n"
                 b"Message-ID: <inner-1@example.org>\r\n\r\n")
    p4_text = b"inner body line\r\n"
    p4_body = p4_header + p4_text
    text = (b"preamble line\r\n--outer-b\r\n" + p1_mime + p1_body
            + b"\r\n--outer-b\r\n" + p2_mime + p2_body
            + b"\r\n--outer-b\r\n" + p3_mime + p3_body
            + b"\r\n--outer-b\r\n" + p4_mime + p4_body
            + b"\r\n--outer-b--\r\nepilogue\r\n")
    msg = header + text
    E.update({
        "BODY[]": msg, "BODY[HEADER]": header, "BODY[TEXT]": text,
        "BODY[1]": p1_body, "BODY[1.MIME]": p1_mime,
        "BODY[2]": p2_body, "BODY[2.MIME]": p2_mime,
        "BODY[2.1]": p21_body, "BODY[2.1.MIME]": p21_mime, "BODY[2.2]": p22_body,
        "BODY[3]": p3_body, "BODY[3.MIME]": p3_mime,
        "BODY[4]": p4_body, "BODY[4.HEADER]": p4_header, "BODY[4.TEXT]": p4_text,
        "BODY[4.1]": p4_text,
        "BODY[HEADER.FIELDS (SUBJECT FROM X-CUSTOM RECEIVED)]":
            b"Received: from a.example.org by b.example.org; Mon, 7 Feb 1994 21:52:25 -0800\r\n"
            b"Received: from c.example.org by a.example.org; Mon, 7 Feb 1994 21:50:00 -0800\r\n"
            b"From: \"Alice Example\" <alice@example.org>\r\n"
            b"Subject: Nested test message\r\n"
            b"X-Custom: first line\r\n  folded continuation\r\n\r\n",
        "BODY[4.HEADER.FIELDS (SUBJECT)]": b"Subject: inner message\r\n\r\n",
    })
    keep = [l for l in re.split(rb"(?<=\r\n)(?=[^ \t])", header)
            if not re.match(rb"(?i)(received|return-path|content-type|mime-version|x-custom|cc|to):", l)]
    E["BODY[HEADER.FIELDS.NOT (RECEIVED RETURN-PATH CONTENT-TYPE MIME-VERSION X-CUSTOM CC TO)]"] = b"".join(keep)

    def text_part(sub, params, enc, body, ext=None):
        return {"type": "TEXT", "subtype": sub, "params": params, "enc": enc, "size": len(body),
                "lines": body.count(b"\r\n"), "ext": ext}
    E["structure"] = {
        "type": "MULTIPART", "subtype": "MIXED", "params": {"BOUNDARY": "outer-b"}, "parts": [
            text_part("PLAIN", {"CHARSET": "us-ascii"}, "7BIT", p1_body),
            {"type": "MULTIPART", "subtype": "ALTERNATIVE", "params": {"BOUNDARY": "inner-b"}, "parts": [
                text_part("PLAIN", {"CHARSET": "utf-8"}, "QUOTED-PRINTABLE", p21_body),
                text_part("HTML", {"CHARSET": "utf-8"}, "7BIT", p22_body)]},
            {"type": "APPLICATION", "subtype": "OCTET-STREAM", "params": {"NAME": "data.bin"},
             "id": "<part3@example.org>", "desc": "some bytes", "enc": "BASE64", "size": len(p3_body),
             "dsp": ("ATTACHMENT", {"FILENAME": "data.bin"})},
            {"type": "MESSAGE", "subtype": "RFC822", "params": {}, "enc": "7BIT", "size": len(p4_body),
             "lines": p4_body.count(b"\r\n"),
             "envelope": [b"Tue, 8 Feb 1994 10:00:00 +0000", b"inner message",
                          [[b"Inner Sender", None, b"inner", b"example.org"]],
                          [[b"Inner Sender", None, b"inner", b"example.org"]],
                          [[b"Inner Sender", None, b"inner", b"example.org"]],
                          [[None, None, b"outer", b"example.org"]], None, None, None, b"<inner-1@example.org>"],
             # No Content-Type: the RFC 2045 default, whose charset a server may spell out or not.
             "body": dict(text_part("PLAIN", {"CHARSET": "us-ascii"}, "7BIT", p4_text), implicit=True)},
        ]}
    E["envelope"] = [
        b"Mon, 7 Feb 1994 21:52:25 -0800", b"Nested test message",
        [[b"Alice Example", None, b"alice", b"example.org"]],
        [[None, None, b"secretary", b"example.org"]],
        [[None, None, b"replies", b"example.org"]],
        [[b"Bob", None, b"bob", b"example.net"], [None, None, b"carol", b"example.com"]],
        [[None, None, b"team", None], [None, None, b"dave", b"example.com"],
         [b"Erin E.", None, b"erin", b"example.com"], [None, None, None, None]],
        None, b"<parent@example.org>", b"<nested-1@example.org>"]
    return msg, E


def upper(v):
    return astr(v).upper() if v is not None else None


def params_dict(v, where):
    """Body parameters as {NAME: value}; charset values (case-insensitive) lowered."""
    if v is None:
        return {}
    check(isinstance(v, list) and len(v) % 2 == 0, "%s: body parameters are not a list of pairs" % where, got=str(v))
    out = {upper(v[k]): astr(v[k + 1]) for k in range(0, len(v), 2)}
    if out.get("CHARSET"):
        out["CHARSET"] = out["CHARSET"].lower()
    return out


def check_body(got, want, where, extensible):
    """Compares a BODY/BODYSTRUCTURE value with the expected tree (RFC 3501 7.4.2)."""
    def bad(msg):
        fail("%s %s: %s" % ("BODYSTRUCTURE" if extensible else "BODY", where, msg), got=show(repr(got), 3000))
    if not isinstance(got, list) or not got:
        bad("not a parenthesised list")
    if want["type"] == "MULTIPART":
        parts = []
        i = 0
        while i < len(got) and isinstance(got[i], list):
            parts.append(got[i])
            i += 1
        if len(parts) != len(want["parts"]):
            bad("%d parts, expected %d" % (len(parts), len(want["parts"])))
        for k, (g, w) in enumerate(zip(parts, want["parts"])):
            check_body(g, w, "%s%d" % (where + "." if where else "", k + 1), extensible)
        rest = got[i:]
        if not rest or upper(rest[0]) != want["subtype"]:
            bad("multipart subtype %r, expected %s" % (rest[:1], want["subtype"]))
        if not extensible and len(rest) != 1:
            bad("BODY must not carry extension data")
        if extensible:
            if len(rest) < 2:
                bad("no extension data (body parameters) in BODYSTRUCTURE")
            pd = params_dict(rest[1], where)
            if pd != want["params"]:
                bad("multipart parameters %r, expected %r" % (pd, want["params"]))
        return
    if len(got) < 7:
        bad("a single part needs 7 basic fields")
    if upper(got[0]) != want["type"] or upper(got[1]) != want["subtype"]:
        bad("type %s/%s, expected %s/%s" % (got[0], got[1], want["type"], want["subtype"]))
    pd = params_dict(got[2], where)
    if pd != want["params"] and not (want.get("implicit") and pd == {}):
        bad("parameters %r, expected %r" % (pd, want["params"]))
    if astr(got[3]) != want.get("id") or astr(got[4]) != want.get("desc"):
        bad("id/description %r %r, expected %r %r" % (got[3], got[4], want.get("id"), want.get("desc")))
    if upper(got[5]) != want["enc"]:
        bad("encoding %r, expected %s" % (got[5], want["enc"]))
    if not (isinstance(got[6], str) and got[6].isdigit() and int(got[6]) == want["size"]):
        bad("size %r, expected %d" % (got[6], want["size"]))
    n = 7
    if want["type"] == "TEXT":
        if len(got) < 8 or not (isinstance(got[7], str) and got[7].isdigit() and int(got[7]) == want["lines"]):
            bad("text lines %r, expected %d" % (got[7:8], want["lines"]))
        n = 8
    elif want["type"] == "MESSAGE" and want["subtype"] == "RFC822":
        if len(got) < 10:
            bad("message/rfc822 needs envelope, body and lines")
        if got[7] != want["envelope"]:
            bad("encapsulated envelope %r, expected %r" % (got[7], want["envelope"]))
        check_body(got[8], want["body"], where + ".1", extensible)
        if not (isinstance(got[9], str) and got[9].isdigit() and int(got[9]) == want["lines"]):
            bad("message lines %r, expected %d" % (got[9], want["lines"]))
        n = 10
    ext = got[n:]
    if not extensible:
        if ext:
            bad("BODY must not carry extension data")
        return
    if "dsp" in want:
        if len(ext) < 2 or not isinstance(ext[1], list) or len(ext[1]) != 2:
            bad("BODYSTRUCTURE lacks the disposition (extension data)")
        if upper(ext[1][0]) != want["dsp"][0] or params_dict(ext[1][1], where) != want["dsp"][1]:
            bad("disposition %r, expected %r" % (ext[1], want["dsp"]))


def strip_ext(bs):
    """BODYSTRUCTURE without extension data: what BODY must answer."""
    if isinstance(bs[0], list):
        i = 0
        while isinstance(bs[i], list):
            i += 1
        return [strip_ext(p) for p in bs[:i]] + [bs[i]]
    n = 7
    if upper(bs[0]) == "TEXT":
        n = 8
    elif upper(bs[0]) == "MESSAGE" and upper(bs[1]) == "RFC822":
        return bs[:8] + [strip_ext(bs[8])] + bs[9:10]
    return bs[:n]


def check_select(c, box, info, readonly, exists, recent, uidvalidity=None, max_uid=None, first_unseen=None):
    r = info.result
    what = "%s %s" % ("EXAMINE" if readonly else "SELECT", box)
    for k in ("FLAGS", "EXISTS", "RECENT"):
        check(info.counts.get(k) == 1, "%s: exactly one * %s is required (RFC 3501 6.3.1)" % (what, k),
              sent=r.sent, got=r.all())
    for k in ("UIDVALIDITY", "UIDNEXT", "PERMANENTFLAGS"):
        check(info.counts.get(k) == 1, "%s: exactly one * OK [%s] is required" % (what, k),
              sent=r.sent, got=r.all())
    check(info.exists == exists, "%s: EXISTS" % what, sent=r.sent, got=r.all(), expected="* %d EXISTS" % exists)
    check(info.recent == recent, "%s: RECENT" % what, sent=r.sent, got=r.all(), expected="* %d RECENT" % recent)
    fl = flagset(info.flags or [])
    for f in ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"):
        check(f in fl, "%s: FLAGS misses %s" % (what, f), sent=r.sent, got=r.all())
    check(info.uidvalidity and info.uidvalidity > 0, "%s: UIDVALIDITY must be a non-zero number" % what, got=r.all())
    if uidvalidity is not None:
        check(info.uidvalidity == uidvalidity, "%s: UIDVALIDITY differs from APPENDUID's" % what, got=r.all(),
              expected=str(uidvalidity))
    if max_uid is not None:
        check(info.uidnext > max_uid, "%s: UIDNEXT must exceed every UID" % what, got=r.all(),
              expected="> %d" % max_uid)
    if first_unseen is not None:
        check(info.unseen == first_unseen, "%s: [UNSEEN n] must give the first unseen message" % what,
              sent=r.sent, got=r.all(), expected="* OK [UNSEEN %d]" % first_unseen)
    code = "READ-ONLY" if readonly else "READ-WRITE"
    check(info.access == code, "%s: tagged OK must carry [%s]" % (what, code), sent=r.sent, got=r.tagged)
    return info


def item(d, name, where):
    key = name.upper()
    check(key in d, "%s: FETCH response lacks %s" % (where, name), got=str(sorted(d)))
    return d[key]


def fetch_one(c, seq, items, uid=False):
    r, f = c.fetch(str(seq), items, uid=uid)
    if uid:
        hits = [d for d in f.values() if d.get("UID") == str(seq)]
        check(len(hits) == 1, "UID FETCH %s: one message with that UID expected" % seq, sent=r.sent, got=r.all())
        return r, hits[0]
    check(seq in f, "FETCH %s: no FETCH response for that message" % seq, sent=r.sent, got=r.all())
    check(set(f) == {seq}, "FETCH %s: FETCH responses for other messages" % seq, sent=r.sent, got=r.all())
    return r, f[seq]


def check_seen(c, seq, want, where):
    _, d = fetch_one(c, seq, "(FLAGS)")
    has = "\\Seen" in flagset(d["FLAGS"])
    check(has == want, "%s: \\Seen is %s, expected %s" % (where, "set" if has else "not set", "set" if want else "not set"),
          got=str(d["FLAGS"]))


def date_of(v, where):
    t = parse_date_time(astr(v)) if isinstance(v, bytes) else None
    check(t is not None, "%s: INTERNALDATE is not a quoted RFC 3501 date-time" % where, got=str(v))
    return t


@scenario("append-fetch")
def sc_append_fetch(args):
    c = session(args)
    boxes = Boxes(c)
    P = boxes.create(prefix(args))
    m1, E = nested_message()
    m2 = message([("From", "Bob <bob@example.net>"), ("To", "alice@example.org"),
                  ("Subject", "plain one"), ("Date", "Wed, 1 Jan 2020 12:00:00 +0000")],
                 "a simple body\r\nsecond line\r\n")
    m3 = message([("From", "carol@example.com"), ("Subject", "seen one")], "seen body\r\n")
    date1 = "17-Jul-1996 02:44:25 -0700"
    uidplus = c.has("UIDPLUS")
    r1 = c.append(P, m1, flags=["\\Flagged", "$Label1"], date=date1)
    t_before = time.time()
    r2 = c.append(P, m2)
    r3 = c.append(P, m3, flags=["\\Seen"])
    ok("APPEND with flags and internal date, and without")
    uids = []
    validity = None
    if uidplus:
        for r in (r1, r2, r3):
            check(r.tagged.code == "APPENDUID", "UIDPLUS advertised but no [APPENDUID] in APPEND's OK",
                  sent=r.sent[:200], got=r.tagged)
            v, u = r.tagged.code_args.split()
            check(validity in (None, int(v)), "APPENDUID validity changed between APPENDs", got=r.tagged)
            validity = int(v)
            uids.append(int(u))
        check(uids == sorted(uids) and len(set(uids)) == 3, "APPENDUID uids must increase", got=str(uids))
        ok("[APPENDUID uidvalidity uid] (UIDPLUS)")

    c2 = session(args, name="B")
    _, info = c2.select(P, readonly=True)
    check_select(c2, P, info, True, 3, 3, validity, uids and max(uids), first_unseen=1)
    check(flagset(info.flags) >= {"$Label1"}, "EXAMINE: FLAGS lacks the keyword in use ($Label1)",
          got=info.result.all())
    ok("EXAMINE: EXISTS RECENT FLAGS [UIDVALIDITY] [UIDNEXT] [PERMANENTFLAGS] [UNSEEN] and [READ-ONLY]")
    r, d = fetch_one(c2, 1, "(BODY[] RFC822 BODY[TEXT])")
    check(d["BODY[]"] == m1, "EXAMINE: BODY[] content", sent=r.sent, got=d["BODY[]"])
    check("FLAGS" not in d or "\\Seen" not in flagset(d["FLAGS"]), "EXAMINE: BODY[] set \\Seen", got=r.all())
    check_seen(c2, 1, False, "after BODY[] and RFC822 under EXAMINE")
    ok("EXAMINE: BODY[] and RFC822 do not set \\Seen")
    c2.logout()

    _, info = c.select(P)
    check_select(c, P, info, False, 3, 3, validity, uids and max(uids), first_unseen=1)
    check("\\*" in info.permanentflags, "SELECT: PERMANENTFLAGS lacks \\* (keywords can be created)",
          got=info.result.all())
    ok("SELECT: EXAMINE kept \\Recent; required responses and [READ-WRITE]")
    if not uids:
        uids = [int(c.uid_of(n)) for n in (1, 2, 3)]

    # Every data item of message 1.
    w = "message 1"
    r, d = fetch_one(c, 1, "(FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY BODYSTRUCTURE UID)")
    check(flags_no_recent(item(d, "FLAGS", w)) == {"\\Flagged", "$Label1"}, "FLAGS as appended", sent=r.sent, got=r.all(),
          expected="(\\Flagged $Label1) [+ \\Recent]")
    check("\\Recent" in flagset(d["FLAGS"]), "FLAGS of a new message in the session that has it lacks \\Recent",
          got=r.all())
    ok("FETCH FLAGS")
    check(date_of(item(d, "INTERNALDATE", w), w) == parse_date_time(date1), "INTERNALDATE differs from the APPENDed one",
          sent=r.sent, got=r.all(), expected=date1 + " (the same instant)")
    ok("FETCH INTERNALDATE equals the appended date-time")
    check(item(d, "RFC822.SIZE", w) == str(len(m1)), "RFC822.SIZE", got=r.all(), expected=str(len(m1)))
    ok("FETCH RFC822.SIZE equals the octets appended")
    check(item(d, "ENVELOPE", w) == E["envelope"], "ENVELOPE", got=show(repr(d["ENVELOPE"]), 3000),
          expected=repr(E["envelope"]))
    ok("FETCH ENVELOPE (group syntax, Sender/Reply-To, In-Reply-To)")
    check_body(item(d, "BODYSTRUCTURE", w), E["structure"], "", True)
    ok("FETCH BODYSTRUCTURE (nested multipart, message/rfc822, disposition)")
    check_body(item(d, "BODY", w), E["structure"], "", False)
    check(d["BODY"] == strip_ext(d["BODYSTRUCTURE"]), "BODY must be BODYSTRUCTURE without extension data",
          got=show(repr(d["BODY"]), 3000))
    ok("FETCH BODY (no extension data)")
    check(item(d, "UID", w) == str(uids[0]), "UID", got=r.all(), expected=str(uids[0]))
    ok("FETCH UID")

    sections = [k for k in E if k.startswith("BODY[")]
    peek = " ".join(k.replace("BODY[", "BODY.PEEK[", 1) for k in sections)
    r, d = fetch_one(c, 1, "(%s)" % peek)
    for k in sections:
        got = d.get(k.upper().replace('"', ""))
        check(got == E[k], "FETCH %s content" % k, sent=r.sent[:300], got=got, expected=show(E[k], 800))
    ok("FETCH BODY.PEEK[] [HEADER] [TEXT] [HEADER.FIELDS] [HEADER.FIELDS.NOT] [1] [1.MIME] [2] [2.1] [2.1.MIME] "
       "[2.2] [3] [4] [4.HEADER] [4.TEXT] [4.1] [4.HEADER.FIELDS]")
    r, d = fetch_one(c, 1, "(RFC822.HEADER)")
    check(item(d, "RFC822.HEADER", w) == E["BODY[HEADER]"], "RFC822.HEADER", got=d.get("RFC822.HEADER"))
    check_seen(c, 1, False, "RFC822.HEADER (a peek)")
    ok("FETCH RFC822.HEADER, no \\Seen")

    n = len(m1)
    r, d = fetch_one(c, 1, "(BODY.PEEK[]<0.10> BODY.PEEK[TEXT]<5.20> BODY.PEEK[1]<%d.100>)" % (len(E["BODY[1]"]) - 5))
    check(d.get("BODY[]<0>") == m1[:10], "partial BODY[]<0.10>", sent=r.sent, got=r.all(), expected=show(m1[:10]))
    check(d.get("BODY[TEXT]<5>") == E["BODY[TEXT]"][5:25], "partial BODY[TEXT]<5.20>", sent=r.sent, got=r.all())
    k = "BODY[1]<%d>" % (len(E["BODY[1]"]) - 5)
    check(d.get(k) == E["BODY[1]"][-5:], "partial reaching past the end returns the rest", sent=r.sent,
          got=r.all(), expected=show(E["BODY[1]"][-5:]))
    r, d = fetch_one(c, 1, "(BODY.PEEK[]<%d.10>)" % (n + 100))
    check(d.get("BODY[]<%d>" % (n + 100)) == b"", "a partial starting past the end must be an empty string",
          sent=r.sent, got=r.all(), expected='BODY[]<%d> ""' % (n + 100))
    ok("FETCH partials <0.10>, across and past the end")
    check_seen(c, 1, False, "after BODY.PEEK fetches")
    ok("BODY.PEEK does not set \\Seen")

    # \Seen side effects, on message 2.
    body2 = m2.split(b"\r\n\r\n", 1)[1]
    hdr2 = m2[:len(m2) - len(body2)]
    for items, key, want, sets in (("BODY[]", "BODY[]", m2, True), ("RFC822", "RFC822", m2, True),
                                   ("RFC822.TEXT", "RFC822.TEXT", body2, True), ("BODY[HEADER]", "BODY[HEADER]", hdr2, True),
                                   ("BODY[1]", "BODY[1]", body2, True), ("RFC822.HEADER", "RFC822.HEADER", hdr2, False)):
        c.cmd("STORE 2 -FLAGS.SILENT (\\Seen)")
        check_seen(c, 2, False, "reset")
        r, d = fetch_one(c, 2, "(%s)" % items)
        check(d.get(key) == want, "FETCH %s content" % items, sent=r.sent, got=r.all(), expected=show(want))
        if "FLAGS" in d:
            check(("\\Seen" in flagset(d["FLAGS"])) == sets, "FETCH %s: the FLAGS sent with it" % items, got=r.all())
        check_seen(c, 2, sets, "FETCH %s" % items)
    ok("BODY[], RFC822, RFC822.TEXT, BODY[HEADER], BODY[1] set \\Seen; RFC822.HEADER does not")
    r, d = fetch_one(c, 2, "(INTERNALDATE RFC822.SIZE ENVELOPE)")
    t2 = date_of(d["INTERNALDATE"], "message 2")
    check(abs(t2 - t_before) < 600, "INTERNALDATE of a message appended without a date should be now",
          got=str(d["INTERNALDATE"]))
    check(d["RFC822.SIZE"] == str(len(m2)), "RFC822.SIZE of message 2", got=r.all(), expected=str(len(m2)))
    frm = [[b"Bob", None, b"bob", b"example.net"]]
    check(d["ENVELOPE"] == [b"Wed, 1 Jan 2020 12:00:00 +0000", b"plain one", frm, frm, frm,
                            [[None, None, b"alice", b"example.org"]], None, None, None, None],
          "ENVELOPE of a message without Sender, Reply-To, Message-ID (sender and reply-to default to from)",
          got=show(repr(d["ENVELOPE"])))
    ok("INTERNALDATE without a date is the time of APPEND; ENVELOPE defaults")

    # Macros.
    r, d = fetch_one(c, 3, "(FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY)")
    for macro, keys in (("FAST", ["FLAGS", "INTERNALDATE", "RFC822.SIZE"]),
                        ("ALL", ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"]),
                        ("FULL", ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"])):
        rm, dm = fetch_one(c, 3, macro)
        for k in keys:
            check(k in dm and dm[k] == d[k], "FETCH %s must give %s" % (macro, k), sent=rm.sent, got=rm.all())
        for k in dm:
            check(k in keys or k == "UID", "FETCH %s gave %s" % (macro, k), sent=rm.sent, got=rm.all())
    ok("FETCH macros FAST ALL FULL")

    # Ranges and UID FETCH.
    def seqs(spec, uid=False):
        r, f = c.fetch(spec, "(UID)", uid=uid)
        if uid:
            for d in f.values():
                check("UID" in d, "UID FETCH response without UID", sent=r.sent, got=r.all())
        return sorted(f), r
    for spec, want in (("1:*", [1, 2, 3]), ("*", [3]), ("2:*", [2, 3]), ("*:2", [2, 3]), ("1,3", [1, 3]),
                       ("3,1:2", [1, 2, 3])):
        got, r = seqs(spec)
        check(got == want, "FETCH %s" % spec, sent=r.sent, got=r.all(), expected="messages %s" % want)
    ok("FETCH sequence sets 1:* * n:* *:n a,b")
    for spec, want in (("%d:*" % (uids[2] + 1000), [3]), ("%d:%d" % (uids[0], uids[1]), [1, 2]),
                       ("1:*", [1, 2, 3]), (str(uids[1]), [2]), (str(uids[2] + 1000), [])):
        got, r = seqs(spec, uid=True)
        check(got == want, "UID FETCH %s" % spec, sent=r.sent, got=r.all(), expected="messages %s" % want)
    r, d = fetch_one(c, uids[1], "(FLAGS)", uid=True)
    ok("UID FETCH (UID always included; n:* past the last UID gives the last message; missing UID gives nothing)")
    r = c.cmd("FETCH 4 (FLAGS)", expect=("BAD", "NO"), what="FETCH of a message number beyond EXISTS")
    ok("FETCH beyond EXISTS refused (%s)" % r.tagged.kind)
    c.cmd("CLOSE")
    boxes.cleanup()
    c.logout()


# =======================================================================================
# store


def store(c, spec, op, flags, model, uid=False, seqs=None):
    """STORE and check the untagged FETCH answers against the model {seq: flags}."""
    silent = op.endswith(".SILENT")
    r = c.cmd("UID STORE " if uid else "STORE ", spec, " ", op, " (", " ".join(flags), ")")
    base = op.split(".")[0].upper()
    for n in seqs:
        if base == "FLAGS":
            model[n] = set(flags)
        elif base == "+FLAGS":
            model[n] |= set(flags)
        else:
            model[n] -= set(flags)
    fetches = r.of("FETCH")
    if silent:
        check(not fetches, "STORE %s: .SILENT must not answer FETCH for our own change" % op,
              sent=r.sent, got=r.all(), expected="no * n FETCH")
        return r
    got = {}
    for f in fetches:
        check(f.num not in got, "STORE: two FETCH responses for one message", sent=r.sent, got=r.all())
        got[f.num] = f.data
    check(sorted(got) == sorted(seqs), "STORE %s must answer one FETCH per message stored" % op,
          sent=r.sent, got=r.all(), expected="FETCH for %s" % seqs)
    for n in seqs:
        check("FLAGS" in got[n], "STORE: FETCH without FLAGS", sent=r.sent, got=r.all())
        check(flags_no_recent(got[n]["FLAGS"]) == model[n], "STORE %s: the flags answered" % op,
              sent=r.sent, got=r.all(), expected="FLAGS %s" % sorted(model[n]))
        if uid:
            check("UID" in got[n], "UID STORE: FETCH response without UID (RFC 3501 6.4.8 MUST)",
                  sent=r.sent, got=r.all())
    return r


def check_model(c, model, where):
    r, f = c.fetch("1:*", "(FLAGS)")
    for n, want in model.items():
        check(n in f and flags_no_recent(f[n]["FLAGS"]) == want, "%s: flags of message %d" % (where, n),
              sent=r.sent, got=r.all(), expected=str(sorted(want)))
    return f


@scenario("store")
def sc_store(args):
    c = session(args)
    boxes = Boxes(c)
    P = boxes.create(prefix(args))
    for i in range(3):
        c.append(P, message([("Subject", "store %d" % i)], "body %d\r\n" % i))
    _, info = c.select(P)
    pf = set(info.permanentflags)
    check("\\*" in pf, "PERMANENTFLAGS must contain \\* (new keywords can be stored)", got=info.result.all())
    check("\\Recent" not in flagset(pf), "PERMANENTFLAGS must not contain \\Recent", got=info.result.all())
    ok("PERMANENTFLAGS contains \\* and not \\Recent")
    model = {1: set(), 2: set(), 3: set()}
    store(c, "1", "FLAGS", ["\\Flagged", "\\Answered"], model, seqs=[1])
    ok("STORE FLAGS")
    store(c, "1", "+FLAGS", ["\\Seen", "$Forwarded"], model, seqs=[1])
    ok("STORE +FLAGS with the keyword $Forwarded")
    store(c, "1", "-FLAGS", ["\\Answered"], model, seqs=[1])
    ok("STORE -FLAGS")
    store(c, "1", "+FLAGS.SILENT", ["NonJunk"], model, seqs=[1])
    store(c, "1", "-FLAGS.SILENT", ["\\Flagged"], model, seqs=[1])
    store(c, "2", "FLAGS.SILENT", ["\\Draft", "\\Deleted"], model, seqs=[2])
    check_model(c, model, "after .SILENT stores")
    ok("STORE FLAGS.SILENT +FLAGS.SILENT -FLAGS.SILENT: no FETCH for our own change, flags stored")
    store(c, "2:3", "+FLAGS", ["\\Flagged"], model, seqs=[2, 3])
    store(c, "2:*", "-FLAGS", ["\\Deleted", "\\Flagged"], model, seqs=[2, 3])
    ok("STORE on ranges")

    # \Recent cannot be changed by STORE (RFC 3501 2.3.2).
    f = check_model(c, model, "before \\Recent")
    check(all("\\Recent" in flagset(f[n]["FLAGS"]) for n in (1, 2, 3)),
          "this session selected first: its messages must be \\Recent", got=str(f))
    r = c.cmd("STORE 3 FLAGS (\\Seen)")
    model[3] = {"\\Seen"}
    check("\\Recent" in flagset(c.fetch("3", "(FLAGS)")[1][3]["FLAGS"]), "STORE FLAGS removed \\Recent", got=r.all())
    r = c.cmd("STORE 3 -FLAGS (\\Recent)", expect=None)
    check(r.tagged.kind in ("OK", "NO", "BAD"), "STORE -FLAGS (\\Recent)", got=r.all())
    check("\\Recent" in flagset(c.fetch("3", "(FLAGS)")[1][3]["FLAGS"]), "STORE -FLAGS (\\Recent) removed \\Recent",
          sent=r.sent, got=r.all())
    b = session(args, name="B")
    b.select(P)
    r = b.cmd("STORE 2 +FLAGS (\\Recent)", expect=None)
    _, fb = b.fetch("2", "(FLAGS)")
    check("\\Recent" not in flagset(fb[2]["FLAGS"]), "STORE +FLAGS (\\Recent) made a message \\Recent",
          sent=r.sent, got=r.all())
    ok("\\Recent cannot be set or cleared (STORE answered %s)" % r.tagged.kind)
    b.logout()

    # UID STORE.
    uids = c.uids()
    store(c, str(uids[2]), "+FLAGS", ["\\Flagged", "NonJunk"], model, uid=True, seqs=[2])
    store(c, "%d:%d" % (uids[1], uids[3]), "-FLAGS.SILENT", ["NonJunk"], model, uid=True, seqs=[1, 2, 3])
    check_model(c, model, "after UID STORE")
    ok("UID STORE (FETCH carries UID), UID STORE .SILENT")
    c.cmd("STORE 1 +FLAGS ($Forwarded NonJunk)")
    model[1] |= {"$Forwarded", "NonJunk"}
    c.cmd("CLOSE")
    c.logout()

    # Persisted: a new session sees the same flags, and FLAGS lists the keywords in use.
    d = session(args, name="D")
    _, info = d.select(P, readonly=True)
    check({"$Forwarded", "NonJunk"} <= flagset(info.flags), "FLAGS lacks keywords in use", got=info.result.all())
    check_model(d, model, "after reconnecting")
    ok("flags and keywords persist across sessions; FLAGS lists the keywords")
    # RFC 3501 6.3.2: nothing may change under EXAMINE; the result code is not specified
    # (Dovecot answers OK "Store ignored").
    r = d.cmd("STORE 1 +FLAGS (\\Deleted)", expect=("OK", "NO", "BAD"), what="STORE in a mailbox opened with EXAMINE")
    for f in r.of("FETCH"):
        check("\\Deleted" not in flagset(f.data.get("FLAGS", [])), "STORE under EXAMINE reported a change",
              sent=r.sent, got=r.all())
    check_model(d, model, "after STORE under EXAMINE")
    ok("STORE under EXAMINE changes nothing (%s)" % r.tagged.kind)
    d.cmd("CLOSE")
    boxes.c = d
    boxes.cleanup()
    d.logout()


# =======================================================================================
# search


def search_corpus():
    """Six messages whose hit set is known for every search key. Date headers fall on
    1..6 Feb 2020, internal dates on 11..16 Feb 2020 (noon UTC), so SENT* and BEFORE/ON/
    SINCE differ."""
    def date_hdr(day):
        wd = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][calendar.weekday(2020, 2, day)]
        return "%s, %02d Feb 2020 12:00:00 +0000" % (wd, day)
    msgs = [
        ([("From", "Alice <alice@example.org>"), ("To", "bob@example.net"), ("Cc", "carol@example.com"),
          ("Subject", "Meeting agenda"), ("Date", date_hdr(1))],
         b"Please bring the budget numbers.\r\n", ["\\Seen", "\\Answered"]),
        ([("From", "Bob <bob@example.net>"), ("To", "alice@example.org"), ("Bcc", "dave@example.com"),
          ("Subject", "Re: Meeting agenda"), ("X-Priority", "1"), ("Date", date_hdr(2))],
         b"lunch tomorrow?\r\n", ["\\Flagged"]),
        ([("From", "carol@example.com"), ("To", "alice@example.org"), ("Subject", "Invoice 42"), ("Date", date_hdr(3))],
         b"".join(b"invoice line %04d ........................................\r\n" % i for i in range(100)),
         ["\\Deleted", "\\Seen", "$Forwarded"]),
        ([("From", "=?ISO-8859-1?Q?=C9ric?= <eric@example.fr>"), ("To", "alice@example.org"),
          ("Subject", "=?ISO-8859-1?Q?Caf=E9_cr=E8me?="), ("Date", date_hdr(4)), ("MIME-Version", "1.0"),
          ("Content-Type", "text/plain; charset=ISO-8859-1"), ("Content-Transfer-Encoding", "quoted-printable")],
         b"na=EFve r=E9sum=E9\r\n", ["\\Draft"]),
        ([("From", "dave@example.com"), ("To", "alice@example.org"), ("Subject", "=?UTF-8?B?w4RyZ2VyIGltIELDvHJv?="),
          ("Date", date_hdr(5)), ("MIME-Version", "1.0"), ("Content-Type", "text/plain; charset=ISO-8859-1"),
          ("Content-Transfer-Encoding", "base64")],
         base64.b64encode("Grüße aus Köln\r\n".encode("latin-1")) + b"\r\n", ["NonJunk"]),
        ([("From", "erin@example.com"), ("To", "bob@example.net"), ("Cc", "alice@example.org"),
          ("Subject", "Hello world"), ("Date", date_hdr(6))],
         b"nothing special here\r\n", ["\\Seen"]),
    ]
    out = []
    for k, (hdrs, body, flags) in enumerate(msgs):
        raw = "".join("%s: %s\r\n" % hv for hv in hdrs).encode() + b"\r\n" + body
        out.append((raw, flags, "%02d-Feb-2020 12:00:00 +0000" % (11 + k)))
    return out


@scenario("search")
def sc_search(args):
    c = session(args)
    boxes = Boxes(c)
    P = boxes.create(prefix(args))
    msgs = search_corpus()
    for raw, flags, date in msgs[:4]:
        c.append(P, raw, flags=flags, date=date)
    # Another session takes \Recent for messages 1-4 (SELECT, then LOGOUT: no expunge).
    x = session(args, name="X")
    x.select(P)
    x.logout()
    for raw, flags, date in msgs[4:]:
        c.append(P, raw, flags=flags, date=date)
    _, info = c.select(P)
    check(info.recent == 2, "only messages 5 and 6 should be \\Recent here", got=info.result.all())
    sizes = [len(m[0]) for m in msgs]
    uids = c.uids()
    big = sizes.index(max(sizes)) + 1
    small = sizes.index(min(sizes)) + 1
    cases = [
        ("ALL", [1, 2, 3, 4, 5, 6]),
        ("ANSWERED", [1]), ("UNANSWERED", [2, 3, 4, 5, 6]),
        ("DELETED", [3]), ("UNDELETED", [1, 2, 4, 5, 6]),
        ("DRAFT", [4]), ("UNDRAFT", [1, 2, 3, 5, 6]),
        ("FLAGGED", [2]), ("UNFLAGGED", [1, 3, 4, 5, 6]),
        ("SEEN", [1, 3, 6]), ("UNSEEN", [2, 4, 5]),
        ("KEYWORD $Forwarded", [3]), ("KEYWORD NonJunk", [5]), ("UNKEYWORD NonJunk", [1, 2, 3, 4, 6]),
        ("KEYWORD NoSuchKeyword", []),
        ("RECENT", [5, 6]), ("NEW", [5]), ("OLD", [1, 2, 3, 4]),
        ("FROM alice", [1]), ("FROM example.com", [3, 5, 6]), ("FROM Bob", [2]),
        ("TO alice", [2, 3, 4, 5]), ("TO BOB", [1, 6]), ("CC alice", [6]), ("CC carol", [1]),
        ("BCC dave", [2]), ("BCC alice", []),
        ("SUBJECT meeting", [1, 2]), ('SUBJECT "Re: meeting"', [2]), ("SUBJECT MEETING", [1, 2]),
        ("BODY budget", [1]), ("BODY meeting", []), ("TEXT meeting", [1, 2]), ("TEXT carol", [1, 3]),
        ("TEXT budget", [1]), ('BODY "invoice line 0099"', [3]),
        ('HEADER X-Priority 1', [2]), ('HEADER X-Priority ""', [2]), ('HEADER Subject ""', [1, 2, 3, 4, 5, 6]),
        ('HEADER X-Missing ""', []),
        ("LARGER %d" % (sizes[big - 1] - 1), [big]), ("LARGER %d" % sizes[big - 1], []),
        ("SMALLER %d" % (sizes[small - 1] + 1), [small]), ("SMALLER %d" % sizes[small - 1], []),
        ("SMALLER %d" % sizes[big - 1], sorted(set(range(1, 7)) - {big})),
        ("BEFORE 13-Feb-2020", [1, 2]), ("ON 13-Feb-2020", [3]), ("SINCE 13-Feb-2020", [3, 4, 5, 6]),
        ("BEFORE 03-Feb-2020", []), ("ON 3-Feb-2020", []),
        ("SENTBEFORE 03-Feb-2020", [1, 2]), ("SENTON 03-Feb-2020", [3]), ("SENTSINCE 03-Feb-2020", [3, 4, 5, 6]),
        ("SENTON 13-Feb-2020", []), ('SENTBEFORE "13-Feb-2020"', [1, 2, 3, 4, 5, 6]),
        ("UID %d:%d" % (uids[2], uids[4]), [2, 3, 4]), ("UID %d" % uids[6], [6]),
        ("2,4:5", [2, 4, 5]), ("*", [6]), ("5:*", [5, 6]), ("1:3 SEEN", [1, 3]),
        ("NOT SEEN", [2, 4, 5]), ("NOT NOT SEEN", [1, 3, 6]),
        ("OR FLAGGED DRAFT", [2, 4]), ("OR OR FLAGGED DRAFT ANSWERED", [1, 2, 4]),
        ("(SEEN UNDELETED)", [1, 6]), ("SEEN SINCE 12-Feb-2020", [3, 6]),
        ("OR (SEEN ANSWERED) NOT OR DELETED KEYWORD NonJunk", [1, 2, 4, 6]),
        ("NOT (FROM alice OR TO bob CC alice)", [2, 3, 4, 5, 6]), ("NOT (OR FROM alice TO bob)", [2, 3, 4, 5]),
        ("((SEEN) (NOT DELETED)) OR ON 11-Feb-2020 ON 16-Feb-2020", [1, 6]),
    ]
    for crit, want in cases:
        r, got = c.search(crit)
        check(sorted(got) == want, "SEARCH %s" % crit, sent=r.sent, got=r.all(), expected="* SEARCH %s" % want)
    ok("SEARCH: every RFC 3501 key, sequence sets, parenthesised lists, nested OR/NOT (%d searches)" % len(cases))
    for crit, want in (("ALL", [1, 2, 3, 4, 5, 6]), ("SEEN", [1, 3, 6]), ("UID %d:*" % uids[5], [5, 6]),
                       ("5:*", [5, 6]), ("FROM example.com", [3, 5, 6])):
        r, got = c.search(crit, uid=True)
        check(sorted(got) == [uids[n] for n in want], "UID SEARCH %s" % crit, sent=r.sent, got=r.all(),
              expected="* SEARCH %s" % [uids[n] for n in want])
    ok("UID SEARCH answers UIDs")

    for needle, key, want in (("Café", "SUBJECT", [4]), ("crème", "SUBJECT", [4]), ("Ärger im", "SUBJECT", [5]),
                              ("résumé", "BODY", [4]), ("naïve", "TEXT", [4]), ("Köln", "BODY", [5]),
                              ("Grüße", "TEXT", [5]), ("Köln", "SUBJECT", []), ("CAF", "SUBJECT", [4])):
        r, got = c.search(None, literal_parts=["CHARSET UTF-8 %s " % key, Literal(needle)])
        check(sorted(got) == want, "SEARCH CHARSET UTF-8 %s %s (RFC 2047 header / QP or base64 ISO-8859-1 body)"
              % (key, needle), sent=r.sent, got=r.all(), expected="* SEARCH %s" % want)
    ok("SEARCH CHARSET UTF-8 matches RFC 2047 subjects and QP/base64 ISO-8859-1 bodies")
    r, got = c.search("CHARSET US-ASCII SUBJECT meeting")
    check(sorted(got) == [1, 2], "SEARCH CHARSET US-ASCII", sent=r.sent, got=r.all())
    r, got = c.search(None, uid=True, literal_parts=["CHARSET UTF-8 BODY ", Literal("Köln")])
    check(got == [uids[5]], "UID SEARCH CHARSET UTF-8", sent=r.sent, got=r.all())
    ok("SEARCH CHARSET US-ASCII, UID SEARCH CHARSET UTF-8")
    r, _ = c.search("CHARSET X-NO-SUCH-CHARSET-42 TEXT foo", expect="NO")
    check(r.tagged.code == "BADCHARSET", "an unknown charset must be refused with NO [BADCHARSET] (RFC 3501 6.4.4)",
          sent=r.sent, got=r.all(), expected="tagged NO [BADCHARSET ...]")
    vals = r.tagged.code_values()
    if vals:
        check(isinstance(vals[0], list) and "X-NO-SUCH-CHARSET-42" not in [upper(v) for v in vals[0]],
              "BADCHARSET list", got=r.tagged)
    ok("unknown charset: NO [BADCHARSET]")
    c.cmd("SEARCH NOSUCHKEY 1", expect="BAD", what="SEARCH with an unknown key")
    c.cmd("SEARCH (SEEN", expect="BAD", what="SEARCH with an unbalanced parenthesis")
    ok("SEARCH syntax errors: BAD")
    c.cmd("CLOSE")
    boxes.cleanup()
    c.logout()


# =======================================================================================
# copy-move


def parse_copyuid(resp, where):
    check(resp.code == "COPYUID", "%s: no [COPYUID]" % where, got=resp)
    parts = resp.code_args.split()
    check(len(parts) == 3, "%s: [COPYUID uidvalidity src dst] malformed" % where, got=resp)
    return int(parts[0]), parse_uid_set(parts[1]), parse_uid_set(parts[2])


def apply_expunges(r, uids, where):
    """Applies * n EXPUNGE responses in order to a list of UIDs (index = seq - 1)."""
    uids = list(uids)
    for u in r.untagged:
        if u.kind == "EXPUNGE":
            check(1 <= u.num <= len(uids), "%s: * %d EXPUNGE for a message that does not exist (%d left)"
                  % (where, u.num, len(uids)), sent=r.sent, got=r.all())
            del uids[u.num - 1]
    return uids


def snapshot(c, spec, uid=True):
    """{uid: (flags without \\Recent, internaldate instant, body)}"""
    r, f = c.fetch(spec, "(UID FLAGS INTERNALDATE BODY.PEEK[])", uid=uid)
    return {int(d["UID"]): (flags_no_recent(d["FLAGS"]), date_of(d["INTERNALDATE"], "snapshot"), d["BODY[]"])
            for d in f.values()}


@scenario("copy-move")
def sc_copy_move(args):
    c = session(args)
    boxes = Boxes(c)
    P = prefix(args)
    src = boxes.create(P)
    sep = c.separator()
    dst = boxes.create(P + sep + "dst")
    mv = boxes.create(P + sep + "moved")
    specs = [(["\\Seen", "\\Flagged", "$Forwarded"], "01-Mar-2021 10:00:00 +0100"), (["\\Answered"], None),
             ([], "02-Mar-2021 11:00:00 +0000"), (["\\Draft", "NonJunk"], None)]
    for k, (flags, date) in enumerate(specs):
        c.append(src, message([("Subject", "copy %d" % k), ("Message-ID", "<copy-%d@example.org>" % k)],
                              "body of %d\r\n" % k), flags=flags, date=date)
    uidplus = c.has("UIDPLUS")
    r = c.append(P + sep + "nonexistent", b"Subject: x\r\n\r\nx\r\n", expect="NO")
    check(r.tagged.code == "TRYCREATE", "APPEND to a missing mailbox must answer NO [TRYCREATE] (RFC 3501 6.3.11)",
          sent=r.sent, got=r.tagged)
    _, info = c.select(src)
    uids = [u for _, u in sorted(c.uids().items())]
    before = snapshot(c, "1:*")
    dst_validity = None

    r = c.cmd("COPY 1:2 ", quote(dst))
    check(not r.of("EXPUNGE"), "COPY expunged something", sent=r.sent, got=r.all())
    copies = {}
    if uidplus:
        v, s_uids, d_uids = parse_copyuid(r.tagged, "COPY")
        check(sorted(s_uids) == uids[:2] and len(d_uids) == 2, "COPY: [COPYUID] source set", sent=r.sent, got=r.tagged,
              expected="source UIDs %s" % uids[:2])
        dst_validity = v
        copies.update(zip(s_uids, d_uids))
    r = c.cmd("UID COPY %d,%d " % (uids[2], uids[3]), quote(dst))
    if uidplus:
        v, s_uids, d_uids = parse_copyuid(r.tagged, "UID COPY")
        check(v == dst_validity and sorted(s_uids) == uids[2:], "UID COPY: [COPYUID]", sent=r.sent, got=r.tagged)
        copies.update(zip(s_uids, d_uids))
        ok("COPY and UID COPY answer [COPYUID uidvalidity src dst]")
    check(snapshot(c, "1:*") == before, "COPY changed the source messages")
    b = session(args, name="B")
    _, binfo = b.select(dst)
    check(binfo.exists == 4, "the destination holds 4 copies", got=binfo.result.all())
    if uidplus:
        check(binfo.uidvalidity == dst_validity, "COPYUID uidvalidity differs from the destination's",
              got=binfo.result.all(), expected=str(dst_validity))
    after = snapshot(b, "1:*")
    if uidplus:
        check(sorted(after) == sorted(copies.values()), "destination UIDs differ from COPYUID's", got=str(sorted(after)),
              expected=str(sorted(copies.values())))
        pairs = [(before[s], after[d]) for s, d in copies.items()]
    else:
        pairs = list(zip([before[u] for u in uids], [after[u] for u in sorted(after)]))
    for (f0, t0, b0), (f1, t1, b1) in pairs:
        check(b1 == b0, "a copy's content differs", got=b1, expected=show(b0))
        check(f1 == f0, "a copy's flags differ (RFC 3501 6.4.7: flags SHOULD be preserved)", got=str(f1),
              expected=str(f0))
        check(t1 == t0, "a copy's internal date differs (RFC 3501 6.4.7: SHOULD be preserved)", got=str(t1),
              expected=str(t0))
    ok("copies keep content, flags (\\Recent aside) and internal date")
    b.cmd("CLOSE")
    r = c.cmd("COPY 1 ", quote(P + sep + "nonexistent"), expect="NO")
    check(r.tagged.code == "TRYCREATE", "COPY to a missing mailbox must answer NO [TRYCREATE]", sent=r.sent, got=r.tagged)
    r = c.cmd("UID COPY %d " % uids[0], quote(P + sep + "nonexistent"), expect="NO")
    check(r.tagged.code == "TRYCREATE", "UID COPY to a missing mailbox: NO [TRYCREATE]", sent=r.sent, got=r.tagged)
    ok("COPY, UID COPY and APPEND to a missing mailbox: NO [TRYCREATE]")

    if not c.has("MOVE"):
        print("# MOVE not advertised: not tested")
    else:
        mv_validity = c.status(mv)["UIDVALIDITY"]
        cur = list(uids)
        moved = {}

        def do_move(cmdtext, expect_gone):
            nonlocal cur
            r = c.cmd(cmdtext, quote(mv))
            codes = [u for u in r.untagged if u.kind == "OK" and u.code == "COPYUID"]
            if r.tagged.code == "COPYUID":
                codes.append(r.tagged)
            if uidplus:
                check(len(codes) == 1, "%s: one [COPYUID] (untagged OK or tagged)" % cmdtext.strip(), sent=r.sent,
                      got=r.all())
                v, s_uids, d_uids = parse_copyuid(codes[0], cmdtext)
                check(v == mv_validity and sorted(s_uids) == sorted(expect_gone), "%s: [COPYUID]" % cmdtext,
                      sent=r.sent, got=r.all(), expected="source UIDs %s" % expect_gone)
                moved.update(zip(s_uids, d_uids))
            left = apply_expunges(r, cur, cmdtext)
            check(left == [u for u in cur if u not in expect_gone],
                  "%s: the untagged EXPUNGEs must remove exactly the moved messages" % cmdtext.strip(),
                  sent=r.sent, got=r.all(), expected="UIDs %s left" % [u for u in cur if u not in expect_gone])
            cur = left
            now = [u for _, u in sorted(c.uids().items())] if cur else []
            check(now == cur, "after MOVE the source holds other messages", got=str(now), expected=str(cur))
        do_move("MOVE 2 ", [uids[1]])
        ok("MOVE: untagged EXPUNGE, [COPYUID]")
        do_move("UID MOVE %d,%d " % (uids[0], uids[3]), [uids[0], uids[3]])
        ok("UID MOVE of two messages: EXPUNGEs renumber correctly")
        r = c.cmd("MOVE 1 ", quote(P + sep + "nonexistent"), expect="NO")
        check(r.tagged.code == "TRYCREATE" and not r.of("EXPUNGE"), "MOVE to a missing mailbox: NO [TRYCREATE], nothing expunged",
              sent=r.sent, got=r.all())
        r = c.cmd("UID MOVE %d " % uids[2], quote(P + sep + "nonexistent"), expect="NO")
        check(r.tagged.code == "TRYCREATE" and not r.of("EXPUNGE"), "UID MOVE to a missing mailbox: NO [TRYCREATE]",
              sent=r.sent, got=r.all())
        ok("MOVE and UID MOVE to a missing mailbox: NO [TRYCREATE]")
        b = session(args, name="C")
        b.select(mv, readonly=True)
        got = snapshot(b, "1:*")
        check(len(got) == 3, "the MOVE destination holds 3 messages", got=str(sorted(got)))
        if uidplus:
            for s_uid, d_uid in moved.items():
                check(got.get(d_uid) == before[s_uid], "a moved message differs (content, flags or internal date)",
                      got=str(got.get(d_uid)), expected=str(before[s_uid]))
        ok("moved messages keep content, flags and internal date")
        b.logout()
    c.cmd("CLOSE")
    boxes.cleanup()
    c.logout()


# =======================================================================================
# expunge


@scenario("expunge")
def sc_expunge(args):
    c = session(args)
    boxes = Boxes(c)
    P = boxes.create(prefix(args))
    for k in range(6):
        c.append(P, message([("Subject", "expunge %d" % k)], "body %d\r\n" % k))
    c.select(P)
    cur = [u for _, u in sorted(c.uids().items())]
    r = c.cmd("EXPUNGE")
    check(not r.of("EXPUNGE"), "EXPUNGE without \\Deleted messages expunged something", got=r.all())
    c.cmd("STORE 2,4:5 +FLAGS.SILENT (\\Deleted)")
    r = c.cmd("EXPUNGE")
    want = [cur[0], cur[2], cur[5]]
    check(len(r.of("EXPUNGE")) == 3, "EXPUNGE of three \\Deleted messages: three * n EXPUNGE", sent=r.sent, got=r.all())
    left = apply_expunges(r, cur, "EXPUNGE")
    check(left == want, "the * n EXPUNGE numbers do not remove the \\Deleted messages (renumbering)", sent=r.sent,
          got=r.all(), expected="UIDs %s left" % want)
    check([u for _, u in sorted(c.uids().items())] == want, "after EXPUNGE", expected=str(want))
    ok("EXPUNGE: one * n EXPUNGE per message, numbers valid at the time each is sent")
    cur = want

    b = session(args, name="B")
    for k in range(3):
        b.append(P, message([("Subject", "more %d" % k)], "more %d\r\n" % k))
    r = c.cmd("NOOP")
    check(any(u.kind == "EXISTS" and u.num == 6 for u in r.untagged), "NOOP must report the new messages",
          sent=r.sent, got=r.all(), expected="* 6 EXISTS")
    ok("NOOP reports new messages (EXISTS)")
    cur = [u for _, u in sorted(c.uids().items())]
    c.cmd("CHECK")
    ok("CHECK")
    if c.has("UIDPLUS"):
        c.cmd("STORE 2,4,5 +FLAGS.SILENT (\\Deleted)")
        r = c.cmd("UID EXPUNGE %d,%d" % (cur[1], cur[3]))
        left = apply_expunges(r, cur, "UID EXPUNGE")
        want = [cur[0], cur[2], cur[4], cur[5]]
        check(left == want, "UID EXPUNGE must expunge only the given \\Deleted UIDs", sent=r.sent, got=r.all(),
              expected="UIDs %s left" % want)
        _, f = c.fetch("3", "(UID FLAGS)")
        check(int(f[3]["UID"]) == cur[4] and "\\Deleted" in flagset(f[3]["FLAGS"]), "a \\Deleted message outside "
              "the UID EXPUNGE set must stay", got=str(f))
        ok("UID EXPUNGE (UIDPLUS) leaves other \\Deleted messages")
        cur = want
        c.cmd("STORE 3 -FLAGS.SILENT (\\Deleted)")

    # CLOSE expunges silently; UNSELECT and EXAMINE+CLOSE do not expunge.
    c.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)")
    r = c.cmd("CLOSE")
    check(not r.of("EXPUNGE"), "CLOSE must not send * n EXPUNGE (it expunges silently)", sent=r.sent, got=r.all())
    c.cmd("FETCH 1 (UID)", expect="BAD", what="FETCH after CLOSE (no mailbox selected)")
    _, info = c.select(P)
    check(info.exists == len(cur) - 1, "CLOSE did not expunge the \\Deleted message", got=info.result.all())
    cur = cur[1:]
    ok("CLOSE expunges silently and leaves the selected state")
    c.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)")
    if c.has("UNSELECT"):
        r = c.cmd("UNSELECT")
        check(not r.of("EXPUNGE"), "UNSELECT expunged", sent=r.sent, got=r.all())
        c.cmd("FETCH 1 (UID)", expect="BAD", what="FETCH after UNSELECT")
        _, info = c.select(P)
        check(info.exists == len(cur), "UNSELECT must not expunge", got=info.result.all())
        ok("UNSELECT does not expunge")
    c.select(P, readonly=True)
    r = c.cmd("EXPUNGE", expect=None)
    check(not r.of("EXPUNGE"), "EXPUNGE under EXAMINE expunged", sent=r.sent, got=r.all())
    r = c.cmd("CLOSE")
    check(not r.of("EXPUNGE"), "CLOSE under EXAMINE", got=r.all())
    _, info = c.select(P)
    check(info.exists == len(cur), "CLOSE after EXAMINE must not expunge (RFC 3501 6.4.2)", got=info.result.all())
    ok("EXPUNGE and CLOSE under EXAMINE do not expunge")
    c.cmd("NOOP")
    ok("NOOP")
    c.cmd("CLOSE")
    b.logout()
    boxes.cleanup()
    c.logout()


# =======================================================================================
# idle


def deliver(maildir, data, chown):
    """Delivers like an MTA: write into tmp/, then rename into new/."""
    name = "%d.M%dP%d.postern-test" % (time.time(), random.randrange(10 ** 6), os.getpid())
    tmp = os.path.join(maildir, "tmp", name)
    for sub in ("tmp", "new", "cur"):
        check(os.path.isdir(os.path.join(maildir, sub)), "--deliver-dir %s has no %s/" % (maildir, sub))
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    if chown:
        uid, gid = (int(x) for x in chown.split(":"))
        os.chown(tmp, uid, gid)
    os.chmod(tmp, 0o600 if chown else 0o644)
    os.rename(tmp, os.path.join(maildir, "new", name))


def idle_start(c):
    tag = c.tag()
    c.send(tag + " IDLE\r\n")
    r, _, seen = c.wait_for(lambda r: r.tag in ("+", tag), c.timeout, "the IDLE continuation")
    check(r.tag == "+", "IDLE must be answered with a continuation (RFC 2177)", sent=tag + " IDLE", got=seen)
    return tag, seen[:-1]


def idle_done(c, tag):
    c.send("DONE\r\n")
    r, _, seen = c.wait_for(lambda r: r.tag == tag, c.timeout, "the tagged answer to DONE")
    check(r.kind == "OK", "DONE must end IDLE with a tagged OK", sent="DONE", got=seen)
    return seen[:-1]


@scenario("idle")
def sc_idle(args):
    box = args.mailbox
    a = session(args, name="A")
    check(a.has("IDLE"), "IDLE is not advertised", got=" ".join(sorted(a.caps)))
    _, info = a.select(box)
    n0 = info.exists
    b = session(args, name="B")
    tag, _ = idle_start(a)
    ok("IDLE answered with a continuation")
    mid = "<idle-%d-%d@postern.test>" % (os.getpid(), random.randrange(10 ** 9))
    msg = message([("From", "idle@example.org"), ("Subject", "idle probe"), ("Message-ID", mid)], "idle\r\n")
    if args.deliver_dir:
        deliver(args.deliver_dir, msg, args.chown)
        how = "delivered into %s/new" % args.deliver_dir
    else:
        b.append(box, msg)
        how = "APPEND by another session"
    t0 = time.monotonic()
    r, el, seen = a.wait_for(lambda r: r.kind == "EXISTS" and r.num == n0 + 1, args.within,
                             "* %d EXISTS (%s)" % (n0 + 1, how))
    check(all(x.tag == "*" for x in seen), "only untagged responses during IDLE", got=seen)
    ok("IDLE: * %d EXISTS %.3f s after the message was %s (within %g s)" % (n0 + 1, time.monotonic() - t0, how,
                                                                              args.within))
    b.select(box)
    _, hits = b.search('HEADER Message-ID "%s"' % mid)
    check(len(hits) == 1, "the new message is not found by Message-ID", got=str(hits))
    seq = hits[0]
    check(seq == n0 + 1, "the new message is not the last one", got=str(hits), expected=str(n0 + 1))
    uid = b.uid_of(seq)
    b.cmd("STORE %d +FLAGS (\\Flagged)" % seq)
    t0 = time.monotonic()
    r, el, seen = a.wait_for(lambda r: r.kind == "FETCH" and r.num == seq and "\\Flagged" in flagset(r.data.get("FLAGS", [])),
                             args.within, "* %d FETCH (FLAGS (\\Flagged ...))" % seq)
    ok("IDLE: * %d FETCH (FLAGS ...) %.3f s after another session's STORE" % (seq, time.monotonic() - t0))
    b.cmd("STORE %d +FLAGS.SILENT (\\Deleted)" % seq)
    if b.has("UIDPLUS"):
        b.cmd("UID EXPUNGE %d" % uid)
    else:
        b.cmd("EXPUNGE")
    t0 = time.monotonic()
    r, el, seen = a.wait_for(lambda r: r.kind == "EXPUNGE" and r.num == seq, args.within, "* %d EXPUNGE" % seq)
    ok("IDLE: * %d EXPUNGE %.3f s after another session's EXPUNGE" % (seq, time.monotonic() - t0))
    idle_done(a, tag)
    ok("DONE ends IDLE with a tagged OK")
    r = a.cmd("NOOP")
    _, f = a.fetch("1:*", "(UID)") if n0 else (None, {})
    check(len(f) == n0, "after IDLE the mailbox should hold its %d messages again" % n0, got=str(len(f)))
    a.cmd("CLOSE")
    a.logout()
    b.logout()


# =======================================================================================
# two-sessions


def recent_of(c, seq):
    _, f = c.fetch(str(seq), "(FLAGS)")
    return "\\Recent" in flagset(f[seq]["FLAGS"])


@scenario("two-sessions")
def sc_two_sessions(args):
    a = session(args, name="A")
    boxes = Boxes(a)
    P = boxes.create(prefix(args))
    for k in range(3):
        a.append(P, message([("Subject", "two %d" % k)], "two %d\r\n" % k))
    _, ia = a.select(P)
    b = session(args, name="B")
    _, ib = b.select(P)
    check(ia.recent == 3 and ib.recent == 0, "\\Recent must go to the first session only (RFC 3501 2.3.2)",
          got="A: RECENT %s, B: RECENT %s" % (ia.recent, ib.recent), expected="A: 3, B: 0")
    check(all(recent_of(a, n) for n in (1, 2, 3)) and not any(recent_of(b, n) for n in (1, 2, 3)),
          "\\Recent flags: A has them, B not")
    r, got = b.search("RECENT")
    check(got == [], "SEARCH RECENT in B", sent=r.sent, got=r.all())
    ok("\\Recent given to exactly one session (A: 3, B: 0)")

    c = session(args, name="C")
    c.append(P, message([("Subject", "two new")], "new\r\n"))
    ra = a.cmd("NOOP")
    rb = b.cmd("NOOP")
    for who, r in (("A", ra), ("B", rb)):
        check(any(u.kind == "EXISTS" and u.num == 4 for u in r.untagged), "%s: NOOP must announce the new message" % who,
              sent=r.sent, got=r.all(), expected="* 4 EXISTS")
    holders = [who for who, s in (("A", a), ("B", b)) if recent_of(s, 4)]
    check(len(holders) == 1, "the new message must be \\Recent in exactly one session", got=str(holders))
    ok("new mail seen by both at NOOP; \\Recent in exactly one session (%s)" % holders[0])

    a.cmd("STORE 1 +FLAGS (\\Flagged $Forwarded)")
    r = b.cmd("NOOP")
    f = [u for u in r.untagged if u.kind == "FETCH" and u.num == 1]
    check(f and flags_no_recent(f[-1].data["FLAGS"]) == {"\\Flagged", "$Forwarded"},
          "B: NOOP must report A's flag change", sent=r.sent, got=r.all(), expected="* 1 FETCH (FLAGS (\\Flagged $Forwarded))")
    b.cmd("STORE 2 +FLAGS (\\Seen)")
    r = a.cmd("NOOP")
    f = [u for u in r.untagged if u.kind == "FETCH" and u.num == 2]
    check(f and "\\Seen" in flagset(f[-1].data["FLAGS"]), "A: NOOP must report B's flag change", sent=r.sent,
          got=r.all())
    ok("flag changes by one session reach the other at NOOP")

    uids = [u for _, u in sorted(a.uids().items())]
    a.cmd("STORE 3 +FLAGS.SILENT (\\Deleted)")
    r = a.cmd("EXPUNGE")
    check(apply_expunges(r, uids, "EXPUNGE") == [uids[0], uids[1], uids[3]], "A: EXPUNGE", sent=r.sent, got=r.all())
    r = b.cmd("FETCH 1:* (FLAGS)")
    check(not r.of("EXPUNGE"), "B: * EXPUNGE during FETCH is forbidden (RFC 3501 7.4.1)", sent=r.sent, got=r.all())
    r = b.cmd("NOOP")
    left = apply_expunges(r, uids, "B NOOP")
    check(left == [uids[0], uids[1], uids[3]], "B: NOOP must report A's expunge", sent=r.sent, got=r.all(),
          expected="* 3 EXPUNGE")
    check([u for _, u in sorted(b.uids().items())] == left, "B's view after the expunge")
    ok("an expunge by one session reaches the other at NOOP (not during FETCH)")
    r = c.cmd("STATUS ", quote(P), " (MESSAGES)")
    c.logout()
    b.cmd("CLOSE")
    b.logout()
    a.cmd("CLOSE")
    boxes.cleanup()
    a.logout()


# =======================================================================================
# id-enable


def check_id(r):
    ids = r.of("ID")
    check(len(ids) == 1, "ID must answer one * ID (RFC 2971)", sent=r.sent, got=r.all())
    v = ids[0].data
    check(len(v) == 1, "* ID takes one argument", sent=r.sent, got=ids[0])
    v = v[0]
    if v is None:
        return "NIL"
    check(isinstance(v, list) and len(v) % 2 == 0 and len(v) <= 60, "* ID must be NIL or a list of pairs",
          sent=r.sent, got=ids[0])
    for k in range(0, len(v), 2):
        check(isinstance(v[k], bytes) and (v[k + 1] is None or isinstance(v[k + 1], bytes)),
              "* ID pairs are string / nstring", sent=r.sent, got=ids[0])
    return " ".join("%s=%s" % (astr(v[k]), astr(v[k + 1])) for k in range(0, len(v), 2))


@scenario("id-enable")
def sc_id_enable(args):
    c = Imap(args, name="A")
    has_id = c.has("ID")
    if has_id:
        r = c.cmd("ID NIL")
        print("# server ID: %s" % check_id(r))
        r = c.cmd('ID ("name" "postern-tests" "version" "1.0" "vendor" NIL)')
        check_id(r)
        ok("ID NIL and ID with parameters before login")
    quirk = args.dovecot_quirk_enable_before_login
    r = c.cmd("ENABLE CONDSTORE", expect=("BAD", "NO", "OK") if quirk else ("BAD", "NO"),
              what="ENABLE before login (RFC 5161 3.1: only valid in the authenticated state)")
    if r.tagged.kind == "OK":
        # Dovecot 2.3: "* ENABLED" + "OK ENABLE ignored in non-authenticated state".
        en = r.of("ENABLED")
        check(all(not e.data for e in en), "ENABLE before login enabled something", sent=r.sent, got=r.all())
        print("# dovecot quirk allowed: ENABLE before login answered OK, enabling nothing")
        ok("ENABLE before login enables nothing (quirk: answered OK)")
    else:
        ok("ENABLE refused before login (%s)" % r.tagged.kind)
    c.login()
    if not has_id and c.has("ID"):
        has_id = True
    if has_id:
        r = c.cmd("ID NIL")
        check_id(r)
        r = c.cmd('ID ("name" "postern-tests" "os" "linux")')
        check_id(r)
        ok("ID after login")
    else:
        print("# ID not advertised")
    check(c.has("ENABLE"), "ENABLE not advertised", got=" ".join(sorted(c.caps)))
    for req in ("X-NO-SUCH-EXTENSION", "X-FOO X-BAR", "IMAP4rev1"):
        r = c.cmd("ENABLE " + req)
        en = r.of("ENABLED")
        if not en and args.dovecot_quirk_no_empty_enabled:
            # Dovecot 2.3 sends no * ENABLED when it enabled nothing.
            print("# dovecot quirk allowed: no * ENABLED for ENABLE %s" % req)
            continue
        check(len(en) == 1, "ENABLE must answer one * ENABLED (RFC 5161 3.1: MUST, even if empty)",
              sent=r.sent, got=r.all(), expected="* ENABLED")
        check(not set(x.upper() for x in en[0].data) & set(req.upper().split()),
              "ENABLED lists something that cannot be enabled", sent=r.sent, got=en[0])
    ok("ENABLE of unknown or non-enableable capabilities: OK with an empty * ENABLED")
    if "CONDSTORE" in c.caps:
        r = c.cmd("ENABLE CONDSTORE X-NOPE")
        en = r.of("ENABLED")
        check(len(en) == 1 and [x.upper() for x in en[0].data] == ["CONDSTORE"], "ENABLE CONDSTORE", got=r.all())
        ok("ENABLE CONDSTORE X-NOPE: * ENABLED CONDSTORE")
    if c.has("UNSELECT"):
        c.cmd("UNSELECT", expect="BAD", what="UNSELECT without a selected mailbox")
        c.cmd("SELECT INBOX")
        r = c.cmd("UNSELECT")
        check(not r.of("EXPUNGE"), "UNSELECT expunged", got=r.all())
        c.cmd("FETCH 1:* (FLAGS)", expect="BAD", what="FETCH after UNSELECT")
        c.cmd("EXAMINE INBOX")
        c.cmd("UNSELECT")
        ok("UNSELECT: back to the authenticated state; BAD without a mailbox")
    else:
        print("# UNSELECT not advertised")
    c.logout()


# =======================================================================================
# corpus


def corpus_files(root):
    out = []
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs if x != "LICENSES")
        for f in sorted(files):
            if f == "SOURCES.tsv" or f.startswith("."):
                continue
            out.append(os.path.join(d, f))
    return sorted(out, key=lambda p: os.path.relpath(p, root))


def first_difference(a, b):
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


@scenario("corpus")
def sc_corpus(args):
    check(args.corpus and os.path.isdir(args.corpus), "--corpus DIR is required")
    files = corpus_files(args.corpus)
    check(files, "no messages under %s" % args.corpus)
    c = session(args)
    boxes = Boxes(c)
    P = boxes.create(prefix(args))
    plus = c.has("LITERAL+")
    appended = []
    for k, path in enumerate(files):
        with open(path, "rb") as f:
            data = f.read()
        r = c.append(P, data, plus=plus and k % 2 == 1)
        uid = None
        if r.tagged.code == "APPENDUID":
            uid = int(r.tagged.code_args.split()[1])
        appended.append((os.path.relpath(path, args.corpus), data, uid))
    ok("APPEND of %d corpus messages (%s)" % (len(files), "synchronizing and LITERAL+ literals" if plus
                                               else "synchronizing literals"))
    _, info = c.select(P, readonly=True)
    check(info.exists == len(files), "EXAMINE after the corpus APPENDs", got=info.result.all(),
          expected="* %d EXISTS" % len(files))
    report = []
    nul_swaps = 0
    for seq, (rel, data, uid) in enumerate(appended, 1):
        want = crlf(data)
        r, d = fetch_one(c, seq, "(UID RFC822.SIZE BODY.PEEK[] BODYSTRUCTURE ENVELOPE)")
        got = d.get("BODY[]")
        check(got is not None, "%s: no BODY[]" % rel, got=r.all())
        if got != want and args.nul_as_0x80 and b"\0" in want and len(got) == len(want):
            if got == want.replace(b"\0", b"\x80"):
                nul_swaps += 1
                got = want
        if got != want:
            i = first_difference(got, want)
            fail("%s: BODY[] is not the appended message with bare LF turned into CRLF "
                 "(first difference at offset %d of %d/%d)" % (rel, i, len(got), len(want)),
                 sent="FETCH %d BODY.PEEK[]" % seq, got=got[max(0, i - 40):i + 40],
                 expected=show(want[max(0, i - 40):i + 40]))
        check(d.get("RFC822.SIZE") == str(len(want)), "%s: RFC822.SIZE must be the size of BODY[]" % rel,
              got=str(d.get("RFC822.SIZE")), expected=str(len(want)))
        if uid is not None:
            check(d.get("UID") == str(uid), "%s: UID differs from APPENDUID" % rel, got=str(d.get("UID")),
                  expected=str(uid))
        check(isinstance(d.get("BODYSTRUCTURE"), list) and isinstance(d.get("ENVELOPE"), list)
              and len(d["ENVELOPE"]) == 10, "%s: BODYSTRUCTURE/ENVELOPE" % rel, got=r.all())
        report.append({"file": rel, "size": len(want), "rfc822_size": int(d["RFC822.SIZE"]),
                       "bodystructure": to_json(d["BODYSTRUCTURE"]), "envelope": to_json(d["ENVELOPE"])})
    if nul_swaps:
        print("# --nul-as-0x80: %d message(s) came back with NUL as 0x80" % nul_swaps)
    ok("BODY[] of every corpus message is byte-exact (bare LF -> CRLF), RFC822.SIZE matches")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1, sort_keys=True)
        ok("wrote %s (%d messages)" % (args.json, len(report)))
    c.cmd("CLOSE")
    boxes.cleanup()
    c.logout()


# =======================================================================================
# bad-input


def raw_exchange(c, line, tag, seconds=None):
    """Sends raw bytes and reads until the tagged answer for `tag` or the server closes.
    Returns (tagged response or None, responses seen, closed?)."""
    c.send(line)
    seen = []
    deadline = time.monotonic() + (seconds or c.timeout)
    try:
        while True:
            r = c.read_response(deadline)
            seen.append(r)
            if r.tag == tag:
                return r, seen, False
            if r.tag == "+":
                return r, seen, False
    except Closed:
        return None, seen, True
    except (socket.timeout, TimeoutError):
        fail("%s: no answer within %d s (the server hangs)" % (c.name, seconds or c.timeout), sent=line, got=seen)


def still_alive(c, where):
    r = c.cmd("NOOP", what="NOOP after %s" % where)
    return r


@scenario("bad-input")
def sc_bad_input(args):
    setup = session(args, name="S")
    boxes = Boxes(setup)
    P = boxes.create(prefix(args))
    setup.append(P, message([("Subject", "bad input")], "bad input\r\n"))

    def fresh(name):
        c = session(args, name=name)
        c.select(P)
        return c

    # Unbalanced parentheses.
    c = fresh("A")
    for line in ("FETCH 1 (FLAGS UID", "FETCH 1 FLAGS)", "SEARCH (OR SEEN", "STORE 1 +FLAGS (\\Seen",
                 "FETCH 1 (BODY[HEADER.FIELDS (FROM)]", "SEARCH ((SEEN)"):
        c.cmd(line, expect="BAD", what="unbalanced parentheses")
    still_alive(c, "unbalanced parentheses")
    ok("unbalanced parentheses: BAD, session goes on")

    # A literal announcement of 1 GB: refused before the continuation, session goes on.
    before = setup.status(P)["MESSAGES"]
    for cmdline in ('APPEND "%s" {1000000000}' % P, "SEARCH TEXT {1000000000}"):
        tag = c.tag()
        r, seen, closed = raw_exchange(c, "%s %s\r\n" % (tag, cmdline), tag)
        if closed and not cmdline.startswith("APPEND") and args.dovecot_quirk_bye_on_big_literal:
            # Dovecot 2.3 answers "* BYE Literal size too large" and closes, except for APPEND.
            check(any(x.kind == "BYE" for x in seen), "closed without * BYE", sent=cmdline, got=seen)
            print("# dovecot quirk allowed: %s answered with * BYE and close" % cmdline)
            c = fresh("A")
            continue
        check(not closed, "the server closed the connection on a 1 GB literal announcement (RFC 3501 7.5: "
              "a refused synchronizing literal is answered NO/BAD and the session goes on)", sent=cmdline, got=seen)
        check(r.tag == tag and r.kind in ("NO", "BAD"), "a {1000000000} literal must be refused with NO or BAD "
              "instead of a continuation", sent=cmdline, got=seen, expected="tagged NO/BAD (e.g. [TOOBIG])")
        still_alive(c, "a refused 1 GB literal")
        ok("%s refused (%s%s), session answers NOOP" % (cmdline.split(" ")[0] + " {1000000000}", r.kind,
                                                         " [%s]" % r.code if r.code else ""))
    check(setup.status(P)["MESSAGES"] == before, "a refused APPEND changed the mailbox")

    # Bad modified UTF-7 mailbox names.
    sep = c.separator()
    for bad in ("&Jjo!", "&AGE-", "&2D0-", "x&", "&U,BTFw"):
        name = P + sep + bad
        r = c.cmd("CREATE ", quote(name), expect=None)
        if r.tagged.kind == "OK":
            # Accepted as an opaque name: then it must come back exactly as sent.
            _, got = list_names(c, "", name)
            check(list(got) == [name], "a mailbox name accepted with OK is not listed verbatim", sent=r.sent,
                  got=str(list(got)))
            c.cmd("DELETE ", quote(name))
            print("# bad modified UTF-7 %r accepted as an opaque name" % bad)
        else:
            _, got = list_names(c, "", P + sep + "*")
            check(not got, "a refused CREATE left a mailbox behind", got=str(sorted(got)))
    still_alive(c, "bad modified UTF-7")
    ok("invalid modified UTF-7 mailbox names refused (or kept verbatim), session goes on")
    c.close()

    # NUL bytes in commands.
    for line in (b"NOOP\0", b"FETCH 1 (FLAGS\0)", b'SELECT "IN\0BOX"', b"SEARCH TEXT \"a\0b\""):
        c = fresh("N")
        tag = c.tag()
        r, seen, closed = raw_exchange(c, tag.encode() + b" " + line + b"\r\n", tag)
        if closed:
            print("# NUL in %r: connection closed (%s)" % (line, "after * BYE" if any(x.kind == "BYE" for x in seen)
                                                           else "without * BYE"))
        else:
            check(r.tag == tag and r.kind in ("BAD", "NO"), "a command with a NUL byte must be refused",
                  sent=line, got=seen, expected="tagged BAD (or NO)")
            still_alive(c, "a NUL byte")
        c.close()
    c = fresh("N")
    quirk = args.dovecot_quirk_nul_in_literal
    r = c.cmd("CREATE ", Literal(P.encode() + sep.encode() + b"a\0b"), expect=("BAD", "NO", "OK") if quirk else ("BAD", "NO"),
              what="a mailbox name with a NUL in a literal (RFC 3501 9: a literal is CHAR8, no NUL)")
    if r.tagged.kind == "OK":
        # Dovecot 2.3 accepts it and creates the name cut at the NUL.
        print("# dovecot quirk allowed: CREATE with a NUL in a literal answered OK")
        _, got = list_names(c, "", P + sep + "*")
        for name in got:
            c.cmd("DELETE ", quote(name))
    still_alive(c, "NUL in a literal")
    c.close()
    ok("NUL bytes in commands refused, no hang")

    # 200 unknown commands in one flood.
    c = fresh("F")
    tags = ["F%03d" % k for k in range(200)]
    c.send("".join("%s XYZZY%d\r\n" % (t, k) for k, t in enumerate(tags)))
    answered = []
    bye = False
    deadline = time.monotonic() + max(30.0, c.timeout)
    try:
        while len(answered) < len(tags):
            r = c.read_response(deadline)
            if r.kind == "BYE":
                bye = True
                continue
            if r.tag == "*":
                continue
            check(r.tag == tags[len(answered)], "flood: answers out of order", got=r,
                  expected="tag %s" % tags[len(answered)])
            check(r.kind == "BAD", "an unknown command must be answered BAD", sent="%s XYZZY" % r.tag, got=r)
            answered.append(r.tag)
    except Closed:
        pass
    except (socket.timeout, TimeoutError):
        fail("flood: the server neither answered all 200 commands nor closed (hang)", got="%d answered" % len(answered))
    if len(answered) == len(tags):
        still_alive(c, "the flood")
        ok("200 unknown commands: 200 BAD, session goes on")
    else:
        ok("200 unknown commands: %d BAD, then closed (%s)" % (len(answered), "after * BYE" if bye else "without * BYE"))
    c.close()

    # A disconnect in the middle of an APPEND literal leaves nothing behind.
    before = setup.status(P)["MESSAGES"]
    payload = message([("Subject", "half")], "x" * 2000 + "\r\n")
    for plus in (False, True):
        c = session(args, name="H")
        if plus and not c.has("LITERAL+"):
            c.close()
            continue
        tag = c.tag()
        if plus:
            c.send(('%s APPEND "%s" {%d+}\r\n' % (tag, P, len(payload))).encode() + payload[:700])
        else:
            c.send('%s APPEND "%s" {%d}\r\n' % (tag, P, len(payload)))
            r = c.read_response()
            check(r.tag == "+", "APPEND literal continuation", got=r)
            c.send(payload[:700])
        time.sleep(0.2)
        c.sock.shutdown(socket.SHUT_RDWR)
        c.close()
    time.sleep(0.5)
    d = session(args, name="R")
    check(d.status(P)["MESSAGES"] == before, "a half-sent APPEND was stored", expected="%d messages" % before)
    d.select(P, readonly=True)
    _, f = d.fetch("1:*", "(RFC822.SIZE)")
    check(all(int(x["RFC822.SIZE"]) != len(payload) for x in f.values()), "a half-sent APPEND was stored")
    d.logout()
    ok("disconnect in the middle of an APPEND literal: mailbox unchanged after reconnecting")

    # A command line longer than 100 KB.
    for line in ("SEARCH TEXT \"%s\"" % ("x" * 110000), "X" * 110000, "NOOP " + "a " * 60000):
        c = fresh("L")
        tag = c.tag()
        r, seen, closed = raw_exchange(c, "%s %s\r\n" % (tag, line), tag)
        if closed:
            how = "closed (%s)" % ("after * BYE" if any(x.kind == "BYE" for x in seen) else "without * BYE")
        else:
            check(r.tag == tag, "a long command line must get a tagged answer", sent=line[:80], got=seen)
            still_alive(c, "a 100 KB command line")
            how = r.kind
        print("# %d-byte command line (%s...): %s" % (len(line), line[:12], how))
        c.close()
    ok("command lines over 100 KB: answered or closed, never a hang")
    boxes.cleanup()
    setup.logout()


# =======================================================================================
# starttls-injection


@scenario("starttls-injection")
def sc_starttls_injection(args):
    """RFC 3501 6.2.1 / CVE-2011-0411: commands pipelined after STARTTLS in the same packet
    must be discarded, not executed before or after the handshake."""
    c = Imap(args, mode="plain", name="A")
    caps = c.capability()
    check("STARTTLS" in caps, "STARTTLS not advertised", got=" ".join(sorted(caps)))
    c.send("S1 STARTTLS\r\nS2 CAPABILITY\r\n")
    r = c.read_response()
    check(r.tag == "S1" and r.kind == "OK", "STARTTLS answer", sent="S1 STARTTLS", got=r, expected="S1 OK")
    # The server speaks no further cleartext: nothing may follow its OK before our ClientHello.
    c.sock.settimeout(0.7)
    try:
        extra = c.sock.recv(4096)
    except (socket.timeout, TimeoutError):
        extra = b""
    c.sock.settimeout(c.timeout)
    extra = c.buf + extra
    check(extra == b"", "the injected CAPABILITY was answered in cleartext", sent="S1 STARTTLS\\r\\nS2 CAPABILITY",
          got=extra, expected="nothing after S1 OK")
    ok("no cleartext answer to the injected command")
    c.buf = b""
    try:
        c._wrap_tls()
    except (ssl.SSLError, OSError) as e:
        ok("the server refused the handshake after injected bytes (%s)" % e.__class__.__name__)
        return
    ok("TLS handshake after STARTTLS")
    c.send("S3 NOOP\r\n")
    seen = []
    try:
        while True:
            r = c.read_response()
            seen.append(r)
            check(r.kind != "CAPABILITY" and r.tag != "S2",
                  "the injected CAPABILITY was executed after the TLS handshake (CVE-2011-0411)",
                  sent="S1 STARTTLS\\r\\nS2 CAPABILITY, then S3 NOOP under TLS", got=seen)
            if r.tag == "S3":
                break
    except Closed:
        ok("the server closed the TLS session (the injected bytes were not executed)")
        return
    check(r.kind == "OK", "NOOP after STARTTLS", got=seen)
    ok("injected command not executed after the handshake")
    caps = c.capability()
    check("STARTTLS" not in caps, "STARTTLS advertised after STARTTLS", got=" ".join(sorted(caps)))
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
    p.add_argument("--dovecot-quirk-deleted-parent-listed", action="store_true",
                   help="mailboxes: allow a parent deleted while it has children to stay listed "
                        "without \\Noselect, as long as it is gone (Dovecot 2.3 does that)")
    p.add_argument("--dovecot-quirk-no-inbox-rename", action="store_true",
                   help="mailboxes: allow RENAME INBOX to be refused with NO (Dovecot 2.3 does not support it)")
    p.add_argument("--dovecot-quirk-enable-before-login", action="store_true",
                   help="id-enable: allow ENABLE before login to answer OK as long as it enables nothing "
                        "(Dovecot 2.3 does that; RFC 5161 makes ENABLE valid only once authenticated)")
    p.add_argument("--dovecot-quirk-no-empty-enabled", action="store_true",
                   help="id-enable: allow ENABLE that enables nothing to omit * ENABLED (Dovecot 2.3 does)")
    p.add_argument("--dovecot-quirk-bye-on-big-literal", action="store_true",
                   help="bad-input: allow a 1 GB literal outside APPEND to be answered with * BYE and a close "
                        "(Dovecot 2.3 does that) instead of NO/BAD with the session going on")
    p.add_argument("--dovecot-quirk-nul-in-literal", action="store_true",
                   help="bad-input: allow CREATE with a NUL inside a literal to succeed (Dovecot 2.3 cuts the "
                        "name at the NUL; RFC 3501 forbids NUL in literals)")
    p.add_argument("--mailbox", default="INBOX", help="idle: the mailbox to watch")
    p.add_argument("--within", type=float, default=2.0, help="idle: seconds allowed for each notification")
    p.add_argument("--deliver-dir", help="idle: the Maildir (cur/new/tmp) of --mailbox; deliver there as an MTA")
    p.add_argument("--chown", help="idle: uid:gid to give a delivered file")
    p.add_argument("--corpus", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../shared/corpus"),
                   help="corpus: directory of messages (default: the shared corpus beside the repository)")
    p.add_argument("--json", help="corpus: write per-message BODYSTRUCTURE/ENVELOPE/RFC822.SIZE here")
    p.add_argument("--nul-as-0x80", action="store_true",
                   help="corpus: allow NUL bytes to come back as 0x80 (Dovecot does that)")
    args = p.parse_args()
    SCENARIOS[args.scenario](args)
    print("ok scenario %s" % args.scenario)


if __name__ == "__main__":
    run(main)
