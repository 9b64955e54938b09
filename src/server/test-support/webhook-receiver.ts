/**
 * A real webhook receiver for tests: node:http on a random loopback port. It checks each call's
 * signature with `verifyLatchSignature` (answering 401 when it does not verify), records every
 * call, and answers as scripted per event: a queue of replies used in order, then a standing one.
 */
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyLatchSignature, type WebhookEvent } from '../connectors/webhook.js';

export interface ReceivedCall {
  event: WebhookEvent;
  grantId: string;
  /** The parsed body. */
  body: any;
  /** The exact bytes received. */
  raw: string;
  headers: IncomingHttpHeaders;
  verified: boolean;
  /** What the receiver answered; `hung` when it never did. */
  status: number | 'hung';
  /** Wall-clock time of arrival (ms). */
  at: number;
}

export interface Reply {
  status?: number;
  /** Sent as the JSON body. */
  json?: unknown;
  /** Sent as a text body (when there is no `json`). */
  text?: string;
  /** Answers after this many (real) milliseconds. */
  delayMs?: number;
  /** Never answers (until the receiver closes). */
  hang?: boolean;
}

const OK: Reply = { status: 200, json: {} };

export class WebhookReceiver {
  readonly calls: ReceivedCall[] = [];
  /** The URL to put in the resource's config. */
  readonly url: string;
  private readonly queued = new Map<WebhookEvent, Reply[]>();
  private readonly standing = new Map<WebhookEvent, Reply>();
  private readonly waiters = new Set<() => void>();
  private readonly open = new Set<ServerResponse>();

  private constructor(private readonly server: Server, readonly secret: string) {
    const { port } = server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}/hooks/latch`;
  }

  static async start(secret: string): Promise<WebhookReceiver> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const receiver = new WebhookReceiver(server, secret);
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => void receiver.handle(Buffer.concat(chunks).toString('utf8'), req.headers, res));
    });
    return receiver;
  }

  /** The next calls of `event` get these replies, in order (after any already queued). */
  reply(event: WebhookEvent, ...replies: Reply[]): this {
    this.queued.set(event, [...(this.queued.get(event) ?? []), ...replies]);
    return this;
  }

  /** Calls of `event` get this reply once the queued ones are used up (default 200 `{}`). */
  always(event: WebhookEvent, reply: Reply): this {
    this.standing.set(event, reply);
    return this;
  }

  /** Forgets the calls and every scripted reply (answers 200 `{}` again). */
  reset(): this {
    this.calls.length = 0;
    this.queued.clear();
    this.standing.clear();
    return this;
  }

  callsFor(event: WebhookEvent, grantId?: string): ReceivedCall[] {
    return this.calls.filter((c) => c.event === event && (grantId === undefined || c.grantId === grantId));
  }

  /** Resolves once `count` calls match `pred` (already received ones count). */
  waitFor(pred: (c: ReceivedCall) => boolean, count = 1, timeoutMs = 5000): Promise<ReceivedCall[]> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.calls.filter(pred);
        if (found.length < count) return;
        done();
        resolve(found);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`the receiver got ${this.calls.filter(pred).length} of ${count} matching calls within ${timeoutMs} ms (all: ${this.calls.map((c) => `${c.event}→${c.status}`).join(', ')})`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Stops listening and drops every connection, hung ones included. */
  async close(): Promise<void> {
    for (const res of this.open) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(raw: string, headers: IncomingHttpHeaders, res: ServerResponse): Promise<void> {
    const verified = verifyLatchSignature(this.secret, headers['x-latch-timestamp'], headers['x-latch-signature'], raw, Date.now());
    let body: any = null;
    try {
      body = JSON.parse(raw);
    } catch {
      /* recorded as it came */
    }
    const event = (body?.event ?? headers['x-latch-event']) as WebhookEvent;
    const call: ReceivedCall = { event, grantId: String(body?.grant?.id ?? ''), body, raw, headers, verified, status: 'hung', at: Date.now() };
    this.calls.push(call);

    const reply = verified ? (this.queued.get(event)?.shift() ?? this.standing.get(event) ?? OK) : { status: 401, json: { error: 'signature does not verify' } };
    if (reply.hang) {
      this.open.add(res);
      this.notify();
      return;
    }
    call.status = reply.status ?? 200;
    this.notify();
    if (reply.delayMs) {
      this.open.add(res);
      await new Promise((r) => setTimeout(r, reply.delayMs));
      this.open.delete(res);
      if (res.destroyed) return;
    }
    const text = reply.json !== undefined ? JSON.stringify(reply.json) : (reply.text ?? '');
    res.writeHead(call.status, { 'content-type': reply.json !== undefined ? 'application/json' : 'text/plain' });
    res.end(text);
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }
}
