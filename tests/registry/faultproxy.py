#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Fault-injecting reverse proxy in front of a real docker-registry (stdlib only).

    faultproxy.py --listen 127.0.0.1:15100 --upstream http://127.0.0.1:15000 \\
                  [--cafile CA] [--alt-listen 127.0.0.2:15100] \\
                  [--rules FILE] [--rule JSON]... --log FILE [--pidfile FILE]

Every request is forwarded to the upstream registry (Authorization and all),
unless a rule says otherwise.  Rules come from --rules FILE (JSON: a list, or
{"rules": [...]}), re-read whenever the file is replaced or changes; then each
counter starts again from zero.  --rule JSON adds a fixed rule after those of
the file.  The first rule whose "path" regex matches (re.search on the request
path, query included) and whose "method" (default any) matches, and which has
"count" applications left (absent or -1: unlimited), is applied:

  {"action": "status", "status": 429, "headers": {"Retry-After": "1"}, "count": 2}
        answer with that status (and a small JSON error body) instead of forwarding
  {"action": "cut", "after": 65536, "count": 1}
        forward, but close the connection after that many body bytes
        (Content-Length still announces the whole body)
  {"action": "throttle", "rate": 1048576}
        forward the body at about RATE bytes per second
  {"action": "redirect", "to": "127.0.0.2" | "localhost" | "http://HOST:PORT", "status": 307}
        check the request against the upstream first (an unauthorised request
        gets the registry's own answer, e.g. 401), then redirect to
        http://TO[:this port]/_redirected/TOKEN/NAME, which any listener of
        this proxy serves from the upstream with the original request's
        credentials (like a presigned URL).  Like S3, the redirect target
        answers 400 when an Authorization header arrives anyway.

The log (JSON lines, appended per request, so a test may truncate it) has:
t, listener, host, method, path, range (the Range header or null), auth
(whether an Authorization header arrived: its value is never logged),
action, status, bytes (body bytes sent), complete (false: cut or aborted).
"""

import argparse
import http.client
import json
import os
import re
import secrets
import signal
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
       "transfer-encoding", "upgrade", "host", "content-length"}
CHUNK = 64 * 1024


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.log_lock = threading.Lock()
        self.rules_key = None
        self.rules = []
        self.counts = []
        self.fixed = [json.loads(r) for r in args.rule]
        self.tokens = {}  # redirect token -> (upstream path, {header: value})
        u = urllib.parse.urlsplit(args.upstream)
        self.up_scheme, self.up_host, self.up_port = u.scheme, u.hostname, u.port or (443 if u.scheme == "https" else 80)
        self.ssl_ctx = None
        if self.up_scheme == "https":
            self.ssl_ctx = ssl.create_default_context(cafile=args.cafile)

    def load_rules(self):
        """Re-read the rules file when it changed; reset the counters then."""
        key = None
        if self.args.rules:
            try:
                st = os.stat(self.args.rules)
                key = (st.st_ino, st.st_mtime_ns, st.st_size)
            except FileNotFoundError:
                key = None
        if key == self.rules_key and self.counts:
            return
        rules = []
        if key is not None:
            with open(self.args.rules) as f:
                text = f.read()
            data = json.loads(text) if text.strip() else []
            rules = data.get("rules", []) if isinstance(data, dict) else data
        self.rules_key = key
        self.rules = rules + self.fixed
        self.counts = [0] * len(self.rules) + [0]

    def pick(self, method, path):
        with self.lock:
            self.load_rules()
            for i, r in enumerate(self.rules):
                if r.get("method") and r["method"].upper() != method:
                    continue
                if not re.search(r.get("path", ""), path):
                    continue
                n = r.get("count", -1)
                if n is not None and n >= 0 and self.counts[i] >= n:
                    continue
                self.counts[i] += 1
                return r
        return None

    def log(self, rec):
        rec["t"] = round(time.time(), 3)
        line = json.dumps(rec, sort_keys=True) + "\n"
        with self.log_lock:
            with open(self.args.log, "a") as f:
                f.write(line)

    def connect(self):
        if self.up_scheme == "https":
            return http.client.HTTPSConnection(self.up_host, self.up_port, context=self.ssl_ctx, timeout=60)
        return http.client.HTTPConnection(self.up_host, self.up_port, timeout=60)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "faultproxy"
    sys_version = ""

    def log_message(self, fmt, *a):  # the JSON log is ours; keep stderr quiet
        pass

    def do_GET(self):
        self.handle_any()

    def do_HEAD(self):
        self.handle_any()

    def do_POST(self):
        self.handle_any()

    def do_PUT(self):
        self.handle_any()

    def do_PATCH(self):
        self.handle_any()

    def do_DELETE(self):
        self.handle_any()

    # -- helpers ----------------------------------------------------------------

    def rec(self, **kw):
        r = {"listener": "%s:%d" % self.server.server_address[:2], "host": self.headers.get("Host"),
             "method": self.command, "path": self.path, "range": self.headers.get("Range"),
             "auth": "Authorization" in self.headers}
        r.update(kw)
        return r

    def request_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else None

    def send_simple(self, status, body=b"", headers=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)
        return len(body) if self.command != "HEAD" else 0

    def upstream(self, method, path, headers, body=None):
        conn = self.server.state.connect()
        conn.request(method, path, body=body, headers=headers)
        return conn, conn.getresponse()

    def fwd_headers(self):
        return {k: v for k, v in self.headers.items() if k.lower() not in HOP}

    def relay(self, conn, resp, rule, action):
        """Send an upstream response on, applying cut/throttle to its body."""
        st = self.server.state
        length = resp.getheader("Content-Length")
        if length is None and self.command != "HEAD":
            body = resp.read()  # chunked upstream: re-frame with a length
            length = str(len(body))
        else:
            body = None
        self.send_response(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in HOP:
                self.send_header(k, v)
        if length is not None:
            self.send_header("Content-Length", length)
        self.end_headers()
        sent, complete = 0, True
        if self.command == "HEAD":
            conn.close()
            st.log(self.rec(action=action, status=resp.status, bytes=0, complete=True))
            return
        total = int(length)
        cut = rule.get("after") if rule and rule.get("action") == "cut" else None
        rate = rule.get("rate") if rule and rule.get("action") == "throttle" else None
        start = time.monotonic()
        try:
            while sent < total:
                want = CHUNK
                if rate:
                    want = max(1, min(CHUNK, int(rate / 10)))
                if cut is not None:
                    want = min(want, cut - sent)
                    if want <= 0:
                        complete = False
                        break
                data = body[sent:sent + want] if body is not None else resp.read(want)
                if not data:
                    complete = False
                    break
                self.wfile.write(data)
                sent += len(data)
                if rate:
                    ahead = sent / rate - (time.monotonic() - start)
                    if ahead > 0:
                        time.sleep(ahead)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            complete = False
        conn.close()
        if not complete:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        st.log(self.rec(action=action, status=resp.status, bytes=sent, complete=complete))

    # -- the request ------------------------------------------------------------

    def handle_any(self):
        st = self.server.state
        try:
            body = self.request_body()
            if self.path.startswith("/_redirected/"):
                return self.serve_redirected()
            rule = st.pick(self.command, self.path)
            action = rule.get("action", "status") if rule else "forward"
            if action == "status":
                status = int(rule.get("status", 503))
                msg = json.dumps({"errors": [{"code": "FAULTPROXY", "message": "injected %d" % status}]})
                hdrs = dict(rule.get("headers", {}))
                hdrs["Content-Type"] = "application/json"
                n = self.send_simple(status, msg.encode(), hdrs)
                st.log(self.rec(action=action, status=status, bytes=n, complete=True))
                return
            conn, resp = self.upstream(self.command, self.path, self.fwd_headers(), body)
            if action == "redirect" and resp.status == 200:
                conn.close()  # authorised by the registry itself: now send the client elsewhere
                token = secrets.token_hex(8)
                keep = {k: v for k, v in self.headers.items() if k.lower() in ("authorization", "accept")}
                with st.lock:
                    st.tokens[token] = (self.path, keep)
                to = rule.get("to", "127.0.0.2")
                if "://" not in to:
                    to = "http://%s:%d" % (to, self.server.server_address[1])
                name = self.path.rsplit("/", 1)[-1]
                loc = "%s/_redirected/%s/%s" % (to.rstrip("/"), token, name)
                status = int(rule.get("status", 307))
                n = self.send_simple(status, b"", {"Location": loc})
                st.log(self.rec(action=action, status=status, bytes=n, complete=True, location=loc))
                return
            self.relay(conn, resp, rule, action if action != "redirect" else "forward")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # an upstream failure: a 502 that says why
            st.log(self.rec(action="error", status=502, bytes=0, complete=False, error=repr(e)))
            try:
                self.send_simple(502, repr(e).encode())
            except OSError:
                pass
            self.close_connection = True

    def serve_redirected(self):
        """The redirect target: a presigned-URL store that refuses Authorization."""
        st = self.server.state
        parts = self.path.split("/")
        token = parts[2] if len(parts) > 2 else ""
        with st.lock:
            target = st.tokens.get(token)
        if "Authorization" in self.headers:
            n = self.send_simple(400, b"Only one auth mechanism allowed", {"Content-Type": "text/plain"})
            st.log(self.rec(action="redirected", status=400, bytes=n, complete=True))
            return
        if target is None:
            n = self.send_simple(404, b"no such token", {"Content-Type": "text/plain"})
            st.log(self.rec(action="redirected", status=404, bytes=n, complete=True))
            return
        path, headers = target
        headers = dict(headers)
        if self.headers.get("Range"):
            headers["Range"] = self.headers["Range"]
        conn, resp = self.upstream(self.command, path, headers)
        rule = st.pick(self.command, self.path)  # rules may match /_redirected/ too (e.g. cut)
        self.relay(conn, resp, rule, "redirected")


def parse_addr(s):
    host, _, port = s.rpartition(":")
    return host, int(port)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listen", required=True, help="ADDR:PORT")
    ap.add_argument("--alt-listen", action="append", default=[], help="another ADDR:PORT (redirect target)")
    ap.add_argument("--upstream", required=True, help="http[s]://HOST:PORT of the real registry")
    ap.add_argument("--cafile", help="CA for an https upstream")
    ap.add_argument("--rules", help="JSON rules file, re-read when it changes")
    ap.add_argument("--rule", action="append", default=[], help="a fixed JSON rule (after the file's)")
    ap.add_argument("--log", required=True, help="JSON-lines request log")
    ap.add_argument("--pidfile")
    args = ap.parse_args()

    state = State(args)
    servers = []
    for addr in [args.listen] + args.alt_listen:
        ThreadingHTTPServer.allow_reuse_address = True
        srv = ThreadingHTTPServer(parse_addr(addr), Handler)
        srv.daemon_threads = True
        srv.state = state
        servers.append(srv)
    if args.pidfile:
        with open(args.pidfile, "w") as f:
            f.write("%d\n" % os.getpid())
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    for srv in servers[1:]:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        servers[0].serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
