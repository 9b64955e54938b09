/**
 * The Fastify app: every route of the shared contract registered through one wrapper that
 * authenticates, validates params, query and body with the contract's schemas, and answers errors
 * as `{"error": {"code", "message"}}` with a 4xx — a 5xx only for a real fault of ours.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { z } from 'zod';
import { routes, type RouteName } from '../../shared/api.js';
import { describeIssue } from '../../shared/zod-messages.js';
import type { Principal } from '../../shared/policy.js';
import { ApiError } from './errors.js';
import { openApiDocument } from './openapi.js';
import { RedactingLogController } from './request-log.js';

export const BODY_LIMIT = 64 * 1024;

export interface CallContext {
  user: Principal;
  device: string;
  params: any;
  query: any;
  body: any;
  req: FastifyRequest;
  reply: FastifyReply;
}

/** A result with a status other than the route's usual one (e.g. 200 for an idempotent replay). */
export class Answer {
  constructor(readonly status: number, readonly body: unknown) {}
}

export type Handler = (ctx: CallContext) => Promise<unknown>;
export type PublicHandler = (ctx: Omit<CallContext, 'user' | 'device'>) => Promise<unknown>;

export interface AppDeps {
  logger: Logger;
  authenticate(token: string): Promise<{ user: Principal; device: string }>;
  handlers: { [N in RouteName]: (typeof routes)[N]['auth'] extends 'none' ? PublicHandler : Handler };
  /** Extra unauthenticated routes: health, readiness, metrics, JWKS. */
  extra(app: FastifyInstance): void;
  onResponse?(route: string, method: string, status: number, seconds: number): void;
}

function describeZod(err: z.ZodError, where: string): ApiError {
  const issue = err.issues[0]!;
  const field = issue.path.join('.');
  const message =
    issue.code === 'unrecognized_keys'
      ? `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')} in the ${where}`
      : `${field ? `${where} field "${field}"` : `the ${where}`} ${describeIssue(issue)}`;
  return new ApiError(400, 'validation_failed', message, { field: field || null, location: where });
}

function parse(schema: z.ZodType | undefined, value: unknown, where: string): unknown {
  if (!schema) return undefined;
  // No body at all reads as `{}`; a JSON `null` body is a body, and the contract refuses it.
  const result = schema.safeParse(value === undefined ? {} : value);
  if (!result.success) throw describeZod(result.error, where);
  return result.data;
}

export function errorBody(err: ApiError) {
  return { error: { code: err.code, message: err.message, ...err.details } };
}

export function buildApp(deps: AppDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // Fastify's request lines log the URL with its query string, tokens and all: these do not.
    logController: new RedactingLogController(),
    bodyLimit: BODY_LIMIT,
    return503OnClosing: true,
    // Ids and names in paths are validated by the contract; keep router limits generous but finite.
    routerOptions: { maxParamLength: 200 },
    // Errors Node's HTTP parser raises before Fastify sees a request (e.g. headers over 16 KiB).
    clientErrorHandler: (err: NodeJS.ErrnoException, socket) => {
      if (!socket.writable) return socket.destroy();
      const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
      const body = JSON.stringify(errorBody(new ApiError(tooLarge ? 431 : 400, 'bad_request', tooLarge ? 'the request headers are too large (over 16 KiB)' : 'the request could not be parsed as HTTP')));
      socket.end(`HTTP/1.1 ${tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request'}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    },
    // The router refuses a malformed %-escape or an over-long parameter before any route runs, so
    // the error handler never sees it; answer those in the contract's error shape too.
    frameworkErrors: (err, _req, reply: FastifyReply) => {
      const message = err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'a path segment is longer than 200 characters; no id or name is that long'
        : err.code === 'FST_ERR_BAD_URL' ? 'the path is not a valid URL (a broken %-escape)' : 'the request could not be routed';
      void reply.status(400).send(errorBody(new ApiError(400, 'bad_request', message)));
    },
  });

  app.setErrorHandler((err: any, req, reply) => {
    if (err instanceof ApiError) return reply.status(err.status).send(errorBody(err));
    const status = typeof err.statusCode === 'number' ? err.statusCode : 500;
    if (status === 413) return reply.status(413).send(errorBody(new ApiError(413, 'payload_too_large', `the body is larger than ${BODY_LIMIT / 1024} KiB`)));
    if (status === 415) return reply.status(415).send(errorBody(new ApiError(415, 'unsupported_media_type', 'send the body as application/json')));
    if (status >= 400 && status < 500) {
      const message = err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ? 'the body is empty; send a JSON object' : `the request could not be read: ${String(err.message).slice(0, 200)}`;
      return reply.status(400).send(errorBody(new ApiError(400, 'bad_request', message)));
    }
    req.log.error({ err, url: req.routeOptions.url }, 'request failed');
    return reply.status(500).send(errorBody(new ApiError(500, 'internal', 'the server failed to handle this request; it was logged — try again, and tell your admin if it persists')));
  });

  app.setNotFoundHandler((req, reply) => {
    reply.status(404).send(errorBody(new ApiError(404, 'not_found', `no route ${req.method} ${req.url.split('?')[0]}; see /openapi.json`)));
  });

  app.addHook('onResponse', async (req, reply) => {
    deps.onResponse?.(req.routeOptions.url ?? 'unknown', req.method, reply.statusCode, reply.elapsedTime / 1000);
  });

  for (const [name, route] of Object.entries(routes) as [RouteName, (typeof routes)[RouteName]][]) {
    const handler = deps.handlers[name] as Handler;
    app.route({
      method: route.method,
      url: route.path,
      handler: async (req, reply) => {
        let who: { user: Principal; device: string } | undefined;
        if (route.auth !== 'none') {
          const header = req.headers.authorization;
          if (!header || !/^Bearer\s+\S+$/i.test(header)) throw new ApiError(401, 'unauthorized', 'sign in first: send "Authorization: Bearer <access token>" (`latch login`)');
          who = await deps.authenticate(header.replace(/^Bearer\s+/i, ''));
          if (route.auth === 'admin' && !who.user.admin) throw new ApiError(403, 'forbidden', 'this needs an admin');
        }
        const params = parse('params' in route ? route.params : undefined, req.params, 'path');
        const query = parse('query' in route ? route.query : undefined, req.query, 'query');
        const body = route.method === 'POST' ? parse('body' in route ? route.body : undefined, req.body, 'body') : undefined;
        const result = await handler({ user: who?.user as Principal, device: who?.device as string, params, query, body, req, reply });
        if (reply.sent) return reply;
        if (result instanceof Answer) return reply.status(result.status).send(result.body);
        return reply.status('status' in route ? route.status : 200).send(result);
      },
    });
  }

  app.get('/openapi.json', async () => openApiDocument());
  deps.extra(app);
  return app;
}
