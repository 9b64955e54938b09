/**
 * `latch://request?resource=pg-prod&role=readonly` opens the request form prefilled. Anything
 * else (another host, a bad name) is ignored: a link is untrusted input from any web page.
 */
import { createRequestBody } from '../shared/api.js';
import type { WindowTarget } from '../shared/desktop-api.js';

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

/** true for `https://<host>/…` where host is allow-listed exactly (no userinfo, no port tricks). */
export function isAllowedExternalUrl(url: string, hosts: readonly string[]): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  return u.protocol === 'https:' && u.username === '' && u.password === '' && hosts.includes(u.host);
}
