// Input the REST API must refuse rather than misread: \u0000 in a JSON
// string, JSON nested too deeply, a NUL byte in the body, %00 in a query
// value or in the path (which libmicrohttpd would otherwise cut short, so
// that the request acted on a truncated value), a header too large; and
// GET /api/v1/feedback/:id, the route POST /api/v1/feedback's Location
// names.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import {
  api, createKey, psql, rawRequest, rawStatuses, requireEnvironment,
  setupDatabase, startServer,
} from './harness.mjs';

const DB = 'sp_http_input';
let server;
let key;
let otherKey;

before(async () => {
  requireEnvironment();
  setupDatabase(DB);
  key = createKey(DB, 'acme');
  otherKey = createKey(DB, 'globex');
  server = await startServer({ database: DB, role: `${DB}_api` });
});

after(async () => {
  if (server) {
    const code = await server.stop();
    assert.equal(code, 0, `server exit status (log: ${server.valgrindLog ?? 'none'})`);
  }
});

// How many rows of table match the condition, across every workspace.
function count(table, condition) {
  return Number(psql(DB, `SELECT count(*) FROM simpleproduct.${table} WHERE ${condition}`));
}

describe('\\u0000 in a JSON string', () => {
  it('is refused with 400 unsupported_character on every POST, and nothing is stored', async () => {
    const cases = [
      ['/api/v1/people', '{"externalId":"a\\u0000b"}'],
      ['/api/v1/people', '{"externalId":"nul-prop","properties":{"k":"v\\u0000"}}'],
      ['/api/v1/organizations', '{"domain":"nul.example","name":"a\\u0000b"}'],
      ['/api/v1/feedback', '{"content":"hello\\u0000world"}'],
    ];
    for (const [route, body] of cases) {
      const r = await api(server, key, 'POST', route, body);
      assert.equal(r.status, 400, `${route} ${body}`);
      assert.equal(r.body.error.code, 'unsupported_character', body);
      assert.match(r.body.error.message, /\\u0000/);
    }
    assert.equal(count('people', "external_id IN ('a', 'nul-prop')"), 0);
    assert.equal(count('feedback', "content LIKE 'hello%'"), 0);
  });
});

describe('JSON nested too deeply', () => {
  it('100000 levels under the body limit: 400 too_deeply_nested, and the server goes on', async () => {
    const depth = 100000;
    for (const body of [
      `{"externalId":"deep","properties":{"k":${'['.repeat(depth)}${']'.repeat(depth)}}}`,
      `${'['.repeat(depth)}${']'.repeat(depth)}`,
      `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`,
    ]) {
      const r = await api(server, key, 'POST', '/api/v1/people', body);
      assert.equal(r.status, 400);
      assert.equal(r.body.error.code, 'too_deeply_nested');
      assert.ok(!/stack|max_stack_depth/i.test(r.body.error.message), 'no internals');
    }
    assert.equal(count('people', "external_id = 'deep'"), 0);
    const r = await api(server, null, 'GET', '/healthz');
    assert.equal(r.status, 200);
  });
});

describe('a NUL byte in the body', () => {
  it('a valid document followed by a NUL and garbage: 400, nothing stored', async () => {
    for (const route of ['/api/v1/people', '/api/v1/organizations', '/api/v1/feedback']) {
      const body = route === '/api/v1/organizations'
        ? '{"domain":"nulbyte.example"}\u0000garbage'
        : '{"externalId":"nul-byte","content":"x"}\u0000garbage';
      const r = await api(server, key, 'POST', route, body);
      assert.equal(r.status, 400, route);
      assert.equal(r.body.error.code, 'invalid_json');
    }
    assert.equal(count('people', "external_id = 'nul-byte'"), 0);
    assert.equal(count('organizations', "domain = 'nulbyte.example'"), 0);
  });

  it('also when the body is sent in chunks', async () => {
    const body = '{"externalId":"nul-chunked"}\u0000garbage';
    const r = await rawRequest(server.port,
      'POST /api/v1/people HTTP/1.1\r\nHost: t\r\nConnection: close\r\n' +
      `Authorization: Bearer ${key}\r\nContent-Type: application/json\r\n` +
      'Transfer-Encoding: chunked\r\n\r\n' +
      `${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\n\r\n`);
    assert.deepEqual(rawStatuses(r.text), [400]);
    assert.equal(count('people', "external_id = 'nul-chunked'"), 0);
  });
});

describe('%00 in the query string or the path', () => {
  let personId;

  before(async () => {
    const r = await api(server, key, 'POST', '/api/v1/people', { externalId: 'x', email: 'a@b.com' });
    assert.equal(r.status, 201);
    personId = r.body.id;
  });

  it('GET ?email= and ?externalId= with a %00 in the value: 400, never the truncated value', async () => {
    for (const query of ['email=a@b.com%00evil', 'email=a%40b.com%00', 'externalId=x%00y',
      'em%00ail=a@b.com', 'externalId=x&junk=%00']) {
      const r = await api(server, key, 'GET', `/api/v1/people?${query}`);
      assert.equal(r.status, 400, query);
      assert.equal(r.body.error.code, 'bad_request', query);
      assert.match(r.body.error.message, /NUL/);
    }
    // The same lookups without the %00 find the person.
    assert.equal((await api(server, key, 'GET', '/api/v1/people?email=a@b.com')).status, 200);
    assert.equal((await api(server, key, 'GET', '/api/v1/people?externalId=x')).status, 200);
  });

  it('DELETE ?suppress=true%00junk: 400, and nothing is erased', async () => {
    for (const query of ['suppress=true%00junk', 'deleteFeedback=false%00', 'suppress%00=true']) {
      const r = await api(server, key, 'DELETE', `/api/v1/people/${personId}?${query}`);
      assert.equal(r.status, 400, query);
    }
    assert.equal(count('people', `id = '${personId}'`), 1);
  });

  it('a %00 in the :id segment or the route: 404, and nothing is erased', async () => {
    for (const route of [`/api/v1/people/${personId}%00junk`, '/api/v1/people%00/x',
      '/healthz%00']) {
      const r = await api(server, key, 'GET', route);
      assert.equal(r.status, 404, route);
      assert.equal(r.body.error.code, 'not_found');
    }
    const r = await api(server, key, 'DELETE', `/api/v1/people/${personId}%00junk`);
    assert.equal(r.status, 404);
    assert.equal(count('people', `id = '${personId}'`), 1);
    assert.equal((await api(server, key, 'GET', `/api/v1/people/${personId}`)).status, 200);
  });

  it('the access log has the path, never the query string', async () => {
    await api(server, key, 'GET', '/api/v1/people?email=secret%40b.com%00');
    const log = server.log.join('\n');
    assert.ok(!log.includes('secret'), 'no query string in the log');
    assert.match(log, /GET \/api\/v1\/people 400 /);
  });
});

describe('a header too large', () => {
  it("a 100 KB Authorization header: 431 (libmicrohttpd's own answer), and the server goes on", async () => {
    const r = await rawRequest(server.port,
      'GET /api/v1/people?externalId=x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n' +
      `Authorization: Bearer ${'k'.repeat(100 * 1024)}\r\n\r\n`);
    assert.deepEqual(rawStatuses(r.text), [431]);
    assert.equal((await api(server, null, 'GET', '/healthz')).status, 200);
    assert.match(server.log.join('\n'), /refused by the HTTP layer/);
  });
});

describe('GET /api/v1/feedback/:id', () => {
  let created;
  let location;

  before(async () => {
    const r = await api(server, key, 'POST', '/api/v1/feedback', {
      title: 'Idea', content: 'Dark mode please', email: 'fb@acme.com', metadata: { page: '/settings' },
    });
    assert.equal(r.status, 201);
    created = r.body;
    location = r.headers.get('location');
  });

  it("the Location of POST answers 200 with the feedback and its person", async () => {
    assert.equal(location, `/api/v1/feedback/${created.id}`);
    const r = await api(server, key, 'GET', location);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /^application\/json/);
    assert.deepEqual(r.body, created);
  });

  it('feedback with no person has person null', async () => {
    const posted = await api(server, key, 'POST', '/api/v1/feedback', { content: 'anonymous' });
    assert.equal(posted.status, 201);
    assert.equal(posted.body.person, null);
    const r = await api(server, key, 'GET', posted.headers.get('location'));
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, posted.body);
  });

  it("another workspace's feedback, an unknown id, a malformed id: 404", async () => {
    for (const [k, route] of [
      [otherKey, location],
      [key, '/api/v1/feedback/00000000-0000-0000-0000-000000000000'],
      [key, '/api/v1/feedback/not-a-uuid'],
      [key, `/api/v1/feedback/${created.id}%00`],
    ]) {
      const r = await api(server, k, 'GET', route);
      assert.equal(r.status, 404, route);
      assert.equal(r.body.error.code, 'not_found');
    }
  });

  it('no key or a bad key: 401; a wrong method: 405 with Allow', async () => {
    assert.equal((await api(server, null, 'GET', location)).status, 401);
    assert.equal((await api(server, 'sp_bad', 'GET', location)).status, 401);
    for (const method of ['POST', 'DELETE', 'PUT']) {
      const r = await api(server, key, method, location);
      assert.equal(r.status, 405, method);
      assert.equal(r.headers.get('allow'), 'GET, HEAD');
    }
  });
});
