// The Electronegativity wrapper (scripts/electronegativity.mjs, in `npm run lint`) must fail on bad
// Electron code, not only pass on ours: it runs here on a copy of electron/ made insecure.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function wrapper(dir: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['scripts/electronegativity.mjs', dir], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** electron/ copied, with `edits` made to its files (each replacement must apply). */
function insecureCopy(edits: Record<string, [string, string][]>, extra: Record<string, string> = {}): { dir: string; lineOf: (file: string, text: string) => number } {
  const dir = mkdtempSync(join(tmpdir(), 'latch-eneg-'));
  dirs.push(dir);
  cpSync('electron', dir, { recursive: true });
  for (const [file, replacements] of Object.entries(edits)) {
    let code = readFileSync(join(dir, file), 'utf8');
    for (const [from, to] of replacements) {
      expect(code, `${file} no longer holds ${from}`).toContain(from);
      code = code.replace(from, to);
    }
    writeFileSync(join(dir, file), code);
  }
  for (const [file, code] of Object.entries(extra)) writeFileSync(join(dir, file), code);
  const lineOf = (file: string, text: string) => readFileSync(join(dir, file), 'utf8').split('\n').findIndex((l) => l.includes(text)) + 1;
  return { dir, lineOf };
}

describe('the Electronegativity wrapper', () => {
  it('passes on electron/ as it is', () => {
    const r = wrapper('electron');
    expect(r.stderr).not.toContain('FINDING');
    expect(r.stdout).toContain('electronegativity: no finding of medium severity or above');
    expect(r.status).toBe(0);
  });

  it('fails on a window with Node, no sandbox, no isolation and no web security, and on openExternal of any URL — naming each', () => {
    const { dir, lineOf } = insecureCopy({
      'window.ts': [
        ['contextIsolation: true,', 'contextIsolation: false,'],
        ['sandbox: true,', 'sandbox: false,'],
        ['      nodeIntegration: false,', '      nodeIntegration: true,'],
        ['webSecurity: true,', 'webSecurity: false,'],
      ],
    }, {
      // In a .cts file, as the preload is: the wrapper scans those too.
      'open-link.cts': "const { shell } = require('electron');\nmodule.exports = (url: string) => shell.openExternal(url);\n",
    });
    const r = wrapper(dir);
    expect(r.status).toBe(1);
    const at = (id: string, file: string, text: string) => new RegExp(`FINDING: \\w+/\\w+ ${id} ${file.replace('.', '\\.')}:${lineOf(file, text)}:`);
    expect(r.stderr).toMatch(at('CONTEXT_ISOLATION_JS_CHECK', 'window.ts', 'contextIsolation: false'));
    expect(r.stderr).toMatch(at('SANDBOX_JS_CHECK', 'window.ts', 'sandbox: false'));
    expect(r.stderr).toMatch(at('LATCH_NODE_INTEGRATION', 'window.ts', 'nodeIntegration: true'));
    expect(r.stderr).toMatch(at('WEB_SECURITY_JS_CHECK', 'window.ts', 'webSecurity: false'));
    expect(r.stderr).toMatch(at('OPEN_EXTERNAL_JS_CHECK', 'open-link.cts', 'openExternal'));
    expect(r.stderr).toContain('electronegativity: 5 finding(s) of medium severity or above');
  });

  it('fails on nodeIntegration: true even beside sandbox: true (which Electronegativity lets pass)', () => {
    const { dir, lineOf } = insecureCopy({ 'window.ts': [['      nodeIntegration: false,', '      nodeIntegration: true,']] });
    const r = wrapper(dir);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`FINDING: HIGH/CERTAIN LATCH_NODE_INTEGRATION window.ts:${lineOf('window.ts', 'nodeIntegration: true')}:`);
    expect(r.stderr).toContain('electronegativity: 1 finding(s)');
  });
});
