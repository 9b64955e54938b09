// Links are untrusted input from any web page or the command line.
import { describe, expect, it } from 'vitest';
import { deepLinkInArgv, isAllowedExternalUrl, parseDeepLink } from './links.js';

describe('latch:// deep links', () => {
  it('opens the request form prefilled with a valid resource and role', () => {
    expect(parseDeepLink('latch://request?resource=pg-prod&role=readonly')).toEqual({ target: { view: 'request_access' }, prefill: { resource: 'pg-prod', role: 'readonly' } });
  });

  it('drops names that are not Latch names, and a role without its resource', () => {
    expect(parseDeepLink('latch://request?resource=PG%20PROD&role=readonly')?.prefill).toEqual({});
    expect(parseDeepLink('latch://request?role=readonly')?.prefill).toEqual({});
    expect(parseDeepLink('latch://request?resource=pg-prod&role=%3Cscript%3E')?.prefill).toEqual({ resource: 'pg-prod' });
  });

  it.each(['latch://approve?id=req_1', 'https://request?resource=pg-prod', 'not a url', 'latch:request'])('ignores %s', (link) => {
    expect(parseDeepLink(link)).toBeNull();
  });

  it('finds the link among command-line arguments (Windows and Linux)', () => {
    expect(deepLinkInArgv(['/opt/Latch/latch', '--flag', 'latch://request?resource=x'])).toBe('latch://request?resource=x');
    expect(deepLinkInArgv(['/opt/Latch/latch'])).toBeNull();
  });
});

describe('external links', () => {
  const hosts = ['latch.example.com'];
  it('allows https to an allow-listed host only', () => {
    expect(isAllowedExternalUrl('https://latch.example.com/docs', hosts)).toBe(true);
    expect(isAllowedExternalUrl('http://latch.example.com/docs', hosts)).toBe(false);
    expect(isAllowedExternalUrl('https://evil.example.com/', hosts)).toBe(false);
    expect(isAllowedExternalUrl('https://user:pw@latch.example.com/', hosts)).toBe(false);
    expect(isAllowedExternalUrl('file:///etc/passwd', hosts)).toBe(false);
    expect(isAllowedExternalUrl('javascript:alert(1)', hosts)).toBe(false);
    expect(isAllowedExternalUrl('not a url', hosts)).toBe(false);
  });
});
