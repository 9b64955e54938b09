#!/usr/bin/env node
/** The `latch` command: the server, operator commands, and every user action from a terminal. */
import { Command, CommanderError } from 'commander';
import { registerAudit } from './audit.js';
import { CliError } from './errors.js';
import { registerServe } from './serve.js';
import { registerAdmin } from './admin.js';
import { registerUserCommands } from './user.js';

const program = new Command('latch')
  .description('Latch: just-in-time access — request, approve, grant, revoke')
  .version('0.1.0')
  .exitOverride();

registerServe(program);
registerAdmin(program);
registerAudit(program);
registerUserCommands(program);

// `latch audit export | head`: a closed pipe is the reader being done, not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof CommanderError) {
    // Commander already printed its message (and help where useful).
    process.exit(err.exitCode === 0 ? 0 : 1);
  }
  if (err instanceof CliError) {
    process.stderr.write(`latch: ${err.message}\n`);
    process.exit(err.exitCode);
  }
  process.stderr.write(`latch: unexpected error: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
