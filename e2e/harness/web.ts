/**
 * The harness's loopback web server: renderer/dist over http, under the window's own CSP with
 * `connect-src` opened to this server's WebSocket only, and that WebSocket, where pages reach
 * their user's agent.
 *
 * Served: the files of renderer/dist (nothing outside it, GET and HEAD only), with index.html
 * rewritten to load the bridge script before the renderer's, and the bridge script itself. The
 * server logs nothing, so neither the token nor anything else ends up in a log.
 *
 * The socket is accepted only with this run's token (a subprotocol, compared in constant time),
 * an `Origin` equal to this server's origin (so no other web page the browser has open can
 * connect, even one on another loopback port) and a known user; otherwise the upgrade is answered
 * with 401, 403 or 404 and the connection closed.
 */
import { timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { extname, isAbsolute, join, relative, resolve } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { contentSecurityPolicy } from '../../src/desktop/csp.js';
import { BRIDGE_PROTOCOL, BRIDGE_SCRIPT_PATH, BRIDGE_SOCKET_PATH, TOKEN_PROTOCOL_PREFIX } from './bridge-protocol.js';
import { MAX_MESSAGE_BYTES } from './bridge-host.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.txt': 'text/plain; charset=utf-8',
};

export interface WebOptions {
  /** renderer/dist. */
  root: string;
  bridgeScript: string;
  token: string;
  /** Called with each accepted socket. */
  accept(user: string, socket: WebSocket): void;
  /** false when `user` has no agent here (the upgrade gets a 404). */
  knowsUser(user: string): boolean;
}

export interface Web {
  /** `http://127.0.0.1:PORT` */
  origin: string;
  /** `ws://127.0.0.1:PORT` */
  socketOrigin: string;
  close(): Promise<void>;
}

export async function startWeb(opts: WebOptions): Promise<Web> {
  const sockets = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_MESSAGE_BYTES,
    // Answer with the bridge protocol, never with the token one.
    handleProtocols: (offered) => (offered.has(BRIDGE_PROTOCOL) ? BRIDGE_PROTOCOL : false),
  });
  let origin = '';
  let host = '';
  let csp = '';
  const server: Server = createServer((req, res) => {
    void serveFile(req, res).catch(() => send(res, 500, 'text/plain; charset=utf-8', 'harness error'));
  });

  async function serveFile(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.headers.host !== host) return send(res, 421, 'text/plain; charset=utf-8', `this server answers to ${host} only`);
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain; charset=utf-8', 'GET only');
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', origin).pathname);
    } catch {
      return send(res, 400, 'text/plain; charset=utf-8', 'bad path');
    }
    if (path === BRIDGE_SCRIPT_PATH) return send(res, 200, TYPES['.js']!, opts.bridgeScript);
    if (path === '/' || path === '/index.html') {
      // Read at each load, so a renderer rebuilt while the harness runs shows on reload.
      const html = await readFile(join(opts.root, 'index.html'), 'utf8').catch(() => null);
      if (html === null) return send(res, 404, 'text/plain; charset=utf-8', `no ${join(opts.root, 'index.html')}: build the renderer first`);
      return send(res, 200, TYPES['.html']!, injectBridge(html));
    }
    const file = resolve(opts.root, `.${path}`);
    const rel = relative(opts.root, file);
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return send(res, 404, 'text/plain; charset=utf-8', 'not found');
    const body = await readFile(file).catch(() => null);
    // A browser asks for a favicon by itself (Electron never does): no icon, and no 404 in the console.
    if (body === null && path === '/favicon.ico') return send(res, 204, 'image/x-icon', '');
    if (body === null) return send(res, 404, 'text/plain; charset=utf-8', 'not found');
    return send(res, 200, TYPES[extname(file)] ?? 'application/octet-stream', body);
  }

  function send(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
    res.writeHead(status, {
      'content-type': type,
      'content-security-policy': csp,
      'x-content-type-options': 'nosniff',
      'cache-control': 'no-store',
      'referrer-policy': 'no-referrer',
    });
    res.end(res.req.method === 'HEAD' ? undefined : body);
  }

  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const refuse = (status: number, text: string, why: string) => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nconnection: close\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(why)}\r\n\r\n${why}`);
    };
    let url: URL;
    try {
      url = new URL(req.url ?? '/', origin);
    } catch {
      return refuse(400, 'Bad Request', 'bad path');
    }
    if (url.pathname !== BRIDGE_SOCKET_PATH) return refuse(404, 'Not Found', 'not found');
    if (req.headers.host !== host || req.headers.origin !== origin) return refuse(403, 'Forbidden', 'only pages of this harness may connect');
    if (!hasToken(req.headers['sec-websocket-protocol'], opts.token)) return refuse(401, 'Unauthorized', 'wrong or missing harness token');
    const user = url.searchParams.get('user') ?? '';
    if (!opts.knowsUser(user)) return refuse(404, 'Not Found', 'no agent for this user in the harness');
    sockets.handleUpgrade(req, socket, head, (ws) => opts.accept(user, ws));
  });

  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => done());
  });
  const { port } = server.address() as AddressInfo;
  host = `127.0.0.1:${port}`;
  origin = `http://${host}`;
  const socketOrigin = `ws://${host}`;
  csp = contentSecurityPolicy(socketOrigin);

  return {
    origin,
    socketOrigin,
    async close() {
      for (const ws of sockets.clients) ws.terminate();
      sockets.close();
      server.closeAllConnections();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}

/** The token subprotocol among those offered, compared in constant time. */
function hasToken(header: string | undefined, token: string): boolean {
  const expected = Buffer.from(`${TOKEN_PROTOCOL_PREFIX}${token}`);
  return (header ?? '').split(',').some((p) => {
    const offered = Buffer.from(p.trim());
    return offered.length === expected.length && timingSafeEqual(offered, expected);
  });
}

/**
 * index.html with the bridge script placed before the renderer's first script (a classic,
 * blocking script, so window.latch exists when the renderer's code runs), or at the end of the
 * head when the page has no script (the placeholder page). A CSP `<meta>` is dropped: the page is
 * served with the same policy as a header, with the socket allowed, and a meta policy would
 * still forbid the socket.
 */
export function injectBridge(html: string): string {
  const tag = `<script src="${BRIDGE_SCRIPT_PATH}"></script>`;
  const page = html.replace(/<meta\s+http-equiv=["']?content-security-policy["']?[^>]*>\s*/gi, '');
  // Searched with comments blanked out (same length), so a `<script` in a comment does not count.
  const code = page.replace(/<!--[\s\S]*?-->/g, (c) => ' '.repeat(c.length));
  const script = code.search(/<script\b/i);
  if (script !== -1) return `${page.slice(0, script)}${tag}\n    ${page.slice(script)}`;
  const headEnd = code.search(/<\/head>/i);
  if (headEnd !== -1) return `${page.slice(0, headEnd)}  ${tag}\n  ${page.slice(headEnd)}`;
  return `${tag}\n${page}`;
}
