/**
 * The window's place, read from the URL hash. The main process opens the window at
 * `app://latch/index.html#/<view>?<params>` (electron/window.ts `windowUrl`): the view is a
 * WindowTarget view and the query carries its fields (`requestId`, `grantId`, `extend`) and any
 * prefill (`resource`, `role` from a `latch://request` link). The hash is untrusted input like the
 * link it may come from: anything unreadable leads home.
 */
import type { WindowTarget } from '../../../src/shared/desktop-api.js';
import { assertNever } from '../../../src/shared/states.js';

export type ViewName = WindowTarget['view'];

export interface Route {
  target: WindowTarget;
  /** Query parameters besides the target's own fields (the request form's prefill). */
  query: Record<string, string>;
}

export const HOME: Route = { target: { view: 'home' }, query: {} };

const ID = /^[a-z]{1,4}_[0-9A-Za-z]{10,40}$/;

export function parseRoute(hash: string): Route {
  const body = hash.replace(/^#?\/?/, '');
  const q = body.indexOf('?');
  const view = q === -1 ? body : body.slice(0, q);
  const params = new URLSearchParams(q === -1 ? '' : body.slice(q + 1));
  const query: Record<string, string> = {};
  for (const [k, v] of params) query[k] = v;
  const take = (...keys: string[]) => {
    for (const k of keys) delete query[k];
  };
  switch (view) {
    case '':
    case 'home':
      return { target: { view: 'home' }, query };
    case 'enroll':
    case 'request_access':
    case 'approvals':
    case 'settings':
      return { target: { view }, query };
    case 'request': {
      const requestId = params.get('requestId') ?? '';
      take('requestId');
      return ID.test(requestId) ? { target: { view, requestId }, query } : HOME;
    }
    case 'grant': {
      const grantId = params.get('grantId') ?? '';
      const extend = params.get('extend') === 'true';
      take('grantId', 'extend');
      return ID.test(grantId) ? { target: extend ? { view, grantId, extend } : { view, grantId }, query } : HOME;
    }
    default:
      return HOME;
  }
}

/** The hash of a place, the same shape `windowUrl` writes. */
export function routeHash(target: WindowTarget, query: Record<string, string> = {}): string {
  const { view, ...fields } = target as { view: string } & Record<string, string | boolean | undefined>;
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries({ ...fields, ...query })) if (v !== undefined && v !== false) search.set(k, String(v));
  const qs = search.toString();
  return `#/${view}${qs === '' ? '' : `?${qs}`}`;
}

/** The navigation tab a place belongs to. */
export type Tab = 'access' | 'request' | 'approvals' | 'setup';

/** `reviewing`: the request of a `request` place is one I review (it then opens under Approvals). */
export function tabOf(target: WindowTarget, reviewing = false): Tab {
  switch (target.view) {
    case 'home':
    case 'grant':
      return 'access';
    case 'request_access':
      return 'request';
    case 'approvals':
      return 'approvals';
    case 'request':
      return reviewing ? 'approvals' : 'access';
    case 'enroll':
    case 'settings':
      return 'setup';
    default:
      return assertNever(target, 'view');
  }
}
