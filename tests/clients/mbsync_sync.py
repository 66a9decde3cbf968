#!/usr/bin/env python3
"""Two-way sync with a real mbsync (isync 1.4) between a local Maildir and the server.

    mbsync_sync.py --host H --port N [--tls-port N] --mode plain|starttls|tls [--cafile PEM]
                   --user U --password P --scratch DIR [--layout maildir++|verbatim]
                   [--corpus DIR] [--count N]

Steps, each printing `ok ...` (any failure exits 1 with mbsync's full output):
 1. a local Maildir with INBOX and three folders (one nested) filled with corpus messages
    (some flagged), and server-side messages APPENDed with Python's imaplib, one of them
    in a folder that exists only on the server;
 2. `mbsync -a` (Patterns *, Create Both, Expunge Both, SyncState *): afterwards both
    sides hold, folder by folder, the union of what either had, compared by content
    (line ends and mbsync's X-TUID header aside) and by flags; mbsync's own counters
    (read from its progress line on a pseudo-terminal) must show exactly the expected
    number of messages propagated each way;
 3. a second `mbsync -a` propagates nothing: zero in every counter, no local file
    changed, no server mailbox changed (STATUS MESSAGES UIDNEXT and every message's flags);
 4. flag changes on both sides (seen, flagged, unseen, deleted on the Maildir side,
    deleted+expunged on the server) propagate with one more sync, checked on both sides;
    then a last sync propagates nothing.
The run cleans up what it created on the server unless --keep.
"""
import argparse
import collections
import hashlib
import imaplib
import os
import pty
import random
import re
import select
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from imap_support import (  # noqa: E402
    Imap,
    add_server_args,
    check,
    fail,
    flagset,
    imaplib_connect,
    ok,
    quote,
    run,
)

FLAG_LETTERS = {"\\Draft": "D", "\\Flagged": "F", "\\Answered": "R", "\\Seen": "S", "\\Deleted": "T"}
LETTER_FLAGS = {v: k for k, v in FLAG_LETTERS.items()}


def lf(data):
    return data.replace(b"\r\n", b"\n")


def content_key(data):
    """Identity of a message across both sides: LF line ends, without mbsync's X-TUID."""
    data = re.sub(rb"(?m)^X-TUID: [^\n]*\n", b"", lf(data), count=1)
    return hashlib.sha256(data).hexdigest()[:16]


# ---------------------------------------------------------------------------------------
# mbsync


class Mbsync:
    def __init__(self, args, scratch):
        self.args = args
        self.scratch = scratch
        self.local = os.path.join(scratch, "Maildir")
        self.rc = os.path.join(scratch, "mbsyncrc")
        self.last_output = ""
        a = args
        ssltype = {"plain": "None", "starttls": "STARTTLS", "tls": "IMAPS"}[a.mode]
        port = a.tls_port if a.mode == "tls" and a.tls_port else a.port
        # mbsync connects to Host and checks the certificate against it by DNS name only
        # (isync 1.4 ignores IP address entries): over TLS Host is therefore the name the
        # certificate carries, localhost by default, which must resolve to the server.
        host = a.host if a.mode == "plain" else a.tls_name
        lines = [
            "IMAPAccount remote",
            "Host %s" % host,
            "Port %d" % port,
            "User %s" % a.user,
            "Pass \"%s\"" % a.password.replace("\\", "\\\\").replace('"', '\\"'),
            "SSLType %s" % ssltype,
            # Over a plain connection mbsync accepts no mechanism unless one is named.
            "AuthMechs %s" % ("PLAIN LOGIN" if a.mode == "plain" else "*"),
            "Timeout %d" % int(a.timeout),
        ]
        if a.mode != "plain":
            lines.append("CertificateFile %s" % os.path.abspath(a.cafile))
        lines += ["", "IMAPStore remote", "Account remote", "", "MaildirStore local"]
        if a.layout == "maildir++":
            lines += ["Inbox %s" % self.local, "SubFolders Maildir++"]
        else:
            lines += ["Path %s/" % self.local, "Inbox %s/INBOX" % self.local, "SubFolders Verbatim"]
        lines += ["", "Channel sync", "Far :remote:", "Near :local:", "Patterns *", "Create Both",
                  "Expunge Both", "SyncState *", "CopyArrivalDate yes", ""]
        with open(self.rc, "w") as f:
            f.write("\n".join(lines))
        os.chmod(self.rc, 0o600)

    def sync(self, what):
        """Runs `mbsync -a` on a pseudo-terminal (so that it prints its progress counters)
        and returns the final counters {('F'|'N', '+'|'*'|'#'|'-'): done}."""
        cmd = [self.args.mbsync, "-c", self.rc, "-a"]
        master, slave = pty.openpty()
        env = dict(os.environ, HOME=self.scratch)
        start = time.monotonic()
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env, close_fds=True)
        os.close(slave)
        out = b""
        deadline = start + self.args.sync_timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                p.kill()
                p.wait()
                os.close(master)
                self.last_output = out.decode("utf-8", "replace")
                fail("mbsync (%s) did not finish within %d s\n--- mbsync output ---\n%s"
                     % (what, self.args.sync_timeout, self.last_output))
            r, _, _ = select.select([master], [], [], min(left, 1.0))
            if r:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    data = b""
                if not data:
                    break
                out += data
            elif p.poll() is not None:
                break
        rc = p.wait()
        os.close(master)
        text = out.decode("utf-8", "replace")
        self.last_output = text
        if rc != 0:
            fail("mbsync (%s) exited with status %d\n--- mbsync output ---\n%s" % (what, rc, text))
        lines = [l for l in re.split(r"[\r\n]+", text) if l.startswith("C: ")]
        check(lines, "mbsync (%s) printed no progress counters\n--- mbsync output ---\n%s" % (what, text))
        last = lines[-1]
        counters = {}
        for side, body in re.findall(r"([FN]): ((?:[+*#-]\d+/\d+ ?)+)", last):
            for kind, done, total in re.findall(r"([+*#-])(\d+)/(\d+)", body):
                check(done == total, "mbsync (%s): counter %s%s %s/%s not complete" % (what, side, kind, done, total),
                      got=last)
                counters[(side, kind)] = int(done)
        check(("F", "+") in counters and ("N", "+") in counters,
              "cannot read mbsync's counters (%s)" % what, got=last)
        print("# mbsync %s: %s (%.1f s)" % (what, last.strip(), time.monotonic() - start))
        return counters


# ---------------------------------------------------------------------------------------
# Local Maildir


class Local:
    def __init__(self, root, layout, sep):
        self.root = root
        self.layout = layout
        self.sep = sep

    def path(self, box):
        if box.upper() == "INBOX":
            return self.root if self.layout == "maildir++" else os.path.join(self.root, "INBOX")
        if self.layout == "maildir++":
            return os.path.join(self.root, "." + box)
        return os.path.join(self.root, *box.split(self.sep))

    def make(self, box):
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(self.path(box), sub), exist_ok=True)

    def put(self, box, data, flags):
        self.make(box)
        name = "%d.M%dP%d.postern-test" % (time.time(), random.randrange(10 ** 9), os.getpid())
        d = self.path(box)
        tmp = os.path.join(d, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(data)
        if flags:
            os.rename(tmp, os.path.join(d, "cur", name + ":2," + "".join(sorted(FLAG_LETTERS[x] for x in flags))))
        else:
            os.rename(tmp, os.path.join(d, "new", name))

    def boxes(self):
        """IMAP-style names of every maildir under the root."""
        out = []
        if self.layout == "maildir++":
            if os.path.isdir(os.path.join(self.root, "cur")):
                out.append("INBOX")
            for e in sorted(os.listdir(self.root)):
                if e.startswith(".") and os.path.isdir(os.path.join(self.root, e, "cur")):
                    out.append(e[1:])
            return out
        for d, dirs, files in os.walk(self.root):
            dirs[:] = sorted(x for x in dirs if x not in ("cur", "new", "tmp"))
            if os.path.isdir(os.path.join(d, "cur")):
                rel = os.path.relpath(d, self.root)
                out.append("INBOX" if rel == "INBOX" else rel.replace(os.sep, self.sep))
        return out

    def messages(self, box):
        """[(path, key, flags set)] of a maildir."""
        out = []
        d = self.path(box)
        for sub in ("new", "cur"):
            for n in sorted(os.listdir(os.path.join(d, sub))):
                p = os.path.join(d, sub, n)
                info = n.split(":2,", 1)[1] if ":2," in n else ""
                flags = {LETTER_FLAGS[ch] for ch in info if ch in LETTER_FLAGS}
                with open(p, "rb") as f:
                    out.append((p, content_key(f.read()), flags))
        return out

    def state(self):
        """Every message file (name, size, mtime); mbsync's own state files aside."""
        out = {}
        for d, dirs, files in os.walk(self.root):
            if os.path.basename(d) not in ("cur", "new"):
                continue
            for n in files:
                p = os.path.join(d, n)
                st = os.stat(p)
                out[os.path.relpath(p, self.root)] = (st.st_size, st.st_mtime_ns)
        return out

    def set_flags(self, path, flags):
        d, n = os.path.split(path)
        base = n.split(":2,", 1)[0]
        new = os.path.join(os.path.dirname(d), "cur", base + ":2," + "".join(sorted(FLAG_LETTERS[x] for x in flags)))
        os.rename(path, new)


# ---------------------------------------------------------------------------------------
# Server side


def server_view(c, prefix_boxes=None):
    """{box: {key: flags}} of every selectable mailbox, plus STATUS per mailbox."""
    r, entries = c.list("", "*")
    view = {}
    status = {}
    for e in entries:
        if "\\NOSELECT" in e.attrs or "\\NONEXISTENT" in e.attrs:
            continue
        name = "INBOX" if e.name.upper() == "INBOX" else e.name
        st = c.status(name, "(MESSAGES UIDNEXT UIDVALIDITY)")
        status[name] = st
        box = {}
        if st["MESSAGES"]:
            c.select(name, readonly=True)
            _, f = c.fetch("1:*", "(UID FLAGS BODY.PEEK[])")
            for d in f.values():
                k = content_key(d["BODY[]"])
                check(k not in box, "two identical messages in %s on the server" % name)
                box[k] = flagset(d["FLAGS"]) & set(FLAG_LETTERS)
            c.cmd("CLOSE")
        view[name] = box
    return view, status


def local_view(local):
    view = {}
    for box in local.boxes():
        msgs = {}
        for p, k, flags in local.messages(box):
            check(k not in msgs, "two identical messages in local %s" % box, got=p)
            msgs[k] = flags
        view[box] = msgs
    return view


def compare(want, server, localv, what):
    for side, view in (("server", server), ("local Maildir", localv)):
        for box, msgs in want.items():
            check(box in view, "%s: mailbox %s missing on the %s side" % (what, box, side),
                  got=str(sorted(view)))
            got = view[box]
            missing = set(msgs) - set(got)
            extra = set(got) - set(msgs)
            check(not missing and not extra, "%s: %s on the %s side: %d message(s) missing, %d unexpected"
                  % (what, box, side, len(missing), len(extra)), got=str(sorted(got)), expected=str(sorted(msgs)))
            for k, flags in msgs.items():
                check(got[k] == flags, "%s: flags of a message in %s on the %s side" % (what, box, side),
                      got=str(sorted(got[k])), expected=str(sorted(flags)))
        for box in view:
            check(box in want, "%s: unexpected mailbox %s on the %s side" % (what, box, side))


def imaplib_ok(res, what):
    typ, data = res
    check(typ == "OK", "imaplib: %s" % what, got=str(data))
    return data


def corpus_messages(root, count):
    out = []
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs if x != "LICENSES")
        for f in sorted(files):
            if f == "SOURCES.tsv":
                continue
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                data = fh.read()
            # NUL bytes and huge messages are the corpus scenario's business, not mbsync's.
            if b"\0" in data or len(data) > 100 * 1024 or b"\r" in data.replace(b"\r\n", b""):
                continue
            out.append((os.path.relpath(p, root), data))
    out.sort()
    seen = set()
    uniq = []
    for rel, data in out:
        k = content_key(data)
        if k not in seen:
            seen.add(k)
            uniq.append((rel, data))
    check(len(uniq) >= count, "the corpus has only %d usable messages" % len(uniq))
    return uniq[:count]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_server_args(p)
    p.add_argument("--tls-name", default="localhost",
                   help="TLS modes: the certificate's DNS name, used as mbsync's Host (it must resolve to "
                        "the server) and for imaplib's verification")
    p.add_argument("--scratch", required=True, help="scratch directory (emptied first)")
    p.add_argument("--layout", choices=["maildir++", "verbatim"], default="maildir++")
    p.add_argument("--corpus", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                    "../../../shared/corpus"))
    p.add_argument("--count", type=int, default=36, help="corpus messages to put in the local Maildir")
    p.add_argument("--mbsync", default="mbsync")
    p.add_argument("--sync-timeout", type=int, default=120, help="seconds allowed for one mbsync run")
    p.add_argument("--prefix", help="folder name prefix (default: unique per run)")
    p.add_argument("--keep", action="store_true", help="leave the test folders on the server")
    args = p.parse_args()
    if args.mode != "plain" and not args.cafile:
        fail("--cafile is required for --mode %s" % args.mode)

    scratch = os.path.abspath(args.scratch)
    if os.path.exists(scratch):
        shutil.rmtree(scratch)
    os.makedirs(scratch)
    c = Imap(args, name="V")
    c.login()
    sep = c.separator()
    P = args.prefix or "mb%d%03d" % (os.getpid() % 100000, random.randrange(1000))
    work, proj, lists, arch = P + "Work", P + "Work" + sep + "Projects", P + "Lists", P + "Archive" + sep + "2020"
    mb = Mbsync(args, scratch)
    local = Local(mb.local, args.layout, sep)

    # 1. Local Maildir and server-side messages.
    corpus = corpus_messages(args.corpus, args.count)
    plan = [("INBOX", 10), (work, 9), (proj, 9), (lists, args.count - 28)]
    want = collections.defaultdict(dict)
    k = 0
    for box, n in plan:
        local.make(box)
        for _ in range(n):
            rel, data = corpus[k]
            # A header naming the run keeps messages of different runs apart on the server.
            eol = b"\r\n" if data.startswith(b"\r\n") or b"\r\n" in data[:2000] else b"\n"
            data = b"X-Postern-Run: " + P.encode() + eol + data
            flags = [[], ["\\Seen"], ["\\Flagged"], ["\\Seen", "\\Answered"]][k % 4]
            local.put(box, data, flags)
            want[box][content_key(data)] = set(flags)
            k += 1
    n_local = k
    server_before, _ = server_view(c)
    for box, msgs in server_before.items():
        want.setdefault(box, {})
        for key, flags in msgs.items():
            want[box][key] = flags
    n_server_before = sum(len(m) for m in server_before.values())
    m = imaplib_connect(args, args.tls_name)
    server_adds = [("INBOX", 3), (work, 2), (arch, 3)]
    for box in (work, arch):
        imaplib_ok(m.create(box), "CREATE %s" % box)
    n_added = 0
    for box, n in server_adds:
        for i in range(n):
            body = ("From: server-side@example.org\r\nTo: %s@example.org\r\nSubject: server %s %d\r\n"
                    "Message-ID: <srv-%s-%d-%s@example.org>\r\n\r\nAppended on the server.\r\n"
                    % (args.user, box, i, box, i, P)).encode()
            flags = ["(\\Seen)", "()", "(\\Flagged \\Seen)"][i % 3]
            imaplib_ok(m.append(box, flags, imaplib.Time2Internaldate(time.time() - 86400 * (i + 1)), body),
                       "APPEND to %s" % box)
            want[box][content_key(body)] = flagset(flags.strip("()").split())
            n_added += 1
    m.logout()
    want.setdefault(arch, {})
    ok("local Maildir (%s layout): %d corpus messages in INBOX, %s, %s, %s; %d messages APPENDed on the server "
       "(imaplib), %s only there" % (args.layout, n_local, work, proj, lists, n_added, arch))

    # 2. First sync: the union on both sides.
    counters = mb.sync("first sync")
    server, status = server_view(c)
    compare(want, server, local_view(local), "after the first sync")
    check(counters[("F", "+")] == n_local and counters[("N", "+")] == n_server_before + n_added,
          "mbsync's counters after the first sync", got=str(counters),
          expected="F: +%d  N: +%d" % (n_local, n_server_before + n_added))
    ok("first mbsync -a: both sides hold the union, content and flags (F: +%d, N: +%d)"
       % (n_local, n_server_before + n_added))

    # 3. A second sync moves nothing.
    local_state = local.state()
    counters = mb.sync("second sync")
    check(all(v == 0 for v in counters.values()), "the second sync propagated something", got=str(counters),
          expected="every counter 0\n--- mbsync output ---\n%s" % mb.last_output)
    server2, status2 = server_view(c)
    check(server2 == server, "the second sync changed the server")
    check(status2 == status, "the second sync changed a server mailbox (STATUS)", got=str(status2), expected=str(status))
    check(local.state() == local_state, "the second sync changed local message files",
          got=str(sorted(set(local.state().items()) ^ set(local_state.items()))))
    ok("second mbsync -a: nothing propagated (all counters 0, no file and no mailbox changed)")

    # 4. Flag changes on either side.
    changed = set()  # one change per message, so that no merge is involved

    def local_msg(box, pred):
        for path, key, flags in local.messages(box):
            if key not in changed and pred(key, flags):
                changed.add(key)
                return path, key, flags
        fail("no local message in %s to change" % box)
    changes = []
    p_, key, fl = local_msg(work, lambda k, f: not f)
    local.set_flags(p_, fl | {"\\Seen"})
    want[work][key] = fl | {"\\Seen"}
    changes.append("local %s +\\Seen" % work)
    p_, key, fl = local_msg(lists, lambda k, f: "\\Flagged" not in f)
    local.set_flags(p_, fl | {"\\Flagged"})
    want[lists][key] = fl | {"\\Flagged"}
    changes.append("local %s +\\Flagged" % lists)
    p_, key, fl = local_msg(proj, lambda k, f: f == {"\\Seen"})
    local.set_flags(p_, set())
    want[proj][key] = set()
    changes.append("local %s -\\Seen" % proj)
    p_, key, fl = local_msg("INBOX", lambda k, f: "\\Deleted" not in f)
    local.set_flags(p_, fl | {"\\Deleted"})
    del want["INBOX"][key]
    changes.append("local INBOX +\\Deleted (expunged by Expunge Both)")

    m = imaplib_connect(args, args.tls_name)

    def server_change(box, pick, op, flags, expunge=False):
        imaplib_ok(m.select(box), "SELECT %s" % box)
        data = imaplib_ok(m.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[])"), "UID FETCH %s" % box)
        for part in data:
            if not isinstance(part, tuple):
                continue
            meta, body = part
            fl = flagset(re.search(rb"FLAGS \(([^)]*)\)", meta).group(1).decode().split()) & set(FLAG_LETTERS)
            key = content_key(body)
            if key in want[box] and key not in changed and pick(key, fl):
                changed.add(key)
                uid = re.search(rb"UID (\d+)", meta).group(1).decode()
                imaplib_ok(m.uid("STORE", uid, op, "(%s)" % flags), "UID STORE %s %s" % (uid, op))
                if expunge:
                    imaplib_ok(m.expunge(), "EXPUNGE")
                    del want[box][key]
                elif op == "+FLAGS":
                    want[box][key] = fl | flagset(flags.split())
                else:
                    want[box][key] = fl - flagset(flags.split())
                m.close()
                return
        fail("no server message in %s to change" % box)
    server_change(proj, lambda k, f: "\\Seen" not in f and not f, "+FLAGS", "\\Seen")
    changes.append("server %s +\\Seen" % proj)
    server_change("INBOX", lambda k, f: "\\Flagged" not in f, "+FLAGS", "\\Flagged")
    changes.append("server INBOX +\\Flagged")
    server_change(lists, lambda k, f: "\\Seen" in f and "\\Flagged" not in f, "-FLAGS", "\\Seen")
    changes.append("server %s -\\Seen" % lists)
    server_change(arch, lambda k, f: True, "+FLAGS", "\\Deleted", expunge=True)
    changes.append("server %s +\\Deleted and EXPUNGE" % arch)
    m.logout()
    counters = mb.sync("flag sync")
    check(counters[("F", "+")] == 0 and counters[("N", "+")] == 0, "the flag sync copied messages",
          got=str(counters), expected="F: +0  N: +0")
    server3, _ = server_view(c)
    compare(want, server3, local_view(local), "after the flag changes")
    ok("flag changes propagate both ways: %s" % "; ".join(changes))
    counters = mb.sync("last sync")
    check(all(v == 0 for v in counters.values()), "the sync after the flag sync propagated something",
          got=str(counters), expected="every counter 0")
    ok("a further mbsync -a propagates nothing")

    if not args.keep:
        for box in (proj, work, lists, arch, P + "Archive"):
            c.cmd("DELETE ", quote(box), expect=None)
        c.select("INBOX")
        mine = set(k for k in want["INBOX"] if k not in server_before.get("INBOX", {}))
        _, f = c.fetch("1:*", "(UID BODY.PEEK[])")
        uids = [d["UID"] for d in f.values() if content_key(d["BODY[]"]) in mine]
        if uids:
            c.cmd("UID STORE %s +FLAGS.SILENT (\\Deleted)" % ",".join(uids))
            c.cmd("UID EXPUNGE %s" % ",".join(uids) if c.has("UIDPLUS") else "EXPUNGE")
        c.cmd("CLOSE")
        shutil.rmtree(scratch)
    c.logout()
    print("ok mbsync_sync %s %s" % (args.mode, args.layout))


if __name__ == "__main__":
    run(main)
