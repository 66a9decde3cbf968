#!/usr/bin/env python3
"""A minimal nginx auth_http service for the proxy harness: every login is routed to one
backend (the backend checks the password), IMAP and POP3 by the Auth-Protocol header.

  scripts/auth-http-route.py --port 9143 --backend 127.0.0.1 --imap-port 143 --pop3-port 110

It speaks exactly the part of the protocol nginx's mail proxy and Postern's proxy both use:
a GET with Auth-* headers in, Auth-Status/Auth-Server/Auth-Port out.
"""
import argparse
import http.server
import socketserver


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--backend", default="127.0.0.1")
    ap.add_argument("--imap-port", type=int, required=True)
    ap.add_argument("--pop3-port", type=int, required=True)
    args = ap.parse_args()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_GET(self):
            proto = self.headers.get("Auth-Protocol", "imap")
            port = args.pop3_port if proto == "pop3" else args.imap_port
            self.send_response(200)
            self.send_header("Auth-Status", "OK")
            self.send_header("Auth-Server", args.backend)
            self.send_header("Auth-Port", str(port))
            self.end_headers()

        def log_message(self, *a):
            pass

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        request_queue_size = 1024

    Server(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
