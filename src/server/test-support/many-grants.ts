/**
 * Many grants of one person, made quickly for tests of the lists: requests on a role the policy
 * approves at once (TEST_CONFIG: erin, of ops, on pg-prod/readonly, a pass connector), sent a
 * batch at a time, then ended the same way.
 */
import type { Harness, TestClient } from './harness.js';

export const AUTO_APPROVED = { resource: 'pg-prod', role: 'readonly' } as const;
const BATCH = 10;

/**
 * `count` active grants of `client`'s user, `BATCH` requests at a time; `beforeBatch` runs before
 * each batch is sent (a test moves its clock there, so batches are made at different times).
 * The grant ids, batch by batch, oldest batch first.
 */
export async function activeGrants(h: Harness, client: TestClient, count: number, beforeBatch: () => void = () => undefined): Promise<string[][]> {
  const batches: string[][] = [];
  for (let made = 0; made < count; made += BATCH) {
    beforeBatch();
    const n = Math.min(BATCH, count - made);
    batches.push(await Promise.all(Array.from({ length: n }, async (_, i) => {
      const r = await client.post('/v1/requests', { ...AUTO_APPROVED, duration: '1h', reason: `INC-9000 list filler ${made + i}` });
      if (r.status !== 201 || typeof r.body.grantId !== 'string') throw new Error(`request ${made + i}: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body.grantId as string;
    })));
  }
  await h.settle();
  return batches;
}

/** Ends these grants (the grantee's own `end`), `BATCH` at a time. */
export async function endGrants(client: TestClient, ids: readonly string[]): Promise<void> {
  for (let i = 0; i < ids.length; i += BATCH) {
    await Promise.all(ids.slice(i, i + BATCH).map(async (id) => {
      const r = await client.post(`/v1/grants/${id}/end`);
      if (r.status !== 200 || r.body.state !== 'ended') throw new Error(`end ${id}: ${r.status} ${JSON.stringify(r.body)}`);
    }));
  }
}
