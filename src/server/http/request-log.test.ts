/**
 * The request log through the real server: a token or code put in a URL's query string is never
 * written to the log, whatever the route and whatever the answer; the contract's own query
 * parameters still are, so the log says what was asked.
 */
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newCodeFor } from '../auth/identity.js';
import { eventually } from '../test-support/eventually.js';
import { startHarness, type Harness } from '../test-support/harness.js';
import { loggableUrl } from './request-log.js';

let h: Harness;
const lines: string[] = [];
let token: string;

beforeAll(async () => {
  // trace: whatever Fastify or the server logs at any level is in `lines`.
  h = await startHarness({ logger: pino({ level: 'trace' }, { write: (line: string) => void lines.push(line) }) });
  token = (await h.as('alice')).token!;
});
afterAll(async () => h?.close());

/** What was logged while `call` ran. */
async function logOf(call: () => Promise<Response>): Promise<{ status: number; log: string }> {
  const from = lines.length;
  const res = await call();
  await res.body?.cancel();
  // The answer's line is written once the response is finished.
  const log = await eventually('the request completed line', async () => lines.slice(from).join('\n'), (l) => l.includes('"msg":"request completed"'));
  return { status: res.status, log };
}

describe('the request log', () => {
  it('never holds an access token sent in the query string (GET /v1/events?access_token=…)', async () => {
    const { status, log } = await logOf(() => fetch(`${h.url}/v1/events?access_token=${token}`));
    expect(status).toBe(401);
    expect(log).toContain('"req":{"method":"GET","url":"/v1/events?access_token=[redacted]","host":"127.0.0.1:');
    expect(log).toMatch(/"remoteAddress":"127\.0\.0\.1","remotePort":\d+\}/);
    expect(log).not.toContain(token);
    expect(log).not.toContain(token.split('.')[2]);
  });

  it('never holds secret-looking query values on any route or answer, and keeps the contract\'s own', async () => {
    const { code } = await newCodeFor(h.server.store, 'bob', h.server.clock.now());
    const secrets = [token, code, 'pw-hunter2-secret', 'lrt_refresh-secret-value'];
    const urls = [
      `/v1/requests?scope=mine&limit=5&token=${secrets[0]}`,
      `/v1/enroll?code=${encodeURIComponent(code)}`,
      `/nowhere?password=${secrets[2]}&key=${secrets[2]}`,
      `/v1/grants?refresh_token=${secrets[3]}&state=active`,
      `/healthz?secret=${secrets[2]}`,
      `/v1/requests?%zz=${secrets[2]}&access_token`,
    ];
    for (const url of urls) {
      const { status, log } = await logOf(() => fetch(h.url + url, { headers: { authorization: `Bearer ${token}` } }));
      expect(status, url).toBeLessThan(500);
      for (const s of secrets) expect(log, `${url} logged ${s.slice(0, 8)}…`).not.toContain(s);
    }
    const { log } = await logOf(() => fetch(`${h.url}/v1/requests?scope=mine&limit=5&token=x`, { headers: { authorization: `Bearer ${token}` } }));
    expect(log).toContain('"url":"/v1/requests?scope=mine&limit=5&token=[redacted]"');
    expect(log).toContain('"msg":"request completed"');
  });
});

describe('loggableUrl', () => {
  it('keeps the path and the contract\'s query parameters, and redacts every other value', () => {
    expect(loggableUrl('/v1/requests')).toBe('/v1/requests');
    expect(loggableUrl('/v1/audit?after=10&limit=20')).toBe('/v1/audit?after=10&limit=20');
    expect(loggableUrl('/v1/events?after=3&access_token=eyJ.x.y&code=AB-CD')).toBe('/v1/events?after=3&access_token=[redacted]&code=[redacted]');
    // A key spelt with escapes is still the same key; a value without a key is dropped too.
    expect(loggableUrl('/v1/x?%61ccess_token=eyJ&=lone&flag')).toBe('/v1/x?%61ccess_token=[redacted]&=[redacted]&flag');
  });
});
