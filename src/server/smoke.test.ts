import { afterAll, beforeAll, expect, it } from 'vitest';
import { startHarness, type Harness } from './test-support/harness.js';

let h: Harness;
beforeAll(async () => { h = await startHarness(); });
afterAll(async () => h?.close());

it('runs a request through approval to an active grant and ends it', async () => {
  const alice = await h.as('alice');
  const bob = await h.as('bob');
  const created = await alice.post('/v1/requests', { resource: 'demo-pass', role: 'read', duration: '30m', reason: 'INC-1234 restart replica' });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const approved = await bob.post(`/v1/requests/${created.body.id}/approve`, { comment: 'ok' });
  expect(approved.status, JSON.stringify(approved.body)).toBe(200);
  await h.settle();
  const grants = await alice.get('/v1/grants');
  expect(grants.body.items[0].state).toBe('active');
  const cred = await alice.get(`/v1/grants/${grants.body.items[0].id}/credential`);
  expect(cred.body.credential.type).toBe('pass');
  const ended = await alice.post(`/v1/grants/${grants.body.items[0].id}/end`);
  expect(ended.body.state).toBe('ended');
  expect(ended.body.endReason).toBe('ended_by_user');
});
