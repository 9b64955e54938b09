/**
 * The built `latch` binary against the real server (in-process, on loopback) with the demo config:
 * each user has their own LATCH_HOME and a file credential (LATCH_KEYCHAIN=off).
 * Needs `npm run build` first (`npm test` does it).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../shared/clock.js';
import { startHarness, type Harness } from '../server/test-support/harness.js';
import { activeGrants, endGrants } from '../server/test-support/many-grants.js';

const BIN = resolve('dist/src/cli/main.js');
const DEMO = readFileSync(resolve('examples/demo.yaml'), 'utf8');

interface Run { code: number; stdout: string; stderr: string }

/** Everything any command printed, to check that no sign-in token ever appears. */
const transcript: string[] = [];
const secrets = new Set<string>();
const tmp = mkdtempSync(join(tmpdir(), 'latch-cli-'));

function latch(home: string, ...args: string[]): Promise<Run> {
  return new Promise((done) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, LATCH_HOME: home, LATCH_KEYCHAIN: 'off' }, timeout: 30_000 }, (err, stdout, stderr) => {
      transcript.push(stdout, stderr);
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      done({ code, stdout, stderr });
    });
  });
}

const json = <T = any>(r: Run): T => {
  expect(r.stderr, `stderr of a command expected to succeed: ${r.stderr}`).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as T;
};

/** A failure is exit 1 (or 2) with exactly one line on stderr saying what to do. */
function failsWith(r: Run, pattern: RegExp, code = 1): void {
  expect(r.code, r.stdout + r.stderr).toBe(code);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^latch: /);
  expect(lines[0]).toMatch(pattern);
}

function rememberSecrets(home: string): void {
  const file = join(home, 'credentials.json');
  if (!existsSync(file)) return;
  for (const c of Object.values(JSON.parse(readFileSync(file, 'utf8')).credentials) as { accessToken: string; refreshToken: string }[]) {
    secrets.add(c.accessToken);
    secrets.add(c.refreshToken);
  }
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

let h: Harness;
const home = (name: string) => join(tmp, name);

/** A fresh enrollment code, from the server host's side; users missing from the config join eng. */
async function codeFor(user: string, dataDir = h.dataDir): Promise<string> {
  const admin = (...args: string[]) => latch(home('operator'), 'admin', '--data-dir', dataDir, 'user', ...args, '--json');
  let r = await admin('code', user);
  if (r.code !== 0 && r.stderr.includes(`no user "${user}"`)) r = await admin('add', user, '--group', 'eng');
  return json<{ user: string; code: string }>(r).code;
}

async function login(user: string, harness = h): Promise<Run> {
  const r = await latch(home(user), 'login', '--server', harness.url, '--code', await codeFor(user, harness.dataDir), '--device', `${user}-laptop`);
  expect(r.code, r.stderr).toBe(0);
  rememberSecrets(home(user));
  return r;
}

beforeAll(async () => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` before vitest (\`npm test\` does)`);
  h = await startHarness({ config: DEMO });
  await Promise.all(['alice', 'bob', 'carol'].map((u) => login(u)));
});

afterAll(async () => {
  await h?.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe('signing in', { timeout: 90_000 }, () => {
  it('admin user add --data-dir prints a one-time code that signs the new user in', async () => {
    const added = json<{ user: string; code: string }>(await latch(home('operator'), 'admin', '--data-dir', h.dataDir, 'user', 'add', 'dave', '--group', 'eng', '--json'));
    expect(added.user).toBe('dave');
    expect(added.code).toMatch(/^[A-Z2-9]{5}-[A-Z2-9]{5}-[A-Z2-9]{5}$/);

    const r = await latch(home('dave'), 'login', '--server', h.url, '--code', added.code);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`signed in to ${h.url} as dave (groups: eng)`);
    rememberSecrets(home('dave'));
    expect(json(await latch(home('dave'), 'whoami', '--json'))).toMatchObject({ name: 'dave', groups: ['eng'], admin: false, server: h.url });

    // The code is single-use.
    failsWith(await latch(home('dave2'), 'login', '--server', h.url, '--code', added.code), /enrollment code is unknown, used or expired/);
    const users = json<{ name: string; groups: string[] }[]>(await latch(home('operator'), 'admin', '--data-dir', h.dataDir, 'user', 'list', '--json'));
    expect(users.find((u) => u.name === 'dave')?.groups).toEqual(['eng']);
  });

  it('login refuses a device name with control characters before sending it, and the code still works', async () => {
    const code = await codeFor('fay');
    failsWith(await latch(home('fay'), 'login', '--server', h.url, '--code', code, '--device', 'evil\u001b]0;pwned\u0007\n'), /^latch: --device must be plain text on one line, without control or invisible characters; name it like "ana-laptop"/);
    // Without --device the host name is used, which always passes.
    const r = await latch(home('fay'), 'login', '--server', h.url, '--code', code);
    expect(r.code, r.stderr).toBe(0);
    rememberSecrets(home('fay'));
    const device = await h.server.store.db.selectFrom('devices').select('name').where('user_name', '=', 'fay').executeTakeFirstOrThrow();
    expect(device.name).toMatch(/ \(cli\)$/);
  });

  it('login takes the code as typed: lower case, with spaces around it', async () => {
    const code = await codeFor('lowell');
    const r = await latch(home('lowell'), 'login', '--server', h.url, '--code', ` ${code.toLowerCase()} `, '--device', 'lowell-laptop');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`signed in to ${h.url} as lowell`);
    rememberSecrets(home('lowell'));
  });

  it('login keeps the credential in a 0600 file, says so, and prints no token', async () => {
    const r = await login('erin');
    expect(r.stdout).toContain(`LATCH_KEYCHAIN=off; credential stored in ${join(home('erin'), 'credentials.json')} (mode 0600)`);
    expect(statSync(join(home('erin'), 'credentials.json')).mode & 0o777).toBe(0o600);
    expect(statSync(home('erin')).mode & 0o777).toBe(0o700);
    const stored = JSON.parse(readFileSync(join(home('erin'), 'credentials.json'), 'utf8')).credentials[h.url];
    expect(stored).toMatchObject({ server: h.url, user: 'erin' });
    expect(r.stdout + r.stderr).not.toContain(stored.accessToken);
  });

  it('commands without a login say to run `latch login`', async () => {
    failsWith(await latch(home('nobody'), 'grants'), /not logged in; run `latch login --server URL --code CODE`/);
    failsWith(await latch(home('nobody'), 'request', 'demo-pass', '--role', 'read'), /latch login/);
  });

  it('logout signs the device out on the server and forgets the credential', async () => {
    await login('frank');
    const token = JSON.parse(readFileSync(join(home('frank'), 'credentials.json'), 'utf8')).credentials[h.url].accessToken as string;
    const r = await latch(home('frank'), 'logout');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^signed out of .*; credential removed from .*credentials\.json$/m);
    expect(existsSync(join(home('frank'), 'credentials.json'))).toBe(false);
    const me = await fetch(`${h.url}/v1/me`, { headers: { authorization: `Bearer ${token}` } });
    expect(me.status).toBe(401);
    failsWith(await latch(home('frank'), 'whoami'), /not logged in/);
  });
});

describe('request → review → grant → credential → end', { timeout: 90_000 }, () => {
  it('runs the whole flow from three terminals', async () => {
    const created = await latch(home('alice'), 'request', 'demo-pass', '--role', 'read', '--for', '30m', '--reason', 'INC-1234 check the replica');
    expect(created.code, created.stderr).toBe(0);
    const id = /^request (req_\w+) pending: waiting for 1 approval from group:sre$/m.exec(created.stdout)?.[1];
    expect(id, created.stdout).toBeDefined();

    const queue = json<{ id: string; state: string; canReview: boolean }[]>(await latch(home('bob'), 'requests', '--review', '--json'));
    expect(queue.find((r) => r.id === id)).toMatchObject({ state: 'pending', canReview: true });
    // The requester cannot review her own request.
    expect(json<{ id: string }[]>(await latch(home('alice'), 'requests', '--review', '--json')).map((r) => r.id)).not.toContain(id);

    const approved = await latch(home('bob'), 'approve', id!, '--comment', 'go ahead');
    expect(approved.code, approved.stderr).toBe(0);
    expect(approved.stdout).toMatch(new RegExp(`^approved ${id} \\(alice's demo-pass/read for 30m\\); grant gr_\\w+ is being set up$`, 'm'));

    const grant = await until('an active grant', async () => {
      const grants = json<{ id: string; requestId: string; state: string }[]>(await latch(home('alice'), 'grants', '--json'));
      return grants.find((g) => g.requestId === id && g.state === 'active');
    });
    const table = await latch(home('alice'), 'grants');
    expect(table.stdout).toMatch(new RegExp(`^${grant.id}\\s+active\\s+demo-pass/read\\s+ends in (30|29)m$`, 'm'));

    const pass = await latch(home('alice'), 'credential', grant.id);
    expect(pass.code, pass.stderr).toBe(0);
    const token = pass.stdout.trim();
    expect(token.split('.')).toHaveLength(3);
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString());
    expect(claims).toMatchObject({ sub: 'alice', resource: 'demo-pass', role: 'read', grant: grant.id });
    expect(json(await latch(home('alice'), 'credential', grant.id, '--json'))).toMatchObject({ id: grant.id, state: 'active', credential: { type: 'pass', token } });
    // Only the grantee gets the credential.
    failsWith(await latch(home('bob'), 'credential', grant.id), /was not found, or you may not see it/);

    const ended = await latch(home('alice'), 'end', grant.id);
    expect(ended.code, ended.stderr).toBe(0);
    expect(ended.stdout).toContain(`grant ${grant.id} ended; access to demo-pass/read is revoked`);
    const after = json<{ id: string; state: string; endReason: string }[]>(await latch(home('alice'), 'grants', '--json'));
    expect(after.find((g) => g.id === grant.id)).toMatchObject({ state: 'ended', endReason: 'ended_by_user' });
    failsWith(await latch(home('alice'), 'credential', grant.id), /not active; its credential is gone/);
  });

  it('request --wait exits 0 with the active grant once approved', async () => {
    const waiting = latch(home('alice'), 'request', 'demo-pass', '--role', 'read', '--reason', 'INC-2000 rotate the keys', '--wait', '--json');
    const pending = await until('the request in bob\'s queue', async () =>
      json<{ id: string; requester: string }[]>(await latch(home('bob'), 'requests', '--review', '--json')).find((r) => r.requester === 'alice'));
    expect((await latch(home('bob'), 'approve', pending.id)).code).toBe(0);
    const r = await waiting;
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ id: pending.id, state: 'approved', grant: { state: 'active', user: 'alice' } });
    // Asking again for what she holds: sent (a second grant is allowed), with how to extend instead (B23).
    const again = await latch(home('alice'), 'request', 'demo-pass', '--role', 'read', '--reason', 'INC-2000 rotate the keys again');
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(new RegExp(`^note: you already hold demo-pass/read \\(grant ${out.grant.id}, ends in \\d+m\\); \`latch extend ${out.grant.id} --by 30m --reason …\` adds time to it instead\n$`));
    expect((await latch(home('alice'), 'cancel', /req_\w+/.exec(again.stdout)![0])).code).toBe(0);
    expect((await latch(home('alice'), 'end', out.grant.id)).code).toBe(0);
  });

  it('request --wait exits 2 when carol denies, naming her and her comment', async () => {
    const waiting = latch(home('alice'), 'request', 'demo-pass', '--role', 'read', '--for', '15m', '--reason', 'INC-3000 read the audit table', '--wait');
    const pending = await until('the request in carol\'s queue', async () =>
      json<{ id: string; requester: string }[]>(await latch(home('carol'), 'requests', '--review', '--json')).find((r) => r.requester === 'alice'));
    const denied = await latch(home('carol'), 'deny', pending.id, '--comment', 'use the staging copy');
    expect(denied.code, denied.stderr).toBe(0);
    const r = await waiting;
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`latch: request ${pending.id} denied by carol: "use the staging copy"`);
    // A decided request cannot be decided again.
    failsWith(await latch(home('bob'), 'approve', pending.id), /already denied/);
  });

  it('deny needs a comment; cancel withdraws a pending request', async () => {
    const r = json<{ id: string; state: string }>(await latch(home('alice'), 'request', 'demo-pass', '--role', 'read', '--reason', 'INC-4000 quick look', '--json'));
    expect(r.state).toBe('pending');
    const noComment = await latch(home('bob'), 'deny', r.id);
    expect(noComment.code).toBe(1);
    expect(noComment.stderr).toMatch(/--comment/);
    expect(json(await latch(home('alice'), 'cancel', r.id, '--json'))).toMatchObject({ id: r.id, state: 'cancelled' });
  });
});

describe('extend, and --json of each decision', { timeout: 90_000 }, () => {
  it('extend --by 30m --reason asks for more time; once approved the same grant ends 30 min later', async () => {
    const r = json<{ id: string; state: string }>(await latch(home('alice'), 'request', 'demo-pass', '--role', 'read', '--for', '30m', '--reason', 'INC-6000 run the migration', '--json'));
    const approved = json<{ id: string; state: string; grantId: string }>(await latch(home('bob'), 'approve', r.id, '--json'));
    expect(approved).toMatchObject({ id: r.id, state: 'approved', grantId: expect.stringMatching(/^gr_/) });
    const grant = await until('an active grant', async () =>
      json<{ id: string; state: string; expiresAt: string }[]>(await latch(home('alice'), 'grants', '--json')).find((g) => g.id === approved.grantId && g.state === 'active'));

    const asked = await latch(home('alice'), 'extend', grant.id, '--by', '30m', '--reason', 'the migration is still running');
    expect(asked.code, asked.stderr).toBe(0);
    const extId = new RegExp(`^extension (req_\\w+) of grant ${grant.id} pending: waiting for 1 approval from group:sre$`, 'm').exec(asked.stdout)?.[1];
    expect(extId, asked.stdout).toBeDefined();
    expect(asked.stdout).toContain(`next: an approver runs \`latch approve ${extId}\``);

    const extApproved = json<{ id: string; state: string; kind: string }>(await latch(home('bob'), 'approve', extId!, '--comment', 'ok, 30 more', '--json'));
    expect(extApproved).toMatchObject({ id: extId, state: 'approved', kind: 'extension' });
    const after = json<{ id: string; state: string; expiresAt: string }[]>(await latch(home('alice'), 'grants', '--json')).find((g) => g.id === grant.id);
    expect(after?.state).toBe('active');
    expect(Date.parse(after!.expiresAt) - Date.parse(grant.expiresAt)).toBe(30 * 60_000);

    // extend --json is the extension request; deny --json the denied one; end --json the grant.
    const second = json<{ id: string; state: string; kind: string; grantId: string }>(await latch(home('alice'), 'extend', grant.id, '--by', '15m', '--reason', 'and a little more', '--json'));
    expect(second).toMatchObject({ id: expect.stringMatching(/^req_/), state: 'pending', kind: 'extension', grantId: grant.id });
    const denied = json<{ id: string; state: string; decidedBy: string }>(await latch(home('carol'), 'deny', second.id, '--comment', 'enough for today', '--json'));
    expect(denied).toMatchObject({ id: second.id, state: 'denied', decidedBy: 'carol' });
    const ended = json<{ id: string; state: string; endReason: string }>(await latch(home('alice'), 'end', grant.id, '--json'));
    expect(ended).toMatchObject({ id: grant.id, state: 'ended', endReason: 'ended_by_user' });
  });

  it('request --wait exits 2 when nobody decides within the approve-by window', async () => {
    const short = await startHarness({ config: DEMO.replace('approveWithin: 24h', 'approveWithin: 2s') });
    try {
      await login('alice-t', short);
      const r = await latch(home('alice-t'), 'request', 'demo-pass', '--role', 'read', '--reason', 'INC-7000 nobody is around', '--wait');
      expect(r.code, r.stdout + r.stderr).toBe(2);
      expect(r.stderr).toMatch(/^latch: request req_\w+ timed out: nobody decided it before \S+$/m);
      const j = await latch(home('alice-t'), 'request', 'demo-pass', '--role', 'read', '--reason', 'INC-7001 still nobody around', '--wait', '--json');
      expect(j.code).toBe(2);
      expect(JSON.parse(j.stdout)).toMatchObject({ id: expect.stringMatching(/^req_/), state: 'timed_out', grant: null });
    } finally {
      await short.close();
    }
  });
});

describe('errors say what to do, in one line', { timeout: 90_000 }, () => {
  it('a duration that is not one, or over the maximum, names the maximum', async () => {
    failsWith(await latch(home('alice'), 'request', 'demo-pass', '--role', 'read', '--for', 'soon', '--reason', 'INC-5000 check things'), /"soon" is not a duration.*at most 1h/);
    failsWith(await latch(home('alice'), 'request', 'demo-pass', '--role', 'read', '--for', '2h', '--reason', 'INC-5000 check things'), /the most this policy allows is 1h/);
  });

  it('a short reason, a bad --start and an unknown resource', async () => {
    failsWith(await latch(home('alice'), 'request', 'demo-pass', '--role', 'read', '--reason', 'because'), /at least 10 characters/);
    failsWith(await latch(home('alice'), 'request', 'demo-pass', '--role', 'read', '--reason', 'INC-5000 check things', '--start', 'tomorrow'), /--start "tomorrow" is not a time/);
    failsWith(await latch(home('alice'), 'request', 'pg-prod', '--role', 'read', '--reason', 'INC-5000 check things'), /`latch resources` lists what you may request/);
  });

  it('--all as a non-admin says to drop it, in the CLI\'s words (not the API\'s scope=mine)', async () => {
    failsWith(await latch(home('alice'), 'grants', '--all'), /^latch: only admins can list every grant; drop --all to see yours \(`latch grants`\)$/);
    failsWith(await latch(home('alice'), 'requests', '--all'), /^latch: only admins can list every request; drop --all to see yours, or use --review for the ones you may review$/);
  });

  it('an unknown or malformed grant id', async () => {
    failsWith(await latch(home('alice'), 'credential', 'gr_0000000000000000'), /grant gr_0000000000000000 was not found/);
    failsWith(await latch(home('alice'), 'end', 'gr_0000000000000000'), /was not found/);
    failsWith(await latch(home('alice'), 'end', 'nope'), /"nope" is not a grant id .*`latch grants` lists them/);
  });

  it('an unreachable server', async () => {
    const dead = await startHarness({ config: DEMO });
    await login('gina', dead);
    await dead.close();
    failsWith(await latch(home('gina'), 'grants'), new RegExp(`cannot reach the Latch server at ${dead.url}; is it running\\? \\(\`latch serve\`\\)`));
  });
});

describe('remote admin', { timeout: 90_000 }, () => {
  it('needs an admin; a signed-in admin adds users and issues codes', async () => {
    failsWith(await latch(home('alice'), 'admin', 'user', 'add', 'hank', '--group', 'eng'), /`latch admin` needs an admin: alice .* is not one/);
    failsWith(await latch(home('nobody'), 'admin', 'user', 'list'), /no --data-dir and no stored login/);

    const r = await latch(home('root'), 'login', '--server', h.url, '--code', h.server.bootstrap!.code);
    expect(r.code, r.stderr).toBe(0);
    rememberSecrets(home('root'));
    const added = json<{ user: string; code: string }>(await latch(home('root'), 'admin', 'user', 'add', 'hank', '--group', 'sre', '--json'));
    expect(added.user).toBe('hank');
    const human = await latch(home('root'), 'admin', 'user', 'code', 'hank');
    expect(human.stdout).toMatch(new RegExp(`next: on hank's machine run \`latch login --server ${h.url} --code [A-Z2-9-]{17}\``));
    const users = json<{ name: string; admin: boolean }[]>(await latch(home('root'), 'admin', 'user', 'list', '--json'));
    expect(users.find((u) => u.name === 'admin')?.admin).toBe(true);
    failsWith(await latch(home('root'), 'admin', 'user', 'add', 'ivy', '--group', 'nosuch'), /no group named "nosuch"/);
  });
});

describe('latch grants with more grants than one list holds', { timeout: 90_000 }, () => {
  it('130 grants, the active one made first: it is listed first, then the newest 100 ended ones', async () => {
    const many = await startHarness();
    try {
      const api = await many.as('erin');
      const active = (await activeGrants(many, api, 1))[0]![0]!;
      const batches = await activeGrants(many, api, 129);
      await endGrants(api, batches.flat());
      const r = await latch(home('erin-many'), 'login', '--server', many.url, '--code', await codeFor('erin', many.dataDir), '--device', 'erin-laptop');
      expect(r.code, r.stderr).toBe(0);
      rememberSecrets(home('erin-many'));

      const listed = json<{ id: string; state: string }[]>(await latch(home('erin-many'), 'grants', '--json'));
      expect(listed).toHaveLength(101);
      expect(listed[0]).toMatchObject({ id: active, state: 'active' });
      expect(listed.slice(1).every((g) => g.state === 'ended')).toBe(true);
      expect(batches.at(-1)).toContain(listed[1]!.id);

      const shown = await latch(home('erin-many'), 'grants');
      expect(shown.code, shown.stderr).toBe(0);
      const lines = shown.stdout.split('\n');
      expect(lines[1]).toMatch(new RegExp(`^${active}\\s+active\\s+pg-prod/readonly\\s+ends in `));
      expect(shown.stdout).toContain('finished grants older than the newest 100 are not listed');
      expect(shown.stdout).toContain('use one with `latch credential ID`');
    } finally {
      await many.close();
    }
  });
});

describe('token refresh', { timeout: 90_000 }, () => {
  it('refreshes an expired access token once, stores the rotated one, and concurrent commands all keep working', async () => {
    const clock = new ManualClock(Date.now());
    const r = await startHarness({ config: DEMO, clock });
    try {
      await login('alice-r', r);
      const file = join(home('alice-r'), 'credentials.json');
      const before = JSON.parse(readFileSync(file, 'utf8')).credentials[r.url];
      // Past the harness's access token lifetime (400 days).
      clock.advance(401 * 24 * 3_600_000);
      expect(json(await latch(home('alice-r'), 'whoami', '--json'))).toMatchObject({ name: 'alice-r' });
      const after = JSON.parse(readFileSync(file, 'utf8')).credentials[r.url];
      rememberSecrets(home('alice-r'));
      expect(after.refreshToken).not.toBe(before.refreshToken);
      expect(after.accessToken).not.toBe(before.accessToken);

      // Commands finding the token expired together must not both spend the refresh token (a
      // reused one signs the device out); client.test.ts pins the race down deterministically.
      clock.advance(401 * 24 * 3_600_000);
      const both = await Promise.all(['grants', 'whoami', 'requests', 'resources'].map((cmd) => latch(home('alice-r'), cmd, '--json')));
      for (const b of both) expect(b.code, b.stderr).toBe(0);
      rememberSecrets(home('alice-r'));
      expect((await latch(home('alice-r'), 'whoami')).code).toBe(0);
    } finally {
      await r.close();
    }
  });
});

// Last: every token any login stored was never printed by any command.
describe('secrets', () => {
  it('no command printed an access or refresh token', () => {
    expect(secrets.size).toBeGreaterThan(10);
    const all = transcript.join('\n');
    for (const s of secrets) expect(all.includes(s), 'a sign-in token was printed').toBe(false);
  });
});
