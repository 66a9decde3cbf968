#!/usr/bin/env python3
"""A real POP3 client (Python's poplib) driven by the Rust integration tests.

It logs in with the requested transport and mechanism, performs one action and prints a
JSON report on stdout. Server errors are reported in the JSON (not raised), so a test can
assert on refusals as well as on successes.
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import poplib
import ssl
import sys

# Real mail has long lines; poplib's default limit (2048) would reject them client-side.
poplib._MAXLINE = 10 * 1024 * 1024


def connect(args):
    ctx = ssl.create_default_context(cafile=args.cafile)
    ctx.check_hostname = True
    if args.mode == "ssl":
        return poplib.POP3_SSL(args.host, args.port, context=ctx, timeout=30)
    conn = poplib.POP3(args.host, args.port, timeout=30)
    if args.mode == "stls":
        conn.stls(context=ctx)
    return conn


def b64(s):
    return base64.b64encode(s.encode()).decode()


def login(conn, args):
    if args.auth == "user":
        conn.user(args.user)
        conn.pass_(args.password)
    elif args.auth == "apop":
        conn.apop(args.user, args.password)
    elif args.auth == "plain":
        conn._shortcmd("AUTH PLAIN " + b64("\0%s\0%s" % (args.user, args.password)))
    elif args.auth == "plain-continue":
        resp = conn._shortcmd("AUTH PLAIN")
        assert resp.startswith(b"+"), resp
        conn._shortcmd(b64("\0%s\0%s" % (args.user, args.password)))
    elif args.auth == "login":
        conn._shortcmd("AUTH LOGIN")
        conn._shortcmd(b64(args.user))
        conn._shortcmd(b64(args.password))
    elif args.auth == "cram":
        resp = conn._shortcmd("AUTH CRAM-MD5")
        challenge = base64.b64decode(resp[2:])
        digest = hmac.new(args.password.encode(), challenge, hashlib.md5).hexdigest()
        conn._shortcmd(b64("%s %s" % (args.user, digest)))
    else:
        raise SystemExit("unknown auth " + args.auth)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--mode", choices=["plain", "stls", "ssl"], default="plain")
    p.add_argument("--cafile")
    p.add_argument("--auth", default="user")
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--action", default="stat")
    p.add_argument("--out", help="folder for retrieved messages")
    args = p.parse_args()

    report = {}
    try:
        conn = connect(args)
    except Exception as e:  # noqa: BLE001 - reported to the test
        print(json.dumps({"error": "connect: %s" % e}))
        return
    report["greeting"] = conn.getwelcome().decode("latin-1")
    try:
        report["capa_before"] = {k: v for k, v in conn.capa().items()}
    except poplib.error_proto as e:
        report["capa_error"] = str(e)
    try:
        login(conn, args)
    except (poplib.error_proto, AssertionError) as e:
        report["login_error"] = str(e)
        try:
            conn.quit()
        except Exception:  # noqa: BLE001
            pass
        print(json.dumps(report))
        return
    report["capa_after"] = {k: v for k, v in conn.capa().items()}
    count, size = conn.stat()
    report["stat"] = [count, size]
    action = args.action
    if action in ("list", "retr-all", "top", "delete-all", "uidl"):
        _, listing, _ = conn.list()
        report["list"] = [int(l.split()[1]) for l in listing]
        _, uidls, _ = conn.uidl()
        report["uidl"] = [l.split()[1].decode() for l in uidls]
    if action == "retr-all":
        os.makedirs(args.out, exist_ok=True)
        sizes = []
        for i in range(1, count + 1):
            _, lines, octets = conn.retr(i)
            data = b"\r\n".join(lines) + b"\r\n"
            with open(os.path.join(args.out, "%d.eml" % i), "wb") as f:
                f.write(data)
            sizes.append(len(data))
        report["retrieved"] = sizes
        conn.rset()
    elif action.startswith("top:"):
        n = int(action[4:])
        os.makedirs(args.out, exist_ok=True)
        for i in range(1, count + 1):
            _, lines, _ = conn.top(i, n)
            with open(os.path.join(args.out, "%d.top" % i), "wb") as f:
                f.write(b"\r\n".join(lines) + b"\r\n")
    elif action == "delete-all":
        for i in range(1, count + 1):
            conn.dele(i)
    report["quit"] = conn.quit().decode("latin-1")
    print(json.dumps(report))


if __name__ == "__main__":
    sys.exit(main())
