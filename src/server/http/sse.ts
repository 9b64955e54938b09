/**
 * The event stream (SSE): the caller's visible events from the log, resumable with
 * `Last-Event-ID`, heartbeats so proxies and clients can tell a live stream from a dead one, and
 * proxy buffering off (FIELD-CASES B45).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '../../shared/policy.js';
import type { EventBus } from '../events/bus.js';
import { isVisibleTo, toStored, toView, type StoredEvent } from '../events/log.js';
import type { Db } from '../store/open.js';

export interface StreamOptions {
  heartbeatMs: number;
}

const PAGE = 500;

export class Streams {
  private readonly open = new Set<() => void>();
  private readonly byDevice = new Map<string, Set<() => void>>();

  constructor(
    private readonly db: Db,
    private readonly bus: EventBus,
    private readonly opts: StreamOptions,
  ) {}

  get count(): number {
    return this.open.size;
  }

  /** Ends the streams of a device that was signed out. */
  closeDevice(deviceId: string): void {
    for (const close of [...(this.byDevice.get(deviceId) ?? [])]) close();
  }

  /** Ends every open stream (shutdown); clients reconnect and resume. */
  closeAll(): void {
    for (const close of [...this.open]) close();
  }

  async serve(req: FastifyRequest, reply: FastifyReply, user: Principal, device: string, after: number | undefined): Promise<void> {
    const header = req.headers['last-event-id'];
    const lastId = typeof header === 'string' && /^\d{1,15}$/.test(header) ? Number(header) : after;
    const latest = Number((await this.db.selectFrom('events').select((eb) => eb.fn.max('id').as('id')).executeTakeFirst())?.id ?? 0);

    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.socket?.setNoDelay(true);
    res.socket?.setKeepAlive(true);

    let sentUpTo = lastId ?? latest;
    const live: StoredEvent[] = [];
    let replaying = true;
    const send = (e: StoredEvent) => {
      if (e.id <= sentUpTo) return;
      sentUpTo = e.id;
      if (isVisibleTo(e, user)) res.write(`id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(toView(e))}\n\n`);
    };
    const unsubscribe = this.bus.subscribe((e) => (replaying ? live.push(e) : send(e)));
    const heartbeat = setInterval(() => res.write(`: heartbeat ${Date.now()}\n\n`), this.opts.heartbeatMs);
    const close = () => {
      if (!this.open.delete(close)) return;
      this.byDevice.get(device)?.delete(close);
      if (this.byDevice.get(device)?.size === 0) this.byDevice.delete(device);
      clearInterval(heartbeat);
      unsubscribe();
      res.end();
    };
    this.open.add(close);
    if (!this.byDevice.has(device)) this.byDevice.set(device, new Set());
    this.byDevice.get(device)!.add(close);
    req.raw.on('close', close);
    res.on('error', close);

    res.write(`retry: 2000\n\n`);
    if (lastId !== undefined && lastId > latest) {
      // The client remembers more than this server has (a restored or different store): start over.
      res.write(`event: resync\ndata: ${JSON.stringify({ reason: 'unknown_last_event_id', lastEventId: latest })}\n\n`);
      sentUpTo = latest;
    } else {
      while (sentUpTo < latest) {
        const rows = await this.db.selectFrom('events').selectAll().where('id', '>', sentUpTo).where('id', '<=', latest).orderBy('id').limit(PAGE).execute();
        if (rows.length === 0) break;
        for (const row of rows) send(toStored(row));
      }
    }
    res.write(`event: ready\ndata: ${JSON.stringify({ lastEventId: sentUpTo })}\n\n`);
    replaying = false;
    for (const e of live.splice(0)) send(e);
  }
}
