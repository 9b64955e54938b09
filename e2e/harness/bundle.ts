/**
 * Bundles the bridge script (bridge-client.ts) for the browser, once per harness start, so the
 * page always runs the bridge of this checkout. The list of calls comes from `desktopCalls` here
 * rather than being written out in the bridge: a call added to the contract is carried by
 * construction, and the bridge bundles no zod.
 */
import { join } from 'node:path';
import { build } from 'esbuild';
import { desktopCalls } from '../../src/shared/desktop-api.js';

export async function bundleBridge(repoRoot: string): Promise<string> {
  const result = await build({
    entryPoints: [join(repoRoot, 'e2e', 'harness', 'bridge-client.ts')],
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    target: 'es2022',
    charset: 'utf8',
    legalComments: 'none',
    logLevel: 'silent',
    define: { __LATCH_CALLS__: JSON.stringify(Object.keys(desktopCalls)) },
  });
  const out = result.outputFiles[0];
  if (!out) throw new Error('esbuild produced no bridge script');
  return out.text;
}
