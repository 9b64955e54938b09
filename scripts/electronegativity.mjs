// Electronegativity over electron/ (DESIGN.md "Testing where Electron cannot run"): prints every
// finding of medium severity or above and fails when there is one. Lower ones are printed as notes.
// Usage: node scripts/electronegativity.mjs [dir]   (test/electronegativity.test.ts runs it on bad code)
import { cpSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
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
const renamed = new Set();
for (const f of readdirSync(input, { recursive: true })) {
  if (!String(f).endsWith('.cts')) continue;
  const scanned = String(f).replace(/\.cts$/, '.ts');
  renameSync(join(input, String(f)), join(input, scanned));
  renamed.add(scanned);
}
/** The file as it is named in the source folder. */
const original = (file) => (renamed.has(file) ? file.replace(/\.ts$/, '.cts') : file);
process.on('exit', () => rmSync(input, { recursive: true, force: true }));
const { version: electronVersion } = require('electron/package.json');
const FAIL_AT = 'MEDIUM';
// Electronegativity's levels: INFORMATIONAL 0, LOW 1, MEDIUM 2, HIGH 3.
const { confidence, severity } = require('@doyensec/electronegativity/dist/finder/attributes.js');

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
const issues = [...(result?.issues ?? []), ...nodeIntegrationFindings(input)];
const failAt = severity[FAIL_AT].value;
const levelOf = (issue) => issue.severity.value;
const line = (i) => `${i.severity.name}/${i.confidence.name} ${i.id} ${original(i.file)}:${i.location.line}:${i.location.column} — ${i.description} ${i.shortenedURL ?? ''}`;
const failing = issues.filter((i) => levelOf(i) >= failAt);
for (const i of issues.filter((i) => levelOf(i) < failAt)) console.log(`note: ${line(i)}`);
for (const i of failing) console.error(`FINDING: ${line(i)}`);
if (failing.length > 0) {
  console.error(`electronegativity: ${failing.length} finding(s) of ${FAIL_AT.toLowerCase()} severity or above in ${source}`);
  process.exit(1);
}
console.log(`electronegativity: no finding of ${FAIL_AT.toLowerCase()} severity or above in ${source} (${issues.length} lower)`);

/**
 * Electronegativity does not report `nodeIntegration: true` next to `sandbox: true` (the sandbox
 * turns Node off in the renderer anyway), nor grade it above informational otherwise. DESIGN.md
 * says no nodeIntegration, whatever else is set: any value but a literal `false` is a finding.
 */
function nodeIntegrationFindings(dir) {
  const found = [];
  for (const f of readdirSync(dir, { recursive: true })) {
    const file = String(f);
    if (!/\.(ts|js|mjs|cjs)$/.test(file)) continue;
    readFileSync(join(dir, file), 'utf8').split('\n').forEach((text, i) => {
      for (const m of text.matchAll(/\b(nodeIntegration(?:InWorker|InSubFrames)?)\s*:\s*(?!false\b)([^,}\s][^,}]*)/g)) {
        found.push({
          id: 'LATCH_NODE_INTEGRATION', file, location: { line: i + 1, column: m.index },
          severity: severity.HIGH, confidence: confidence.CERTAIN,
          description: `${m[1]}: ${m[2].trim()} — Node must stay off in every renderer (DESIGN.md "Electron shell")`,
        });
      }
    });
  }
  return found;
}
