/**
 * The window's Content-Security-Policy (DESIGN.md "Electron shell"). The renderer talks only to
 * window.latch, so in the app it needs no network at all: electron/protocol.ts sends
 * CONTENT_SECURITY_POLICY (`connect-src 'none'`) with every app://latch response. The e2e browser
 * harness serves the same renderer over loopback http and carries window.latch over a WebSocket,
 * so it sends the same policy with `connect-src` opened to that one socket's origin and nothing
 * else: the renderer is tested under the policy it ships with.
 */

/** `connectSrc`: the one source the page may connect to (`'none'` in the app). */
export function contentSecurityPolicy(connectSrc = "'none'"): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    `connect-src ${connectSrc}`,
    "frame-src 'none'",
    "frame-ancestors 'none'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
}

export const CONTENT_SECURITY_POLICY = contentSecurityPolicy();
