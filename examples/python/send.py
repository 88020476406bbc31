#!/usr/bin/env python3
"""Send an OTP through Switchboard and verify a status callback's signature.

Standard library only (Python 3.8+). Run a gateway (make run), then:

    python3 examples/python/send.py

Environment: SWITCHBOARD_URL (default http://127.0.0.1:8080),
SWITCHBOARD_API_KEY (default the example config's send key),
SWITCHBOARD_CALLBACK_SECRET (the secret callbacks are signed with).
"""
import hashlib
import hmac
import http.server
import json
import os
import secrets
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone

BASE = os.environ.get("SWITCHBOARD_URL", "http://127.0.0.1:8080").rstrip("/")
API_KEY = os.environ.get("SWITCHBOARD_API_KEY", "dev-send-key-0123456789")
SECRET = os.environ.get("SWITCHBOARD_CALLBACK_SECRET", "whsec-example-secret")
TOLERANCE = 300  # seconds: reject older (replayed) callbacks


def sign(secret, body, t):
    """The Switchboard-Signature header for body at unix time t."""
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(secret, header, body, now=None):
    """True if any v1= signature matches and t is fresh. body: the raw bytes."""
    now = time.time() if now is None else now
    t, sigs = None, []
    for part in (header or "").split(","):
        k, _, v = part.strip().partition("=")
        if k == "t":
            if t is not None:
                return False
            t = v
        elif k == "v1":
            sigs.append(v)
    if not t or not t.isdigit() or not sigs:
        return False
    want = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    # compare_digest is constant-time; several v1= values mean a secret rotation.
    if not any(hmac.compare_digest(want, s) for s in sigs):
        return False
    return abs(now - int(t)) <= TOLERANCE


def api(method, path, body=None, idempotency_key=None, attempts=4):
    """Call the API; retry 429/503 (honouring Retry-After) and network errors."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Authorization": f"Bearer {API_KEY}", "Accept": "application/json"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key  # makes the retries safe
    for attempt in range(attempts):
        req = urllib.request.Request(BASE + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, dict(resp.headers), json.loads(resp.read())
        except urllib.error.HTTPError as e:
            payload = json.loads(e.read() or b"{}")
            if e.code in (429, 503) and attempt + 1 < attempts:
                time.sleep(int(e.headers.get("Retry-After", "1")))
                continue
            err = payload.get("error", {})
            raise SystemExit(f"error: {e.code} {err.get('code')}: {err.get('message')} (field {err.get('field')!r})")
        except urllib.error.URLError:
            if attempt + 1 < attempts:
                time.sleep(0.25 * 2 ** attempt)
                continue
            raise


class Hooks(http.server.BaseHTTPRequestHandler):
    """The business app's callback endpoint."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))  # raw bytes: verify first
        if self.path != "/hooks/switchboard" or not verify(SECRET, self.headers.get("Switchboard-Signature"), body):
            self.send_response(401)
            self.end_headers()
            return
        cb = json.loads(body)
        # Callbacks are at-least-once: handle them idempotently on (id, status, attempt).
        print(f"callback: message {cb['id']} is {cb['status']} on {cb['channel']} (attempt {cb['attempt']})", file=sys.stderr)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def post_callback(url, body, header):
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/json", "Switchboard-Signature": header})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hooks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook_url = f"http://127.0.0.1:{server.server_address[1]}/hooks/switchboard"

    code = f"{secrets.randbelow(1_000_000):06d}"
    status, headers, sent = api("POST", "/v1/messages", {
        "to": {"whatsapp": "+15551234567", "phone": "+15551234567"},
        "body": f"Your code is {code}",
        "tags": ["otp"],
        "ttl": "10m",
        "callback_url": hook_url,
    }, idempotency_key=secrets.token_hex(16))
    print(f"accepted {sent['id']}: policy {sent['policy']}, route {' -> '.join(sent['route'])}")
    _, _, msg = api("GET", f"/v1/messages/{sent['id']}")
    print(f"status {msg['status']}")

    # A status callback, signed here the way the gateway signs it.
    payload = json.dumps({
        "id": sent["id"], "status": "delivered", "channel": sent["route"][0], "attempt": 1,
        "is_fallback": False, "duplicate": False,
        "timestamp": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }).encode()
    header = sign(SECRET, payload, int(time.time()))
    if post_callback(hook_url, payload, header) != 204:
        raise SystemExit("error: the signed callback was refused")
    print("callback signature verified")
    if post_callback(hook_url, payload.replace(b'"delivered"', b'"failed"'), header) != 401:
        raise SystemExit("error: a tampered callback was accepted")
    print("tampered callback rejected")
    # During a rotation (callback_secrets: [new, old]) the gateway signs with
    # each secret, one v1= each: a receiver holding either accepts.
    t = int(time.time())
    rotating = sign("whsec-the-new-one", payload, t) + "," + sign(SECRET, payload, t).split(",")[1]
    if post_callback(hook_url, payload, rotating) != 204:
        raise SystemExit("error: a callback signed during a rotation was refused")
    print("callback signed during a rotation verified")
    server.shutdown()


if __name__ == "__main__":
    main()
