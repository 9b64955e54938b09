// The store against a hand-driven DesktopApi: the order in which the agent's answers arrive is
// what B40 is about, so each test decides when getSnapshot answers and when a push comes.
import { describe, expect, it } from 'vitest';
import type { DesktopApi, DesktopSnapshot } from '../../src/shared/desktop-api.js';
import { DEFAULT_SETTINGS, type Settings } from '../../src/shared/settings.js';
import { createLatchStore } from './store.js';
import { grantView, isoAt, snapshot, T0 } from './logic/test-fixtures.js';

function deferred<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

function agentStub(over: Partial<DesktopApi> = {}) {
  const listeners = new Set<(s: DesktopSnapshot) => void>();
  const initial = deferred<DesktopSnapshot>();
  const sentPatches: unknown[] = [];
  let settings: Settings = { ...DEFAULT_SETTINGS };
  const api = {
    getSnapshot: () => initial.promise,
    onSnapshot: (cb: (s: DesktopSnapshot) => void) => {
      listeners.add(cb);
      return () => void listeners.delete(cb);
    },
    getSettings: async () => settings,
    updateSettings: async (patch: Partial<Settings>) => {
      sentPatches.push(patch);
      settings = { ...settings, ...patch, notifications: { ...settings.notifications, ...patch.notifications } };
      return { ok: true as const, value: settings };
    },
    ...over,
  } as unknown as DesktopApi;
  return { api, initial, push: (s: DesktopSnapshot) => listeners.forEach((cb) => cb(s)), listeners, sentPatches };
}

const twoGrants = snapshot({ grants: [grantView({ id: 'gr_first00001' }), grantView({ id: 'gr_second0001', expiresAt: isoAt(30) })] });
const tick = () => new Promise((r) => setTimeout(r, 0));

describe('createLatchStore', () => {
  it('stays loading until the first snapshot, keeping UI state set meanwhile (B40)', async () => {
    const agent = agentStub();
    const store = createLatchStore(agent.api);
    store.getState().start();
    await tick();
    expect(store.getState().snapshot).toBeNull();
    const draft = { resource: 'pg-prod', role: 'readonly', duration: 1_800_000, customDuration: '', reason: '', start: 'now' as const, startLocal: '', breakGlass: false, prefill: '' };
    store.getState().setDraft(draft);
    agent.initial.resolve(twoGrants);
    await tick();
    expect(store.getState().snapshot?.grants.map((g) => g.id)).toEqual(['gr_first00001', 'gr_second0001']);
    expect(store.getState().draft).toEqual(draft);
  });

  it('keeps a pushed snapshot over a fetched one that answers after it', async () => {
    const agent = agentStub();
    const store = createLatchStore(agent.api);
    store.getState().start();
    const newer = snapshot({ now: T0 + 1_000, grants: [] });
    agent.push(newer);
    agent.initial.resolve(twoGrants);
    await tick();
    expect(store.getState().snapshot).toBe(newer);
  });

  it('follows pushes and stops following when stopped', async () => {
    const agent = agentStub();
    const store = createLatchStore(agent.api);
    const stop = store.getState().start();
    agent.push(twoGrants);
    expect(store.getState().snapshot).toBe(twoGrants);
    stop();
    expect(agent.listeners.size).toBe(0);
  });

  it('sends only the changed settings keys and shows what main answers (B39)', async () => {
    const agent = agentStub();
    const store = createLatchStore(agent.api);
    store.getState().start();
    await tick();
    expect(store.getState().settings?.theme).toBe('system');
    const result = await store.getState().updateSettings({ notifications: { muted: true } });
    expect(result.ok).toBe(true);
    expect(agent.sentPatches).toEqual([{ notifications: { muted: true } }]);
    expect(store.getState().settings?.notifications).toEqual({ ...DEFAULT_SETTINGS.notifications, muted: true });
  });

  it('turns a broken transport into a sentence, not an exception', async () => {
    const agent = agentStub({ endGrant: () => Promise.reject(new Error('socket closed')) });
    const store = createLatchStore(agent.api);
    const result = await store.getState().endGrant('gr_first00001');
    expect(result).toEqual({ ok: false, error: { code: 'unexpected', message: expect.stringMatching(/^Latch did not answer\. Try again/) } });
  });

  it('remembers which credential field was copied and when the clipboard clears', async () => {
    const clearsAt = new Date(T0 + 60_000).toISOString();
    const agent = agentStub({ copyCredential: async (grantId: string, field: string) => ({ ok: true as const, value: { grantId, field, clearsAt } }) });
    const store = createLatchStore(agent.api);
    await store.getState().copyCredential('gr_first00001', 'password', 'password');
    expect(store.getState().copies).toEqual({ gr_first00001: { field: 'password', label: 'password', clearsAt } });
  });
});
