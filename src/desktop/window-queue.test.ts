// Deep links and second launches that arrive before the window can open (macOS cold start).
import { describe, expect, it } from 'vitest';
import type { DeepLink } from './links.js';
import { WindowQueue } from './window-queue.js';

const prefilled = (resource: string, role: string): DeepLink => ({ target: { view: 'request_access' }, prefill: { resource, role } });

describe('the window queue', () => {
  it('keeps the launch link until the window can open, then opens it once', () => {
    const q = new WindowQueue();
    q.link('latch://request?resource=pg-prod&role=readonly');
    const opened: DeepLink[] = [];
    q.ready((to) => opened.push(to));
    expect(opened).toEqual([prefilled('pg-prod', 'readonly')]);
    q.ready((to) => opened.push(to));
    expect(opened).toHaveLength(1);
  });

  it('after start, each link opens at once', () => {
    const q = new WindowQueue();
    const opened: DeepLink[] = [];
    q.ready((to) => opened.push(to));
    expect(opened).toEqual([]);
    q.link('latch://request?resource=bastion&role=ssh');
    q.put({ target: { view: 'home' }, prefill: {} });
    expect(opened).toEqual([prefilled('bastion', 'ssh'), { target: { view: 'home' }, prefill: {} }]);
  });

  it('before start, the latest valid request wins; an invalid link does not displace it', () => {
    const q = new WindowQueue();
    q.put({ target: { view: 'home' }, prefill: {} });
    q.link('latch://request?resource=pg-prod&role=readonly');
    q.link('latch://approve?id=req_1');
    q.link('https://evil.example.com/');
    const opened: DeepLink[] = [];
    q.ready((to) => opened.push(to));
    expect(opened).toEqual([prefilled('pg-prod', 'readonly')]);
  });

  it('nothing waiting: nothing opens', () => {
    const q = new WindowQueue();
    q.link('not a url');
    const opened: DeepLink[] = [];
    q.ready((to) => opened.push(to));
    expect(opened).toEqual([]);
  });
});
