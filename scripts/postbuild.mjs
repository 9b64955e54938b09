// Makes the built CLI executable so `dist/src/cli/main.js` runs as `latch`.
import { chmodSync } from 'node:fs';
chmodSync(new URL('../dist/src/cli/main.js', import.meta.url), 0o755);
