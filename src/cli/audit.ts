/** `latch audit verify|export --data-dir DIR`. */
import type { Command } from 'commander';
import { CliError } from './errors.js';
import { defaultDataDir } from './paths.js';

export function registerAudit(program: Command): void {
  const audit = program.command('audit').description('check or export the audit trail (on the server host)');
  audit
    .command('verify')
    .description('verify the hash chain; exits non-zero naming the first broken entry')
    .option('--data-dir <dir>', 'the server data dir', defaultDataDir())
    .option('--json', 'print the result as JSON')
    .action(async (flags: { dataDir: string; json?: boolean }) => {
      const [{ verifyAudit }, { withLocalStore }] = await Promise.all([import('../server/audit/verify.js'), import('./admin-local.js')]);
      const result = await withLocalStore(flags.dataDir, (store) => verifyAudit(store.db));
      if (flags.json) process.stdout.write(`${JSON.stringify(result)}\n`);
      if (!result.ok) throw new CliError(`audit chain broken at entry ${result.brokenAt}: ${result.problem}`);
      if (!flags.json) process.stdout.write(`audit chain intact: ${result.entries} entries, head ${result.head.slice(0, 16)}…\n`);
    });
  audit
    .command('export')
    .description('print every audit entry')
    .option('--data-dir <dir>', 'the server data dir', defaultDataDir())
    .option('--format <format>', 'jsonl', 'jsonl')
    .action(async (flags: { dataDir: string; format: string }) => {
      if (flags.format !== 'jsonl') throw new CliError(`unknown --format ${flags.format}; use jsonl`);
      const [{ exportAudit }, { withLocalStore }] = await Promise.all([import('../server/audit/verify.js'), import('./admin-local.js')]);
      await withLocalStore(flags.dataDir, async (store) => {
        for await (const e of exportAudit(store.db)) {
          if (!process.stdout.write(`${JSON.stringify(e)}\n`)) await new Promise((r) => process.stdout.once('drain', r));
        }
      });
    });
}
