// Electronegativity over electron/ (DESIGN.md "Testing where Electron cannot run"): prints every
// finding of medium severity or above and fails when there is one. Lower ones are printed as notes.
// Usage: node scripts/electronegativity.mjs [dir]
import { cpSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const require = createRequire(import.meta.url);
const runner = require('@doyensec/electronegativity');
const run = runner.default ?? runner;

const source = resolve(process.argv[2] ?? 'electron');
// Electronegativity reads .js/.ts only; the CommonJS preload is .cts, and it is the file that
// matters most, so the scan runs on a copy with .cts renamed .ts.
const input = mkdtempSync(join(tmpdir(), 'latch-electronegativity-'));
cpSync(source, input, { recursive: true, filter: (f) => !f.endsWith('.test.ts') });
for (const f of readdirSync(input, { recursive: true })) {
  if (String(f).endsWith('.cts')) renameSync(join(input, String(f)), join(input, String(f).replace(/\.cts$/, '.ts')));
}
process.on('exit', () => rmSync(input, { recursive: true, force: true }));
const { version: electronVersion } = require('electron/package.json');
const FAIL_AT = 'MEDIUM';

const result = await run({
  input,
  isRelative: true,
  electronVersionOverride: electronVersion,
  severitySet: 'informational',
  confidenceSet: 'tentative',
  customScan: [],
  // Needs the network (Electron's release list); npm keeps Electron current instead.
  excludeFromScan: ['AvailableSecurityFixesGlobalCheck'],
  parserPlugins: [],
});
const issues = result?.issues ?? [];
// Electronegativity's levels: INFORMATIONAL 0, LOW 1, MEDIUM 2, HIGH 3.
const { severity } = require('@doyensec/electronegativity/dist/finder/attributes.js');
const failAt = severity[FAIL_AT].value;
const levelOf = (issue) => issue.severity.value;
const line = (i) => `${i.severity.name}/${i.confidence.name} ${i.id} ${i.file}:${i.location.line}:${i.location.column} — ${i.description} ${i.shortenedURL ?? ''}`;
const failing = issues.filter((i) => levelOf(i) >= failAt);
for (const i of issues.filter((i) => levelOf(i) < failAt)) console.log(`note: ${line(i)}`);
for (const i of failing) console.error(`FINDING: ${line(i)}`);
if (failing.length > 0) {
  console.error(`electronegativity: ${failing.length} finding(s) of ${FAIL_AT.toLowerCase()} severity or above in ${source}`);
  process.exit(1);
}
console.log(`electronegativity: no finding of ${FAIL_AT.toLowerCase()} severity or above in ${source} (${issues.length} lower)`);
