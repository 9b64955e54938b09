/**
 * Every user action from a terminal: sign in and out, see what can be requested, request, review,
 * and use or end grants. `--json` prints the server's objects (each with `id` and `state`; lists
 * as arrays); otherwise short tables and one-line confirmations that name the next step.
 */
import { hostname } from 'node:os';
import { Option, type Command } from 'commander';
import { idParams, type GrantView, type RequestView, type ResourceView } from '../shared/api.js';
import { deviceNameFrom, deviceNameSchema } from '../shared/device-name.js';
import { parseDuration } from '../shared/duration.js';
import { REQUEST_STATES, UNFINISHED_GRANT_STATES } from '../shared/states.js';
import { describeIssue } from '../shared/zod-messages.js';
import { ApiCallError, LatchClient, action, credentialFrom, normalizeServer, signedIn } from './client.js';
import { CredentialStore, displayPath } from './credentials.js';
import { CliError, EXIT_DENIED } from './errors.js';
import { grantRows, grantWhen, print, printJson, relative, requestRows, requestSummary, shortDuration, table } from './format.js';
import { SshKeys, sshCommand } from './ssh-keys.js';

export const POLL_MS = 500;
/** How many grants `latch grants` lists besides the unfinished ones, newest first. */
const LIST = 100;
/** The most the API lists at once. */
const MAX_LIST = 500;

/** Refuses a malformed id before asking the server, with the command that lists the right ones. */
export function checkId(id: string, what: 'request' | 'grant'): string {
  if (idParams.safeParse({ id }).success) return id;
  const list = what === 'grant' ? '`latch grants`' : '`latch requests`';
  throw new CliError(`"${id}" is not a ${what} id (they look like ${what === 'grant' ? 'gr_' : 'req_'}…); ${list} lists them`);
}

/** `--start`: ISO-8601, or `+15m` from now. */
export function parseStart(text: string, now = Date.now()): string {
  const relativeMs = text.startsWith('+') ? parseDuration(text.slice(1)) : undefined;
  const at = relativeMs === undefined ? Date.parse(text) : relativeMs === null ? NaN : now + relativeMs;
  if (Number.isNaN(at)) throw new CliError(`--start "${text}" is not a time; give ISO-8601 (2026-06-01T09:00:00Z) or a time from now (+15m)`);
  return new Date(at).toISOString();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The server's "use scope=mine" speaks the API; at the terminal the thing to change is --all. */
const forbiddenAll = (err: unknown, message: string): unknown => (err instanceof ApiCallError && err.code === 'forbidden' ? new CliError(message) : err);

const groupsNote = (r: { groups: string[]; admin: boolean }) => `${r.groups.length > 0 ? ` (groups: ${r.groups.join(', ')})` : ''}${r.admin ? ' [admin]' : ''}`;

export function registerUserCommands(program: Command): void {
  const store = CredentialStore.fromEnv();
  const client = () => signedIn(store);
  const sshKeys = SshKeys.fromEnv();

  program
    .command('login')
    .description('sign this device in with a one-time enrollment code')
    .requiredOption('--server <url>', 'the Latch server, e.g. http://127.0.0.1:7300')
    .requiredOption('--code <code>', 'the one-time enrollment code from your admin')
    .option('--device <name>', 'a name for this device', deviceNameFrom(hostname(), ' (cli)') || 'cli')
    .action(action(store, async (flags: { server: string; code: string; device: string }) => {
      const server = normalizeServer(flags.server);
      const device = deviceNameSchema.safeParse(flags.device);
      if (!device.success) throw new CliError(`--device ${describeIssue(device.error.issues[0]!)}`);
      const tokens = await new LatchClient(server).call('enroll', { body: { code: flags.code, device: device.data } });
      const saved = await store.save(credentialFrom(server, tokens));
      print(`signed in to ${server} as ${tokens.user.name}${groupsNote(tokens.user)}, device ${tokens.device.id}`, saved.message);
    }));

  program
    .command('logout')
    .description('sign this device out and forget its credential')
    .action(action(store, async () => {
      const server = store.currentServer();
      if (server === null) return print('not logged in; nothing to do');
      try {
        await (await client()).call('signOut', { body: {} });
      } catch (err) {
        // The local credential goes either way; say that the server may still know the device.
        if (!(err instanceof CliError)) throw err;
        process.stderr.write(`latch: the server did not sign the device out (${err.message}); forgetting it here anyway\n`);
      }
      print(`signed out of ${server}; ${await store.remove(server)}`);
    }));

  program
    .command('whoami')
    .description('who this device is signed in as')
    .option('--json', 'print JSON')
    .action(action(store, async (flags: { json?: boolean }) => {
      const c = await client();
      const me = await c.call('me');
      if (flags.json) return printJson({ ...me, server: c.server, deviceId: c.deviceId });
      print(`${me.name}${groupsNote(me)} on ${c.server}, device ${c.deviceId}`);
    }));

  program
    .command('resources')
    .description('the resources and roles you may request, with their limits')
    .option('--json', 'print JSON')
    .action(action(store, async (flags: { json?: boolean }) => {
      const { items } = await (await client()).call('resources');
      if (flags.json) return printJson(items);
      if (items.length === 0) return print('nothing you may request; ask your admin to add a policy for one of your groups');
      const rows = items.flatMap((r) => r.roles.map((p) => [
        r.name, p.role, shortDuration(p.maxDurationMs), shortDuration(p.defaultDurationMs),
        p.autoApproved ? 'automatic' : `${p.approvalsNeeded} from ${p.approvers.join(', ') || 'nobody'}`,
        p.reasonRequired ? 'yes' : 'no',
      ]));
      print(table(['RESOURCE', 'ROLE', 'MAX', 'DEFAULT', 'APPROVAL', 'REASON'], rows), '', 'request with `latch request RESOURCE --role ROLE --for 30m --reason TEXT`');
    }));

  program
    .command('request')
    .description('request access to a resource role')
    .argument('<resource>', 'the resource (`latch resources` lists them)')
    .requiredOption('--role <role>', 'the role on the resource')
    .option('--for <duration>', 'how long, e.g. 30m or 2h (default: the policy default)')
    .option('--reason <text>', 'why you need it (most policies require one)')
    .option('--start <time>', 'start later: ISO-8601 or +15m (where the policy allows it)')
    .option('--break-glass', 'emergency access at once, reviewed afterwards (where allowed)')
    .option('--wait', 'wait until it is decided and the access is active (exit 2 if denied or timed out)')
    .option('--json', 'print JSON')
    .action(action(store, async (resource: string, flags: { role: string; for?: string; reason?: string; start?: string; breakGlass?: boolean; wait?: boolean; json?: boolean }) => {
      const c = await client();
      if (flags.for !== undefined && parseDuration(flags.for) === null) {
        const max = await maxDuration(c, resource, flags.role).catch(() => null);
        throw new CliError(`--for "${flags.for}" is not a duration; write it like 30m or 1h${max ? ` (${resource}/${flags.role} allows at most ${max})` : ''}`);
      }
      const startAt = flags.start === undefined ? undefined : parseStart(flags.start);
      // Already holding it: say so, and how to add time instead (FIELD-CASES B23). A second grant
      // of the same role is allowed (each has its own identity on the target, B01), so it is a note.
      const held = (await c.call('listGrants', { query: { scope: 'mine', state: 'active' } }).catch(() => ({ items: [] as GrantView[] }))).items.find((g) => g.resource === resource && g.role === flags.role);
      if (held && !flags.json) process.stderr.write(`note: you already hold ${resource}/${flags.role} (grant ${held.id}, ends ${relative(held.expiresAt)}); \`latch extend ${held.id} --by 30m --reason …\` adds time to it instead\n`);
      // An ssh resource signs a key made here; only its public half is sent.
      const sshKey = (await connectorOf(c, resource)) === 'ssh' ? await sshKeys.create() : null;
      let request: RequestView;
      try {
        request = await c.call('createRequest', {
          body: { resource, role: flags.role, duration: flags.for, reason: flags.reason, startAt, breakGlass: flags.breakGlass, publicKey: sshKey?.publicKey },
        });
      } catch (err) {
        if (sshKey) sshKeys.discard(sshKey.key);
        throw err;
      }
      if (sshKey) sshKeys.remember(sshKey.key, { requestId: request.id, grantId: request.grantId });
      if (flags.wait) return waitForAccess(c, request, flags.json === true);
      if (flags.json) return printJson(request);
      print(requestSummary(request), ...(sshKey ? [`  ssh key: ${displayPath(sshKey.key)} (made on this device; only its public key was sent)`] : []), `  next: ${nextStep(request)}`);
    }));

  program
    .command('requests')
    .description('your requests, or (--review) the ones waiting for your review')
    .option('--review', 'requests you may review (pending ones unless --state is given)')
    .option('--all', 'every request (admins)')
    .addOption(new Option('--state <state>', 'only requests in this state').choices(REQUEST_STATES))
    .option('--json', 'print JSON')
    .action(action(store, async (flags: { review?: boolean; all?: boolean; state?: (typeof REQUEST_STATES)[number]; json?: boolean }) => {
      if (flags.review && flags.all) throw new CliError('give --review or --all, not both');
      const scope = flags.all ? 'all' : flags.review ? 'review' : 'mine';
      const state = flags.state ?? (scope === 'review' ? 'pending' : undefined);
      const { items } = await (await client()).call('listRequests', { query: { scope, state } }).catch((err: unknown) => {
        throw forbiddenAll(err, 'only admins can list every request; drop --all to see yours, or use --review for the ones you may review');
      });
      if (flags.json) return printJson(items);
      if (items.length === 0) {
        return print(scope === 'review' ? `no ${state ?? ''} requests for you to review`.replace('  ', ' ') : 'no requests; ask for access with `latch request RESOURCE --role ROLE`');
      }
      print(table(['ID', 'STATE', 'REQUESTER', 'ACCESS', 'FOR', 'ASKED', 'REASON'], requestRows(items)));
      if (items.some((r) => r.canReview)) print('', 'approve with `latch approve ID`, deny with `latch deny ID --comment TEXT`');
    }));

  const review = (verb: 'approve' | 'deny') => async (id: string, flags: { comment?: string; json?: boolean }) => {
    const request = await (await client()).call(verb, { params: { id: checkId(id, 'request') }, body: { comment: flags.comment } });
    if (flags.json) return printJson(request);
    print(reviewLine(verb, request));
  };
  program
    .command('approve')
    .description('approve a request you may review')
    .argument('<id>', 'the request id (`latch requests --review`)')
    .option('--comment <text>', 'a note for the requester')
    .option('--json', 'print JSON')
    .action(action(store, review('approve')));
  program
    .command('deny')
    .description('deny a request you may review')
    .argument('<id>', 'the request id (`latch requests --review`)')
    .requiredOption('--comment <text>', 'why (the requester sees it)')
    .option('--json', 'print JSON')
    .action(action(store, review('deny')));

  program
    .command('cancel')
    .description('cancel your pending request')
    .argument('<id>', 'the request id (`latch requests`)')
    .option('--json', 'print JSON')
    .action(action(store, async (id: string, flags: { json?: boolean }) => {
      const request = await (await client()).call('cancel', { params: { id: checkId(id, 'request') }, body: {} });
      if (flags.json) return printJson(request);
      print(requestSummary(request));
    }));

  program
    .command('grants')
    .description('your grants, or every grant (--all, admins)')
    .option('--all', 'every grant (admins)')
    .option('--json', 'print JSON')
    .action(action(store, async (flags: { all?: boolean; json?: boolean }) => {
      const c = await client();
      const scope = flags.all ? 'all' : 'mine';
      const list = (query: { state?: string; limit: number }) =>
        c.call('listGrants', { query: { scope, ...query } }).catch((err: unknown) => {
          throw forbiddenAll(err, 'only admins can list every grant; drop --all to see yours (`latch grants`)');
        });
      // Unfinished grants first, all of them: any number of newer ended ones would push an active
      // grant out of the newest. One call after the other, so an expired token is refreshed once.
      const unfinished = (await list({ state: UNFINISHED_GRANT_STATES.join(','), limit: MAX_LIST })).items;
      const newest = (await list({ limit: LIST })).items;
      const shown = new Set(unfinished.map((g) => g.id));
      const items = [...unfinished, ...newest.filter((g) => !shown.has(g.id))];
      if (flags.json) return printJson(items);
      if (items.length === 0) return print('no grants; ask for access with `latch request RESOURCE --role ROLE`');
      print(table(['ID', 'STATE', ...(flags.all ? ['USER'] : []), 'ACCESS', 'WHEN'], grantRows(items, flags.all === true)));
      if (newest.length === LIST) print('', `finished grants older than the newest ${LIST} are not listed`);
      if (items.some((g) => g.state === 'active')) print('', 'use one with `latch credential ID`; end it early with `latch end ID`');
    }));

  program
    .command('credential')
    .description('print the credential of your active grant (an access pass: the token alone; ssh: writes the certificate next to your key and prints the ssh command)')
    .argument('<grant>', 'the grant id (`latch grants`)')
    .option('--json', 'print JSON')
    .action(action(store, async (id: string, flags: { json?: boolean }) => {
      const c = await client();
      const answer = await c.call('credential', { params: { id: checkId(id, 'grant') } });
      const { credential } = answer;
      if (credential.type === 'ssh' && typeof credential.certificate === 'string') {
        const key = sshKeys.keyFor(id) ?? sshKeys.keyFor(id, (await c.call('getGrant', { params: { id } })).requestId);
        if (key === null) {
          if (flags.json) return printJson({ id: answer.grantId, state: 'active', expiresAt: answer.expiresAt, credential, sshKey: null, sshCertificate: null });
          throw new CliError(`the private key of grant ${id} is not on this device (keys live in ${displayPath(sshKeys.dir)}); use the device that requested it, or request again from this one`);
        }
        sshKeys.remember(key, { grantId: id });
        const cert = sshKeys.writeCertificate(key, credential.certificate);
        if (flags.json) return printJson({ id: answer.grantId, state: 'active', expiresAt: answer.expiresAt, credential, sshKey: key, sshCertificate: cert });
        const validBefore = typeof credential.validBefore === 'string' ? credential.validBefore : answer.expiresAt;
        const principals = Array.isArray(credential.principals) ? ` as ${credential.principals.join(', ')}` : '';
        // The command alone on stdout (as for a pass token); the note goes to stderr.
        process.stderr.write(`ssh certificate for ${id}${principals} written to ${displayPath(cert)}, valid until ${validBefore} (${relative(validBefore)})\n`);
        return print(sshCommand(String(credential.command ?? 'ssh USER@HOST'), key, cert));
      }
      if (flags.json) return printJson({ id: answer.grantId, state: 'active', expiresAt: answer.expiresAt, credential });
      if (credential.type === 'pass' && typeof credential.token === 'string') {
        // The token alone on stdout so `$(latch credential ID)` works; the note goes to stderr.
        process.stderr.write(`access pass for ${id}, valid until ${answer.expiresAt} (${relative(answer.expiresAt)}); services verify it with ${c.server}/.well-known/jwks.json\n`);
        return print(credential.token);
      }
      print(...Object.entries(credential).map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`), `(valid until ${answer.expiresAt})`);
    }));

  program
    .command('end')
    .description('end a grant now (access is revoked on the target)')
    .argument('<grant>', 'the grant id (`latch grants`)')
    .option('--json', 'print JSON')
    .action(action(store, async (id: string, flags: { json?: boolean }) => {
      const grant = await (await client()).call('endGrant', { params: { id: checkId(id, 'grant') }, body: {} });
      if (flags.json) return printJson(grant);
      if (grant.state === 'ended') return print(`grant ${grant.id} ended; access to ${grant.resource}/${grant.role} is revoked`);
      print(`grant ${grant.id} ${grantWhen(grant)}; the server keeps retrying; \`latch grants\` shows when it is done`);
    }));

  program
    .command('extend')
    .description('ask for more time on an active grant')
    .argument('<grant>', 'the grant id (`latch grants`)')
    .requiredOption('--by <duration>', 'how much longer, e.g. 30m')
    .option('--reason <text>', 'why (where the policy requires one)')
    .option('--json', 'print JSON')
    .action(action(store, async (id: string, flags: { by: string; reason?: string; json?: boolean }) => {
      const c = await client();
      const extension = await c.call('extendGrant', { params: { id: checkId(id, 'grant') }, body: { by: flags.by, reason: flags.reason } });
      if (flags.json) return printJson(extension);
      if (extension.state !== 'approved') return print(requestSummary(extension), `  next: ${nextStep(extension)}`);
      const grant = await c.call('getGrant', { params: { id } });
      print(`grant ${grant.id} extended by ${shortDuration(extension.durationMs)}; it ${grantWhen(grant)}`);
    }));
}

function reviewLine(verb: 'approve' | 'deny', r: RequestView): string {
  const what = `${r.id} (${r.requester}'s ${r.resource}/${r.role}${r.kind === 'extension' ? ' extension' : ''} for ${shortDuration(r.durationMs)})`;
  if (r.state === 'pending') return `your ${verb === 'approve' ? 'approval' : 'denial'} of ${what} is recorded; ${requestSummary(r).replace(/^.* pending: /, 'still ')}`;
  if (verb === 'deny' || r.state !== 'approved') return `${r.state.replace('_', ' ')} ${what}; ${r.requester} sees your comment`;
  return `approved ${what}${r.kind === 'access' && r.grantId ? `; grant ${r.grantId} is being set up` : ''}`;
}

function nextStep(r: RequestView): string {
  if (r.state === 'pending') return `an approver runs \`latch approve ${r.id}\`; \`latch requests\` shows progress`;
  if (r.state === 'approved' && r.grantId) return `\`latch grants\` shows ${r.grantId}; \`latch credential ${r.grantId}\` once it is active`;
  return 'request again with `latch request`';
}

/** The connector kind of a resource the caller may request, or null when it is not listed for them. */
async function connectorOf(c: LatchClient, resource: string): Promise<string | null> {
  const { items } = await c.call('resources');
  return items.find((r: ResourceView) => r.name === resource)?.connector ?? null;
}

async function maxDuration(c: LatchClient, resource: string, role: string): Promise<string | null> {
  const { items } = await c.call('resources');
  const policy = items.find((r: ResourceView) => r.name === resource)?.roles.find((p) => p.role === role);
  return policy ? shortDuration(policy.maxDurationMs) : null;
}

/**
 * `request --wait`: polls the request until it is decided, then its grant until it is set up.
 * Exit 0 when the access is active, 2 when it was denied (or timed out, or cancelled), 1 when the
 * grant failed.
 */
async function waitForAccess(c: LatchClient, first: RequestView, json: boolean): Promise<void> {
  let request = first;
  if (request.state === 'pending' && !json) process.stderr.write(`${requestSummary(request)} (Ctrl-C stops waiting; the request stays pending)\n`);
  while (request.state === 'pending') {
    await sleep(POLL_MS);
    request = await c.call('getRequest', { params: { id: request.id } });
  }
  if (request.state !== 'approved' || request.grantId === null) {
    if (json) printJson({ ...request, grant: null });
    throw new CliError(requestSummary(request), EXIT_DENIED);
  }
  let grant: GrantView = await c.call('getGrant', { params: { id: request.grantId } });
  if (grant.state === 'scheduled' && !json) process.stderr.write(`approved; grant ${grant.id} ${grantWhen(grant)}; waiting\n`);
  while (grant.state === 'scheduled' || grant.state === 'provisioning') {
    await sleep(POLL_MS);
    grant = await c.call('getGrant', { params: { id: grant.id } });
  }
  if (json) printJson({ ...request, grant });
  else if (grant.state === 'active') print(`${requestSummary(request)} is active and ${grantWhen(grant)}`, `  next: \`latch credential ${grant.id}\``);
  if (grant.state === 'failed') throw new CliError(`request ${request.id} was approved but grant ${grant.id} failed: ${grant.failureReason ?? 'provisioning failed'}; request again, or tell your admin`);
  if (grant.state !== 'active') throw new CliError(`grant ${grant.id} ${grantWhen(grant)} before this command saw it active`);
}
