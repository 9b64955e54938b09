// The IPC security wall, proven for every call of the contract: iterating `desktopCalls` means a
// call added there is covered here, and `VALID` is typed by the contract so it fails the build
// until the new call has a sample.
import { describe, expect, it, vi } from 'vitest';
import { desktopCalls, desktopChannel, type DesktopCallArgs, type DesktopCallName } from '../shared/desktop-api.js';
import {
  appSenderPolicy, guardedChannels, guardHandler, IpcRejection, isAppUrl,
  type CallHandler, type DesktopCallImpl, type IpcSenderEvent, type SenderPolicy,
} from './ipc-guard.js';

const ID = 'req_0123456789';
const GRANT = 'grt_0123456789';
const WINDOW_ID = 7;
const TRUSTED_URL = 'app://latch/index.html#/approvals';

const VALID: { [N in DesktopCallName]: DesktopCallArgs<N> } = {
  getSnapshot: [],
  enroll: ['https://jit.example.com', 'ABCD-1234'],
  signOut: [],
  requestAccess: [{ resource: 'pg-prod', role: 'readonly', duration: '30m', reason: 'INC-1 restart replica' }],
  cancel: [ID],
  approve: [ID, 'looks fine'],
  deny: [ID, 'not during the freeze'],
  endGrant: [GRANT],
  extendGrant: [GRANT, '30m', 'the migration is slower than planned'],
  copyCredential: [GRANT, 'password'],
  getSettings: [],
  updateSettings: [{ notifications: { muted: true } }],
  dismissNotice: ['n1'],
  retryKeychain: [],
};

const names = Object.keys(desktopCalls) as DesktopCallName[];
const policy = appSenderPolicy(() => new Set([WINDOW_ID]));
const event = (url: string | null, id = WINDOW_ID): IpcSenderEvent => ({ senderFrame: url === null ? null : { url }, sender: { id } });

function spyImpl() {
  const calls: { name: DesktopCallName; args: unknown[] }[] = [];
  const impl = Object.fromEntries(names.map((name) => [name, async (...args: unknown[]) => {
    calls.push({ name, args });
    return { ok: true, value: name };
  }])) as unknown as DesktopCallImpl;
  return { impl, calls };
}

const UNTRUSTED_FRAMES: [string, string | null, number][] = [
  ['no frame (navigated away or destroyed)', null, WINDOW_ID],
  ['a remote https page', 'https://evil.example.com/', WINDOW_ID],
  ['an https page named like us', 'https://latch/index.html', WINDOW_ID],
  ['a file:// page', 'file:///tmp/evil.html', WINDOW_ID],
  ['about:blank', 'about:blank', WINDOW_ID],
  ['a data: URL', 'data:text/html,<script>1</script>', WINDOW_ID],
  ['devtools', 'devtools://devtools/bundled/inspector.html', WINDOW_ID],
  ['another app:// host', 'app://evil/index.html', WINDOW_ID],
  ['a look-alike host', 'app://latch.evil.com/index.html', WINDOW_ID],
  ['userinfo before the host', 'app://latch@evil.com/index.html', WINDOW_ID],
  ['a port', 'app://latch:8080/index.html', WINDOW_ID],
  ['an empty URL', '', WINDOW_ID],
  ['our origin in a webContents we did not make', TRUSTED_URL, 99],
];

describe('guardHandler: the sender', () => {
  for (const name of names) {
    it.each(UNTRUSTED_FRAMES)(`${name}: refuses %s, and does not run the handler`, async (_what, url, id) => {
      const handler = vi.fn();
      const listener = guardHandler(name, handler as unknown as CallHandler<typeof name>, policy);
      const err = await listener(event(url, id), ...VALID[name]).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(IpcRejection);
      expect(err).toMatchObject({ code: 'untrusted_sender', message: `latch:untrusted_sender: ${name} refused: the caller is not a Latch window` });
      expect(handler).not.toHaveBeenCalled();
    });
  }

  it('refuses when the policy itself throws', async () => {
    const throwing: SenderPolicy = { isTrustedSender: () => { throw new Error('boom'); } };
    const handler = vi.fn();
    await expect(guardHandler('getSnapshot', handler as never, throwing)(event(TRUSTED_URL))).rejects.toMatchObject({ code: 'untrusted_sender' });
    expect(handler).not.toHaveBeenCalled();
  });

  it('checks the sender before the arguments (an untrusted frame learns nothing of the schema)', async () => {
    const handler = vi.fn();
    await expect(guardHandler('cancel', handler as never, policy)(event('https://evil.example.com/'), '../../etc')).rejects.toMatchObject({ code: 'untrusted_sender' });
  });
});

describe('guardHandler: the arguments', () => {
  for (const name of names) {
    const valid = VALID[name] as unknown[];
    const bad: [string, unknown[]][] = [
      ['one argument too many', [...valid, 'extra']],
      ...valid.map((_, i): [string, unknown[]] => [`argument ${i + 1} null`, valid.map((v, j) => (j === i ? null : v))]),
      ...valid.map((_, i): [string, unknown[]] => [`argument ${i + 1} a number`, valid.map((v, j) => (j === i ? 42 : v))]),
      ...(valid.length > 0 ? [['no arguments', []] as [string, unknown[]]] : []),
      ['a single object instead of a list', [Object.fromEntries(valid.map((v, i) => [i, v]))]],
    ];

    it.each(bad)(`${name}: refuses %s with invalid_arguments, and does not run the handler`, async (_what, args) => {
      const handler = vi.fn();
      const listener = guardHandler(name, handler as unknown as CallHandler<typeof name>, policy);
      const err = await listener(event(TRUSTED_URL), ...args).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(IpcRejection);
      expect((err as IpcRejection).code).toBe('invalid_arguments');
      expect((err as IpcRejection).message).toMatch(new RegExp(`^latch:invalid_arguments: ${name}: `));
      expect(handler).not.toHaveBeenCalled();
    });

    it(`${name}: a trusted window with valid arguments reaches the handler once, with the parsed arguments`, async () => {
      const handler = vi.fn(async () => 'result');
      const listener = guardHandler(name, handler as unknown as CallHandler<typeof name>, policy);
      await expect(listener(event(TRUSTED_URL), ...valid)).resolves.toBe('result');
      expect(handler).toHaveBeenCalledTimes(1);
      expect(handler).toHaveBeenCalledWith(...(desktopCalls[name].args.parse(valid) as unknown[]));
    });
  }

  it('hands the handler the parsed values, not the raw ones (URL normalised, code trimmed)', async () => {
    const handler = vi.fn(async () => ({ ok: true }));
    await guardHandler('enroll', handler as never, policy)(event(TRUSTED_URL), 'https://jit.example.com///', '  ABCD-1234 ');
    expect(handler).toHaveBeenCalledWith('https://jit.example.com', 'ABCD-1234');
  });

  it('refuses secrets and server switching over the bridge', async () => {
    const handler = vi.fn();
    await expect(guardHandler('requestAccess', handler as never, policy)(event(TRUSTED_URL), { resource: 'pg-prod', role: 'readonly', publicKey: 'ssh-ed25519 AAAA' })).rejects.toMatchObject({ code: 'invalid_arguments' });
    await expect(guardHandler('updateSettings', handler as never, policy)(event(TRUSTED_URL), { serverUrl: 'https://evil.example.com' })).rejects.toMatchObject({ code: 'invalid_arguments' });
    expect(handler).not.toHaveBeenCalled();
  });
});

describe('guardedChannels', () => {
  it('guards every call of the contract on its own channel, and routes each to its own handler', async () => {
    const { impl, calls } = spyImpl();
    const channels = guardedChannels(impl, policy);
    expect(channels.map((c) => c.name)).toEqual(names);
    expect(channels.map((c) => c.channel)).toEqual(names.map(desktopChannel));
    for (const c of channels) {
      await expect(c.listener(event(TRUSTED_URL), ...(VALID[c.name] as unknown[]))).resolves.toEqual({ ok: true, value: c.name });
      await expect(c.listener(event('https://evil.example.com/'), ...(VALID[c.name] as unknown[]))).rejects.toMatchObject({ code: 'untrusted_sender' });
      await expect(c.listener(event(TRUSTED_URL), ...(VALID[c.name] as unknown[]), 'extra')).rejects.toMatchObject({ code: 'invalid_arguments' });
    }
    expect(calls.map((c) => c.name)).toEqual(names);
  });

  it('reads the known windows at each call (a closed window loses its trust)', async () => {
    const known = new Set([1]);
    const [first] = guardedChannels(spyImpl().impl, appSenderPolicy(() => known));
    await expect(first!.listener(event(TRUSTED_URL, 1))).resolves.toBeDefined();
    known.delete(1);
    await expect(first!.listener(event(TRUSTED_URL, 1))).rejects.toMatchObject({ code: 'untrusted_sender' });
  });
});

describe('isAppUrl', () => {
  it('accepts pages of app://latch only', () => {
    expect(isAppUrl('app://latch/')).toBe(true);
    expect(isAppUrl('app://latch/index.html?x=1#/grant/1')).toBe(true);
    for (const [, url] of UNTRUSTED_FRAMES) if (url !== null && url !== TRUSTED_URL) expect(isAppUrl(url), url).toBe(false);
  });
});
