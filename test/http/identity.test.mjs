// Identity over HTTP: the 409 answers of a workspace under the 'reject'
// conflict policy (with the ids of both people), and DELETE
// /api/v1/people/:id, which erases a person (sp_erase_person), with its
// flags, its 404s, and the 409 a suppressed identifier answers afterwards.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import {
  api, createKey, psql, requireEnvironment, setupDatabase, startServer,
} from './harness.mjs';

const DB = 'sp_http_identity';
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
  server = await startServer({ database: DB, role: `${DB}_api` });
});

after(async () => {
  if (server) {
    const code = await server.stop();
    assert.equal(code, 0, `server exit status (log: ${server.valgrindLog ?? 'none'})`);
  }
});

// POST a person and return their id, checking the status.
async function identify(k, body, status = 201) {
  const r = await api(server, k, 'POST', '/api/v1/people', body);
  assert.equal(r.status, status, JSON.stringify(r.body));
  return r.body.id;
}

// The number of rows of a table in the database, for a WHERE clause.
function count(table, where) {
  return Number(psql(DB, `SELECT count(*) FROM simpleproduct.${table} WHERE ${where}`));
}

describe('409 identity_conflict under the reject policy', () => {
  it('the email moving to another person with an externalId: both ids', async () => {
    const holder = await identify(rejectKey, { externalId: 'r-A', email: 'a@strict.example' });
    const receiver = await identify(rejectKey, { externalId: 'r-B', email: 'b@strict.example' });
    const r = await api(server, rejectKey, 'POST', '/api/v1/people',
      { externalId: 'r-B', email: 'A@Strict.example' });
    assert.equal(r.status, 409);
    assert.equal(r.body.error.code, 'identity_conflict');
    assert.deepEqual(r.body.error.people, [holder, receiver]);
    assert.match(r.body.error.message, /a@strict\.example/);
    assert.match(r.body.error.message, new RegExp(holder));
    assert.equal(r.headers.get('location'), null);
    assert.match(r.headers.get('content-type'), /^application\/json/);

    // Nothing was written: both people are as they were.
    const a = await api(server, rejectKey, 'GET', `/api/v1/people/${holder}`);
    assert.equal(a.body.email, 'a@strict.example');
    const b = await api(server, rejectKey, 'GET', `/api/v1/people/${receiver}`);
    assert.equal(b.body.email, 'b@strict.example');
  });

  it('the email moving to a new person: the holder alone', async () => {
    const holder = await identify(rejectKey, { externalId: 'r-C', email: 'c@strict.example' });
    const r = await api(server, rejectKey, 'POST', '/api/v1/people',
      { externalId: 'r-new', email: 'c@strict.example' });
    assert.equal(r.status, 409);
    assert.equal(r.body.error.code, 'identity_conflict');
    assert.deepEqual(r.body.error.people, [holder]);
    assert.equal(count('people', "external_id = 'r-new'"), 0);
  });

  it('externalIds that look like ids or quote the message do not confuse it', async () => {
    const tricky = 'x"; it would move to 00000000-0000-4000-8000-000000000000 with externalId "y';
    const holder = await identify(rejectKey, {
      externalId: '11111111-1111-4111-8111-111111111111', email: 'd@strict.example',
    });
    const receiver = await identify(rejectKey, { externalId: tricky, email: 'e@strict.example' });
    const r = await api(server, rejectKey, 'POST', '/api/v1/people',
      { externalId: tricky, email: 'd@strict.example' });
    assert.equal(r.status, 409);
    assert.deepEqual(r.body.error.people, [holder, receiver]);
  });

  it('an integer externalId is the same id as its text', async () => {
    const holder = await identify(rejectKey, { externalId: 'r-F', email: 'f@strict.example' });
    const receiver = await identify(rejectKey, { externalId: 4242 });
    const r = await api(server, rejectKey, 'POST', '/api/v1/people',
      { externalId: '4242', email: 'f@strict.example' });
    assert.equal(r.status, 409);
    assert.deepEqual(r.body.error.people, [holder, receiver]);
  });

  it('feedback resolving its person into a conflict: 409 with both ids, no feedback', async () => {
    const holder = await identify(rejectKey, { externalId: 'r-G', email: 'g@strict.example' });
    const receiver = await identify(rejectKey, { externalId: 'r-H' });
    const before = count('feedback', 'true');
    const r = await api(server, rejectKey, 'POST', '/api/v1/feedback',
      { content: 'hello', externalId: 'r-H', email: 'g@strict.example' });
    assert.equal(r.status, 409);
    assert.equal(r.body.error.code, 'identity_conflict');
    assert.deepEqual(r.body.error.people, [holder, receiver]);
    assert.equal(count('feedback', 'true'), before);
  });

  it('what is no conflict still works under reject: claim, merge, update', async () => {
    const emailOnly = await identify(rejectKey, { email: 'i@strict.example' });
    const claimed = await identify(rejectKey, { externalId: 'r-I', email: 'i@strict.example' }, 200);
    assert.equal(claimed, emailOnly);
    await identify(rejectKey, { email: 'j@strict.example' });
    const survivor = await identify(rejectKey, { externalId: 'r-J' });
    const merged = await identify(rejectKey, { externalId: 'r-J', email: 'j@strict.example' }, 200);
    assert.equal(merged, survivor);
  });

  it('the same request under the move policy moves the email (200)', async () => {
    const holder = await identify(key, { externalId: 'm-A', email: 'a@move.example' });
    const receiver = await identify(key, { externalId: 'm-B', email: 'b@move.example' });
    const id = await identify(key, { externalId: 'm-B', email: 'a@move.example' }, 200);
    assert.equal(id, receiver);
    const a = await api(server, key, 'GET', `/api/v1/people/${holder}`);
    assert.equal(a.body.email, null);
  });
});

describe('DELETE /api/v1/people/:id', () => {
  it('erases the person: 200 with what was done, feedback kept unlinked', async () => {
    const id = await identify(key, { externalId: 'del-1', email: 'del1@acme.example' });
    let r = await api(server, key, 'POST', '/api/v1/feedback',
      { content: 'first', externalId: 'del-1' });
    assert.equal(r.status, 201);
    const feedbackId = r.body.id;

    r = await api(server, key, 'DELETE', `/api/v1/people/${id}`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { id, erased: true, feedbackUnlinked: 1, suppressed: false });
    assert.match(r.headers.get('content-type'), /^application\/json/);

    r = await api(server, key, 'GET', `/api/v1/people/${id}`);
    assert.equal(r.status, 404);
    assert.equal(count('feedback', `id = '${feedbackId}' AND person_id IS NULL`), 1);
    assert.equal(count('identity_history', `person_id = '${id}' AND event <> 'erase'`), 0);

    // Not suppressed: the identifiers may come back, as a new person.
    const again = await identify(key, { externalId: 'del-1', email: 'del1@acme.example' });
    assert.notEqual(again, id);
  });

  it('deleteFeedback=true deletes the feedback too', async () => {
    const id = await identify(key, { externalId: 'del-2' });
    for (const content of ['one', 'two']) {
      const r = await api(server, key, 'POST', '/api/v1/feedback', { content, externalId: 'del-2' });
      assert.equal(r.status, 201);
    }
    const r = await api(server, key, 'DELETE', `/api/v1/people/${id}?deleteFeedback=true`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { id, erased: true, feedbackDeleted: 2, suppressed: false });
    assert.equal(count('feedback', "content IN ('one', 'two')"), 0);
  });

  it('suppress=true: a later identify or feedback with either identifier is 409', async () => {
    const id = await identify(key, { externalId: 'del-3', email: 'del3@acme.example' });
    let r = await api(server, key, 'DELETE',
      `/api/v1/people/${id}?suppress=true&deleteFeedback=false`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { id, erased: true, feedbackUnlinked: 0, suppressed: true });
    assert.equal(count('suppressed_identifiers', 'true') >= 2, true);
    assert.equal(count('people', "external_id = 'del-3' OR email = 'del3@acme.example'"), 0);

    for (const body of [
      { externalId: 'del-3' },
      { email: 'DEL3@acme.example' },
      { externalId: 'other', email: 'del3@acme.example' },
    ]) {
      r = await api(server, key, 'POST', '/api/v1/people', body);
      assert.equal(r.status, 409, JSON.stringify(body));
      assert.equal(r.body.error.code, 'identifier_suppressed');
      assert.equal(typeof r.body.error.message, 'string');
    }
    r = await api(server, key, 'POST', '/api/v1/feedback', { content: 'back', email: 'del3@acme.example' });
    assert.equal(r.status, 409);
    assert.equal(r.body.error.code, 'identifier_suppressed');
    assert.equal(count('people', "external_id = 'other'"), 0);

    // Suppression is per workspace.
    await identify(otherKey, { externalId: 'del-3', email: 'del3@acme.example' });

    // Lifted by sp_unsuppress, the identifier works again.
    psql(DB, `SET simpleproduct.workspace = 'acme';
      SELECT simpleproduct.sp_unsuppress('{"externalId": "del-3"}')`);
    await identify(key, { externalId: 'del-3' });
    r = await api(server, key, 'POST', '/api/v1/people', { email: 'del3@acme.example' });
    assert.equal(r.status, 409);
  });

  it('both flags at once', async () => {
    const id = await identify(key, { externalId: 'del-4' });
    await api(server, key, 'POST', '/api/v1/feedback', { content: 'gone', externalId: 'del-4' });
    const r = await api(server, key, 'DELETE',
      `/api/v1/people/${id}?deleteFeedback=true&suppress=true`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { id, erased: true, feedbackDeleted: 1, suppressed: true });
  });

  it('a merged id erases the person it was merged into', async () => {
    const merged = await identify(key, { email: 'del5@acme.example' });
    const survivor = await identify(key, { externalId: 'del-5' });
    assert.equal(await identify(key, { externalId: 'del-5', email: 'del5@acme.example' }, 200), survivor);
    const r = await api(server, key, 'DELETE', `/api/v1/people/${merged}`);
    assert.equal(r.status, 200);
    assert.equal(r.body.id, survivor);
    assert.equal((await api(server, key, 'GET', `/api/v1/people/${survivor}`)).status, 404);
    assert.equal((await api(server, key, 'GET', `/api/v1/people/${merged}`)).status, 404);
  });

  it('an unknown, malformed or already erased id: 404', async () => {
    const id = await identify(key, { externalId: 'del-6' });
    assert.equal((await api(server, key, 'DELETE', `/api/v1/people/${id}`)).status, 200);
    for (const route of [
      `/api/v1/people/${id}`,
      '/api/v1/people/00000000-0000-4000-8000-000000000000',
      '/api/v1/people/not-a-uuid',
      '/api/v1/people/not-a-uuid?suppress=true',
    ]) {
      const r = await api(server, key, 'DELETE', route);
      assert.equal(r.status, 404, route);
      assert.equal(r.body.error.code, 'not_found');
    }
  });

  it("another workspace's person: 404, and the person stays", async () => {
    const id = await identify(key, { externalId: 'del-7', email: 'del7@acme.example' });
    const r = await api(server, otherKey, 'DELETE', `/api/v1/people/${id}?suppress=true`);
    assert.equal(r.status, 404);
    assert.equal(r.body.error.code, 'not_found');
    assert.equal((await api(server, key, 'GET', `/api/v1/people/${id}`)).status, 200);
    assert.equal(count('people', `id = '${id}'`), 1);
  });

  it('a bad flag: 400, and nothing is erased', async () => {
    const id = await identify(key, { externalId: 'del-8' });
    for (const query of [
      'suppress=yes', 'suppress=1', 'suppress=', 'suppress', 'deleteFeedback=TRUE',
      'supress=true', 'suppress=true&suppress=false', 'deleteFeedback=true&x=1',
    ]) {
      const r = await api(server, key, 'DELETE', `/api/v1/people/${id}?${query}`);
      assert.equal(r.status, 400, query);
      assert.equal(r.body.error.code, 'bad_request', query);
    }
    assert.equal(count('people', `id = '${id}'`), 1);
  });

  it('a body is refused (400): the flags are query parameters', async () => {
    const id = await identify(key, { externalId: 'del-9' });
    const r = await api(server, key, 'DELETE', `/api/v1/people/${id}`, { suppress: true });
    assert.equal(r.status, 400);
    assert.equal(count('people', `id = '${id}'`), 1);
  });

  it('no key or a bad key: 401, and nothing is erased', async () => {
    const id = await identify(key, { externalId: 'del-10' });
    let r = await api(server, null, 'DELETE', `/api/v1/people/${id}`);
    assert.equal(r.status, 401);
    r = await api(server, 'sp_nope', 'DELETE', `/api/v1/people/${id}`);
    assert.equal(r.status, 401);
    assert.equal(count('people', `id = '${id}'`), 1);
  });

  it('DELETE is allowed on a person only: 405 with Allow elsewhere', async () => {
    const cases = [
      ['DELETE', '/api/v1/people', 'GET, HEAD, POST'],
      ['PUT', '/api/v1/people/x', 'GET, HEAD, DELETE'],
      ['DELETE', '/api/v1/organizations/x', 'GET, HEAD'],
      ['DELETE', '/api/v1/feedback', 'POST'],
    ];
    for (const [method, route, allow] of cases) {
      const r = await api(server, key, method, route);
      assert.equal(r.status, 405, `${method} ${route}`);
      assert.equal(r.headers.get('allow'), allow);
    }
  });

  it('the access log has the DELETE without its query string', async () => {
    const text = server.log.join('\n');
    assert.match(text, /DELETE \/api\/v1\/people\/[0-9a-f-]{36} 200 /);
    assert.ok(!text.includes('suppress='), 'query strings are never logged');
  });
});
