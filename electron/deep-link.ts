/**
 * `latch://request?resource=pg-prod&role=readonly` opens the request form prefilled. Anything
 * else (another host, a bad name) is ignored: a link is untrusted input from any web page.
 */
import { createRequestBody } from '../src/shared/api.js';
import type { WindowTarget } from '../src/shared/desktop-api.js';

export const DEEP_LINK_SCHEME = 'latch';

export interface DeepLink {
  target: WindowTarget;
  prefill: Record<string, string>;
}

export function parseDeepLink(link: string): DeepLink | null {
  let u: URL;
  try {
    u = new URL(link);
  } catch {
    return null;
  }
  if (u.protocol !== `${DEEP_LINK_SCHEME}:` || u.hostname !== 'request') return null;
  const resource = createRequestBody.shape.resource.safeParse(u.searchParams.get('resource'));
  const role = createRequestBody.shape.role.safeParse(u.searchParams.get('role'));
  const prefill: Record<string, string> = {};
  if (resource.success) prefill.resource = resource.data;
  if (resource.success && role.success) prefill.role = role.data;
  return { target: { view: 'request_access' }, prefill };
}

/** On Windows and Linux the link arrives as a command-line argument. */
export function deepLinkInArgv(argv: readonly string[]): string | null {
  return argv.find((a) => a.startsWith(`${DEEP_LINK_SCHEME}://`)) ?? null;
}
