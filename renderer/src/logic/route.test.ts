import { describe, expect, it } from 'vitest';
import { HOME, parseRoute, routeHash, tabOf } from './route.js';

describe('parseRoute', () => {
  it('reads the places electron/window.ts windowUrl writes', () => {
    expect(parseRoute('#/home')).toEqual(HOME);
    expect(parseRoute('#/approvals')).toEqual({ target: { view: 'approvals' }, query: {} });
    expect(parseRoute('#/request?requestId=req_0123456789')).toEqual({ target: { view: 'request', requestId: 'req_0123456789' }, query: {} });
    expect(parseRoute('#/grant?grantId=gr_0123456789&extend=true')).toEqual({ target: { view: 'grant', grantId: 'gr_0123456789', extend: true }, query: {} });
    expect(parseRoute('#/grant?grantId=gr_0123456789')).toEqual({ target: { view: 'grant', grantId: 'gr_0123456789' }, query: {} });
  });

  it('keeps a deep link prefill as query', () => {
    expect(parseRoute('#/request_access?resource=pg-prod&role=readonly')).toEqual({ target: { view: 'request_access' }, query: { resource: 'pg-prod', role: 'readonly' } });
  });

  it('leads home from anything it cannot read', () => {
    expect(parseRoute('')).toEqual(HOME);
    expect(parseRoute('#/nowhere')).toEqual(HOME);
    expect(parseRoute('#/request')).toEqual(HOME);
    expect(parseRoute('#/grant?grantId=../../etc')).toEqual(HOME);
  });

  it('round-trips with routeHash', () => {
    for (const hash of ['#/home', '#/settings', '#/grant?grantId=gr_0123456789&extend=true', '#/request_access?resource=pg-prod&role=readonly']) {
      const r = parseRoute(hash);
      expect(routeHash(r.target, r.query)).toBe(hash);
    }
  });
});

describe('tabOf', () => {
  it('puts each place under its tab; a request under Approvals when I review it', () => {
    expect(tabOf({ view: 'grant', grantId: 'gr_0123456789' })).toBe('access');
    expect(tabOf({ view: 'enroll' })).toBe('setup');
    expect(tabOf({ view: 'request', requestId: 'req_0123456789' })).toBe('access');
    expect(tabOf({ view: 'request', requestId: 'req_0123456789' }, true)).toBe('approvals');
  });
});
