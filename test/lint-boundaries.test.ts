// The import boundaries of DESIGN.md ("Layout") fail the lint: each crossing below must be reported.
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const eslint = new ESLint({ cwd: process.cwd() });

async function restricted(filePath: string, code: string): Promise<number> {
  const [result] = await eslint.lintText(code, { filePath });
  return result!.messages.filter((m) => m.ruleId === 'no-restricted-imports').length;
}

describe('import boundaries', () => {
  it.each([
    ['src/shared/x.ts', "import { readFileSync } from 'node:fs'; export const a = readFileSync;"],
    ['src/shared/x.ts', "import { Lifecycle } from '../server/lifecycle/service.js'; export const a = Lifecycle;"],
    ['src/server/x.ts', "import { app } from 'electron'; export const a = app;"],
    ['src/server/x.ts', "import { a } from '../cli/errors.js'; export const b = a;"],
    ['src/desktop/x.ts', "import { app } from 'electron'; export const a = app;"],
    ['src/sync/x.ts', "import { a } from '../server/server.js'; export const b = a;"],
    ['renderer/x.ts', "import { a } from '../src/desktop/agent.js'; export const b = a;"],
    ['renderer/x.ts', "import { readFileSync } from 'fs'; export const a = readFileSync;"],
    ['electron/x.ts', "import { a } from '../src/server/server.js'; export const b = a;"],
  ])('%s: %s is refused', async (file, code) => {
    expect(await restricted(file, code)).toBeGreaterThan(0);
  });

  it.each([
    ['src/server/x.ts', "import { parseDuration } from '../shared/duration.js'; export const a = parseDuration;"],
    ['src/cli/x.ts', "import { a } from '../server/server.js'; export const b = a;"],
    ['renderer/x.ts', "import { parseDuration } from '../src/shared/duration.js'; export const a = parseDuration;"],
    ['electron/x.ts', "import { a } from '../src/desktop/agent.js'; export const b = a;"],
  ])('%s: %s is allowed', async (file, code) => {
    expect(await restricted(file, code)).toBe(0);
  });
});
