#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Docker registry v2 token server for capsa's offline test bed.

    token_server.py --addr 127.0.0.1 --port PORT --cert C --key K \
        --signing-cert S.crt --signing-key S.key --users users.json \
        --service SVC --issuer ISS [--log FILE] [--ttl-file FILE]

Serves HTTPS `GET /token?service=SVC&scope=repository:NAME:ACTIONS` (scope may
repeat and may hold several space-separated scopes) and the OAuth2 form
`POST /token` (grant_type=password).  Grants (testbed.md §2):

  * valid Basic credentials  -> every requested action;
  * wrong credentials        -> 401 (WWW-Authenticate: Basic);
  * anonymous                -> `pull` only, and nothing for repositories
                                under `private/` (actions: []).

The answer is {"token", "access_token", "expires_in", "issued_at"}; the JWT
is RS256-signed with an x5c header holding the signing certificate, which the
registry trusts through `auth.token.rootcertbundle`.

Expiry: expires_in is TOKEN_TTL seconds (env, default 300), or the integer in
--ttl-file when that file exists (read on every request, so a test can shorten
the lifetime without a restart).  distribution accepts a token up to 60 s
(its clock-skew leeway) after `exp`, so the `exp` claim is set to
iat + TTL - TOKEN_LEEWAY (env, default 60): the registry then really refuses
the token about TTL seconds after issue.  `nbf` is iat - 1.

Every request is logged as one JSON line to --log: time, method, client,
whether an Authorization header arrived, the user, the scopes requested and
the access granted.  The password is never logged.
"""

import argparse
import base64
import datetime
import hmac
import json
import os
import ssl
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class State:
    def __init__(self, args):
        self.args = args
        with open(args.signing_key, "rb") as f:
            self.key = serialization.load_pem_private_key(f.read(), password=None)
        with open(args.signing_cert, "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
        self.x5c = [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii")]
        with open(args.users, "r", encoding="utf-8") as f:
            self.users = json.load(f)
        self.lock = threading.Lock()
        self.log = open(args.log, "a", encoding="utf-8") if args.log else None

    def ttl(self) -> int:
        path = self.args.ttl_file
        if path and os.path.exists(path):
            try:
                with open(path, encoding="ascii") as f:
                    return int(f.read().strip())
            except (OSError, ValueError):
                pass
        return int(os.environ.get("TOKEN_TTL", "300"))

    def write_log(self, rec):
        if self.log is None:
            return
        with self.lock:
            self.log.write(json.dumps(rec, ensure_ascii=False) + "\n")
            self.log.flush()

    def sign(self, claims) -> str:
        header = {"typ": "JWT", "alg": "RS256", "x5c": self.x5c}
        signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "." +
                         b64url(json.dumps(claims, separators=(",", ":")).encode()))
        sig = self.key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + b64url(sig)


def parse_scopes(values):
    """['repository:a/b:pull,push repository:c:pull'] -> [(type, name, [actions])]"""
    out = []
    for value in values:
        for scope in value.split():
            first = scope.find(":")
            last = scope.rfind(":")
            if first < 0 or last == first:
                continue
            typ, name, actions = scope[:first], scope[first + 1:last], scope[last + 1:]
            out.append((typ, name, [a for a in actions.split(",") if a]))
    return out


def grant(user, scopes):
    access = []
    for typ, name, actions in scopes:
        if user is not None:
            allowed = actions
        elif typ == "repository" and not (name == "private" or name.startswith("private/")):
            allowed = [a for a in actions if a == "pull"]
        else:
            allowed = []
        access.append({"type": typ, "name": name, "actions": allowed})
    return access


class Handler(BaseHTTPRequestHandler):
    server_version = "capsa-token-server/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet stderr; the JSON log has it all
        pass

    def reply(self, code, body, extra=None):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def check_basic(self, header):
        """None: anonymous; (user,): valid; False: wrong credentials."""
        if not header:
            return None
        scheme, _, rest = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, sep, password = base64.b64decode(rest.strip(), validate=True).decode("utf-8").partition(":")
        except Exception:  # noqa: BLE001 - malformed header = wrong credentials
            return False
        return self.check_password(user, password) if sep else False

    def check_password(self, user, password):
        expected = self.server.state.users.get(user)
        if expected is None or not hmac.compare_digest(expected.encode(), password.encode()):
            return False
        return (user,)

    def issue(self, method, auth_present, user, service, scope_values):
        st = self.server.state
        scopes = parse_scopes(scope_values)
        access = grant(user, scopes)
        ttl = st.ttl()
        now = int(time.time())
        leeway = int(os.environ.get("TOKEN_LEEWAY", "60"))
        claims = {
            "iss": st.args.issuer,
            "sub": user or "",
            "aud": service or st.args.service,
            "exp": now + ttl - leeway,
            "nbf": now - 1,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        token = st.sign(claims)
        issued = datetime.datetime.fromtimestamp(now, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        st.write_log({"time": now, "method": method, "client": self.client_address[0],
                      "authorization": auth_present, "user": user, "result": 200,
                      "scopes": scope_values, "access": access, "expires_in": ttl})
        self.reply(200, {"token": token, "access_token": token, "expires_in": ttl, "issued_at": issued})

    def unauthorized(self, method, auth_present, scope_values):
        self.server.state.write_log({"time": int(time.time()), "method": method,
                                     "client": self.client_address[0], "authorization": auth_present,
                                     "user": None, "result": 401, "scopes": scope_values})
        self.reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": "invalid credentials"}]},
                   {"WWW-Authenticate": 'Basic realm="capsa-token-server"'})

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/token":
            self.reply(404, {"errors": [{"code": "NOT_FOUND", "message": url.path}]})
            return
        q = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        header = self.headers.get("Authorization")
        who = self.check_basic(header)
        scopes = q.get("scope", [])
        if who is False:
            self.unauthorized("GET", bool(header), scopes)
            return
        self.issue("GET", bool(header), who[0] if who else None, q.get("service", [None])[0], scopes)

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if url.path != "/token" or length > 65536:
            self.reply(404, {"errors": [{"code": "NOT_FOUND", "message": url.path}]})
            return
        form = urllib.parse.parse_qs(self.rfile.read(length).decode("utf-8", "replace"), keep_blank_values=True)
        get = lambda k: form.get(k, [""])[0]  # noqa: E731
        scopes = form.get("scope", [])
        if get("grant_type") != "password":
            self.reply(400, {"error": "unsupported_grant_type"})
            return
        who = self.check_password(get("username"), get("password"))
        if who is False:
            self.unauthorized("POST", True, scopes)
            return
        self.issue("POST", True, who[0], get("service"), scopes)

    do_HEAD = do_GET


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--addr", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--signing-cert", required=True)
    p.add_argument("--signing-key", required=True)
    p.add_argument("--users", required=True, help="JSON object {user: password}")
    p.add_argument("--service", default="capsa-registry")
    p.add_argument("--issuer", default="capsa-token-issuer")
    p.add_argument("--log")
    p.add_argument("--ttl-file")
    args = p.parse_args()

    httpd = ThreadingHTTPServer((args.addr, args.port), Handler)
    httpd.daemon_threads = True
    httpd.state = State(args)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    # handshake lazily in the handler thread: a stalled client cannot block accept()
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)
    print(f"token server on https://{args.addr}:{args.port}/token", file=sys.stderr, flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
