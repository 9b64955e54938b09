/**
 * Runs a script in a separate Node process that can import this repository's TypeScript modules
 * without a build. For tests that need a process of their own: another environment (no D-Bus
 * session), or one to SIGKILL.
 *
 * The modules the script imports (written as `moduleUrl(...)`) and the repository modules they
 * import are transpiled here with the project's TypeScript (types erased, not checked: `tsc
 * --noEmit` does that) and handed to a loader hook in the child, so the child starts in a fraction
 * of the time it would take to load TypeScript itself.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';

const HOOKS = `
let sources = {};
export function initialize(data) {
  sources = data.sources;
}
export async function resolve(specifier, context, next) {
  if (specifier.startsWith('.') && specifier.endsWith('.js') && context.parentURL in sources) {
    const url = new URL(specifier.slice(0, -3) + '.ts', context.parentURL).href;
    if (url in sources) return { url, shortCircuit: true };
  }
  return next(specifier, context);
}
export async function load(url, context, next) {
  if (url in sources) return { format: 'module', source: sources[url], shortCircuit: true };
  return next(url, context);
}`;

/** The import specifier of a repository file, for `await import(...)` inside the child's script. */
export const moduleUrl = (repoPath: string): string => pathToFileURL(resolve(repoPath)).href;

const LOCAL_IMPORT = /\b(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)\.js['"]/g;

/** JavaScript for the module at `url` and every repository module it imports, by file URL. */
function transpile(url: string, out: Record<string, string>): void {
  if (url in out) return;
  const fileName = fileURLToPath(url);
  const { outputText } = ts.transpileModule(readFileSync(fileName, 'utf8'), {
    fileName,
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
  });
  out[url] = outputText;
  for (const [, base] of outputText.matchAll(LOCAL_IMPORT)) {
    const dep = new URL(`${base!}.ts`, url).href;
    if (existsSync(fileURLToPath(dep))) transpile(dep, out);
  }
}

/** Starts `script` (an ES module's text) in a child Node with exactly `env`. */
export function spawnTs(script: string, env: NodeJS.ProcessEnv): ChildProcess {
  const sources: Record<string, string> = {};
  for (const [url] of script.matchAll(/file:\/\/[^'"`\s]+\.ts/g)) transpile(url, sources);
  // Through a file: the sources are too long for a command-line argument.
  const dir = mkdtempSync(join(tmpdir(), 'latch-ts-child-'));
  writeFileSync(join(dir, 'sources.json'), JSON.stringify(sources));
  const register = `import { register } from 'node:module';
import { readFileSync } from 'node:fs';
register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(HOOKS)}`)}, { data: { sources: JSON.parse(readFileSync(${JSON.stringify(join(dir, 'sources.json'))}, 'utf8')) } });`;
  const child = spawn(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(register)}`, '--input-type=module', '-e', script], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.on('close', () => rmSync(dir, { recursive: true, force: true }));
  return child;
}

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `script` to its end (killed after `timeoutMs`). */
export function runTs(script: string, env: NodeJS.ProcessEnv, timeoutMs = 20_000): Promise<ChildResult> {
  const child = spawnTs(script, env);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((done) =>
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      done({ code, signal, stdout, stderr });
    }),
  );
}
