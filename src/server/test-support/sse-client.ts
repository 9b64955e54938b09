/**
 * A small server-sent-events reader for tests: opens GET /v1/events with a bearer token through
 * fetch, parses `id:`, `event:` and `data:` fields, and lets a test wait for the events it expects.
 */

export interface SseEvent {
  id: string | null;
  event: string;
  /** `data:` lines joined with newlines. */
  data: string;
  /** The data parsed as JSON, or null when it is not JSON. */
  json: any;
}

/** Parses SSE text incrementally; call `push` with each chunk, get the complete events back. */
export class SseParser {
  private buffer = '';
  private id: string | null = null;
  private event = '';
  private data: string[] = [];

  push(chunk: string): SseEvent[] {
    this.buffer += chunk;
    const out: SseEvent[] = [];
    for (;;) {
      const nl = this.buffer.search(/\r\n|\r|\n/);
      if (nl < 0) break;
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + (this.buffer.startsWith('\r\n', nl) ? 2 : 1));
      if (line === '') {
        if (this.data.length > 0 || this.event !== '') {
          const data = this.data.join('\n');
          let json: any = null;
          try { json = JSON.parse(data); } catch { /* not JSON */ }
          out.push({ id: this.id, event: this.event || 'message', data, json });
        }
        this.event = '';
        this.data = [];
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'id') this.id = value;
      else if (field === 'event') this.event = value;
      else if (field === 'data') this.data.push(value);
    }
    return out;
  }
}

export interface SseStream {
  /** Every event received so far (including `ready`). */
  readonly events: SseEvent[];
  /** Events of one type received so far. */
  ofType(type: string): SseEvent[];
  /** Resolves with the first received event matching `pred` (already received ones count). */
  waitFor(pred: (e: SseEvent) => boolean, timeoutMs?: number): Promise<SseEvent>;
  /**
   * Drops the stream from the client side. When the server is about to stop anyway, let it end
   * the stream instead: after an abort, fetch (undici) opens a spare connection that holds the
   * server's graceful close until undici's 4 s keep-alive timeout.
   */
  close(): void;
  readonly status: number;
  readonly headers: Headers;
}

export interface OpenOptions {
  after?: number;
  lastEventId?: string;
}

/** Opens the event stream and resolves once the server says `ready` (replay done). */
export async function openEvents(baseUrl: string, token: string, opts: OpenOptions = {}): Promise<SseStream> {
  const controller = new AbortController();
  const query = opts.after !== undefined ? `?after=${opts.after}` : '';
  const res = await fetch(`${baseUrl}/v1/events${query}`, {
    headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream', ...(opts.lastEventId ? { 'last-event-id': opts.lastEventId } : {}) },
    signal: controller.signal,
  });
  if (res.status !== 200 || !res.body) {
    controller.abort();
    throw new Error(`GET /v1/events answered ${res.status}: ${await res.text().catch(() => '')}`);
  }
  const events: SseEvent[] = [];
  const waiters = new Set<() => void>();
  const parser = new SseParser();
  const decoder = new TextDecoder();
  const reader = res.body.getReader();
  let closed = false;

  void (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        events.push(...parser.push(decoder.decode(value, { stream: true })));
        for (const w of [...waiters]) w();
      }
    } catch {
      /* aborted */
    } finally {
      closed = true;
      for (const w of [...waiters]) w();
    }
  })();

  const stream: SseStream = {
    events,
    status: res.status,
    headers: res.headers,
    ofType: (type) => events.filter((e) => e.event === type),
    waitFor(pred, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = events.find(pred);
          if (found) {
            done();
            resolve(found);
          } else if (closed) {
            done();
            reject(new Error(`the event stream closed before the awaited event (got: ${events.map((e) => e.event).join(', ')})`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`no matching event within ${timeoutMs} ms (got: ${events.map((e) => e.event).join(', ')})`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    close() {
      controller.abort();
    },
  };
  await stream.waitFor((e) => e.event === 'ready');
  return stream;
}
