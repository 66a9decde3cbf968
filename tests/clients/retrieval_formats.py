#!/usr/bin/env python3
"""One account's view of a mailbox through POP3 (poplib), IMAP (imaplib) and mbsync, checked
for internal consistency and dumped for `tests/retrieval_formats.rs` to compare with what
the account's retrieval format must give.

    retrieval_formats.py --host H --pop3-port N --imap-port N --user U --password P --out DIR
                         [--search WORD ...] [--flag-uid UID] [--mbsync PATH]

Checks here (any failure exits 1):
 - POP3: STAT's total is the sum of LIST's sizes; every LIST size is the length of what
   RETR sends (CR LF line ends, dot-stuffing undone); TOP n 0 is RETR's header, TOP n 2 its
   header and first two body lines.
 - IMAP: RFC822.SIZE is len(BODY[]); partial fetches <0.64>, <64.1000>, <size-7.100> are
   slices of BODY[]; BODY[HEADER] + BODY[TEXT] is BODY[]; LARGER size-1 SMALLER size+1
   finds the message and LARGER size does not.
 - mbsync (pull of INBOX into a local Maildir): the synced files are the BODY[]s, line ends
   and mbsync's X-TUID aside.
Dumped into --out: pop3/<uidl>.eml (RETR), imap/<uid>.eml (BODY[]), imap/<uid>.bs
(the raw BODYSTRUCTURE response), imap/<uid>.hf (BODY[HEADER.FIELDS (Content-Type
Subject)]), and summary.json (sizes, UIDLs, flags, search results).
"""
import argparse
import imaplib
import json
import os
import poplib
import re
import shutil
import subprocess
import sys


def fail(what):
    print("FAIL " + what)
    sys.exit(1)


def check(cond, what):
    if not cond:
        fail(what)


def raw_of(data):
    """An imaplib FETCH answer back in wire form (literals re-joined)."""
    out = b""
    for part in data:
        if isinstance(part, tuple):
            out += part[0] + b"\r\n" + part[1]
        elif part is not None:
            out += part
    return out


def literal(data):
    for part in data:
        if isinstance(part, tuple):
            return part[1]
    return b""


def pop3(a, out, summary):
    os.makedirs(os.path.join(out, "pop3"), exist_ok=True)
    p = poplib.POP3(a.host, a.pop3_port, timeout=60)
    p.user(a.user)
    p.pass_(a.password)
    count, total = p.stat()
    sizes = {}
    for line in p.list()[1]:
        n, size = line.split()
        sizes[int(n)] = int(size)
    check(len(sizes) == count, "STAT count %d vs LIST %d" % (count, len(sizes)))
    check(sum(sizes.values()) == total, "STAT total %d vs LIST sum %d" % (total, sum(sizes.values())))
    uidls = {}
    for line in p.uidl()[1]:
        n, u = line.split()
        uidls[int(n)] = u.decode()
    for n, size in sorted(sizes.items()):
        lines = p.retr(n)[1]
        body = b"".join(l + b"\r\n" for l in lines)
        if len(body) == size + 2:
            # A message without a final line end gets one before the terminating dot
            # (RFC 1939 framing): it is not part of the message.
            body = body[:-2]
        check(len(body) == size, "RETR %d: %d octets, LIST said %d" % (n, len(body), size))
        header = body[: body.find(b"\r\n\r\n") + 4] if b"\r\n\r\n" in body else body
        top0 = b"".join(l + b"\r\n" for l in p.top(n, 0)[1])
        check(top0 == header, "TOP %d 0 is not RETR's header" % n)
        top2 = b"".join(l + b"\r\n" for l in p.top(n, 2)[1])
        rest = body[len(header):].split(b"\r\n")
        want = header + b"".join(l + b"\r\n" for l in rest[:2]) if len(rest) > 2 else body
        check(top2 == want, "TOP %d 2 is not RETR's header and first two lines" % n)
        with open(os.path.join(out, "pop3", uidls[n] + ".eml"), "wb") as f:
            f.write(body)
    p.quit()
    summary["pop3"] = {"count": count, "total": total, "uidls": sorted(uidls.values())}
    print("ok pop3 %d messages" % count)


def imap(a, out, summary):
    os.makedirs(os.path.join(out, "imap"), exist_ok=True)
    c = imaplib.IMAP4(a.host, a.imap_port)
    c.login(a.user, a.password)
    typ, _ = c.select("INBOX")
    check(typ == "OK", "SELECT")
    if a.flag_uid:
        typ, _ = c.uid("STORE", str(a.flag_uid), "+FLAGS", "(\\Flagged)")
        check(typ == "OK", "STORE")
    typ, data = c.uid("SEARCH", None, "ALL")
    uids = [int(u) for u in data[0].split()]
    messages = {}
    for uid in uids:
        typ, data = c.uid("FETCH", str(uid), "(RFC822.SIZE FLAGS)")
        line = raw_of(data).decode("utf-8", "replace")
        size = int(re.search(r"RFC822\.SIZE (\d+)", line).group(1))
        flags = re.search(r"FLAGS \(([^)]*)\)", line).group(1).split()
        typ, data = c.uid("FETCH", str(uid), "(BODY.PEEK[])")
        full = literal(data)
        check(len(full) == size, "UID %d: RFC822.SIZE %d, BODY[] %d octets" % (uid, size, len(full)))
        for off, length in [(0, 64), (64, 1000), (max(size - 7, 0), 100)]:
            typ, data = c.uid("FETCH", str(uid), "(BODY.PEEK[]<%d.%d>)" % (off, length))
            got = literal(data)
            check(got == full[off:off + length],
                  "UID %d: BODY[]<%d.%d> is not that slice of BODY[]" % (uid, off, length))
        typ, data = c.uid("FETCH", str(uid), "(BODY.PEEK[HEADER])")
        head = literal(data)
        typ, data = c.uid("FETCH", str(uid), "(BODY.PEEK[TEXT])")
        text = literal(data)
        check(head + text == full, "UID %d: HEADER + TEXT is not BODY[]" % uid)
        typ, data = c.uid("FETCH", str(uid), "(BODYSTRUCTURE)")
        bs = raw_of(data)
        typ, data = c.uid("FETCH", str(uid), "(BODY.PEEK[HEADER.FIELDS (Content-Type Subject)])")
        hf = literal(data)
        typ, data = c.uid("SEARCH", None, "UID", str(uid), "LARGER", str(size - 1), "SMALLER", str(size + 1))
        check(data[0].split() == [str(uid).encode()], "UID %d: LARGER/SMALLER around %d" % (uid, size))
        typ, data = c.uid("SEARCH", None, "UID", str(uid), "LARGER", str(size))
        check(data[0].split() == [], "UID %d: LARGER its own size" % uid)
        for ext, blob in [("eml", full), ("bs", bs), ("hf", hf)]:
            with open(os.path.join(out, "imap", "%d.%s" % (uid, ext)), "wb") as f:
                f.write(blob)
        messages[uid] = {"size": size, "flags": flags}
    searches = {}
    for word in a.search:
        for key in ("TEXT", "BODY"):
            typ, data = c.uid("SEARCH", None, key, word)
            searches["%s %s" % (key, word)] = sorted(int(u) for u in data[0].split())
    c.logout()
    summary["imap"] = {"messages": {str(k): v for k, v in messages.items()}, "search": searches}
    print("ok imap %d messages" % len(uids))
    return messages


def mbsync(a, out, messages):
    if not a.mbsync:
        return
    scratch = os.path.join(out, "mbsync")
    shutil.rmtree(scratch, ignore_errors=True)
    local = os.path.join(scratch, "Maildir")
    os.makedirs(local)
    rc = os.path.join(scratch, "mbsyncrc")
    with open(rc, "w") as f:
        f.write("\n".join([
            "IMAPAccount remote", "Host %s" % a.host, "Port %d" % a.imap_port, "User %s" % a.user,
            "Pass \"%s\"" % a.password, "SSLType None", "AuthMechs PLAIN LOGIN", "",
            "IMAPStore remote", "Account remote", "", "MaildirStore local", "Inbox %s" % local, "",
            "Channel sync", "Far :remote:", "Near :local:", "Patterns INBOX", "Create Near",
            "Sync Pull", "SyncState *", "",
        ]))
    os.chmod(rc, 0o600)
    r = subprocess.run([a.mbsync, "-c", rc, "-a"], capture_output=True, timeout=300,
                       env=dict(os.environ, HOME=scratch))
    check(r.returncode == 0, "mbsync failed:\n%s%s" % (r.stdout.decode(), r.stderr.decode()))

    def key(data):
        data = data.replace(b"\r\n", b"\n")
        data = re.sub(rb"(?m)^X-TUID: [^\n]*\n", b"", data, count=1)
        return data

    synced = []
    for sub in ("cur", "new"):
        d = os.path.join(local, sub)
        for name in os.listdir(d):
            with open(os.path.join(d, name), "rb") as f:
                synced.append(key(f.read()))
    served = []
    for uid in messages:
        with open(os.path.join(out, "imap", "%d.eml" % uid), "rb") as f:
            served.append(key(f.read()))
    check(sorted(synced) == sorted(served),
          "mbsync's files are not the BODY[]s (%d synced, %d served)" % (len(synced), len(served)))
    print("ok mbsync %d messages" % len(synced))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--pop3-port", type=int, required=True)
    ap.add_argument("--imap-port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--search", action="append", default=[])
    ap.add_argument("--flag-uid", type=int)
    ap.add_argument("--mbsync", default=shutil.which("mbsync"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    summary = {}
    pop3(a, a.out, summary)
    messages = imap(a, a.out, summary)
    mbsync(a, a.out, messages)
    with open(os.path.join(a.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print("ok retrieval_formats %s" % a.user)


if __name__ == "__main__":
    main()
