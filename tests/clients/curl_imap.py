#!/usr/bin/env python3
"""curl as an IMAP client against the server.

    curl_imap.py --host H --port N [--tls-port N] --mode plain|starttls|tls [--cafile PEM]
                 --user U --password P

plain: imap://, starttls: imap:// with --ssl-reqd, tls: imaps:// (both verifying --cafile
for the name localhost; --resolve pins the name to --host). Checks, each printing `ok ...`:
listing mailboxes (with each advertised SASL mechanism, and SASL-IR),
fetching by UID (whole message, ;SECTION=, ;PARTIAL=) and by ;MAILINDEX=, custom commands
with -X (EXAMINE, SEARCH, FETCH), uploading with -T (APPEND; stored bytes checked), and a
wrong password refused. The messages are put in and checked with the strict client of
imap_support.py.
"""
import argparse
import ipaddress
import os
import random
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from imap_support import (  # noqa: E402
    Imap,
    add_server_args,
    check,
    crlf,
    fail,
    flagset,
    ok,
    quote,
    run,
    show,
)


class Curl:
    def __init__(self, args):
        self.args = args
        a = args
        port = a.tls_port if a.mode == "tls" and a.tls_port else a.port
        scheme = "imaps" if a.mode == "tls" else "imap"
        self.base = "%s://%s:%d" % (scheme, a.tls_name, port)
        self.common = ["-sS", "--max-time", str(int(a.timeout) + 10)]
        try:
            ipaddress.ip_address(a.host)
            self.common += ["--resolve", "%s:%d:%s" % (a.tls_name, port, a.host)]
        except ValueError:
            pass
        if a.mode != "plain":
            self.common += ["--cacert", a.cafile]
        if a.mode == "starttls":
            self.common += ["--ssl-reqd"]

    def __call__(self, path, *extra, user=None, password=None, expect_rc=0):
        cmd = [self.args.curl] + self.common + ["-u", "%s:%s" % (user or self.args.user,
                                                                  password or self.args.password)]
        cmd += list(extra) + [self.base + path]
        try:
            p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=self.args.timeout + 20)
        except subprocess.TimeoutExpired:
            fail("curl did not finish", sent=" ".join(cmd))
        shown = " ".join(cmd).replace(self.args.password, "***")
        if expect_rc == 0:
            check(p.returncode == 0, "curl failed (exit %d): %s" % (p.returncode, p.stderr.decode("utf-8", "replace")),
                  sent=shown, got=p.stdout)
        else:
            check(p.returncode != 0, "curl should have failed", sent=shown, got=p.stdout)
        return p.stdout, p.returncode


def list_lines(out):
    """Mailbox names from curl's LIST output."""
    names = []
    for line in out.split(b"\r\n"):
        if not line:
            continue
        m = re.match(rb'\* LIST \(([^)]*)\) (?:"(?:[^"\\]|\\.)*"|NIL) (.*)$', line)
        check(m, "unexpected line in curl's LIST output", got=line)
        name = m.group(2)
        if name.startswith(b'"'):
            name = re.sub(rb'\\(.)', rb'\1', name[1:-1])
        names.append(name.decode("latin-1"))
    return names


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_server_args(p)
    p.add_argument("--tls-name", default="localhost", help="host name in the URL (the certificate's name)")
    p.add_argument("--curl", default="curl")
    p.add_argument("--prefix", help="mailbox name (default: unique per run)")
    args = p.parse_args()
    if args.mode != "plain" and not args.cafile:
        fail("--cafile is required for --mode %s" % args.mode)
    curl = Curl(args)

    c = Imap(args, name="V")
    pre_caps = c.capability()
    c.login()
    P = args.prefix or "cu%d%03d" % (os.getpid() % 100000, random.randrange(1000))
    c.cmd("CREATE ", quote(P))
    m1 = (b"From: Curl Tester <curl@example.org>\r\nTo: alice@example.org\r\nSubject: curl fetch one\r\n"
          b"Content-Type: text/plain; charset=utf-8\r\n\r\nFirst body, 8-bit: \xc3\xa9\xc3\xa0\r\n.\r\n"
          b"a line with a single dot above\r\n")
    m2 = b"From: curl@example.org\r\nSubject: curl fetch two\r\n\r\nSecond body.\r\n"
    r1 = c.append(P, m1)
    r2 = c.append(P, m2, flags=["\\Flagged"])
    _, info = c.select(P, readonly=True)
    uids = [u for _, u in sorted(c.uids().items())]
    c.cmd("CLOSE")

    # Listing, with each way of logging in.
    _, entries = c.list("", "*")
    want = sorted(e.name for e in entries)
    out, _ = curl("/")
    got = sorted(list_lines(out))
    check(got == want, "curl's LIST differs from the server's LIST \"\" \"*\"", got=out, expected=str(want))
    check(P in got and "INBOX" in [n.upper() for n in got], "curl's listing lacks INBOX or %s" % P, got=out)
    ok("curl lists the mailboxes (%s)" % curl.base.split(":")[0])
    mechs = [x[5:] for x in pre_caps if x.startswith("AUTH=")]
    if args.mode != "plain":
        c2 = Imap(args, name="W")
        mechs = [x[5:] for x in c2.capability() if x.startswith("AUTH=")]
        caps2 = c2.caps
        c2.close()
    else:
        caps2 = pre_caps
    tried = []
    for mech in ("PLAIN", "LOGIN", "CRAM-MD5"):
        if mech in mechs:
            out, _ = curl("/", "--login-options", "AUTH=" + mech)
            check(sorted(list_lines(out)) == want, "curl LIST after AUTH=%s" % mech, got=out)
            tried.append("AUTH=" + mech)
    if "SASL-IR" in caps2 and "PLAIN" in mechs:
        out, _ = curl("/", "--login-options", "AUTH=PLAIN", "--sasl-ir")
        check(sorted(list_lines(out)) == want, "curl LIST with SASL-IR", got=out)
        tried.append("AUTH=PLAIN with SASL-IR")
    # (curl 7.88 refuses its own ";AUTH=+LOGIN" option, so the LOGIN command is not tried.)
    ok("curl logs in with %s" % ", ".join(tried))
    curl("/", password=args.password + "-wrong", expect_rc=1)
    ok("curl with a wrong password fails")

    # Fetching.
    out, _ = curl("/%s;UID=%d" % (P, uids[0]))
    check(out == m1, "curl UID=%d: the message bytes" % uids[0], got=out, expected=show(m1))
    out, _ = curl("/%s;UID=%d" % (P, uids[1]))
    check(out == m2, "curl UID=%d: the message bytes" % uids[1], got=out, expected=show(m2))
    ok("curl fetches messages by UID, byte-exact")
    body1 = m1.split(b"\r\n\r\n", 1)[1]
    out, _ = curl("/%s;UID=%d/;SECTION=TEXT" % (P, uids[0]))
    check(out == body1, "curl ;SECTION=TEXT", got=out, expected=show(body1))
    out, _ = curl("/%s;UID=%d/;SECTION=HEADER.FIELDS%%20(SUBJECT)" % (P, uids[0]))
    check(out == b"Subject: curl fetch one\r\n\r\n", "curl ;SECTION=HEADER.FIELDS (SUBJECT)", got=out)
    out, _ = curl("/%s;UID=%d/;SECTION=TEXT;PARTIAL=7.4" % (P, uids[0]))
    check(out == body1[7:11], "curl ;SECTION=TEXT;PARTIAL=7.4", got=out, expected=show(body1[7:11]))
    out, _ = curl("/%s;MAILINDEX=2" % P)
    check(out == m2, "curl ;MAILINDEX=2", got=out, expected=show(m2))
    ok("curl fetches ;SECTION=TEXT, ;SECTION=HEADER.FIELDS, ;PARTIAL= and ;MAILINDEX=")

    # Custom commands.
    out, _ = curl("/", "-X", "EXAMINE %s" % P)
    check(re.search(rb"(?m)^\* 2 EXISTS\r$", out), "curl -X EXAMINE: * 2 EXISTS", got=out)
    check(re.search(rb"(?m)^\* OK \[UIDVALIDITY %d\]" % info.uidvalidity, out), "curl -X EXAMINE: UIDVALIDITY",
          got=out, expected="[UIDVALIDITY %d]" % info.uidvalidity)
    out, _ = curl("/%s" % P, "-X", "SEARCH FLAGGED")
    check(re.search(rb"(?m)^\* SEARCH 2\r$", out), "curl -X SEARCH FLAGGED", got=out, expected="* SEARCH 2")
    out, _ = curl("/%s" % P, "-X", "UID FETCH %d (FLAGS UID)" % uids[1])
    m = re.search(rb"(?m)^\* 2 FETCH \((.*)\)\r$", out)
    check(m and b"\\Flagged" in m.group(1) and (b"UID %d" % uids[1]) in m.group(1), "curl -X UID FETCH", got=out)
    ok("curl -X: EXAMINE, SEARCH, UID FETCH")

    # Uploading.
    with tempfile.TemporaryDirectory() as tmp:
        uploads = [("lf.eml", b"From: upload@example.org\nSubject: curl upload LF\n\nline one\nline two\n"),
                   ("crlf.eml", b"From: upload@example.org\r\nSubject: curl upload CRLF\r\n\r\n\xe2\x82\xac body\r\n")]
        for name, data in uploads:
            path = os.path.join(tmp, name)
            with open(path, "wb") as f:
                f.write(data)
            before = c.status(P, "(MESSAGES UIDNEXT)")
            curl("/%s" % P, "-T", path)
            after = c.status(P, "(MESSAGES UIDNEXT)")
            check(after["MESSAGES"] == before["MESSAGES"] + 1, "curl -T did not add one message", got=str(after))
            c.select(P, readonly=True)
            _, f = c.fetch("%d:*" % before["UIDNEXT"], "(UID FLAGS BODY.PEEK[])", uid=True)
            check(len(f) == 1, "the uploaded message", got=str(f))
            d = list(f.values())[0]
            check(d["BODY[]"] == crlf(data), "curl -T %s: the stored bytes (bare LF as CRLF)" % name,
                  got=d["BODY[]"], expected=show(crlf(data)))
            check("\\Seen" in flagset(d["FLAGS"]), "curl APPENDs with \\Seen", got=str(d["FLAGS"]))
            out, _ = curl("/%s;UID=%s" % (P, d["UID"]))
            check(out == crlf(data), "curl fetching its upload back", got=out)
            c.cmd("CLOSE")
    ok("curl -T uploads (APPEND) messages with LF and CRLF line ends; stored and fetched back exactly")

    c.cmd("DELETE ", quote(P))
    c.logout()
    print("ok curl_imap %s" % args.mode)


if __name__ == "__main__":
    run(main)
