import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../server/test-support/harness.js';
import { systemClock } from '../shared/clock.js';
import { ENROLL_CODE_ENV, ENROLL_SERVER_ENV, enrollAtStartup, shouldEnroll, takeStartupEnrollment } from './startup-enrollment.js';
import { makeRig, until } from './test-support/agent-rig.js';

describe('a sign-in handed to the app at start (npm start)', () => {
  it('is taken out of the environment, so nothing the app starts later sees the code', () => {
    const env: Record<string, string | undefined> = { [ENROLL_SERVER_ENV]: 'http://127.0.0.1:7300', [ENROLL_CODE_ENV]: ' ABCD-EFGH ', HOME: '/home/alice' };
    expect(takeStartupEnrollment(env)).toEqual({ serverUrl: 'http://127.0.0.1:7300', code: 'ABCD-EFGH' });
    expect(env).toEqual({ HOME: '/home/alice' });
  });

  it('is nothing when either half is missing or blank, and is still removed', () => {
    const env: Record<string, string | undefined> = { [ENROLL_CODE_ENV]: 'ABCD-EFGH' };
    expect(takeStartupEnrollment(env)).toBeNull();
    expect(env).toEqual({});
    expect(takeStartupEnrollment({ [ENROLL_SERVER_ENV]: 'http://127.0.0.1:7300', [ENROLL_CODE_ENV]: '  ' })).toBeNull();
    expect(takeStartupEnrollment({})).toBeNull();
  });

  it('is used when signed out or signed in elsewhere, not when already signed in to that server', () => {
    const given = { serverUrl: 'http://127.0.0.1:7300', code: 'ABCD-EFGH' };
    expect(shouldEnroll(given, { phase: 'signed_out', serverUrl: null })).toBe(true);
    expect(shouldEnroll(given, { phase: 'signed_out', serverUrl: given.serverUrl })).toBe(true);
    expect(shouldEnroll(given, { phase: 'ready', serverUrl: 'https://latch.example.com' })).toBe(true);
    expect(shouldEnroll(given, { phase: 'ready', serverUrl: given.serverUrl })).toBe(false);
    expect(shouldEnroll(given, { phase: 'loading', serverUrl: given.serverUrl })).toBe(false);
  });
});

describe('enrollAtStartup, the agent against the real server', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  const codeFor = async (user: string) => (await (await h.as('admin')).post(`/v1/admin/users/${user}/code`, {})).body.code as string;

  it('signs a new device in, keeps the session on the next start, and signs in again when the server forgot the device', async () => {
    let rig = makeRig({ clock: systemClock });
    try {
      await rig.agent.start();
      expect(await enrollAtStartup(rig.agent, { serverUrl: h.url, code: await codeFor('alice') })).toBe('enrolled');
      await until('ready', () => rig.agent.snapshot().phase === 'ready');
      expect(rig.agent.snapshot().user?.name).toBe('alice');

      // The next `npm start` hands a fresh code; the device keeps the session it has, the code stays unused.
      rig = await rig.relaunch();
      await rig.agent.start();
      const unused = await codeFor('alice');
      expect(await enrollAtStartup(rig.agent, { serverUrl: h.url, code: unused })).toBe('kept');
      expect(rig.agent.snapshot()).toMatchObject({ phase: 'ready', user: { name: 'alice' } });

      // The server signs the device out (as when the demo's data was deleted): the next start ends signed out, then uses the code.
      await h.server.store.write((tx) => tx.updateTable('devices').set({ revoked_at: Date.now() }).where('user_name', '=', 'alice').execute());
      rig = await rig.relaunch();
      await rig.agent.start();
      expect(await enrollAtStartup(rig.agent, { serverUrl: h.url, code: unused })).toBe('enrolled');
      await until('ready again', () => rig.agent.snapshot().phase === 'ready');
    } finally {
      await rig.close();
    }
  });

  it('says why when the code is refused, and the device stays signed out', async () => {
    const rig = makeRig({ clock: systemClock });
    try {
      await rig.agent.start();
      const r = await enrollAtStartup(rig.agent, { serverUrl: h.url, code: 'NOT-A-CODE' });
      expect(r).toEqual({ failed: expect.stringMatching(/not valid.*ask your admin for a new one/) });
      expect(rig.agent.snapshot().phase).toBe('signed_out');
    } finally {
      await rig.close();
    }
  });
});
