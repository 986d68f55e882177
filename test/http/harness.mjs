// Shared helpers of the HTTP tests (test/http/*.test.mjs): psql against the
// cluster scripts/test started, a database with the extension and the two
// API roles, API keys, and a simpleproduct-server of the test's own on a free
// 127.0.0.1 port.
//
// Environment (set by scripts/test): SP_PGHOST, SP_PGPORT, SP_PGUSER,
// SP_PGBIN, SP_SERVER_BIN, SP_RUNAS, SP_TMPDIR.  SP_VALGRIND=1 runs every
// server under valgrind (memcheck, full leak check) with its report in
// SP_VALGRIND_DIR (default: the system's temporary folder).

import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const env = {
  host: process.env.SP_PGHOST,
  port: process.env.SP_PGPORT || '5432',
  user: process.env.SP_PGUSER || 'postgres',
  bin: process.env.SP_PGBIN || '/usr/lib/postgresql/15/bin',
  server: process.env.SP_SERVER_BIN,
  runas: (process.env.SP_RUNAS || 'runuser -u postgres --').split(' '),
  tmpdir: process.env.SP_TMPDIR,
};

// Fail early and clearly when the test runner's contract is not met.
export function requireEnvironment() {
  if (!env.host) throw new Error('SP_PGHOST is not set: run me through scripts/test');
  if (!env.server || !existsSync(env.server)) {
    throw new Error(`no server binary at SP_SERVER_BIN=${env.server}: run make`);
  }
}

// Run SQL through psql as the superuser (or as user) and return its
// unaligned, tuples-only output.  Throws on any SQL error.
export function psql(database, sql, { user = env.user, host = env.host, port = env.port } = {}) {
  try {
    return execFileSync(
      path.join(env.bin, 'psql'),
      ['-X', '-h', host, '-p', port, '-U', user, '-d', database,
        '-v', 'ON_ERROR_STOP=1', '-Atq', '-c', sql],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    ).trim();
  } catch (error) {
    throw new Error(`psql failed: ${sql.slice(0, 200)}\n${error.stderr}`);
  }
}

// Like psql, but resolves with { code, stdout, stderr } and never throws:
// for statements expected to fail, or to run while a test goes on.
export function psqlAsync(database, sql, { user = env.user, host = env.host, port = env.port } = {}) {
  return new Promise((resolve) => {
    const child = spawn(
      path.join(env.bin, 'psql'),
      ['-X', '-h', host, '-p', port, '-U', user, '-d', database,
        '-v', 'ON_ERROR_STOP=1', '-Atq', '-c', sql],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

// Make a fresh database `name` with the extension, and the roles
// `${name}_definer` (owns the API functions) and `${name}_api` (the server's
// login).  Roles are cluster-wide, so each test file uses its own names.
export function setupDatabase(name, conn = {}) {
  const definer = `${name}_definer`;
  const api = `${name}_api`;
  psql('postgres', `DROP DATABASE IF EXISTS ${name}`, conn);
  psql('postgres', `CREATE DATABASE ${name}`, conn);
  psql('postgres', `DO $$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${definer}') THEN
        CREATE ROLE ${definer} NOLOGIN;
      END IF;
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${api}') THEN
        CREATE ROLE ${api} LOGIN;
      END IF;
    END $$`, conn);
  psql(name, 'CREATE EXTENSION simpleproduct', conn);
  psql(name, `SELECT simpleproduct.grant_api_access('${api}', '${definer}')`, conn);
  return { database: name, role: api, definer };
}

// Create a workspace (unless it exists) and return a new API key for it.
export function createKey(database, workspace, conn = {}) {
  if (workspace !== 'default') {
    psql(database, `SELECT simpleproduct.create_workspace('${workspace}')
      WHERE NOT EXISTS (SELECT FROM simpleproduct.workspaces WHERE name = '${workspace}')`, conn);
  }
  return psql(database, `SELECT simpleproduct.create_api_key('${workspace}', 'test')`, conn);
}

// Start a server for database as role; resolves once it listens, with its
// base URL, its log lines so far (kept up to date) and a stop() that sends
// SIGTERM and resolves with the exit code.
export function startServer({ database, role, args = [], host = env.host, port = env.port }) {
  const conninfo = `host=${host} port=${port} dbname=${database} user=${role}`;
  let command = env.server;
  let argv = ['--listen', '127.0.0.1:0', '--db', conninfo, '--threads', '2', ...args];
  let valgrindLog = null;
  if (process.env.SP_VALGRIND === '1') {
    const dir = process.env.SP_VALGRIND_DIR || os.tmpdir();
    mkdirSync(dir, { recursive: true });
    valgrindLog = path.join(dir, `valgrind-${database}-${process.pid}-${Date.now()}.log`);
    argv = ['--leak-check=full', '--show-leak-kinds=definite,indirect,possible',
      '--errors-for-leak-kinds=definite,indirect', '--error-exitcode=99',
      `--log-file=${valgrindLog}`, command, ...argv];
    command = 'valgrind';
  }
  const child = spawn(command, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  const log = [];
  let buffered = '';
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${log.join('\n')}`)), 30000);
    child.stderr.on('data', (data) => {
      buffered += data;
      const lines = buffered.split('\n');
      buffered = lines.pop();
      for (const line of lines) {
        log.push(line);
        const m = /listening on 127\.0\.0\.1:(\d+)/.exec(line);
        if (m) {
          clearTimeout(timer);
          resolve({
            url: `http://127.0.0.1:${m[1]}`,
            port: Number(m[1]),
            log,
            child,
            valgrindLog,
            exited,
            async stop() {
              if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
              return exited;
            },
          });
        }
      }
    });
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}) before listening:\n${log.join('\n')}`));
    });
  });
}

// Send raw bytes on a new TCP connection; resolves with everything read
// until the server closes or `waitMs` of silence, and whether it closed.
export function rawRequest(port, data, waitMs = 1500) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let received = '';
    let closed = false;
    let timer = setTimeout(finish, waitMs);
    function finish() {
      clearTimeout(timer);
      socket.destroy();
      resolve({ text: received, closed });
    }
    socket.on('connect', () => { if (data) socket.write(data); });
    socket.on('data', (d) => {
      received += d;
      clearTimeout(timer);
      timer = setTimeout(finish, waitMs);
    });
    socket.on('end', () => { closed = true; finish(); });
    socket.on('error', () => { closed = true; finish(); });
  });
}

// The statuses of every HTTP response found in a raw reply.
export function rawStatuses(text) {
  return [...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
}

// fetch with the API key and JSON content type; resolves with
// { status, headers, body } where body is parsed JSON (or null).
export async function api(server, key, method, route, body, headers = {}) {
  const init = { method, headers: { ...headers } };
  if (key !== null) init.headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    if (!('Content-Type' in init.headers)) init.headers['Content-Type'] = 'application/json';
  }
  const response = await fetch(server.url + route, init);
  const text = await response.text();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : null; } catch { parsed = text; }
  return { status: response.status, headers: response.headers, body: parsed };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
