#!/usr/bin/env python3
"""Measures what one idle, logged-in POP3 or IMAP session costs a server, in memory.

Opens N connections to a running server, logs each one in (POP3 USER/PASS or IMAP LOGIN,
over plain, STLS/STARTTLS or implicit TLS) and leaves them idle — an IMAP session with INBOX
selected, and with --idle inside an IDLE command, as mail clients leave them; samples the
server's whole process tree (RSS and PSS from /proc/PID/smaps_rollup, summed over the PID
and all its descendants, so a process-per-connection server like Dovecot is measured
fairly) before and after, and prints the difference per session. Bounded: at most
--sessions connections, held --hold seconds.

  scripts/idle-memory.py --pid $(pidof postern) --port 1110 --user alice --password demo \
      --sessions 1000 --mode stls
  scripts/idle-memory.py --protocol imap --pid $(pidof postern) --port 1143 --user bob \
      --password demo --sessions 1000 --idle
"""
import argparse
import os
import socket
import ssl
import sys
import time


def tree(pid):
    """The PID and all its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir("/proc/%d/task" % p):
                with open("/proc/%d/task/%s/children" % (p, task)) as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return out


def memory(pid):
    """(rss_kib, pss_kib, processes) of the whole tree."""
    rss = pss = n = 0
    for p in tree(pid):
        try:
            with open("/proc/%d/smaps_rollup" % p) as f:
                text = f.read()
        except FileNotFoundError:
            continue  # exited while we looked
        except ProcessLookupError:
            continue
        except PermissionError:
            # Counting nothing for a process we may not read would flatter the server.
            raise SystemExit("cannot read /proc/%d/smaps_rollup: run as root" % p)
        for line in text.splitlines():
            if line.startswith("Rss:"):
                rss += int(line.split()[1])
            elif line.startswith("Pss:"):
                pss += int(line.split()[1])
        n += 1
    return rss, pss, n


class Session:
    def __init__(self, args, ctx, index):
        src = args.source_prefix + str(1 + index // 20000) if args.source_prefix else None
        self.sock = socket.create_connection(
            (args.host, args.port), timeout=30, source_address=(src, 0) if src else None
        )
        if args.mode == "ssl":
            self.sock = ctx.wrap_socket(self.sock, server_hostname=args.sni)
        self.f = self.sock.makefile("rb")
        self.imap = args.protocol == "imap"
        self.idling = False
        if self.imap:
            self.imap_session(args, ctx)
            return
        self.expect_ok()
        if args.mode == "stls":
            self.cmd(b"STLS")
            self.sock = ctx.wrap_socket(self.sock, server_hostname=args.sni)
            self.f = self.sock.makefile("rb")
        self.cmd(b"USER " + args.user.encode())
        self.cmd(b"PASS " + args.password.encode())
        self.cmd(b"STAT")

    def imap_session(self, args, ctx):
        greeting = self.f.readline()
        if not greeting.startswith(b"* OK"):
            raise SystemExit("server said: %r" % greeting)
        if args.mode == "stls":
            self.tagged(b"STARTTLS")
            self.sock = ctx.wrap_socket(self.sock, server_hostname=args.sni)
            self.f = self.sock.makefile("rb")
        self.tagged(b"LOGIN " + args.user.encode() + b" " + args.password.encode())
        self.tagged(b"SELECT INBOX")
        if args.idle:
            self.sock.sendall(b"i IDLE\r\n")
            line = self.f.readline()
            if not line.startswith(b"+"):
                raise SystemExit("IDLE refused: %r" % line)
            self.idling = True

    def tagged(self, command):
        """Sends an IMAP command and reads to its tagged OK (literals in the answers are
        never announced by LOGIN/SELECT/STARTTLS, so lines suffice)."""
        self.sock.sendall(b"t " + command + b"\r\n")
        while True:
            line = self.f.readline()
            if not line:
                raise SystemExit("connection closed after %r" % command)
            if line.startswith(b"t "):
                if not line.startswith(b"t OK"):
                    raise SystemExit("%r: %r" % (command, line))
                return line

    def expect_ok(self):
        line = self.f.readline()
        if not line.startswith(b"+OK"):
            raise SystemExit("server said: %r" % line)
        return line

    def cmd(self, line):
        self.sock.sendall(line + b"\r\n")
        return self.expect_ok()

    def close(self):
        try:
            if self.imap:
                if self.idling:
                    self.sock.sendall(b"DONE\r\n")
                self.sock.sendall(b"z LOGOUT\r\n")
            else:
                self.cmd(b"QUIT")
        except Exception:  # noqa: BLE001 - closing anyway
            pass
        self.sock.close()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pid", type=int, required=True, help="server (parent) process id")
    p.add_argument("--protocol", choices=["pop3", "imap"], default="pop3")
    p.add_argument("--idle", action="store_true", help="IMAP: leave each session in IDLE")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--mode", choices=["plain", "stls", "ssl"], default="plain")
    p.add_argument("--sni", default="localhost")
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--sessions", type=int, default=1000)
    p.add_argument("--hold", type=float, default=3.0, help="seconds to let memory settle")
    p.add_argument("--no-warmup", dest="warmup", action="store_false",
                   help="measure the first round of sessions (cold)")
    p.add_argument("--source-prefix", default="", help="e.g. 127.0.0. to spread source addresses")
    args = p.parse_args()
    args.sessions = min(args.sessions, 50000)

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE

    # Warm up with a full round of sessions, closed again: the first round pays for state that
    # is created once and then reused (allocator arenas, thread pools, caches), which is not
    # what each further session costs.
    for s in [Session(args, ctx, i) for i in range(args.sessions if args.warmup else 1)]:
        s.close()
    time.sleep(args.hold)
    before = memory(args.pid)
    sessions = []
    start = time.time()
    for i in range(args.sessions):
        sessions.append(Session(args, ctx, i))
    opened = time.time() - start
    time.sleep(args.hold)
    during = memory(args.pid)
    for s in sessions:
        s.close()
    n = len(sessions)
    what = args.protocol + (" selected" if args.protocol == "imap" else "") + (" in IDLE" if args.idle else "")
    print("sessions:            %d (%s, %s), opened in %.1fs" % (n, what, args.mode, opened))
    print("processes:           %d before, %d with the sessions" % (before[2], during[2]))
    print("RSS before/during:   %d KiB / %d KiB" % (before[0], during[0]))
    print("PSS before/during:   %d KiB / %d KiB" % (before[1], during[1]))
    print("RSS per session:     %.1f KiB" % ((during[0] - before[0]) / n))
    print("PSS per session:     %.1f KiB" % ((during[1] - before[1]) / n))


if __name__ == "__main__":
    sys.exit(main())
