'use strict';
// examples/node/server.js: a small HTTP API on node-postgres (pg) that
// authenticates API keys with apikey and serves the tenant's rows under
// row-level security, plus admin routes that manage keys acting for the
// key's user.  The schema is examples/schema.sql.  No dependency but pg.
//
//   GET  /orders                     the caller's tenant's orders
//   GET  /admin/keys                 apikey_list of the caller's tenant
//   POST /admin/keys                 {"user_id", "name", "expires_at"?}: apikey_create
//   POST /admin/keys/:id/rotate      {"grace"?: "48 hours"}: apikey_rotate
//   POST /admin/keys/:id/revoke      {"reason"?}: apikey_revoke
//
// Every route takes "Authorization: Bearer <key>".  Environment: PORT (default
// 8080), PGHOST, PGPORT, PGDATABASE (libpq's variables, read by pg),
// APP_DB_USER (default app_api), ADMIN_DB_USER (default app_admin).
//
// The three things node-postgres gets wrong unless told:
// 1. pool.query() runs each statement on whichever client is free, each in
//    its own transaction: apikey_authenticate's settings are gone before the
//    next query, which then sees 0 rows and no error.  Check out ONE client
//    and run BEGIN ... COMMIT on it (inTransaction below).
// 2. `SET LOCAL apikey.actor = $1` cannot take a bind parameter (utility
//    statements have none): use set_config('apikey.actor', $1, true).
// 3. bigint (int8) and numeric come back as strings, since a JavaScript number
//    loses precision above 2^53 (the orders' ids in schema.sql are above it).
//    This API keeps them as strings in its JSON.  Parameters are sent untyped
//    (as text), and the server picks the type: apikey_revoke($1, $2) must mean
//    revoke by id, the 1.2 contract.
const http = require('node:http');
const { Pool } = require('pg');

const PORT = Number.parseInt(process.env.PORT || '8080', 10);
const api = new Pool({ user: process.env.APP_DB_USER || 'app_api', max: 10 });
const admin = new Pool({ user: process.env.ADMIN_DB_USER || 'app_admin', max: 4 });
// an idle client's connection that breaks must not take the process down
api.on('error', (err) => console.error(`idle api client: ${err.code || err.message}`));
admin.on('error', (err) => console.error(`idle admin client: ${err.code || err.message}`));

class HttpError extends Error {
  constructor(status, message, headers = {}) {
    super(message);
    this.status = status;
    this.headers = headers;
  }
}

// "Bearer <key>" (scheme case-insensitive, one space), else null.
function bearer(req) {
  const m = /^Bearer ([\x21-\x7e]+)$/i.exec(req.headers.authorization || '');
  return m ? m[1] : null;
}

// Run fn(client) in one transaction on one pooled client.
async function inTransaction(pool, fn) {
  const client = await pool.connect();
  let broken = null;
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    try {
      await client.query('ROLLBACK');
    } catch (rollbackErr) {
      broken = rollbackErr; // the connection is unusable: do not return it to the pool
    }
    throw err;
  } finally {
    client.release(broken || undefined);
  }
}

// apikey_authenticate: PT401 for any key that is not valid (PT429 when 1.2's
// rate limit says no); otherwise the transaction now carries the key's tenant,
// user and role, which the RLS policy reads.
async function authenticate(client, key) {
  if (key === null) throw new HttpError(401, 'missing or malformed Authorization header', { 'WWW-Authenticate': 'Bearer' });
  const { rows } = await client.query('SELECT tenant_id, user_id, role FROM apikey_authenticate($1)', [key]);
  return rows[0];
}

// Seconds to wait after PT429: apikey puts "Retry after <n.nnn> seconds." in
// the error's detail (the same wait as apikey_verify's retry_after column);
// rounded up to whole seconds for the Retry-After header, at least 1.
function retryAfter(err) {
  const text = `${err.detail || ''} ${err.hint || ''}`;
  let m = /(\d+(?:\.\d+)?)\s*(?:s|sec|secs|seconds?)\b/.exec(text);
  if (m) return String(Math.max(1, Math.ceil(Number(m[1]))));
  m = /(\d+):(\d\d):(\d\d(?:\.\d+)?)/.exec(text);
  if (m) return String(Math.max(1, Math.ceil(Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]))));
  return '1';
}

// A PostgreSQL error (err.code is the SQLSTATE) as an HTTP answer.  apikey's
// messages never contain a key or a hash, so the 4xx ones may be shown.
function fromPg(err) {
  if (err instanceof HttpError || typeof err.code !== 'string') return err;
  switch (err.code) {
    case 'PT401': return new HttpError(401, 'invalid API key', { 'WWW-Authenticate': 'Bearer' });
    case 'PT429': return new HttpError(429, 'rate limited', { 'Retry-After': retryAfter(err) });
    case '42501': return new HttpError(403, err.message);
    case 'P0002': return new HttpError(404, err.message);
    case '23503': return new HttpError(422, err.message);
    case '55000': return new HttpError(409, err.message);
    case '25006': return new HttpError(503, 'read-only: try again later');
    default:
      if (err.code.startsWith('22')) return new HttpError(400, err.message);
      return err;
  }
}

async function readJson(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 65536) throw new HttpError(413, 'body too large');
    chunks.push(chunk);
  }
  if (size === 0) return {};
  let body;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpError(400, 'body is not JSON');
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'body must be a JSON object');
  return body;
}

function optionalString(body, name) {
  const v = body[name];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw new HttpError(400, `${name} must be a string`);
  return v;
}

// The admin routes: authenticate the caller's key, then act for its user.
// apikey checks that user (active, a manager) and keeps every call inside
// the user's tenant: a key of another tenant answers P0002 like a missing one.
function asActor(key, fn) {
  return inTransaction(admin, async (client) => {
    const who = await authenticate(client, key);
    await client.query("SELECT set_config('apikey.actor', $1, true)", [who.user_id]);
    return fn(client, who);
  });
}

const routes = [
  ['GET', /^\/orders$/, async (req, key) => inTransaction(api, async (client) => {
    const who = await authenticate(client, key);
    const { rows } = await client.query('SELECT id, tenant_id, item, total FROM orders ORDER BY id');
    return [200, { tenant_id: who.tenant_id, user_id: who.user_id, role: who.role, orders: rows }];
  })],
  ['GET', /^\/admin\/keys$/, async (req, key) => asActor(key, async (client, who) => {
    const { rows } = await client.query(
      'SELECT id, user_id, name, preview, environment, created_at, expires_at, last_used_at, enabled, revoked_at, status ' +
      'FROM apikey_list($1)', [who.tenant_id]);
    return [200, { tenant_id: who.tenant_id, keys: rows }];
  })],
  ['POST', /^\/admin\/keys$/, async (req, key) => {
    const body = await readJson(req);
    const userId = optionalString(body, 'user_id');
    const name = optionalString(body, 'name');
    const expiresAt = optionalString(body, 'expires_at');
    if (userId === null || name === null) throw new HttpError(400, 'user_id and name are required');
    return asActor(key, async (client, who) => {
      const { rows } = await client.query(
        'SELECT id, key, prefix, created_at, expires_at FROM apikey_create($1, $2, $3, expires_at => $4)',
        [who.tenant_id, userId, name, expiresAt]);
      return [201, rows[0]];
    });
  }],
  ['POST', /^\/admin\/keys\/([0-9]{1,19})\/rotate$/, async (req, key, id) => {
    const grace = optionalString(await readJson(req), 'grace') ?? '48 hours';
    return asActor(key, async (client) => {
      const { rows } = await client.query(
        'SELECT id, key, prefix, created_at, expires_at FROM apikey_rotate($1, $2)', [id, grace]);
      return [201, { rotated_from: id, ...rows[0] }];
    });
  }],
  ['POST', /^\/admin\/keys\/([0-9]{1,19})\/revoke$/, async (req, key, id) => {
    const reason = optionalString(await readJson(req), 'reason');
    return asActor(key, async (client) => {
      // untyped $1, $2: revoke by id (1.2; on 1.1.1 this picks apikey_revoke(key text, reason text))
      const { rows } = await client.query('SELECT apikey_revoke($1, $2) AS revoked', [id, reason]);
      return [200, { id, revoked: rows[0].revoked }];
    });
  }],
];

function send(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers });
  res.end(text);
}

const server = http.createServer(async (req, res) => {
  const path = (req.url || '/').split('?')[0];
  let status = 500;
  try {
    const match = routes.map(([method, re, handler]) => [method, re.exec(path), handler]).filter(([, m]) => m);
    if (match.length === 0) throw new HttpError(404, 'not found');
    const route = match.find(([method]) => method === req.method);
    if (!route) throw new HttpError(405, 'method not allowed', { Allow: match.map(([m]) => m).join(', ') });
    const [, m, handler] = route;
    const [code, body] = await handler(req, bearer(req), ...m.slice(1));
    status = code;
    send(res, code, body);
  } catch (caught) {
    const err = fromPg(caught);
    if (err instanceof HttpError) {
      status = err.status;
      send(res, err.status, { error: err.message }, err.headers);
    } else {
      // never the request's headers: they hold the key
      console.error(`${req.method} ${path}: ${err.code || ''} ${err.message}`);
      send(res, 500, { error: 'internal error' });
    }
  }
  console.log(`${req.method} ${path} ${status}`);
});

server.listen(PORT, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${PORT}`));

function shutdown() {
  server.close();
  Promise.all([api.end(), admin.end()]).finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
