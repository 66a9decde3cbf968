#!/usr/bin/env python3
"""Prints the ratio table of loadtest/compare.sh from the reports it wrote.

Reads JSON/SERVER.LABEL.json (postern-load reports) and JSON/SERVER.idle-MODE.txt
(scripts/idle-memory.py output) for SERVER in postern, dovecot-default, dovecot-perf, and
prints one row per measurement: each server's value and Postern / Dovecot for each Dovecot
configuration. A missing or failed measurement prints as "-", never as a number; a figure from a run
that counted errors is marked with "*".

  compare_table.py [--present] JSON_DIR [SLOW_N ...]

--present leaves out the rows no server has a figure for (a partial run, such as
compare.sh --only reload).
"""
import json
import os
import re
import sys

SERVERS = ["postern", "dovecot-default", "dovecot-perf"]


def report(d, server, label):
    try:
        with open(os.path.join(d, "%s.%s.json" % (server, label))) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def idle(d, server, mode):
    try:
        with open(os.path.join(d, "%s.idle-%s.txt" % (server, mode))) as f:
            m = re.search(r"PSS per session:\s+([0-9.]+) KiB", f.read())
            return float(m.group(1)) if m else None
    except OSError:
        return None


def clean(r):
    """A report counts if the run finished; errors are flagged next to its figures."""
    return r is not None


def flagged(d, server, labels):
    """True if any of the runs behind a row counted errors."""
    for label in labels:
        r = report(d, server, label)
        if r is not None and r.get("errors_total", 0) > 0:
            return True
    return False


def step(r, name, key):
    norm = lambda n: n.lower().replace("-", "").replace("_", "")
    for s in r.get("steps", []):
        if norm(s["step"]) == norm(name):
            return s[key]
    return None


def fmt(v, unit=""):
    if v is None:
        return "-"
    if isinstance(v, int):
        return "%d%s" % (v, unit)
    if v >= 100:
        return "%.0f%s" % (v, unit)
    return "%.2f%s" % (v, unit)


def reloads(d, server):
    try:
        with open(os.path.join(d, "%s.reloads.txt" % server)) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def main():
    args = sys.argv[1:]
    present = "--present" in args
    args = [a for a in args if a != "--present"]
    d = args[0]
    slow = args[1:]
    rows = []  # (label, better, [values per server], run labels)

    for mode in ("plain", "tls"):
        rows.append(("idle memory per POP3 session, %s (KiB PSS)" % mode, "lower",
                     [idle(d, s, mode) for s in SERVERS], []))
    for mode in ("plain", "tls"):
        vals = []
        for s in SERVERS:
            r = report(d, s, "retr-%s" % mode)
            vals.append(r["throughput"]["mb_per_sec"] if clean(r) else None)
        rows.append(("POP3 RETR of the 10k-message mailbox, %s (MB/s)" % mode, "higher", vals,
                     ["retr-%s" % mode]))
        vals = []
        for s in SERVERS:
            r = report(d, s, "retr-%s" % mode)
            vals.append(r["elapsed_secs"] if clean(r) else None)
        rows.append(("  same, whole session (s)", "lower", vals, ["retr-%s" % mode]))
    for mode in ("plain", "tls"):
        vals = []
        for s in SERVERS:
            r = report(d, s, "logins-%s" % mode)
            vals.append(r["throughput"]["sessions_per_sec"] if clean(r) else None)
        rows.append(("POP3 logins per second, %s" % mode, "higher", vals, ["logins-%s" % mode]))
    for n in slow:
        for st in ("connect", "login", "retr", "session"):
            vals = []
            for s in SERVERS:
                r = report(d, s, "slow-%s" % n)
                vals.append(step(r, st, "p99_ms") if clean(r) else None)
            rows.append(("p99 %s, %s sessions on 1 Mbit/s links (ms)" % (st, n), "lower", vals,
                         ["slow-%s" % n]))
        vals = []
        for s in SERVERS:
            r = report(d, s, "slow-%s" % n)
            u = r and r.get("server")
            vals.append(u["memory_per_connection_bytes"] / 1024 if clean(r) and u else None)
        rows.append(("  server memory per connection during it (KiB)", "lower", vals,
                     ["slow-%s" % n]))
    for mode in ("plain", "tls"):
        rows.append(("idle memory per IMAP session in IDLE, %s (KiB PSS)" % mode, "lower",
                     [idle(d, s, "imap-" + mode) for s in SERVERS], []))
    for label in ("fetch-cold", "fetch-warm"):
        # SELECT and FETCH together: a server may do its indexing in either (Postern builds
        # its index at SELECT, Dovecot reads headers during the FETCH).
        vals = []
        for s in SERVERS:
            r = report(d, s, label)
            sel = step(r, "select", "max_ms") if clean(r) else None
            fet = step(r, "fetch", "max_ms") if clean(r) else None
            vals.append(sel + fet if sel is not None and fet is not None else None)
        rows.append(("IMAP SELECT + header FETCH, 10k messages, %s (ms)" % label[6:], "lower",
                     vals, [label]))
        vals = []
        for s in SERVERS:
            r = report(d, s, label)
            vals.append(step(r, "fetch", "max_ms") if clean(r) else None)
        rows.append(("  of which the FETCH (ms)", "lower", vals, [label]))
    for mode in ("plain", "tls"):
        vals = []
        for s in SERVERS:
            r = report(d, s, "imap-logins-%s" % mode)
            vals.append(r["throughput"]["sessions_per_sec"] if clean(r) else None)
        rows.append(("IMAP logins per second, %s" % mode, "higher", vals,
                     ["imap-logins-%s" % mode]))
    for key, what in (("p50_ms", "p50"), ("p99_ms", "p99")):
        vals = []
        for s in SERVERS:
            r = report(d, s, "idle-wakeup")
            vals.append(step(r, "idle-wakeup", key) if clean(r) else None)
        rows.append(("IMAP IDLE, delivery to EXISTS, %s (ms)" % what, "lower", vals,
                     ["idle-wakeup"]))

    for label, what in (("imap-logins-steady", "steady"), ("imap-logins-reloading", "reload every second")):
        for key, unit in (("sessions_per_sec", "per second"), ("p99", "p99 login (ms)")):
            vals = []
            for s in SERVERS:
                r = report(d, s, label)
                if not clean(r):
                    vals.append(None)
                elif key == "p99":
                    vals.append(step(r, "login", "p99_ms"))
                else:
                    vals.append(r["throughput"]["sessions_per_sec"])
            rows.append(("IMAP TLS logins, %s, %s" % (what, unit),
                         "higher" if key == "sessions_per_sec" else "lower", vals, [label]))

    rows.append(("  reloads during that run", "-", [reloads(d, s) for s in SERVERS], []))
    if present:
        rows = [r for r in rows if any(v is not None for v in r[2])]

    header = ["measurement", "better", "Postern", "Dovecot", "Dovecot perf",
              "Postern/Dovecot", "Postern/perf"]
    table = []
    for label, better, v, runs in rows:
        ratios = []
        for other in (v[1], v[2]):
            comparable = better != "-" and v[0] is not None and other
            ratios.append("%.3f" % (v[0] / other) if comparable else "-")
        cells = [fmt(x) + ("*" if x is not None and flagged(d, srv, runs) else "")
                 for x, srv in zip(v, SERVERS)]
        table.append([label, better] + cells + ratios)
    widths = [max(len(r[i]) for r in table + [header]) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i])
                                       for i, c in enumerate(r)) + " |"
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in table:
        print(line(r))
    print()
    print("Dovecot's default configuration is not run with 5,000+ slow sessions (a login and a")
    print("mail process per connection would not fit in memory). Any other '-' means the run")
    print("failed; see the .txt next to the .json. A '*' marks a figure from a run that counted")
    print("errors (listed below).")
    for srv in SERVERS:
        for name in sorted(os.listdir(d)):
            if name.startswith(srv + ".") and name.endswith(".json"):
                r = report(d, srv, name[len(srv) + 1:-5])
                if r and r.get("errors_total", 0):
                    print("  %s %s: %s" % (srv, name[len(srv) + 1:-5], r["errors"]))


if __name__ == "__main__":
    main()
