/**
 * `latch admin [--data-dir DIR | --server URL] user add|list|code`: on the server host straight on
 * the store (src/cli/admin-local.ts, no token), or remotely as a signed-in admin.
 */
import type { Command } from 'commander';
import type { UserView } from '../shared/api.js';
import { nameSchema } from '../shared/config.js';
import { ApiCallError, action, normalizeServer, signedIn, type LatchClient } from './client.js';
import { CredentialStore } from './credentials.js';
import { CliError } from './errors.js';
import { print, printJson, table } from './format.js';

interface AdminFlags { dataDir?: string; server?: string }

type Target = { kind: 'local'; dataDir: string } | { kind: 'remote'; client: LatchClient };

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];
// Loaded only when used: it pulls in the server's store (SQLite), which most commands never touch.
const local = async () => (await import('./admin-local.js')).localAdmin;

function checkName(name: string): string {
  const parsed = nameSchema.safeParse(name);
  if (!parsed.success) throw new CliError(`"${name}" is not a user name: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  return parsed.data;
}

export function registerAdmin(program: Command): void {
  const store = CredentialStore.fromEnv();

  async function target(flags: AdminFlags): Promise<Target> {
    if (flags.dataDir && flags.server) throw new CliError('give --data-dir (on the server host) or --server (as a signed-in admin), not both');
    if (flags.dataDir) return { kind: 'local', dataDir: flags.dataDir };
    const server = flags.server === undefined ? store.currentServer() : normalizeServer(flags.server);
    if (server === null || store.whereIs(server) === null) {
      throw new CliError(`no --data-dir and no stored login${server ? ` for ${server}` : ''}: run this on the server host with \`latch admin --data-dir DIR …\`, or sign in as an admin with \`latch login\``);
    }
    return { kind: 'remote', client: await signedIn(store, server) };
  }

  /** Runs a remote admin call, turning "forbidden" into what to do about it. */
  async function asAdmin<T>(client: LatchClient, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof ApiCallError && err.code === 'forbidden') {
        throw new CliError(`\`latch admin\` needs an admin: ${client.user} on ${client.server} is not one; ask an admin, or run it on the server host with --data-dir`);
      }
      throw err;
    }
  }

  const printCode = (r: { user: string; code: string }, t: Target, json: boolean | undefined, verb: string) => {
    if (json) return printJson(r);
    const server = t.kind === 'remote' ? t.client.server : 'URL';
    print(`${verb} ${r.user}; one-time enrollment code (valid 7 days): ${r.code}`, `  next: on ${r.user}'s machine run \`latch login --server ${server} --code ${r.code}\``);
  };

  const admin = program
    .command('admin')
    .description('manage users: on the server host (--data-dir) or as a signed-in admin')
    .option('--data-dir <dir>', 'work on the server data dir directly (on the server host; no login needed)')
    .option('--server <url>', 'the server to call as a signed-in admin (default: the one you logged in to)');
  const user = admin.command('user').description('add users, list them, issue enrollment codes');
  const flagsOf = (cmd: Command) => cmd.optsWithGlobals<AdminFlags & { json?: boolean }>();

  user
    .command('add')
    .description('add a user and print their one-time enrollment code')
    .argument('<name>', 'the user name (lower-case letters, digits, - and _)')
    .option('--group <group>', 'a group from the configuration (repeatable)', collect)
    .option('--admin', 'make the user an admin')
    .option('--json', 'print {"user", "code"}')
    .action(action(store, async (name: string, flags: { group?: string[]; admin?: boolean }, cmd: Command) => {
      const input = { name: checkName(name), groups: flags.group ?? [], admin: flags.admin === true };
      if (input.groups.length === 0 && !input.admin) throw new CliError('give at least one --group GROUP (or --admin); `latch admin user add NAME --group GROUP`');
      const t = await target(flagsOf(cmd));
      const r = t.kind === 'local' ? await (await local()).addUser(t.dataDir, input) : await asAdmin(t.client, () => t.client.call('addUser', { body: input }));
      printCode(r, t, flagsOf(cmd).json, 'added');
    }));

  user
    .command('list')
    .description('list users, their groups and who is an admin')
    .option('--json', 'print JSON')
    .action(action(store, async (_flags: unknown, cmd: Command) => {
      const t = await target(flagsOf(cmd));
      const users: UserView[] = t.kind === 'local'
        ? (await (await local()).listUsers(t.dataDir)).map((p) => ({ name: p.name, groups: [...p.groups], admin: p.admin }))
        : (await asAdmin(t.client, () => t.client.call('listUsers'))).items;
      if (flagsOf(cmd).json) return printJson(users);
      print(table(['NAME', 'GROUPS', 'ADMIN'], users.map((u) => [u.name, u.groups.join(', ') || '-', u.admin ? 'yes' : ''])));
    }));

  user
    .command('code')
    .description('issue a new one-time enrollment code for a user (e.g. a new machine)')
    .argument('<name>', 'the user name')
    .option('--json', 'print {"user", "code"}')
    .action(action(store, async (name: string, _flags: unknown, cmd: Command) => {
      const t = await target(flagsOf(cmd));
      const r = t.kind === 'local' ? await (await local()).newCode(t.dataDir, checkName(name)) : await asAdmin(t.client, () => t.client.call('newCode', { params: { name: checkName(name) }, body: {} }));
      printCode(r, t, flagsOf(cmd).json, 'new code for');
    }));
}
