#!/usr/bin/python3
"""examples/python/server.py: a small HTTP API on psycopg 3 and the standard
library's http.server that authenticates API keys with apikey and serves the
tenant's rows under row-level security, plus admin routes that manage keys
acting for the key's user.  The schema is examples/schema.sql.

  GET  /orders                     the caller's tenant's orders
  GET  /admin/keys                 apikey_list of the caller's tenant
  POST /admin/keys                 {"user_id", "name", "expires_at"?}: apikey_create
  POST /admin/keys/<id>/rotate     {"grace"?: "48 hours"}: apikey_rotate
  POST /admin/keys/<id>/revoke     {"reason"?}: apikey_revoke

Every route takes "Authorization: Bearer <key>".  Environment: PORT (default
8080), PGHOST, PGPORT, PGDATABASE (libpq's variables), APP_DB_USER (default
app_api), ADMIN_DB_USER (default app_admin).  Debian: apt-get install
python3-psycopg; run with /usr/bin/python3.

What psycopg does that matters here:
- apikey_authenticate and the queries relying on it must share one
  transaction: `with conn.transaction():` on one connection.
- PT401 (and 1.2's PT429) are not standard SQLSTATEs: psycopg raises them as
  a generic error class (not a subclass named for them).  Read e.sqlstate, and
  e.diag for detail and hint.
- `SET LOCAL apikey.actor = %s` cannot take a bind parameter: use
  set_config('apikey.actor', %s, true).
- bigint comes back as int, numeric as Decimal; this API returns ids and
  totals as strings, the same JSON as examples/node.  A Python str is sent
  untyped, so apikey_revoke(%s, %s) with the id from the URL resolves on the
  server as node-postgres's does: revoke by id, the 1.2 contract.

A connection per request keeps the example short; use psycopg_pool in an
application (python3-psycopg-pool).
"""

import datetime
import decimal
import json
import math
import os
import re
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
from psycopg.rows import dict_row

PORT = int(os.environ.get("PORT", "8080"))
APP_DB_USER = os.environ.get("APP_DB_USER", "app_api")
ADMIN_DB_USER = os.environ.get("ADMIN_DB_USER", "app_admin")
BEARER = re.compile(r"Bearer ([\x21-\x7e]+)", re.IGNORECASE)
KEY_ID = r"([0-9]{1,19})"


class HttpError(Exception):
    def __init__(self, status, message, headers=None):
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


def connect(user):
    # autocommit: nothing runs in a transaction but the `with conn.transaction()` blocks
    return psycopg.connect(user=user, autocommit=True, row_factory=dict_row)


def authenticate(conn, key):
    """PT401 for any key that is not valid (PT429 when 1.2's rate limit says
    no); otherwise the transaction now carries the key's tenant, user and
    role, which the RLS policy reads."""
    if key is None:
        raise HttpError(401, "missing or malformed Authorization header", {"WWW-Authenticate": "Bearer"})
    return conn.execute("SELECT tenant_id, user_id, role FROM apikey_authenticate(%s)", (key,)).fetchone()


def retry_after(e):
    """Seconds to wait after PT429: apikey puts "Retry after <n.nnn> seconds."
    in the error's detail (the same wait as apikey_verify's retry_after
    column); rounded up to whole seconds for Retry-After, at least 1."""
    text = f"{e.diag.message_detail or ''} {e.diag.message_hint or ''}"
    m = re.search(r"(\d+(?:\.\d+)?)\s*(?:s|sec|secs|seconds?)\b", text)
    if m:
        return str(max(1, math.ceil(float(m.group(1)))))
    m = re.search(r"(\d+):(\d\d):(\d\d(?:\.\d+)?)", text)
    if m:
        return str(max(1, math.ceil(int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3)))))
    return "1"


def from_pg(e):
    """A psycopg error as an HTTP answer (None: a 500).  apikey's messages
    never contain a key or a hash, so the 4xx ones may be shown."""
    state = e.sqlstate or ""
    message = e.diag.message_primary or "error"
    if state == "PT401":
        return HttpError(401, "invalid API key", {"WWW-Authenticate": "Bearer"})
    if state == "PT429":
        return HttpError(429, "rate limited", {"Retry-After": retry_after(e)})
    statuses = {"42501": 403, "P0002": 404, "23503": 422, "55000": 409}
    if state in statuses:
        return HttpError(statuses[state], message)
    if state == "25006":
        return HttpError(503, "read-only: try again later")
    if state.startswith("22"):
        return HttpError(400, message)
    return None


def jsonable(row):
    """bigint and numeric as strings (as node-postgres returns them), times in ISO 8601."""
    out = {}
    for name, value in row.items():
        if isinstance(value, bool) or value is None or isinstance(value, str):
            out[name] = value
        elif isinstance(value, (int, decimal.Decimal)):
            out[name] = str(value)
        elif isinstance(value, datetime.datetime):
            out[name] = value.isoformat()
        elif isinstance(value, list):
            out[name] = value
        else:
            out[name] = str(value)
    return out


def orders(handler, key):
    with connect(APP_DB_USER) as conn, conn.transaction():
        who = authenticate(conn, key)
        rows = conn.execute("SELECT id, tenant_id, item, total FROM orders ORDER BY id").fetchall()
    return 200, {"tenant_id": who["tenant_id"], "user_id": who["user_id"], "role": who["role"],
                 "orders": [jsonable(r) for r in rows]}


def as_actor(key, fn):
    """The admin routes: authenticate the caller's key, then act for its user.
    apikey checks that user (active, a manager) and keeps every call inside the
    user's tenant: a key of another tenant answers P0002 like a missing one."""
    with connect(ADMIN_DB_USER) as conn, conn.transaction():
        who = authenticate(conn, key)
        conn.execute("SELECT set_config('apikey.actor', %s, true)", (who["user_id"],))
        return fn(conn, who)


def list_keys(handler, key):
    def run(conn, who):
        rows = conn.execute(
            "SELECT id, user_id, name, preview, environment, created_at, expires_at, last_used_at,"
            " enabled, revoked_at, status FROM apikey_list(%s)", (who["tenant_id"],)).fetchall()
        return 200, {"tenant_id": who["tenant_id"], "keys": [jsonable(r) for r in rows]}
    return as_actor(key, run)


def optional_string(body, name):
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise HttpError(400, f"{name} must be a string")
    return value


def create_key(handler, key):
    body = handler.read_json()
    user_id, name = optional_string(body, "user_id"), optional_string(body, "name")
    expires_at = optional_string(body, "expires_at")
    if user_id is None or name is None:
        raise HttpError(400, "user_id and name are required")

    def run(conn, who):
        row = conn.execute(
            "SELECT id, key, prefix, created_at, expires_at FROM apikey_create(%s, %s, %s, expires_at => %s)",
            (who["tenant_id"], user_id, name, expires_at)).fetchone()
        return 201, jsonable(row)
    return as_actor(key, run)


def rotate_key(handler, key, key_id):
    grace = optional_string(handler.read_json(), "grace") or "48 hours"

    def run(conn, who):
        row = conn.execute("SELECT id, key, prefix, created_at, expires_at FROM apikey_rotate(%s, %s)",
                           (key_id, grace)).fetchone()
        return 201, {"rotated_from": key_id, **jsonable(row)}
    return as_actor(key, run)


def revoke_key(handler, key, key_id):
    reason = optional_string(handler.read_json(), "reason")

    def run(conn, who):
        # key_id is a str: sent untyped, so this is revoke by id (1.2; on
        # 1.1.1 it picks apikey_revoke(key text, reason text))
        row = conn.execute("SELECT apikey_revoke(%s, %s) AS revoked", (key_id, reason)).fetchone()
        return 200, {"id": key_id, "revoked": row["revoked"]}
    return as_actor(key, run)


ROUTES = [
    ("GET", re.compile(r"/orders"), orders),
    ("GET", re.compile(r"/admin/keys"), list_keys),
    ("POST", re.compile(r"/admin/keys"), create_key),
    ("POST", re.compile(rf"/admin/keys/{KEY_ID}/rotate"), rotate_key),
    ("POST", re.compile(rf"/admin/keys/{KEY_ID}/revoke"), revoke_key),
]


class Handler(BaseHTTPRequestHandler):
    server_version = "apikey-example"
    protocol_version = "HTTP/1.1"

    def read_json(self):
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise HttpError(400, "bad Content-Length")
        if length < 0 or length > 65536:
            raise HttpError(413, "body too large")
        if length == 0:
            return {}
        try:
            body = json.loads(self.rfile.read(length))
        except ValueError:
            raise HttpError(400, "body is not JSON")
        if not isinstance(body, dict):
            raise HttpError(400, "body must be a JSON object")
        return body

    def send(self, status, body, headers=None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def dispatch(self):
        path = self.path.split("?", 1)[0]
        try:
            matches = [(method, m, fn) for method, pattern, fn in ROUTES if (m := pattern.fullmatch(path))]
            if not matches:
                raise HttpError(404, "not found")
            route = [r for r in matches if r[0] == self.command]
            if not route:
                raise HttpError(405, "method not allowed", {"Allow": ", ".join(r[0] for r in matches)})
            _, m, fn = route[0]
            auth = BEARER.fullmatch(self.headers.get("Authorization") or "")
            status, body = fn(self, auth.group(1) if auth else None, *m.groups())
            self.send(status, body)
        except HttpError as e:
            self.send(e.status, {"error": str(e)}, e.headers)
        except psycopg.Error as e:
            http = from_pg(e)
            if http is None:
                # never the request's headers: they hold the key
                sys.stderr.write(f"{self.command} {path}: {e.sqlstate} {e.diag.message_primary}\n")
                self.send(500, {"error": "internal error"})
            else:
                self.send(http.status, {"error": str(http)}, http.headers)

    do_GET = dispatch
    do_POST = dispatch

    def log_message(self, format, *args):
        # the request line only (never headers)
        sys.stdout.write("%s %s\n" % (self.address_string(), format % args))
        sys.stdout.flush()


def main():
    server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    server.daemon_threads = True
    # shutdown() waits for serve_forever: call it from another thread
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"listening on http://127.0.0.1:{PORT}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    server.server_close()


if __name__ == "__main__":
    main()
