/**
 * The UI is served from `app://latch/` (renderer/dist), never from file:// (every file would share
 * one origin) nor from a dev server, with a strict CSP on every response: the renderer talks only to
 * window.latch, so it needs no network at all (`connect-src 'none'`).
 */
import { isAbsolute, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { net, protocol, type Session } from 'electron';
import { CONTENT_SECURITY_POLICY } from '../src/desktop/csp.js';
import { APP_HOST, APP_SCHEME } from '../src/desktop/ipc-guard.js';

// Defined in src/desktop so the e2e browser harness serves the renderer under the same policy.
export { CONTENT_SECURITY_POLICY };

/** Before `app.ready`: a standard, secure scheme (so it has an origin and counts as secure context). */
export function registerAppScheme(): void {
  protocol.registerSchemesAsPrivileged([{ scheme: APP_SCHEME, privileges: { standard: true, secure: true } }]);
}

/**
 * The same CSP on every response the session receives over http(s), should anything ever load
 * that way (nothing should: defence in depth for the protocol handler below).
 */
export function enforceCsp(ses: Session): void {
  ses.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [CONTENT_SECURITY_POLICY] } });
  });
}

/** Serves `root` (renderer/dist) on app://latch/ in `ses`; nothing outside `root`, no other host. */
export function serveRenderer(ses: Session, root: string): void {
  ses.protocol.handle(APP_SCHEME, async (request) => {
    const url = new URL(request.url);
    if (url.hostname !== APP_HOST || request.method !== 'GET') return new Response('Not found', { status: 404 });
    const path = decodeURIComponent(url.pathname);
    const file = resolve(root, `.${path === '/' ? '/index.html' : path}`);
    const rel = relative(root, file);
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return new Response('Not found', { status: 404 });
    const found = await net.fetch(pathToFileURL(file).toString()).catch(() => null);
    if (found === null || !found.ok) return new Response('Not found', { status: 404 });
    const headers = new Headers(found.headers);
    headers.set('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    headers.set('X-Content-Type-Options', 'nosniff');
    return new Response(found.body, { status: 200, headers });
  });
}
