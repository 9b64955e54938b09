/** Runs the built `latch serve` as a child process and finds its URL in the log. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const LATCH_BIN = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');

export function requireBuild(): void {
  if (!existsSync(LATCH_BIN)) throw new Error(`${LATCH_BIN} is missing: run \`npm run build\` first (npm test does)`);
}

export interface ServeProcess {
  child: ChildProcess;
  url: string;
  output(): string;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  waitFor(pattern: RegExp, ms?: number): Promise<string>;
}

export async function startServe(args: string[], env: Record<string, string> = {}): Promise<ServeProcess> {
  requireBuild();
  const child = spawn(process.execPath, [LATCH_BIN, 'serve', '--port', '0', ...args], { env: { ...process.env, LATCH_LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const waiters: (() => void)[] = [];
  const onData = (d: Buffer) => {
    out += d.toString();
    waiters.splice(0).forEach((w) => w());
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const waitFor = (pattern: RegExp, ms = 20_000) =>
    new Promise<string>((resolve, reject) => {
      const deadline = setTimeout(() => reject(new Error(`timed out waiting for ${pattern} in:\n${out}`)), ms);
      const check = () => {
        const m = pattern.exec(out);
        if (m) {
          clearTimeout(deadline);
          resolve(m[1] ?? m[0]);
        } else waiters.push(check);
      };
      void exited.then(() => {
        if (!pattern.test(out)) {
          clearTimeout(deadline);
          reject(new Error(`latch serve exited before ${pattern}:\n${out}`));
        }
      });
      check();
    });
  const url = await waitFor(/"url":"(http:\/\/127\.0\.0\.1:\d+)"/);
  return { child, url, output: () => out, exited, waitFor };
}
