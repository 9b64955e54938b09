/**
 * The operator endpoints beside the API, through the real server: `/openapi.json` describes every
 * route of the shared route table as an OpenAPI 3 document, and `/readyz` says whether the server
 * can do its work (store reachable, scheduler running).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { routes } from '../../shared/api.js';
import { startHarness, type Harness } from '../test-support/harness.js';

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => h.close());

const HTTP_METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);

/**
 * The structural rules of OpenAPI 3.x (https://spec.openapis.org/oas/v3.1.0) a client generator
 * depends on; returns each rule broken, so a failure lists them all.
 */
function openApiProblems(doc: any): string[] {
  const problems: string[] = [];
  if (typeof doc.openapi !== 'string' || !/^3\.\d+\.\d+$/.test(doc.openapi)) problems.push(`openapi is ${JSON.stringify(doc.openapi)}, not a 3.x.y version`);
  if (typeof doc.info?.title !== 'string' || typeof doc.info?.version !== 'string') problems.push('info needs a title and a version (strings)');
  if (typeof doc.paths !== 'object' || doc.paths === null) return [...problems, 'no paths object'];
  const schemes = Object.keys(doc.components?.securitySchemes ?? {});
  const operationIds = new Set<string>();
  for (const [path, item] of Object.entries<Record<string, any>>(doc.paths)) {
    if (!path.startsWith('/')) problems.push(`path ${path} does not start with /`);
    const templated = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
    for (const [method, op] of Object.entries(item)) {
      const where = `${method.toUpperCase()} ${path}`;
      if (!HTTP_METHODS.has(method)) problems.push(`${where}: not an HTTP method`);
      if (typeof op.operationId !== 'string' || operationIds.has(op.operationId)) problems.push(`${where}: operationId missing or not unique`);
      operationIds.add(op.operationId);
      const responses = Object.entries<any>(op.responses ?? {});
      if (responses.length === 0) problems.push(`${where}: no responses`);
      for (const [code, r] of responses) {
        if (code !== 'default' && !/^[1-5]\d\d$/.test(code)) problems.push(`${where}: response key ${code} is not a status code`);
        if (typeof r.description !== 'string') problems.push(`${where} ${code}: a response needs a description`);
      }
      const params: any[] = op.parameters ?? [];
      const seen = new Set<string>();
      for (const p of params) {
        if (typeof p.name !== 'string' || !['path', 'query', 'header', 'cookie'].includes(p.in) || typeof p.schema !== 'object') problems.push(`${where}: parameter ${JSON.stringify(p)} needs name, in and schema`);
        if (seen.has(`${p.in}:${p.name}`)) problems.push(`${where}: parameter ${p.name} twice`);
        seen.add(`${p.in}:${p.name}`);
        if (p.in === 'path' && (p.required !== true || !templated.includes(p.name))) problems.push(`${where}: path parameter ${p.name} must be required and in the path`);
      }
      for (const name of templated) if (!params.some((p) => p.in === 'path' && p.name === name)) problems.push(`${where}: {${name}} is not declared as a path parameter`);
      if (op.requestBody && typeof op.requestBody.content?.['application/json']?.schema !== 'object') problems.push(`${where}: requestBody without a JSON schema`);
      for (const req of op.security ?? []) for (const s of Object.keys(req)) if (!schemes.includes(s)) problems.push(`${where}: security scheme ${s} is not defined`);
    }
  }
  // Every $ref points inside the document.
  const refs = JSON.stringify(doc).match(/"\$ref":"[^"]*"/g) ?? [];
  for (const ref of refs) {
    const target = JSON.parse(`{${ref}}`).$ref as string;
    const found = target.startsWith('#/') && target.slice(2).split('/').reduce<any>((at, key) => at?.[key.replace(/~1/g, '/').replace(/~0/g, '~')], doc) !== undefined;
    if (!found) problems.push(`$ref ${target} does not resolve`);
  }
  return problems;
}

describe('/openapi.json', () => {
  it('is a valid OpenAPI 3 document, served without a token', async () => {
    const r = await h.anonymous().get('/openapi.json');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    expect(openApiProblems(r.body)).toEqual([]);
  });

  it('lists every route of the shared route table, with its method, parameters, body and auth', async () => {
    const doc = (await h.anonymous().get('/openapi.json')).body;
    const listed = Object.entries<Record<string, any>>(doc.paths).flatMap(([path, item]) => Object.entries(item).map(([method, op]) => ({ path, method, op })));
    expect(listed.map((l) => l.op.operationId).sort()).toEqual(Object.keys(routes).sort());
    for (const [name, route] of Object.entries(routes)) {
      const op = doc.paths[route.path.replace(/:(\w+)/g, '{$1}')]?.[route.method.toLowerCase()];
      expect(op?.operationId, `${route.method} ${route.path}`).toBe(name);
      expect(op.security, name).toEqual(route.auth === 'none' ? [] : [{ bearer: [] }]);
      expect(Object.keys(op.responses), name).toContain(String('status' in route ? route.status : 200));
      expect(op.requestBody !== undefined, `${name} has a body`).toBe('body' in route);
    }
    // The body schema is the one the server validates with: strict, with its required fields.
    const create = doc.paths['/v1/requests'].post.requestBody.content['application/json'].schema;
    expect(create).toMatchObject({ type: 'object', additionalProperties: false });
    expect(create.required).toEqual(expect.arrayContaining(['resource', 'role']));
    expect(doc.paths['/v1/requests/{id}/approve'].post.parameters).toEqual([expect.objectContaining({ name: 'id', in: 'path', required: true })]);
  });
});

describe('/readyz', () => {
  it('is 200 while the store answers and the scheduler runs', async () => {
    const r = await h.anonymous().get('/readyz');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ ok: true, store: true, scheduler: true, closing: false });
  });

  it('is 503 when the scheduler is stopped, and 200 again once it runs', async () => {
    await h.server.scheduler.stop();
    const stopped = await h.anonymous().get('/readyz');
    expect(stopped.status).toBe(503);
    expect(stopped.body).toMatchObject({ ok: false, scheduler: false });
    await h.server.scheduler.start();
    expect((await h.anonymous().get('/readyz')).status).toBe(200);
  });

  it('is 503 when the store is closed', async () => {
    await h.server.scheduler.stop();
    await h.server.store.close();
    const r = await h.anonymous().get('/readyz');
    expect(r.status).toBe(503);
    expect(r.body).toMatchObject({ ok: false, store: false });
    expect((await h.anonymous().get('/healthz')).status).toBe(200); // the process is up, just not ready
  });
});
