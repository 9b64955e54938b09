/** `/openapi.json`, generated from the shared route table — the same schemas the server validates with. */
import { z } from 'zod';
import { errorBodySchema, routes } from '../../shared/api.js';

let cached: unknown;

const json = (schema: z.ZodType, io: 'input' | 'output') =>
  z.toJSONSchema(schema, {
    io,
    unrepresentable: 'any',
    // zod leaves out the default of a transformed value (the query's whole numbers, api.ts); say it.
    override: (ctx) => {
      const def = ctx.zodSchema._zod.def;
      if (def.type === 'default' && ctx.jsonSchema.default === undefined) ctx.jsonSchema.default = def.defaultValue as z.core.util.JSONType;
    },
  });

export function openApiDocument(): unknown {
  if (cached) return cached;
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [name, route] of Object.entries(routes)) {
    const path = route.path.replace(/:(\w+)/g, '{$1}');
    const parameters: unknown[] = [];
    if ('params' in route && route.params) {
      for (const [key, schema] of Object.entries((json(route.params, 'input') as { properties?: Record<string, unknown> }).properties ?? {})) parameters.push({ name: key, in: 'path', required: true, schema });
    }
    if ('query' in route && route.query) {
      for (const [key, schema] of Object.entries((json(route.query, 'input') as { properties?: Record<string, unknown> }).properties ?? {})) parameters.push({ name: key, in: 'query', required: false, schema });
    }
    if (name === 'createRequest' || name === 'extendGrant') parameters.push({ name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', maxLength: 128 } });
    const status = String('status' in route ? route.status : 200);
    paths[path] ??= {};
    paths[path][route.method.toLowerCase()] = {
      operationId: name,
      summary: route.summary,
      security: route.auth === 'none' ? [] : [{ bearer: [] }],
      parameters,
      ...('body' in route && route.body ? { requestBody: { required: true, content: { 'application/json': { schema: json(route.body, 'input') } } } } : {}),
      responses: {
        [status]: { description: 'OK', content: name === 'events' ? { 'text/event-stream': { schema: { type: 'string' } } } : { 'application/json': { schema: json(route.response, 'output') } } },
        default: { description: 'Error', content: { 'application/json': { schema: json(errorBodySchema, 'output') } } },
      },
    };
  }
  cached = {
    openapi: '3.1.0',
    info: { title: 'Latch approval server', version: '1' },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    paths,
  };
  return cached;
}
