import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { copyableFields, desktopCalls, desktopChannel, parseDesktopArgs, SNAPSHOT_CHANNEL, type DesktopCallName } from './desktop-api.js';

const ID = 'req_0123456789';

describe('the desktop bridge contract', () => {
  it('declares every call once, with a tuple schema, a summary and its own channel', () => {
    const names = Object.keys(desktopCalls) as DesktopCallName[];
    expect(names).toEqual([
      'getSnapshot', 'enroll', 'signOut', 'requestAccess', 'cancel', 'approve', 'deny', 'endGrant', 'extendGrant',
      'copyCredential', 'getSettings', 'updateSettings', 'dismissNotice', 'retryKeychain',
    ]);
    for (const name of names) {
      expect(desktopCalls[name].args).toBeInstanceOf(z.ZodTuple);
      expect(desktopCalls[name].summary.length).toBeGreaterThan(10);
    }
    const channels = [...names.map(desktopChannel), SNAPSHOT_CHANNEL];
    expect(new Set(channels).size).toBe(channels.length);
  });

  it('parses arguments: optional comment on approve, a required one on deny, ids checked', () => {
    expect(parseDesktopArgs('approve', [ID])).toEqual({ ok: true, args: [ID] });
    expect(parseDesktopArgs('approve', [ID, 'ok'])).toEqual({ ok: true, args: [ID, 'ok'] });
    expect(parseDesktopArgs('deny', [ID, ''])).toMatchObject({ ok: false, error: { code: 'invalid_arguments', message: 'deny: argument 2: say why you deny it' } });
    expect(parseDesktopArgs('cancel', ['../../etc'])).toMatchObject({ ok: false, error: { message: 'cancel: argument 1: not a Latch id' } });
    expect(parseDesktopArgs('cancel', [ID, 'extra'])).toMatchObject({ ok: false });
  });

  it('normalises the server URL and the code on enroll, and refuses other schemes', () => {
    expect(parseDesktopArgs('enroll', ['https://jit.example.com/', '  ABCD-1234 '])).toEqual({ ok: true, args: ['https://jit.example.com', 'ABCD-1234'] });
    expect(parseDesktopArgs('enroll', ['file:///etc/passwd', 'x'])).toMatchObject({ ok: false, error: { message: expect.stringContaining('http:// or https://') } });
  });

  it('keeps secrets and server switching off the bridge: no public key in a request, no server URL in a settings patch', () => {
    expect(parseDesktopArgs('requestAccess', [{ resource: 'pg-prod', role: 'readonly', reason: 'INC-1 restart replica' }]).ok).toBe(true);
    expect(parseDesktopArgs('requestAccess', [{ resource: 'pg-prod', role: 'readonly', publicKey: 'ssh-ed25519 AAAA' }]).ok).toBe(false);
    expect(parseDesktopArgs('updateSettings', [{ notifications: { muted: true } }])).toEqual({ ok: true, args: [{ notifications: { muted: true } }] });
    expect(parseDesktopArgs('updateSettings', [{ serverUrl: 'https://evil.example.com' }])).toMatchObject({ ok: false, error: { message: expect.stringContaining('serverUrl') } });
  });

  it('names the credential fields worth a Copy button per connector', () => {
    expect(copyableFields('pass').map((f) => f.field)).toEqual(['token']);
    expect(copyableFields('postgres').map((f) => f.field)).toEqual(['url', 'password', 'command', 'user']);
    expect(copyableFields('webhook')).toEqual([]);
    expect(parseDesktopArgs('copyCredential', [ID, 'pass word']).ok).toBe(false);
  });
});
