import { describe, expect, it } from 'vitest';
import { SseParser } from './sse-parser.js';

const bytes = (s: string) => new TextEncoder().encode(s);

describe('SseParser', () => {
  it('reads id, event and multi-line data, and skips comments', () => {
    const p = new SseParser();
    const frames = p.push(bytes(': heartbeat 1\n\nretry: 2000\n\nid: 7\nevent: request.created\ndata: {"a":1,\ndata: "b":2}\n\nevent: ready\ndata: {}\n\n'));
    expect(frames).toEqual([
      { id: '7', event: 'request.created', data: '{"a":1,\n"b":2}' },
      { id: null, event: 'ready', data: '{}' },
    ]);
  });

  it('puts together frames, lines and characters split across chunks, and any line ending', () => {
    const text = '\uFEFFid: 1\r\ndata: caf\u00e9 \u2713\r\n\r\nid: 2\rdata: x\r\rdata: y\n\n';
    const all = bytes(text);
    const whole = new SseParser().push(all);
    expect(whole).toEqual([
      { id: '1', event: 'message', data: 'caf\u00e9 \u2713' },
      { id: '2', event: 'message', data: 'x' },
      { id: null, event: 'message', data: 'y' },
    ]);
    // Every split point, byte by byte (inside the UTF-8 sequences and between CR and LF too).
    for (let cut = 1; cut < all.length; cut++) {
      const p = new SseParser();
      expect([...p.push(all.slice(0, cut)), ...p.push(all.slice(cut))]).toEqual(whole);
    }
  });

  it('refuses a runaway line', () => {
    const p = new SseParser();
    expect(() => p.push(bytes('data: ' + 'x'.repeat(1024 * 1024 + 1)))).toThrow(/longer than/);
  });
});
