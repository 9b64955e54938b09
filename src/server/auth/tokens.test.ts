// Device credentials over HTTP: rotation, the grace for a lost refresh answer, reuse detection and
// sign-out closing the device's streams.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { newCodeFor } from './identity.js';
import { startHarness, type Harness } from '../test-support/harness.js';
import { openEvents } from '../test-support/sse-client.js';

let h: Harness;
let clock: ManualClock;
beforeEach(async () => {
  clock = new ManualClock(Date.now());
  h = await startHarness({ clock });
});
afterEach(async () => h.close());

async function enroll() {
  const { code } = await newCodeFor(h.server.store, 'alice', clock.now());
  const r = await h.anonymous().post('/v1/enroll', { code, device: 'laptop' });
  expect(r.status).toBe(200);
  return r.body as { accessToken: string; refreshToken: string };
}

const refresh = (refreshToken: string) => h.anonymous().post('/v1/token/refresh', { refreshToken });
const me = (token: string) => fetch(`${h.url}/v1/me`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.status);

it('rotates the refresh token on every use; an enrollment code works once', async () => {
  const { code } = await newCodeFor(h.server.store, 'alice', clock.now());
  expect((await h.anonymous().post('/v1/enroll', { code })).status).toBe(200);
  const again = await h.anonymous().post('/v1/enroll', { code });
  expect(again.status).toBe(401);
  expect(again.body.error.code).toBe('enrollment_invalid');

  const first = await enroll();
  const second = await refresh(first.refreshToken);
  expect(second.status).toBe(200);
  expect(second.body.refreshToken).not.toBe(first.refreshToken);
  expect(await me(second.body.accessToken)).toBe(200);
});

it('honours the previous refresh token once for a few seconds (a lost answer), then treats it as stolen', async () => {
  const first = await enroll();
  const lost = await refresh(first.refreshToken);
  expect(lost.status).toBe(200);
  clock.advance(3_000);
  const retried = await refresh(first.refreshToken);
  expect(retried.status).toBe(200);
  expect(await me(retried.body.accessToken)).toBe(200);

  // Once only: the same old token again is reuse, even within the grace period.
  clock.advance(1_000);
  const stolen = await refresh(first.refreshToken);
  expect(stolen.status).toBe(401);
  expect(stolen.body.error.code).toBe('refresh_invalid');
  // The whole device is signed out: its current tokens stop working too.
  expect(await me(retried.body.accessToken)).toBe(401);
  expect((await refresh(retried.body.refreshToken)).status).toBe(401);
});

it('signing a device out ends its open event stream', async () => {
  const { accessToken } = await enroll();
  const stream = await openEvents(h.url, accessToken);
  const out = await fetch(`${h.url}/v1/token/revoke`, { method: 'POST', headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' }, body: '{}' });
  expect(out.status).toBe(200);
  await expect(stream.waitFor(() => false, 3000)).rejects.toThrow(/closed/);
  expect(await me(accessToken)).toBe(401);
});

it('treats a refresh token older than the grace period as stolen', async () => {
  const first = await enroll();
  expect((await refresh(first.refreshToken)).status).toBe(200);
  clock.advance(11_000);
  expect((await refresh(first.refreshToken)).status).toBe(401);
});

it('each enrollment code works once, so a person can sign in several devices', async () => {
  const laptop = await newCodeFor(h.server.store, 'alice', clock.now());
  const desktop = await newCodeFor(h.server.store, 'alice', clock.now());
  expect((await h.anonymous().post('/v1/enroll', { code: laptop.code })).status).toBe(200);
  expect((await h.anonymous().post('/v1/enroll', { code: desktop.code })).status).toBe(200);
  expect((await h.anonymous().post('/v1/enroll', { code: laptop.code })).status).toBe(401);
  clock.advance(8 * 24 * 3_600_000);
  const late = await newCodeFor(h.server.store, 'alice', clock.now() - 8 * 24 * 3_600_000);
  expect((await h.anonymous().post('/v1/enroll', { code: late.code })).status).toBe(401);
});

it('refuses a device name with control or invisible characters, keeping the code; a plain one is stored trimmed, also in the audit trail', async () => {
  const { code } = await newCodeFor(h.server.store, 'alice', clock.now());
  for (const device of ['evil\u001b]0;pwned\u0007\n', 'laptop\u202e', 'a\u200bb', 'x'.repeat(101)]) {
    const r = await h.anonymous().post('/v1/enroll', { code, device });
    expect(r.status, JSON.stringify(device)).toBe(400);
    expect(r.body.error).toMatchObject({ code: 'validation_failed', field: 'device' });
    expect(r.body.error.message).toMatch(device.length > 100 ? /^body field "device" must be at most 100 characters$/ : /^body field "device" must be plain text on one line, without control or invisible characters; name it like "ana-laptop"/);
  }
  // The code was not used up by the refused attempts.
  const ok = await h.anonymous().post('/v1/enroll', { code, device: "  Ana's MacBook \n" });
  expect(ok.status).toBe(200);
  expect(ok.body.device.name).toBe("Ana's MacBook");
  const names = (await h.server.store.db.selectFrom('devices').select('name').execute()).map((d) => d.name);
  expect(names).toEqual(["Ana's MacBook"]);
  const enrolled = await h.server.store.db.selectFrom('events').select('data_json').where('type', '=', 'user.enrolled').execute();
  expect(enrolled.map((e) => JSON.parse(e.data_json).deviceName)).toEqual(["Ana's MacBook"]);
});

it('takes an enrollment code in any case, with spaces around it and any dashes or none', async () => {
  const shown = async () => (await newCodeFor(h.server.store, 'alice', clock.now())).code;
  expect(await shown()).toMatch(/^[A-Z2-9]{5}-[A-Z2-9]{5}-[A-Z2-9]{5}$/);
  const typings: ((code: string) => string)[] = [
    (c) => c.toLowerCase(),
    (c) => `  ${c.toLowerCase()}\n`,
    (c) => c.replaceAll('-', ''),
    (c) => c.replaceAll('-', ' ').toLowerCase(),
    (c) => c.replaceAll('-', '\u2013'),
    (c) => `${c.slice(0, 3).toLowerCase()}${c.slice(3)}`,
  ];
  for (const typed of typings) {
    const code = await shown();
    const r = await h.anonymous().post('/v1/enroll', { code: typed(code), device: 'laptop' });
    expect(r.status, JSON.stringify(typed(code))).toBe(200);
    // Once used, it is used in every spelling.
    expect((await h.anonymous().post('/v1/enroll', { code, device: 'laptop' })).body.error.code).toBe('enrollment_invalid');
  }
});
