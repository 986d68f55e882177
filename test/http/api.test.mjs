// Every route and every status of the REST API, against a real database and
// a real simpleproduct-server: 200 201 400 401 404 405 409 413 415 422,
// invalid and revoked keys, another workspace's ids, request framing,
// keep-alive, stalled clients and the access log.

import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';

import {
  api, createKey, psql, rawRequest, rawStatuses, requireEnvironment,
  setupDatabase, sleep, startServer,
} from './harness.mjs';

const DB = 'sp_http_api';
let server;
let key;
let otherKey;
let rejectKey;

before(async () => {
  requireEnvironment();
  setupDatabase(DB);
  key = createKey(DB, 'acme');
  otherKey = createKey(DB, 'globex');
  rejectKey = createKey(DB, 'strict');
  psql(DB, "UPDATE simpleproduct.workspaces SET conflict_policy = 'reject' WHERE name = 'strict'");
  server = await startServer({
    database: DB,
    role: `${DB}_api`,
    args: ['--body-limit', '4096', '--timeout', '2'],
  });
});

after(async () => {
  if (server) {
    const code = await server.stop();
    assert.equal(code, 0, `server exit status (log: ${server.valgrindLog ?? 'none'})`);
  }
});

describe('health', () => {
  it('GET /healthz answers 200 when the database answers', async () => {
    const r = await api(server, null, 'GET', '/healthz');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { status: 'ok' });
  });
});

describe('people', () => {
  let personId;

  it('POST creates a person: 201, Location, the person', async () => {
    const r = await api(server, key, 'POST', '/api/v1/people', {
      externalId: 'user_123', email: 'John@Example.com', name: 'John Doe',
      properties: { plan: 'pro' },
    });
    assert.equal(r.status, 201);
    assert.equal(r.body.email, 'john@example.com');
    assert.equal(r.body.externalId, 'user_123');
    assert.equal(r.body.created, undefined);
    assert.ok(r.body.createdAt && r.body.updatedAt);
    assert.equal(r.headers.get('location'), `/api/v1/people/${r.body.id}`);
    assert.match(r.headers.get('content-type'), /^application\/json/);
    personId = r.body.id;
  });

  it('POST again updates: 200, same id, properties merged', async () => {
    const r = await api(server, key, 'POST', '/api/v1/people', {
      externalId: 'user_123', properties: { seats: 5 },
    });
    assert.equal(r.status, 200);
    assert.equal(r.body.id, personId);
    assert.deepEqual(r.body.properties, { plan: 'pro', seats: 5 });
    assert.equal(r.headers.get('location'), null);
  });

  it('GET ?email= finds the person (200), case-insensitively', async () => {
    const r = await api(server, key, 'GET', `/api/v1/people?email=${encodeURIComponent('JOHN@example.com')}`);
    assert.equal(r.status, 200);
    assert.equal(r.body.id, personId);
  });

  it('GET ?externalId= finds the person (200)', async () => {
    const r = await api(server, key, 'GET', '/api/v1/people?externalId=user_123');
    assert.equal(r.status, 200);
    assert.equal(r.body.id, personId);
  });

  it('GET /people/:id answers 200', async () => {
    const r = await api(server, key, 'GET', `/api/v1/people/${personId}`);
    assert.equal(r.status, 200);
    assert.equal(r.body.email, 'john@example.com');
  });

  it('GET an unknown person: 404 with an error body', async () => {
    for (const route of [
      '/api/v1/people/00000000-0000-4000-8000-000000000000',
      '/api/v1/people/not-a-uuid',
      '/api/v1/people?email=nobody@example.com',
      '/api/v1/people?externalId=nobody',
    ]) {
      const r = await api(server, key, 'GET', route);
      assert.equal(r.status, 404, route);
      assert.equal(r.body.error.code, 'not_found', route);
      assert.equal(typeof r.body.error.message, 'string');
    }
  });

  it('GET /people without exactly one of email and externalId: 400', async () => {
    let r = await api(server, key, 'GET', '/api/v1/people');
    assert.equal(r.status, 400);
    r = await api(server, key, 'GET', '/api/v1/people?email=a@b.com&externalId=x');
    assert.equal(r.status, 400);
  });

  it('HEAD /people/:id answers like GET, without a body', async () => {
    const response = await fetch(`${server.url}/api/v1/people/${personId}`, {
      method: 'HEAD', headers: { Authorization: `Bearer ${key}` },
    });
    assert.equal(response.status, 200);
    assert.equal(await response.text(), '');
  });
});

describe('organizations', () => {
  let orgId;

  it('POST creates (201, Location), POST again updates (200)', async () => {
    let r = await api(server, key, 'POST', '/api/v1/organizations', {
      name: 'Acme Inc', domain: 'https://www.Acme.com/about', properties: { seats: 50 },
    });
    assert.equal(r.status, 201);
    assert.equal(r.body.domain, 'acme.com');
    assert.equal(r.headers.get('location'), `/api/v1/organizations/${r.body.id}`);
    orgId = r.body.id;

    r = await api(server, key, 'POST', '/api/v1/organizations', { name: 'Acme', domain: 'acme.com' });
    assert.equal(r.status, 200);
    assert.equal(r.body.id, orgId);
    assert.equal(r.body.name, 'Acme');
  });

  it('GET /organizations/:id: 200, and 404 for an unknown id', async () => {
    let r = await api(server, key, 'GET', `/api/v1/organizations/${orgId}`);
    assert.equal(r.status, 200);
    assert.equal(r.body.domain, 'acme.com');
    r = await api(server, key, 'GET', '/api/v1/organizations/00000000-0000-4000-8000-000000000000');
    assert.equal(r.status, 404);
    r = await api(server, key, 'GET', '/api/v1/organizations/zzz');
    assert.equal(r.status, 404);
  });

  it('a person at the domain is linked to the organization', async () => {
    const r = await api(server, key, 'POST', '/api/v1/people', { email: 'ann@acme.com' });
    assert.equal(r.status, 201);
    assert.equal(r.body.organization?.id, orgId);
  });

  it('a public suffix as domain: 422', async () => {
    const r = await api(server, key, 'POST', '/api/v1/organizations', { name: 'X', domain: 'co.uk' });
    assert.equal(r.status, 422);
    assert.equal(r.body.error.code, 'invalid_value');
  });
});

describe('feedback', () => {
  it('POST stores feedback with its person: 201, Location', async () => {
    const r = await api(server, key, 'POST', '/api/v1/feedback', {
      title: 'Idea', content: 'Love the new feature!', externalId: 'user_123', source: 'feedback-modal',
    });
    assert.equal(r.status, 201);
    assert.equal(r.body.content, 'Love the new feature!');
    assert.equal(r.body.source, 'feedback-modal');
    assert.equal(r.body.person.externalId, 'user_123');
    assert.equal(r.headers.get('location'), `/api/v1/feedback/${r.body.id}`);
  });

  it('feedback without content: 422', async () => {
    const r = await api(server, key, 'POST', '/api/v1/feedback', { email: 'x@acme.com' });
    assert.equal(r.status, 422);
  });
});

describe('400 and 422', () => {
  it('malformed JSON: 400 invalid_json', async () => {
    for (const body of ['{"email": ', '', 'not json', '{"a":1}}']) {
      const r = await api(server, key, 'POST', '/api/v1/people', body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.body.error.code, 'invalid_json');
    }
  });

  it('an error quoting a huge value stays valid JSON and UTF-8', async () => {
    const r = await api(server, key, 'POST', '/api/v1/people', { email: `${'é'.repeat(1500)}` });
    assert.equal(r.status, 422);
    assert.equal(typeof r.body.error.message, 'string', 'the body parsed as JSON');
    assert.ok(!r.body.error.message.includes('\ufffd'), 'no broken character');
  });

  it('a body with a NUL byte: 400', async () => {
    const r = await api(server, key, 'POST', '/api/v1/people', '{"email":"a\u0000@b.com"}');
    assert.equal(r.status, 400);
  });

  it('wrong JSON types: 400 invalid_type', async () => {
    for (const body of [[], 'a string', 42, { email: 42 }, { externalId: 1.5 }, { properties: [1] }]) {
      const r = await api(server, key, 'POST', '/api/v1/people', JSON.stringify(body));
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.body.error.code, 'invalid_type', JSON.stringify(body));
    }
  });

  it('well-formed but invalid: 422 with the database message', async () => {
    const cases = [
      {},
      { name: 'No Identifier' },
      { email: 'not-an-email' },
      { email: 'a@b' },
      { externalId: 'null' },
      { externalId: 'undefined' },
      { externalId: '[object Object]' },
      { externalId: '' },
      { externalId: 'x'.repeat(256) },
    ];
    for (const body of cases) {
      const r = await api(server, key, 'POST', '/api/v1/people', body);
      assert.equal(r.status, 422, JSON.stringify(body).slice(0, 60));
      assert.ok(['invalid_value', 'value_too_long'].includes(r.body.error.code));
      assert.ok(r.body.error.message.length > 0);
    }
  });
});

describe('401: API keys', () => {
  it('no Authorization header: 401 with WWW-Authenticate', async () => {
    const r = await api(server, null, 'POST', '/api/v1/people', { email: 'a@b.com' });
    assert.equal(r.status, 401);
    assert.equal(r.body.error.code, 'unauthorized');
    assert.equal(r.headers.get('www-authenticate'), 'Bearer');
  });

  it('not a Bearer token: 401', async () => {
    const r = await api(server, null, 'GET', '/api/v1/people?email=a@b.com',
      undefined, { Authorization: `Basic ${key}` });
    assert.equal(r.status, 401);
  });

  it('an invalid key: 401, whatever the body', async () => {
    for (const bad of ['sp_0000', 'nope', `${key}x`, key.slice(0, -1)]) {
      const r = await api(server, bad, 'POST', '/api/v1/people', '{not json');
      assert.equal(r.status, 401, bad);
    }
  });

  it('a revoked key fails at once', async () => {
    const fresh = createKey(DB, 'acme');
    let r = await api(server, fresh, 'GET', '/api/v1/people?externalId=user_123');
    assert.equal(r.status, 200);
    const id = psql(DB, `SELECT id FROM simpleproduct.list_api_keys('acme') WHERE prefix = '${fresh.slice(0, 11)}'`);
    assert.equal(psql(DB, `SELECT simpleproduct.revoke_api_key(${id})`), 't');
    r = await api(server, fresh, 'GET', '/api/v1/people?externalId=user_123');
    assert.equal(r.status, 401);
    assert.equal(r.body.error.message, 'invalid api key');
  });

  it('keys are stored hashed, never in clear', () => {
    const stored = psql(DB, "SELECT string_agg(prefix || ' ' || encode(key_hash, 'hex'), ' ') FROM simpleproduct.api_keys");
    assert.ok(!stored.includes(key));
    assert.ok(key.startsWith('sp_'));
  });
});

describe('tenancy over HTTP', () => {
  it("another workspace's person and organization answer 404", async () => {
    const person = await api(server, key, 'GET', '/api/v1/people?externalId=user_123');
    const org = await api(server, key, 'POST', '/api/v1/organizations', { domain: 'acme.com' });
    let r = await api(server, otherKey, 'GET', `/api/v1/people/${person.body.id}`);
    assert.equal(r.status, 404);
    r = await api(server, otherKey, 'GET', '/api/v1/people?externalId=user_123');
    assert.equal(r.status, 404);
    r = await api(server, otherKey, 'GET', `/api/v1/organizations/${org.body.id}`);
    assert.equal(r.status, 404);
  });

  it('the same identifier in another workspace is another person', async () => {
    const mine = await api(server, key, 'GET', '/api/v1/people?externalId=user_123');
    const r = await api(server, otherKey, 'POST', '/api/v1/people', { externalId: 'user_123' });
    assert.equal(r.status, 201);
    assert.notEqual(r.body.id, mine.body.id);
  });
});

describe('409: identity conflict under the reject policy', () => {
  it('moving an email between two people with externalIds is refused', async () => {
    let r = await api(server, rejectKey, 'POST', '/api/v1/people', { externalId: 'A', email: 'a@strict.example' });
    assert.equal(r.status, 201);
    r = await api(server, rejectKey, 'POST', '/api/v1/people', { externalId: 'B', email: 'b@strict.example' });
    assert.equal(r.status, 201);
    r = await api(server, rejectKey, 'POST', '/api/v1/people', { externalId: 'A', email: 'b@strict.example' });
    assert.equal(r.status, 409);
    assert.equal(r.body.error.code, 'identity_conflict');
    assert.match(r.body.error.message, /b@strict\.example/);
  });
});

describe('404, 405, 413, 415', () => {
  it('an unknown route: 404', async () => {
    for (const route of ['/', '/api/v1', '/api/v1/peoples', '/api/v1/people/a/b', '/api/v2/people']) {
      const r = await api(server, key, 'GET', route);
      assert.equal(r.status, 404, route);
      assert.equal(r.body.error.code, 'not_found');
    }
  });

  it('a wrong method: 405 with Allow', async () => {
    const cases = [
      ['DELETE', '/api/v1/people', 'GET, HEAD, POST'],
      ['PUT', '/api/v1/people/x', 'GET, HEAD, DELETE'],
      ['GET', '/api/v1/organizations', 'POST'],
      ['POST', '/api/v1/organizations/x', 'GET, HEAD'],
      ['GET', '/api/v1/feedback', 'POST'],
      ['POST', '/healthz', 'GET, HEAD'],
    ];
    for (const [method, route, allow] of cases) {
      const r = await api(server, key, method, route);
      assert.equal(r.status, 405, `${method} ${route}`);
      assert.equal(r.headers.get('allow'), allow);
      assert.equal(r.body.error.code, 'method_not_allowed');
    }
  });

  it('a body over the limit: 413 (Content-Length and chunked)', async () => {
    const big = JSON.stringify({ email: 'a@b.com', name: 'x'.repeat(5000) });
    let r = await api(server, key, 'POST', '/api/v1/people', big);
    assert.equal(r.status, 413);
    assert.equal(r.body.error.code, 'payload_too_large');

    const stream = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(big));
        controller.close();
      },
    });
    const response = await fetch(`${server.url}/api/v1/people`, {
      method: 'POST', body: stream, duplex: 'half',
      headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    });
    assert.equal(response.status, 413);
  });

  it('a body that is not JSON: 415', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', undefined]) {
      const headers = { Authorization: `Bearer ${key}` };
      if (type) headers['Content-Type'] = type;
      const response = await fetch(`${server.url}/api/v1/people`, {
        method: 'POST', headers, body: type ? '{"email":"a@b.com"}' : new Uint8Array([123, 125]),
      });
      assert.equal(response.status, 415, String(type));
      assert.equal((await response.json()).error.code, 'unsupported_media_type');
    }
  });

  it('application/json with a charset is JSON', async () => {
    const r = await api(server, key, 'POST', '/api/v1/people', { email: 'charset@acme.com' },
      { 'Content-Type': 'application/json; charset=utf-8' });
    assert.equal(r.status, 201);
  });
});

describe('HTTP robustness', () => {
  const body = '{"email":"smuggle@acme.com"}';

  it('Content-Length together with Transfer-Encoding is refused', async () => {
    const r = await rawRequest(server.port,
      `POST /api/v1/people HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${key}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n` +
      `Transfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`);
    assert.equal(rawStatuses(r.text)[0], 400);
    assert.equal(rawStatuses(r.text).length, 1);
  });

  it('two Content-Length headers are refused', async () => {
    const r = await rawRequest(server.port,
      `POST /api/v1/people HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${key}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n` +
      `Content-Length: 5\r\n\r\n${body}`);
    assert.equal(rawStatuses(r.text)[0], 400);
    const found = psql(DB, "SELECT count(*) FROM simpleproduct.people WHERE email = 'smuggle@acme.com'");
    assert.equal(found, '0');
  });

  it('keep-alive: two requests on one connection', async () => {
    const get = `GET /api/v1/people?externalId=user_123 HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${key}\r\n\r\n`;
    const r = await rawRequest(server.port, get + get, 800);
    assert.deepEqual(rawStatuses(r.text), [200, 200]);
    assert.equal(r.closed, false);
  });

  it('a stalled client is disconnected after the timeout', async () => {
    const started = Date.now();
    const r = await rawRequest(server.port, 'POST /api/v1/people HTTP/1.1\r\nHost: t\r\n', 6000);
    assert.equal(r.closed, true);
    assert.ok(Date.now() - started < 5500, 'closed by the server, not by the test');
  });

  it('a client trickling its body is disconnected once the timeout has passed', async () => {
    const socket = net.connect(server.port, '127.0.0.1');
    await new Promise((resolve) => socket.on('connect', resolve));
    let closed = false;
    socket.on('close', () => { closed = true; });
    socket.on('error', () => { closed = true; });
    socket.write(`POST /api/v1/people HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${key}\r\n` +
      'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n');
    const started = Date.now();
    while (!closed && Date.now() - started < 8000) {
      if (!socket.destroyed) socket.write(' ');
      await sleep(500);
    }
    socket.destroy();
    assert.ok(closed, 'the server closed the connection');
    assert.ok(Date.now() - started < 6000, `closed after ${Date.now() - started} ms`);
  });

  it('a client that stops halfway through its body is disconnected', async () => {
    const r = await rawRequest(server.port,
      `POST /api/v1/people HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${key}\r\n` +
      'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"email":', 6000);
    assert.equal(r.closed, true);
  });
});

describe('access log', () => {
  it('one line per request with method, path, status and duration; no key, no body', async () => {
    await api(server, key, 'POST', '/api/v1/people', { email: 'logged-secret@acme.com' });
    const forged = await api(server, key, 'GET', '/api/v1/people/x%0A2026-01-01T00:00:00Z%20GET%20/forged%20200');
    assert.equal(forged.status, 404);
    await sleep(100);
    const text = server.log.join('\n');
    assert.match(text, /POST \/api\/v1\/people 201 \d+\.\dms/);
    assert.match(text, /GET \/api\/v1\/people\/not-a-uuid 404 /);
    assert.match(text, /DELETE \/api\/v1\/people 405 /);
    assert.ok(!text.includes(key), 'the key is never logged');
    assert.ok(!text.includes('logged-secret'), 'bodies and query strings are never logged');
    assert.ok(!text.includes('nobody@example.com'), 'query strings are never logged');
    assert.ok(!server.log.some((line) => line.startsWith('2026-01-01')), 'no forged log line');
  });
});
