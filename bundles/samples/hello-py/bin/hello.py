#!/usr/bin/python3
"""hello-py: the Python sample bundle, an HTTP/1.1 server on the unix socket
named by FUNCATRON_LISTEN, as the exec kind's http mode runs it
(spec/bundles.md section 4). Standard library only. Routes and answers are
described in bundles/samples/README.md; they match hello-go byte for byte.
"""

import json
import os
import signal
import socketserver
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler

# The manifest's base path. Requests arrive with their original URI (base
# path included); the runner's health probe asks for /health without it, so
# both forms are served.
BASE_PATH = "/py"
MAX_BODY = 64 << 20


def greeting():
    """The "greeting" prop from FUNCATRON_PROPS; default "Hello"."""
    try:
        props = json.loads(os.environ.get("FUNCATRON_PROPS") or "{}")
    except ValueError:
        return "Hello"
    g = props.get("greeting") if isinstance(props, dict) else None
    return g if isinstance(g, str) and g else "Hello"


GREETING = greeting()


def to_json(value):
    """Compact JSON, keys sorted, UTF-8, newline: the bytes hello-go writes."""
    return (json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False) + "\n").encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every answer has a Content-Length

    def address_string(self):
        return "unix"  # a unix socket has no client address

    def log_message(self, fmt, *args):
        pass  # quiet: the runner logs requests

    def route(self):
        url = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(url.path)
        if path.startswith(BASE_PATH + "/"):
            path = path[len(BASE_PATH):]
        if len(path) > 1 and path.endswith("/"):
            path = path[:-1]  # the runner's router ignores one trailing slash too
        return path, url.query

    def do_GET(self):
        path, query = self.route()
        if path.startswith("/greet/") and path.count("/") == 2 and len(path) > len("/greet/"):
            name = path[len("/greet/"):]
            body = to_json({"greeting": "%s, %s!" % (GREETING, name),
                            "operation": self.headers.get("X-Funcatron-Operation", "")})
            self.answer(200, "application/json", body, [("Set-Cookie", "a=1; Path=/"), ("Set-Cookie", "b=2; Path=/")])
        elif path == "/args":
            args = urllib.parse.parse_qs(query, keep_blank_values=True)
            self.answer(200, "application/json", to_json({"args": args, "query": query}))
        elif path == "/env":
            lines = "".join("%s=%s\n" % kv for kv in sorted(os.environ.items()))
            self.answer(200, "text/plain", lines.encode())
        elif path == "/health":
            self.answer(200, "text/plain", b"ok\n")
        elif path == "/sleep":
            self.sleep(query)
        elif path == "/crash":
            os._exit(3)  # on purpose: the runner must answer 502 and restart us
        else:
            self.answer(404, "text/plain", b"not found\n")

    def do_POST(self):
        path, _ = self.route()
        if path != "/echo":
            self.answer(404, "text/plain", b"not found\n")
            return
        body = self.read_body()
        if body is None:
            self.answer(400, "text/plain", b"bad or too large body\n")
            return
        ctype = self.headers.get("Content-Type") or "application/octet-stream"
        self.answer(200, ctype, body, [("X-Echo-Length", str(len(body)))])

    def sleep(self, query):
        ms = urllib.parse.parse_qs(query).get("ms", [""])[0]
        if not ms.isdigit():
            self.answer(400, "text/plain", b"ms must be a number of milliseconds\n")
            return
        time.sleep(int(ms) / 1000)
        self.answer(200, "application/json", to_json({"slept_ms": int(ms)}))

    def read_body(self):
        """The request body, by Content-Length or chunked; None if bad."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self.read_chunked()
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return None
        if n < 0 or n > MAX_BODY:
            return None
        return self.rfile.read(n)

    def read_chunked(self):
        body = b""
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline().strip():  # trailers
                    pass
                return body
            if len(body) + size > MAX_BODY:
                return None
            body += self.rfile.read(size)
            self.rfile.readline()  # CRLF after the chunk

    def answer(self, status, ctype, body, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def main():
    sock = os.environ.get("FUNCATRON_LISTEN")
    if not sock:
        sys.exit("hello-py: FUNCATRON_LISTEN is not set: run me under a Funcatron runner")
    try:
        os.unlink(sock)  # a socket left by a crashed predecessor
    except FileNotFoundError:
        pass
    server = Server(sock, Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
