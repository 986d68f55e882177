// The JavaScript client of the public API docs (People & Customers API),
// copied unmodified but for its base URL, against our server: identify,
// feedback, the organizations example, and the documented lookups.

import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';

import {
  createKey, requireEnvironment, setupDatabase, startServer,
} from './harness.mjs';

const DB = 'sp_http_sdk';
let server;
let apiKey;
let baseUrl;

// ---- from the docs, unmodified but for the base URL ----
class SimpleProduct {
constructor(apiKey) {
this.apiKey = apiKey;
this.baseUrl = baseUrl;
}
async identify(user) {
// Call this when a user logs in or updates their profile
return fetch(`${this.baseUrl}/people`, {
method: 'POST',
headers: {
'Authorization': `Bearer ${this.apiKey}`,
'Content-Type': 'application/json',
},
body: JSON.stringify({
externalId: user.id,
email: user.email,
name: user.name,
properties: {
plan: user.plan,
createdAt: user.createdAt,
// Add any custom properties
},
}),
});
}
async feedback(content, options = {}) {
return fetch(`${this.baseUrl}/feedback`, {
method: 'POST',
headers: {
'Authorization': `Bearer ${this.apiKey}`,
'Content-Type': 'application/json',
},
body: JSON.stringify({
title: options.title || 'Feedback',
content,
externalId: options.userId,
email: options.email,
source: options.source || 'sdk',
metadata: options.metadata,
}),
});
}
}
// ---- end of the docs' class ----

before(async () => {
  requireEnvironment();
  setupDatabase(DB);
  apiKey = createKey(DB, 'sdk');
  server = await startServer({ database: DB, role: `${DB}_api` });
  baseUrl = `${server.url}/api/v1`;
});

after(async () => {
  if (server) assert.equal(await server.stop(), 0);
});

it('the docs usage: identify on login, then feedback', async () => {
  const sp = new SimpleProduct(apiKey);

  // When user logs in
  let response = await sp.identify({
    id: 'user_123',
    email: 'john@example.com',
    name: 'John Doe',
    plan: 'pro',
  });
  assert.equal(response.status, 201);
  const person = await response.json();
  assert.equal(person.externalId, 'user_123');
  assert.equal(person.email, 'john@example.com');
  assert.equal(person.name, 'John Doe');
  assert.deepEqual(person.properties, { plan: 'pro' });

  // When user submits feedback
  response = await sp.feedback('Love the new feature!', {
    userId: 'user_123',
    source: 'feedback-modal',
  });
  assert.equal(response.status, 201);
  const feedback = await response.json();
  assert.equal(feedback.title, 'Feedback');
  assert.equal(feedback.content, 'Love the new feature!');
  assert.equal(feedback.source, 'feedback-modal');
  assert.equal(feedback.person.id, person.id);

  // Login again: the same person, updated (200).
  response = await sp.identify({ id: 'user_123', email: 'john@example.com', plan: 'team' });
  assert.equal(response.status, 200);
  assert.equal((await response.json()).properties.plan, 'team');
});

it('feedback by email only, with defaults and metadata', async () => {
  const sp = new SimpleProduct(apiKey);
  const response = await sp.feedback('Dark mode please', {
    email: 'Jane@Example.org', metadata: { page: '/settings' },
  });
  assert.equal(response.status, 201);
  const feedback = await response.json();
  assert.equal(feedback.source, 'sdk');
  assert.deepEqual(feedback.metadata, { page: '/settings' });
  assert.equal(feedback.person.email, 'jane@example.org');
});

it('the docs organization example, then the documented lookups', async () => {
  // Create/update organization (the docs' snippet, with our URL)
  let response = await fetch(`${baseUrl}/organizations`, {
    method: 'POST',
    headers: {
      'Authorization': `Bearer ${apiKey}`,
      'Content-Type': 'application/json',
    },
    body: JSON.stringify({
      name: 'Acme Inc',
      domain: 'acme.com',
      properties: {
        plan: 'enterprise',
        seats: 50,
        industry: 'Technology',
      },
    }),
  });
  assert.equal(response.status, 201);
  const org = await response.json();
  assert.equal(org.domain, 'acme.com');

  // The docs' People API reference body.
  response = await fetch(`${baseUrl}/people`, {
    method: 'POST',
    headers: { 'Authorization': `Bearer ${apiKey}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({
      email: 'customer@acme.com',
      name: 'John Doe',
      externalId: 'user_456',
      properties: { plan: 'pro', company: 'Acme Inc' },
    }),
  });
  assert.equal(response.status, 201);
  const customer = await response.json();
  assert.equal(customer.organization.id, org.id, 'linked by email domain');

  // GET /api/v1/people?email=customer@example.com
  response = await fetch(`${baseUrl}/people?email=customer@acme.com`, {
    headers: { 'Authorization': `Bearer ${apiKey}` },
  });
  assert.equal(response.status, 200);
  assert.equal((await response.json()).id, customer.id);

  // GET /api/v1/people/:id
  response = await fetch(`${baseUrl}/people/${customer.id}`, {
    headers: { 'Authorization': `Bearer ${apiKey}` },
  });
  assert.equal(response.status, 200);
  assert.equal((await response.json()).externalId, 'user_456');
});
