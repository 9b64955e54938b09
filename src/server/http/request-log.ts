/**
 * The request log: Fastify's own lines (a request in, its answer), but with the query string's
 * values shown only for the contract's own query parameters. A client that puts a token in the URL
 * (`/v1/events?access_token=eyJ…`, as some SSE libraries do) must not get it written to the log in
 * full: a URL is logged, a header is not.
 */
import { LogController, type FastifyRequest } from 'fastify';
import { routes } from '../../shared/api.js';
import type { z } from 'zod';

/** Query parameters whose values are safe to log: those the contract declares (scope, state, limit, after). */
const LOGGED_QUERY_KEYS: ReadonlySet<string> = new Set(
  Object.values(routes).flatMap((r) => ('query' in r ? Object.keys((r.query as z.ZodObject).shape) : [])),
);

const MAX_LOGGED_KEY = 64;

/** `url` with every query value but the contract's replaced by `[redacted]`; the path as it came. */
export function loggableUrl(url: string): string {
  const q = url.indexOf('?');
  if (q === -1) return url;
  const parts = url.slice(q + 1).split('&').map((pair) => {
    const eq = pair.indexOf('=');
    const rawKey = eq === -1 ? pair : pair.slice(0, eq);
    let key: string;
    try {
      key = decodeURIComponent(rawKey.replace(/\+/g, ' '));
    } catch {
      key = '';
    }
    const shownKey = rawKey.length > MAX_LOGGED_KEY ? `${rawKey.slice(0, MAX_LOGGED_KEY)}…` : rawKey;
    if (eq === -1) return shownKey;
    return LOGGED_QUERY_KEYS.has(key) ? pair : `${shownKey}=[redacted]`;
  });
  return `${url.slice(0, q)}?${parts.join('&')}`;
}

/**
 * Fastify's internal log lines (request in, request done, route not found) as Fastify writes them,
 * but with `loggableUrl` wherever a URL is written.
 */
export class RedactingLogController extends LogController {
  override incomingRequest(request: FastifyRequest): void {
    if (this.isLogDisabled(request)) return;
    // Fastify's `req` serializer still runs on this: give it the fields it reads, the URL redacted.
    const req = { method: request.method, url: loggableUrl(request.url), headers: { 'accept-version': request.headers['accept-version'] }, host: request.host, ip: request.ip, socket: { remotePort: request.socket.remotePort } };
    request.log.info({ req }, 'incoming request');
  }

  override routeNotFound(request: FastifyRequest): void {
    if (this.isLogDisabled(request)) return;
    request.log.info(`Route ${request.method}:${loggableUrl(request.url)} not found`);
  }
}
