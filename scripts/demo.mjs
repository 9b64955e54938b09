// `npm start`: the approval server on an embedded store with examples/demo.yaml, printing each
// demo user's one-time enrollment code. (The tray app joins this when the desktop issues land.)
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { serve } from '../dist/src/cli/serve.js';
import { newCodeFor } from '../dist/src/server/auth/identity.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dataDir = process.env.LATCH_DATA_DIR || join(root, '.latch', 'demo');
mkdirSync(dataDir, { recursive: true });
const port = process.env.PORT || '7300';
// Keep the terminal readable: warnings and errors only, unless asked otherwise.
process.env.LATCH_LOG_LEVEL ??= 'warn';
const bin = 'node dist/src/cli/main.js';

await serve({ host: '127.0.0.1', port, dataDir, config: join(root, 'examples', 'demo.yaml') }, async (url, server) => {
  const users = Object.values(server.config.current.groups).flatMap((g) => g.members);
  const lines = [`\nLatch demo server at ${url} (data in ${dataDir})`, 'Sign in as a demo user (each code works once; restart for new ones):'];
  for (const user of [...new Set(users)].sort()) {
    const { code } = await newCodeFor(server.store, user, Date.now());
    lines.push(`  ${user.padEnd(6)} LATCH_HOME=.latch/${user} ${bin} login --server ${url} --code ${code}`);
  }
  lines.push(
    '\nThen, for example:',
    `  LATCH_HOME=.latch/alice ${bin} request demo-pass --role read --for 30m --reason "INC-1234 check the replica"`,
    `  LATCH_HOME=.latch/bob   ${bin} requests --review`,
    `  LATCH_HOME=.latch/bob   ${bin} approve <request id>`,
    `  LATCH_HOME=.latch/alice ${bin} grants`,
    '\nCtrl-C stops the server.\n',
  );
  process.stdout.write(lines.join('\n') + '\n');
});
