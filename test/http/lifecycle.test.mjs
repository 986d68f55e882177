// The server's life around the database and its own stop: a database that
// goes away answers 503 and comes back without a restart of the server (on
// a private cluster of this file's own, so that stopping it disturbs no
// other suite), a restart while the server is idle or in the middle of a
// stream of requests (no 503 once the database is back: a connection found
// dead is remade and the request sent on the new one), and SIGTERM, which
// finishes the requests in flight before the server exits.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import {
  api, createKey, env, psql, psqlAsync, requireEnvironment, setupDatabase,
  sleep, startServer,
} from './harness.mjs';

const DB = 'sp_http_life';
let cluster;

// Run pg_ctl (or initdb) as the cluster owner.
function asOwner(program, args) {
  const [runas, ...runasArgs] = env.runas;
  return execFileSync(runas, [...runasArgs, path.join(env.bin, program), ...args],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

// Make and start a private cluster listening on a unix socket only.
function startPrivateCluster() {
  const parent = env.tmpdir || mkdtempSync(path.join(os.tmpdir(), 'sp-life-'));
  if (!env.tmpdir) chmodSync(parent, 0o755);
  const dir = mkdtempSync(path.join(parent, 'cluster-'));
  chmodSync(dir, 0o777);
  const data = path.join(dir, 'data');
  const port = String(20000 + Math.floor(Math.random() * 20000));
  asOwner('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync',
    '-E', 'UTF8', '--locale=C.UTF-8']);
  execFileSync('sh', ['-c', `cat >> '${data}/postgresql.conf' <<EOF
listen_addresses = ''
unix_socket_directories = '${dir}'
port = ${port}
fsync = off
EOF`]);
  const c = { dir, data, port, host: dir, log: path.join(dir, 'log') };
  pgctl(c, 'start');
  return c;
}

function pgctl(c, action, mode = 'fast') {
  asOwner('pg_ctl', ['-D', c.data, '-l', c.log, '-w', '-t', '60', '-m', mode, action]);
}

before(() => {
  requireEnvironment();
  cluster = startPrivateCluster();
  setupDatabase(DB, { host: cluster.host, port: cluster.port });
});

after(() => {
  if (cluster) {
    try { pgctl(cluster, 'stop', 'immediate'); } catch { /* already down */ }
  }
});

describe('the database goes away and comes back', () => {
  let server;
  let key;

  before(async () => {
    key = createKey(DB, 'life', { host: cluster.host, port: cluster.port });
    server = await startServer({ database: DB, role: `${DB}_api`, host: cluster.host, port: cluster.port });
  });

  after(async () => {
    if (server) assert.equal(await server.stop(), 0);
  });

  it('503 while the database is down, 200 again once it is back', async () => {
    let r = await api(server, key, 'POST', '/api/v1/people', { externalId: 'before' });
    assert.equal(r.status, 201);

    pgctl(cluster, 'stop');
    r = await api(server, null, 'GET', '/healthz');
    assert.equal(r.status, 503);
    assert.equal(r.body.error.code, 'unavailable');
    for (let i = 0; i < 3; i++) {
      r = await api(server, key, 'GET', '/api/v1/people?externalId=before');
      assert.equal(r.status, 503);
      assert.ok(!/socket|connect|postgres/i.test(r.body.error.message), 'no internals in a 5xx');
    }

    pgctl(cluster, 'start');
    r = await api(server, null, 'GET', '/healthz');
    assert.equal(r.status, 200);
    for (let i = 0; i < 4; i++) {
      r = await api(server, key, 'GET', '/api/v1/people?externalId=before');
      assert.equal(r.status, 200, 'every worker reconnects by itself');
    }
  });

  it('connections the database ends while idle are remade before use, without a 503', async () => {
    for (let i = 0; i < 4; i++) {
      assert.equal((await api(server, key, 'GET', '/api/v1/people?externalId=before')).status, 200);
    }
    const ended = psql('postgres', `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
      WHERE usename = '${DB}_api'`, { host: cluster.host, port: cluster.port });
    assert.ok(Number(ended) >= 1);
    await sleep(200);
    for (let i = 0; i < 4; i++) {
      const r = await api(server, key, 'GET', '/api/v1/people?externalId=before');
      assert.equal(r.status, 200);
    }
  });

  // Requests on several connections at once, so that every worker thread
  // (each with its own database connection) serves some.
  async function burst(make) {
    return Promise.all(Array.from({ length: 8 }, (_, i) => make(i)));
  }

  for (const mode of ['fast', 'immediate']) {
    it(`a ${mode} restart while the server is idle: no 503 once the database is back`, async () => {
      let rs = await burst(() => api(server, key, 'GET', '/api/v1/people?externalId=before'));
      assert.deepEqual(rs.map((r) => r.status), Array(8).fill(200));

      pgctl(cluster, 'restart', mode);
      rs = await burst(() => api(server, key, 'GET', '/api/v1/people?externalId=before'));
      assert.deepEqual(rs.map((r) => r.status), Array(8).fill(200), 'GET right after the restart');

      pgctl(cluster, 'restart', mode);
      rs = await burst((i) => api(server, key, 'POST', '/api/v1/people', { externalId: `${mode}-${i}` }));
      assert.deepEqual(rs.map((r) => r.status), Array(8).fill(201), 'POST right after the restart');
      assert.equal((await api(server, null, 'GET', '/healthz')).status, 200);
    });
  }

  it('a restart in the middle of a stream of requests', async () => {
    const statuses = [];
    let stop = false;
    let restarted = false;
    const stream = (async () => {
      let n = 0;
      while (!stop) {
        const sentAfterRestart = restarted;
        const r = await api(server, key, 'POST', '/api/v1/people', { externalId: `stream-${n++}` });
        statuses.push([r.status, sentAfterRestart]);
      }
    })();
    await sleep(300);
    // pg_ctl -w returns once the database accepts connections again.
    pgctl(cluster, 'restart');
    restarted = true;
    await sleep(500);
    stop = true;
    await stream;

    assert.ok(statuses.every(([s]) => s === 201 || s === 503), `only 201 or 503: ${statuses}`);
    const after = statuses.filter(([, late]) => late).map(([s]) => s);
    assert.ok(after.length > 0, 'requests were sent after the restart');
    assert.ok(after.every((s) => s === 201), `no 503 once the database is back: ${after}`);
    const r = await api(server, null, 'GET', '/healthz');
    assert.equal(r.status, 200);
  });
});

describe('SIGTERM', () => {
  it('finishes the request in flight, then exits 0', async () => {
    const key = createKey(DB, 'life', { host: cluster.host, port: cluster.port });
    const server = await startServer({ database: DB, role: `${DB}_api`, host: cluster.host, port: cluster.port });

    // Hold a lock the request needs, so that it is still running when
    // SIGTERM arrives.
    const locker = psqlAsync(DB,
      'BEGIN; LOCK TABLE simpleproduct.people IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(1.5); COMMIT;',
      { host: cluster.host, port: cluster.port });
    await sleep(400);
    const started = Date.now();
    const inFlight = api(server, key, 'POST', '/api/v1/people', { externalId: 'in-flight' });
    await sleep(300);
    server.child.kill('SIGTERM');
    await sleep(100);

    // No new connection is accepted once stopping.
    await assert.rejects(fetch(`${server.url}/healthz`));

    const r = await inFlight;
    assert.equal(r.status, 201, 'the request in flight is answered');
    assert.ok(Date.now() - started > 700, 'it really waited for the lock');
    assert.equal(await server.exited, 0);
    assert.match(server.log.join('\n'), /stopped/);
    await locker;
    assert.equal(psql(DB, "SELECT count(*) FROM simpleproduct.people WHERE external_id = 'in-flight'",
      { host: cluster.host, port: cluster.port }), '1');
  });

  it('past the grace period, the statement is cancelled: 503, and the server exits 0', async () => {
    const key = createKey(DB, 'life', { host: cluster.host, port: cluster.port });
    const server = await startServer({
      database: DB, role: `${DB}_api`, host: cluster.host, port: cluster.port, args: ['--grace', '1'],
    });
    const locker = psqlAsync(DB,
      'BEGIN; LOCK TABLE simpleproduct.people IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(6); COMMIT;',
      { host: cluster.host, port: cluster.port });
    await sleep(400);
    const inFlight = api(server, key, 'POST', '/api/v1/people', { externalId: 'stuck' });
    await sleep(300);
    const signalled = Date.now();
    server.child.kill('SIGTERM');

    const r = await inFlight;
    assert.equal(r.status, 503);
    assert.equal(r.body.error.code, 'unavailable');
    assert.equal(await server.exited, 0);
    assert.ok(Date.now() - signalled < 4000, `stopped after ${Date.now() - signalled} ms`);
    assert.match(server.log.join('\n'), /grace period over: cancelling 1 requests/);
    await locker;
  });
});
