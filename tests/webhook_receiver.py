"""A webhook receiver for the tests. It checks every delivery with the
`standardwebhooks` package (the format's reference implementation, not
ours) and answers as the request's path says:

  /ok          200
  /fail/N      500 to the first N attempts of each Webhook-Id, then 200
  /hang-once   the first attempt of each Webhook-Id gets no answer for 60 s, later ones 200

  POST /secret  the signing secret to verify with (the body is the secret)
  GET /log      every delivery received, as JSON, in arrival order

It prints its port on the first line of stdout."""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook

lock = threading.Lock()
log = []
attempts = {}
secret = {"value": None}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, code, body=b""):
        self.send_response(code)
        self.send_header("content-length", str(len(body)))
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path != "/log":
            return self.answer(404)
        with lock:
            body = json.dumps(log).encode()
        self.answer(200, body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        if self.path == "/secret":
            secret["value"] = body.decode()
            return self.answer(204)
        headers = {k.lower(): v for k, v in self.headers.items()}
        wid = headers.get("webhook-id")
        entry = {"path": self.path, "webhook_id": wid, "timestamp": headers.get("webhook-timestamp"),
                 "verified": False, "error": None, "body": None}
        try:
            entry["body"] = Webhook(secret["value"]).verify(body, headers)
            entry["verified"] = True
        except Exception as e:  # recorded, and the test fails on it
            entry["error"] = f"{type(e).__name__}: {e}"
        with lock:
            attempts[wid] = attempts.get(wid, 0) + 1
            entry["attempt"] = attempts[wid]
            log.append(entry)
        code = 200
        if self.path.startswith("/fail/") and entry["attempt"] <= int(self.path.split("/")[2]):
            code = 500
        elif self.path == "/hang-once" and entry["attempt"] == 1:
            time.sleep(60)
        entry["answered"] = code
        self.answer(code, b"{}")


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
