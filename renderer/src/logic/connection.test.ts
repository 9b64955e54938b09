import { describe, expect, it } from 'vitest';
import { connectionLine } from './connection.js';
import { wallClock } from './time.js';
import { isoAt, snapshot, T0 } from './test-fixtures.js';

const clock = wallClock('en-GB', 'UTC');

describe('connectionLine', () => {
  it('says live, reconnecting or offline since when', () => {
    expect(connectionLine(snapshot(), clock)).toEqual({ tone: 'live', label: 'Live', detail: null, asOf: null });
    expect(connectionLine(snapshot({ connection: { state: 'reconnecting', since: isoAt(-1), detail: 'the event stream went quiet' } }), clock))
      .toMatchObject({ tone: 'reconnecting', label: 'Reconnecting…', detail: 'the event stream went quiet' });
    expect(connectionLine(snapshot({ connection: { state: 'offline', since: new Date(T0 - 18 * 60_000).toISOString(), detail: 'no network' } }), clock).label).toBe('Offline since 09:42');
  });

  it('says how old the data is while it may be out of date', () => {
    const s = snapshot({ connection: { state: 'offline', since: isoAt(-5), detail: null }, stale: { since: new Date(T0 - 5 * 60_000 + 7_000).toISOString() } });
    expect(connectionLine(s, clock).asOf).toBe('Showing data as of 09:55:07');
  });

  it('says "not signed in" rather than offline before enrollment', () => {
    expect(connectionLine(snapshot({ phase: 'signed_out', connection: { state: 'offline', since: isoAt(0), detail: null } }), clock)).toMatchObject({ tone: 'signed_out', label: 'Not signed in' });
  });
});
