"""Shared helpers for the IMAP client scripts (imap_client.py, mbsync_sync.py, curl_imap.py).

A small, strict IMAP4rev1 client on a raw socket: it keeps every response in the order the
server sent it (imaplib folds untagged data into a dict, which loses the order needed to
check EXPUNGE renumbering, and hides what was sent), parses the response grammar of
RFC 3501 section 9 (atoms, quoted strings, literals, NIL, parenthesised lists, response
codes, FETCH sections) and reports a failure with the command sent, the response received
and what was expected.

Conventions shared by the scripts:
  * every passed check prints one line `ok <check>` on stdout;
  * the first failed check raises CheckFailed; `run()` prints it on stderr as
    `FAIL: ...` and exits 1;
  * every socket read is bounded by --timeout (default 20 s), every wait by a deadline.
Atoms are returned as `str`, strings (quoted or literal) as `bytes`, NIL as `None`,
parenthesised lists as Python lists.
"""
import base64
import calendar
import re
import socket
import ssl
import sys
import time
import traceback

DEFAULT_TIMEOUT = 20.0
MAX_LINE = 64 * 1024 * 1024  # bound on one response line, literals excluded


class CheckFailed(Exception):
    """A protocol check failed; the message says what was sent, received and expected."""


class Closed(Exception):
    """The server closed the connection."""


def show(data, limit=1500):
    """Printable form of protocol bytes, cut to `limit` characters."""
    if data is None:
        return "(nothing)"
    if isinstance(data, Response):
        data = data.raw
    if isinstance(data, (list, tuple)):
        return "\n            ".join(show(d, limit // max(1, len(data)) + 200) for d in data) or "(nothing)"
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    text = repr(bytes(data))[2:-1]
    if len(text) > limit:
        text = text[:limit] + "... (%d bytes in all)" % len(data)
    return text


def fail(what, sent=None, got=None, expected=None):
    parts = [what]
    if sent is not None:
        parts.append("sent:     " + show(sent))
    if got is not None:
        parts.append("received: " + show(got))
    if expected is not None:
        parts.append("expected: " + expected)
    raise CheckFailed("\n  ".join(parts))


def check(cond, what, sent=None, got=None, expected=None):
    if not cond:
        fail(what, sent, got, expected)


def ok(name):
    print("ok " + name, flush=True)


def add_server_args(p, user=True):
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True, help="plain IMAP port (also for STARTTLS)")
    p.add_argument("--tls-port", type=int, help="implicit-TLS IMAP port (imaps), for --mode tls")
    p.add_argument("--mode", choices=["plain", "starttls", "tls"], default="plain")
    p.add_argument("--cafile", help="PEM to verify the server certificate (hostname localhost)")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="socket timeout, seconds")
    if user:
        p.add_argument("--user", required=True)
        p.add_argument("--password", required=True)


def run(main):
    """Runs main(), turning failures into exit status 1 with a precise message on stderr."""
    try:
        rc = main()
    except CheckFailed as e:
        print("FAIL: %s" % e, file=sys.stderr, flush=True)
        sys.exit(1)
    except (socket.timeout, TimeoutError) as e:
        print("FAIL: timed out waiting for the server (%s)" % e, file=sys.stderr, flush=True)
        traceback.print_exc()
        sys.exit(1)
    except Closed as e:
        print("FAIL: the server closed the connection unexpectedly: %s" % e, file=sys.stderr, flush=True)
        traceback.print_exc()
        sys.exit(1)
    except (OSError, ssl.SSLError) as e:
        print("FAIL: network error: %s" % e, file=sys.stderr, flush=True)
        traceback.print_exc()
        sys.exit(1)
    sys.exit(rc or 0)


# ---------------------------------------------------------------------------------------
# Response grammar

ATOM_STOP = b" ()\"{\r\n"


class Response:
    """One complete server response (continuation, untagged or tagged), literals included.

    tag   '+', '*' or the command tag
    kind  OK/NO/BAD/BYE/PREAUTH for status responses, else EXISTS/RECENT/EXPUNGE/FETCH/
          CAPABILITY/LIST/...; '+' for continuations
    num   the number before EXISTS/RECENT/EXPUNGE/FETCH
    code  the response code name (UIDVALIDITY, APPENDUID, ...) or None; code_args its text
    text  the human text of a status response or continuation
    data  the parsed values after the keyword for data responses (a dict for FETCH)
    """

    def __init__(self, raw):
        self.raw = raw
        self.tag = self.kind = self.code = self.code_args = None
        self.num = None
        self.text = ""
        self.data = None
        try:
            self._parse()
        except (ValueError, IndexError) as e:
            fail("unparseable server response (%s)" % e, got=raw)

    def _parse(self):
        raw = self.raw
        if raw.startswith(b"+"):
            self.tag = self.kind = "+"
            self.text = raw[2:].decode("latin-1") if raw.startswith(b"+ ") else raw[1:].decode("latin-1")
            return
        sp = raw.index(b" ")
        self.tag = raw[:sp].decode("latin-1")
        rest = raw[sp + 1:]
        m = re.match(rb"(\d+) ([A-Za-z]+)", rest)
        if self.tag == "*" and m:
            self.num = int(m.group(1))
            self.kind = m.group(2).decode().upper()
            rest = rest[m.end():]
            if self.kind == "FETCH":
                vals, pos = parse_values(rest, 0)
                if len(vals) != 1 or not isinstance(vals[0], list):
                    raise ValueError("FETCH data is not one parenthesised list")
                self.data = fetch_dict(vals[0])
            elif rest.strip():
                raise ValueError("junk after %s" % self.kind)
            return
        word, _, rest = rest.partition(b" ")
        self.kind = word.decode("latin-1").upper()
        if self.kind in ("OK", "NO", "BAD", "BYE", "PREAUTH"):
            if rest.startswith(b"["):
                end = rest.index(b"]")
                code = rest[1:end].decode("latin-1")
                name, _, args = code.partition(" ")
                self.code = name.upper()
                self.code_args = args
                rest = rest[end + 1:]
                if rest.startswith(b" "):
                    rest = rest[1:]
            self.text = rest.decode("latin-1")
            return
        if self.tag != "*":
            raise ValueError("a tagged response must be OK, NO or BAD")
        if self.kind in ("CAPABILITY", "ENABLED"):
            self.data = [w for w in rest.decode("latin-1").split(" ") if w]
            return
        self.data, _ = parse_values(rest, 0)

    def code_values(self):
        """The response code's arguments parsed as values."""
        return parse_values(self.code_args.encode("latin-1"), 0)[0] if self.code_args else []

    def __repr__(self):
        return show(self.raw, 300)


def parse_values(s, i, closing=False):
    """Parses space-separated values from s[i:] up to a ')' (when closing) or the end."""
    out = []
    n = len(s)
    while True:
        while i < n and s[i:i + 1] == b" ":
            i += 1
        if i >= n:
            if closing:
                raise ValueError("unbalanced parenthesis")
            return out, i
        c = s[i:i + 1]
        if c == b")":
            if not closing:
                raise ValueError("unexpected ')'")
            return out, i + 1
        if c == b"(":
            sub, i = parse_values(s, i + 1, True)
            out.append(sub)
        elif c == b'"':
            j = i + 1
            buf = bytearray()
            while True:
                if j >= n:
                    raise ValueError("unterminated quoted string")
                ch = s[j]
                if ch == 0x5C:  # backslash
                    buf.append(s[j + 1])
                    j += 2
                    continue
                if ch == 0x22:
                    break
                if ch in (0x0D, 0x0A):
                    raise ValueError("CR or LF in a quoted string")
                buf.append(ch)
                j += 1
            out.append(bytes(buf))
            i = j + 1
        elif c == b"{" or (c == b"~" and s[i + 1:i + 2] == b"{"):
            m = re.compile(rb"~?\{(\d+)\}\r\n").match(s, i)
            if not m:
                raise ValueError("bad literal announcement")
            size = int(m.group(1))
            start = m.end()
            if start + size > n:
                raise ValueError("literal shorter than announced")
            out.append(s[start:start + size])
            i = start + size
        else:
            j = i
            depth = 0
            while j < n:
                ch = s[j:j + 1]
                if ch == b"[":
                    depth += 1
                elif ch == b"]":
                    depth -= 1
                elif depth == 0 and ch in (b" ", b"(", b")", b'"', b"\r", b"\n"):
                    break
                elif depth == 0 and ch == b"{":
                    raise ValueError("'{' inside an atom")
                j += 1
            atom = s[i:j].decode("latin-1")
            if not atom:
                raise ValueError("empty atom at %d" % i)
            out.append(None if atom.upper() == "NIL" else atom)
            i = j


def norm_item(name):
    """Canonical form of a FETCH item name for lookups: upper case, single spaces, no quotes."""
    name = name.upper().replace('"', "")
    name = re.sub(r"\s+", " ", name)
    name = name.replace("( ", "(").replace(" )", ")")
    name = name.replace("BODY.PEEK[", "BODY[")
    return name


def fetch_dict(lst):
    if len(lst) % 2:
        raise ValueError("odd number of elements in FETCH data")
    d = {}
    for k in range(0, len(lst), 2):
        key = lst[k]
        if not isinstance(key, str):
            raise ValueError("FETCH item name is not an atom")
        d[norm_item(key)] = lst[k + 1]
    return d


def astr(v):
    """A string/atom value as text (latin-1 for bytes, so that nothing is lost)."""
    if v is None:
        return None
    if isinstance(v, bytes):
        return v.decode("latin-1")
    return v


def to_json(v):
    if isinstance(v, list):
        return [to_json(x) for x in v]
    if isinstance(v, bytes):
        return v.decode("latin-1")
    if isinstance(v, str) and v.isdigit():
        return int(v)
    return v


# ---------------------------------------------------------------------------------------
# Encodings


def quote(s):
    """An IMAP quoted string for 7-bit text without CR/LF."""
    if isinstance(s, bytes):
        s = s.decode("ascii")
    if any(c in s for c in "\r\n\0") or any(ord(c) > 127 for c in s):
        raise ValueError("cannot quote %r" % s)
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def mutf7_encode(name):
    """Modified UTF-7 of RFC 3501 section 5.1.3."""
    out = []
    run = []

    def flush():
        if run:
            b = base64.b64encode("".join(run).encode("utf-16-be")).decode().rstrip("=")
            out.append("&" + b.replace("/", ",") + "-")
            run.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            run.append(ch)
    flush()
    return "".join(out)


def mutf7_decode(name):
    out = []
    i = 0
    while i < len(name):
        ch = name[i]
        if ch != "&":
            out.append(ch)
            i += 1
            continue
        j = name.index("-", i)
        if j == i + 1:
            out.append("&")
        else:
            b = name[i + 1:j].replace(",", "/")
            b += "=" * (-len(b) % 4)
            out.append(base64.b64decode(b).decode("utf-16-be"))
        i = j + 1
    return "".join(out)


MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
DATE_TIME_RE = re.compile(r"^([ \d]\d)-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)$")


def parse_date_time(s):
    """RFC 3501 date-time (without the quotes) to a UTC timestamp; None if malformed."""
    m = DATE_TIME_RE.match(s)
    if not m or m.group(2).capitalize() not in MONTHS:
        return None
    day, mon, year, hh, mm, ss, sign, zh, zm = m.groups()
    t = calendar.timegm((int(year), MONTHS.index(mon.capitalize()) + 1, int(day), int(hh), int(mm), int(ss)))
    off = (int(zh) * 60 + int(zm)) * 60
    return t - off if sign == "+" else t + off


def crlf(data):
    """Bare LF turned into CRLF (what an IMAP server stores for a message)."""
    return re.sub(rb"(?<!\r)\n", b"\r\n", data)


def message(headers, body):
    """A message with CRLF line ends from (name, value) pairs and a body text."""
    lines = ["%s: %s" % hv for hv in headers]
    text = "\r\n".join(lines) + "\r\n\r\n" + body
    return crlf(text.encode("utf-8") if isinstance(text, str) else text)


def parse_uid_set(s):
    """'1:3,7' to [1, 2, 3, 7] (ranges in either direction)."""
    out = []
    for part in s.split(","):
        if ":" in part:
            a, b = (int(x) for x in part.split(":"))
            lo, hi = min(a, b), max(a, b)
            out.extend(range(lo, hi + 1))
        else:
            out.append(int(part))
    return out


def uid_set(uids):
    return ",".join(str(u) for u in uids)


class Literal:
    """A literal argument in a command: synchronizing unless plus (LITERAL+, RFC 7888)."""

    def __init__(self, data, plus=False):
        self.data = data if isinstance(data, bytes) else data.encode("utf-8")
        self.plus = plus


def mailbox_arg(name):
    """A mailbox name (already modified-UTF-7) as an IMAP astring."""
    return quote(name)


# ---------------------------------------------------------------------------------------
# Python's imaplib, connected to --host but verifying the certificate for --tls-name


def imaplib_connect(args, name="localhost"):
    """A logged-in imaplib connection in args.mode (plain, starttls or tls)."""
    import imaplib

    real = args.host

    class Plain(imaplib.IMAP4):
        def _create_socket(self, timeout):
            return socket.create_connection((real, self.port), timeout)

    class Tls(imaplib.IMAP4_SSL):
        def _create_socket(self, timeout):
            sock = socket.create_connection((real, self.port), timeout)
            return self.ssl_context.wrap_socket(sock, server_hostname=self.host)

    ctx = None
    if args.mode != "plain":
        if not args.cafile:
            fail("--cafile is needed in TLS modes")
        ctx = ssl.create_default_context(cafile=args.cafile)
    if args.mode == "tls":
        m = Tls(name, args.tls_port or args.port, ssl_context=ctx, timeout=args.timeout)
    else:
        m = Plain(name, args.port, timeout=args.timeout)
        if args.mode == "starttls":
            m.starttls(ssl_context=ctx)
    typ, data = m.login(args.user, args.password)
    check(typ == "OK", "imaplib login", got=str(data))
    return m


# ---------------------------------------------------------------------------------------
# The connection


class Result:
    def __init__(self, tagged, untagged, sent):
        self.tagged = tagged
        self.untagged = untagged
        self.sent = sent

    def of(self, kind):
        return [r for r in self.untagged if r.kind == kind]

    def all(self):
        return self.untagged + [self.tagged]


class Imap:
    """One IMAP connection. mode: plain, starttls or tls (default: args.mode)."""

    def __init__(self, args, mode=None, name="client", greeting_ok=True):
        self.args = args
        self.mode = mode or args.mode
        self.name = name
        self.timeout = args.timeout
        self.tagn = 0
        self.buf = b""
        self.pending = []  # responses read while waiting for something else
        self.closed = False
        self.caps = None
        port = args.port
        if self.mode == "tls":
            port = args.tls_port or args.port
        self.sock = socket.create_connection((args.host, port), timeout=self.timeout)
        self.sock.settimeout(self.timeout)
        if self.mode == "tls":
            self._wrap_tls()
        self.greeting = self.read_response()
        if greeting_ok:
            check(self.greeting.tag == "*" and self.greeting.kind == "OK",
                  "%s: the greeting is not an untagged OK" % self.name, got=self.greeting,
                  expected="* OK ...")
        if self.mode == "starttls":
            self.starttls()

    # -- transport
    def tls_context(self):
        if not self.args.cafile:
            fail("--cafile is needed to verify the server certificate in TLS modes")
        ctx = ssl.create_default_context(cafile=self.args.cafile)
        ctx.check_hostname = True
        return ctx

    def _wrap_tls(self):
        self.sock = self.tls_context().wrap_socket(self.sock, server_hostname="localhost")
        self.sock.settimeout(self.timeout)

    def starttls(self):
        caps = self.capability()
        check("STARTTLS" in caps, "%s: STARTTLS is not advertised on the plain port" % self.name,
              got=" ".join(sorted(caps)), expected="STARTTLS in CAPABILITY")
        r = self.cmd("STARTTLS")
        check(not r.untagged, "%s: untagged data in answer to STARTTLS" % self.name, got=r.untagged)
        check(self.buf == b"", "%s: the server sent plaintext after its STARTTLS OK" % self.name,
              got=self.buf)
        self._wrap_tls()
        self.caps = None

    def close(self):
        if not self.closed:
            self.closed = True
            try:
                self.sock.close()
            except OSError:
                pass

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def _fill(self, deadline=None):
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("deadline passed")
            self.sock.settimeout(min(left, self.timeout))
        try:
            data = self.sock.recv(1 << 17)
        finally:
            if deadline is not None:
                self.sock.settimeout(self.timeout)
        if not data:
            raise Closed("%s: connection closed by the server (buffered: %s)" % (self.name, show(self.buf, 300)))
        self.buf += data

    def readline(self, deadline=None):
        start = 0
        while True:
            i = self.buf.find(b"\n", start)
            if i >= 0:
                break
            start = max(0, len(self.buf) - 1)
            if len(self.buf) > MAX_LINE:
                fail("%s: response line longer than %d bytes" % (self.name, MAX_LINE), got=self.buf[:200])
            self._fill(deadline)
        line = self.buf[:i + 1]
        self.buf = self.buf[i + 1:]
        check(line.endswith(b"\r\n"), "%s: response line not ended by CRLF" % self.name, got=line)
        return line[:-2]

    def read_exact(self, n, deadline=None):
        while len(self.buf) < n:
            self._fill(deadline)
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_response(self, deadline=None):
        """Reads one whole response, literals included (raw form kept for the parser)."""
        line = self.readline(deadline)
        raw = line
        while True:
            m = re.search(rb"~?\{(\d+)\}$", line)
            if not m or line.startswith(b"+"):
                break
            lit = self.read_exact(int(m.group(1)), deadline)
            line = self.readline(deadline)
            raw += b"\r\n" + lit + line
        return Response(raw)

    def next_response(self, deadline=None):
        if self.pending:
            return self.pending.pop(0)
        return self.read_response(deadline)

    # -- commands
    def tag(self):
        self.tagn += 1
        return "%s%d" % (self.name[:1].upper() or "T", self.tagn)

    def cmd(self, *parts, expect="OK", what=None, tag=None):
        """Sends one command made of text parts and Literal objects; returns its Result.

        expect: a tagged status or a tuple of them that is acceptable (None: anything).
        """
        tag = tag or self.tag()
        sent = bytearray((tag + " ").encode())
        untagged = []
        chunk = bytearray((tag + " ").encode())
        tagged = None
        for part in parts:
            if isinstance(part, Literal):
                if part.plus:
                    chunk += b"{%d+}\r\n" % len(part.data) + part.data
                    sent += b"{%d+}\r\n" % len(part.data) + part.data
                    continue
                chunk += b"{%d}\r\n" % len(part.data)
                sent += b"{%d}\r\n" % len(part.data)
                self.send(bytes(chunk))
                chunk = bytearray()
                while True:
                    r = self.next_response()
                    if r.tag == "+":
                        break
                    if r.tag == tag:
                        tagged = r
                        break
                    check(r.tag == "*", "%s: response with a foreign tag" % self.name, sent=sent, got=r)
                    untagged.append(r)
                if tagged is not None:
                    break
                chunk += part.data
                sent += part.data
            else:
                b = part.encode("utf-8") if isinstance(part, str) else part
                chunk += b
                sent += b
        if tagged is None:
            chunk += b"\r\n"
            self.send(bytes(chunk))
            while True:
                r = self.next_response()
                if r.tag == tag:
                    tagged = r
                    break
                check(r.tag == "*", "%s: unexpected response (continuation or foreign tag)" % self.name,
                      sent=sent, got=r)
                untagged.append(r)
        result = Result(tagged, untagged, bytes(sent))
        if expect is not None:
            exp = (expect,) if isinstance(expect, str) else expect
            if tagged.kind not in exp:
                fail("%s: %s" % (self.name, what or "unexpected tagged result"), sent=sent,
                     got=untagged + [tagged], expected="tagged " + "/".join(exp))
        for r in untagged:
            if r.kind == "CAPABILITY":
                self.caps = set(c.upper() for c in r.data)
        if tagged.code == "CAPABILITY":
            self.caps = set(c.upper() for c in tagged.code_args.split())
        return result

    def wait_for(self, pred, seconds, what):
        """Reads responses until pred(response) is true; returns (response, elapsed, seen)."""
        start = time.monotonic()
        deadline = start + seconds
        seen = []
        while self.pending:
            r = self.pending.pop(0)
            seen.append(r)
            if pred(r):
                return r, 0.0, seen
        while True:
            try:
                r = self.read_response(deadline)
            except socket.timeout:
                fail("%s: %s not seen within %.1f s" % (self.name, what, seconds), got=seen)
            seen.append(r)
            if pred(r):
                return r, time.monotonic() - start, seen

    # -- conveniences
    def capability(self):
        r = self.cmd("CAPABILITY")
        caps = r.of("CAPABILITY")
        check(len(caps) == 1, "%s: CAPABILITY must answer exactly one * CAPABILITY" % self.name,
              sent=r.sent, got=r.all())
        self.caps = set(c.upper() for c in caps[0].data)
        check("IMAP4REV1" in self.caps, "%s: IMAP4rev1 missing from CAPABILITY" % self.name,
              got=caps[0])
        return self.caps

    def has(self, cap):
        if self.caps is None:
            self.capability()
        return cap.upper() in self.caps

    def login(self, user=None, password=None, expect="OK"):
        user = self.args.user if user is None else user
        password = self.args.password if password is None else password
        return self.cmd("LOGIN ", astring(user), " ", astring(password), expect=expect,
                        what="LOGIN as %s" % user)

    def logout(self):
        r = self.cmd("LOGOUT", what="LOGOUT")
        check(any(u.kind == "BYE" for u in r.untagged), "%s: LOGOUT without * BYE" % self.name,
              sent=r.sent, got=r.all(), expected="* BYE then tagged OK")
        self.close()
        return r

    def select(self, box, readonly=False, expect="OK"):
        r = self.cmd("EXAMINE " if readonly else "SELECT ", mailbox_arg(box), expect=expect,
                     what=("EXAMINE " if readonly else "SELECT ") + box)
        if r.tagged.kind != "OK":
            return r, None
        return r, SelectInfo(r)

    def fetch(self, seqset, items, uid=False, expect="OK"):
        """FETCH; returns (Result, {seq: merged item dict})."""
        r = self.cmd("UID FETCH " if uid else "FETCH ", seqset, " ", items, expect=expect)
        out = {}
        for u in r.of("FETCH"):
            out.setdefault(u.num, {}).update(u.data)
        return r, out

    def search(self, criteria, uid=False, expect="OK", literal_parts=None):
        parts = ["UID SEARCH " if uid else "SEARCH "]
        parts.extend(literal_parts if literal_parts is not None else [criteria])
        r = self.cmd(*parts, expect=expect)
        if r.tagged.kind != "OK":
            return r, None
        s = r.of("SEARCH")
        check(len(s) == 1, "%s: SEARCH must answer exactly one * SEARCH" % self.name,
              sent=r.sent, got=r.all())
        nums = []
        for v in s[0].data:
            check(isinstance(v, str) and v.isdigit() and int(v) > 0,
                  "%s: * SEARCH holds a non-number" % self.name, sent=r.sent, got=s[0])
            nums.append(int(v))
        return r, nums

    def append(self, box, data, flags=None, date=None, plus=False, expect="OK"):
        parts = ["APPEND ", mailbox_arg(box)]
        if flags is not None:
            parts.append(" (%s)" % " ".join(flags))
        if date is not None:
            parts.append(' "%s"' % date)
        parts.append(" ")
        parts.append(Literal(data, plus=plus))
        return self.cmd(*parts, expect=expect, what="APPEND to %s" % box)

    def list(self, ref, pattern, cmd="LIST"):
        r = self.cmd("%s %s %s" % (cmd, quote(ref), quote(pattern)))
        out = []
        for u in r.of(cmd):
            out.append(ListEntry(u, r))
        return r, out

    def separator(self):
        r = self.cmd('LIST "" ""')
        entries = r.of("LIST")
        check(len(entries) == 1, "%s: LIST \"\" \"\" must give one response" % self.name,
              sent=r.sent, got=r.all())
        sep = entries[0].data[1]
        return astr(sep)

    def status(self, box, items="(MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)"):
        r = self.cmd("STATUS ", mailbox_arg(box), " ", items, what="STATUS " + box)
        s = r.of("STATUS")
        check(len(s) == 1, "%s: STATUS must give one * STATUS" % self.name, sent=r.sent, got=r.all())
        vals = s[0].data
        check(len(vals) == 2 and isinstance(vals[1], list) and len(vals[1]) % 2 == 0,
              "%s: malformed * STATUS" % self.name, sent=r.sent, got=s[0])
        name = astr(vals[0])
        check(name == box or (box.upper() == "INBOX" and name.upper() == "INBOX"),
              "%s: STATUS answered for another mailbox" % self.name, sent=r.sent, got=s[0])
        d = {}
        for k in range(0, len(vals[1]), 2):
            d[vals[1][k].upper()] = int(vals[1][k + 1])
        return d

    def uid_of(self, seq):
        _, f = self.fetch(str(seq), "(UID)")
        return int(f[seq]["UID"])

    def uids(self):
        """seq -> uid of the selected mailbox, via UID SEARCH ALL + FETCH 1:* (UID)."""
        r, f = self.fetch("1:*", "(UID)")
        return {n: int(d["UID"]) for n, d in f.items()}


def astring(s):
    """A user name, password or other string argument: quoted, or a literal when needed."""
    b = s.encode("utf-8") if isinstance(s, str) else s
    if any(c > 127 or c in (0, 10, 13) for c in b):
        return Literal(b)
    return quote(b.decode())


class ListEntry:
    def __init__(self, resp, result):
        d = resp.data
        check(len(d) == 3 and isinstance(d[0], list), "malformed LIST/LSUB response",
              sent=result.sent, got=resp)
        self.attrs = set(a.upper() if isinstance(a, str) else a for a in d[0])
        self.sep = astr(d[1])
        self.name = astr(d[2])
        self.resp = resp


class SelectInfo:
    """What SELECT/EXAMINE answered (RFC 3501 6.3.1)."""

    def __init__(self, r):
        self.result = r
        self.exists = self.recent = self.uidvalidity = self.uidnext = self.unseen = None
        self.flags = self.permanentflags = None
        self.counts = {}
        for u in r.untagged:
            if u.kind in ("EXISTS", "RECENT"):
                self.counts[u.kind] = self.counts.get(u.kind, 0) + 1
                setattr(self, u.kind.lower(), u.num)
            elif u.kind == "FLAGS":
                self.counts["FLAGS"] = self.counts.get("FLAGS", 0) + 1
                self.flags = u.data[0]
            elif u.kind == "OK" and u.code:
                self.counts[u.code] = self.counts.get(u.code, 0) + 1
                if u.code == "UIDVALIDITY":
                    self.uidvalidity = int(u.code_args)
                elif u.code == "UIDNEXT":
                    self.uidnext = int(u.code_args)
                elif u.code == "UNSEEN":
                    self.unseen = int(u.code_args)
                elif u.code == "PERMANENTFLAGS":
                    self.permanentflags = u.code_values()[0]
        self.access = r.tagged.code


def flagset(v):
    """A FLAGS value as a set of case-normalised flags (system flags capitalised)."""
    out = set()
    for f in v:
        if f.startswith("\\"):
            out.add("\\" + f[1:].capitalize())
        else:
            out.add(f)
    return out
