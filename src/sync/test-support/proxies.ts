/**
 * Loopback proxies that put a misbehaving network between the sync client and the real server:
 * an HTTP proxy that counts requests, loses answers and rewrites headers or bodies, and a TCP
 * proxy that can black-hole traffic without closing anything (a sleeping laptop, a dead Wi-Fi).
 */
import http from 'node:http';
import net from 'node:net';

export interface SeenRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  /** The status the server answered (null while in flight). */
  status: number | null;
}

export interface HttpProxy {
  url: string;
  readonly seen: SeenRequest[];
  count(method: string, path: string): number;
  /** The next `times` matching requests reach the server, but their answers are lost (the client's socket is destroyed). */
  loseAnswer(match: (r: SeenRequest) => boolean, times?: number): void;
  /** Shifts every answer's `Date` header by `ms`. */
  shiftDate(ms: number): void;
  /** Replaces the body of matching answers. */
  rewriteBody(match: (r: SeenRequest) => boolean, body: string): void;
  /** Called as each answer arrives from the server, before it is passed on. */
  onAnswer(cb: (r: SeenRequest) => void): void;
  /**
   * Keeps back the answers of matching requests (the server has answered; the client waits) until
   * `release()`: to make something happen between a request and its answer, deterministically.
   */
  holdAnswers(match: (r: SeenRequest) => boolean): AnswerHold;
  /** Sets a request header on the next `times` matching requests (default: all) before they reach the server. */
  setRequestHeader(match: (r: SeenRequest) => boolean, name: string, value: string, times?: number): void;
  close(): Promise<void>;
}

export interface AnswerHold {
  /** Answers kept back so far. */
  readonly held: number;
  /** Passes the kept answers on, and lets later ones through. */
  release(): void;
}

export async function startHttpProxy(target: string): Promise<HttpProxy> {
  const upstream = new URL(target);
  const seen: SeenRequest[] = [];
  const losses: { match: (r: SeenRequest) => boolean; left: number }[] = [];
  const rewrites: { match: (r: SeenRequest) => boolean; body: string }[] = [];
  const answerHooks: ((r: SeenRequest) => void)[] = [];
  const holds: { match: (r: SeenRequest) => boolean; active: boolean; waiting: (() => void)[] }[] = [];
  const headerSets: { match: (r: SeenRequest) => boolean; name: string; value: string; left: number }[] = [];
  let dateShift = 0;

  const server = http.createServer((req, res) => {
    const record: SeenRequest = { method: req.method ?? 'GET', path: (req.url ?? '/').split('?')[0]!, headers: req.headers, status: null };
    seen.push(record);
    const loss = losses.find((l) => l.left > 0 && l.match(record));
    if (loss) loss.left--;
    const rewrite = rewrites.find((r) => r.match(record));
    const hold = holds.find((x) => x.active && x.match(record));
    const sent: http.OutgoingHttpHeaders = { ...req.headers, host: upstream.host };
    for (const h of headerSets) {
      if (h.left <= 0 || !h.match(record)) continue;
      h.left--;
      sent[h.name.toLowerCase()] = h.value;
    }
    const out = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: sent, agent: false }, (answer) => {
      if (hold?.active) {
        // Paused until released: the server has answered, the client sees nothing yet.
        answer.pause();
        hold.waiting.push(() => pass(answer));
        return;
      }
      pass(answer);
    });
    const pass = (answer: http.IncomingMessage) => {
      record.status = answer.statusCode ?? null;
      for (const hook of answerHooks) hook(record);
      const headers = { ...answer.headers };
      if (dateShift !== 0 && typeof headers.date === 'string') headers.date = new Date(Date.parse(headers.date) + dateShift).toUTCString();
      if (loss || rewrite) {
        // Read the whole answer first, so the server has finished the request.
        const chunks: Buffer[] = [];
        answer.on('data', (c: Buffer) => chunks.push(c));
        answer.on('end', () => {
          if (loss) {
            req.socket.destroy();
            return;
          }
          delete headers['content-length'];
          delete headers['transfer-encoding'];
          res.writeHead(answer.statusCode ?? 502, { ...headers, 'content-length': Buffer.byteLength(rewrite!.body) });
          res.end(rewrite!.body);
        });
        return;
      }
      res.writeHead(answer.statusCode ?? 502, headers);
      answer.pipe(res);
    };
    out.on('error', () => res.destroy());
    req.pipe(out);
    // The client went away (or its answer was lost): let the server see the stream close.
    res.on('close', () => out.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    count: (method, path) => seen.filter((r) => r.method === method && r.path === path).length,
    loseAnswer: (match, times = 1) => void losses.push({ match, left: times }),
    shiftDate: (ms) => void (dateShift = ms),
    rewriteBody: (match, body) => void rewrites.push({ match, body }),
    onAnswer: (cb) => void answerHooks.push(cb),
    holdAnswers(match) {
      const hold = { match, active: true, waiting: [] as (() => void)[], released: 0 };
      holds.push(hold);
      return {
        get held() {
          return hold.waiting.length + hold.released;
        },
        release() {
          hold.active = false;
          hold.released += hold.waiting.length;
          for (const go of hold.waiting.splice(0)) go();
        },
      };
    },
    setRequestHeader: (match, name, value, times = Infinity) => void headerSets.push({ match, name, value, left: times }),
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

export interface TcpProxy {
  url: string;
  /**
   * Stops carrying bytes, with no FIN and no RST: open connections go silent for good, and new
   * ones are accepted but never reach the server — what a client sees after sleep or a network
   * change.
   */
  blackhole(): void;
  /**
   * Resets every connection, open and new, at once (TCP RST): a server that went away or a port
   * nobody listens on, as a client sees it.
   */
  refuse(): void;
  /** New connections reach the server again (the silenced or reset ones stay dead). */
  restore(): void;
  /**
   * Stops listening and closes every connection: the port of a stopped server, where connecting
   * is refused (ECONNREFUSED). The server behind keeps running; `up()` listens on the same port again.
   */
  down(): Promise<void>;
  up(): Promise<void>;
  /** Connections accepted so far (refused ones included). */
  readonly accepted: number;
  /** Connections reset on arrival by `refuse()`. */
  readonly refused: number;
  close(): Promise<void>;
}

export async function startTcpProxy(target: string): Promise<TcpProxy> {
  const upstream = new URL(target);
  const sockets = new Set<net.Socket>();
  const live = new Set<{ dead: boolean }>();
  let holed = false;
  let refusing = false;
  let accepted = 0;
  let refused = 0;

  const track = (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
  };

  const server = net.createServer((client) => {
    accepted++;
    track(client);
    if (refusing) {
      refused++;
      client.resetAndDestroy();
      return;
    }
    if (holed) {
      client.on('data', () => {}); // swallowed
      return;
    }
    const state = { dead: false };
    live.add(state);
    const server = net.connect(Number(upstream.port), upstream.hostname);
    track(server);
    client.on('data', (d) => {
      if (!state.dead) server.write(d);
    });
    server.on('data', (d) => {
      if (!state.dead) client.write(d);
    });
    // While black-holed nothing is passed on, closes included; the client closing its end still
    // frees the server's side, as the server's own timeouts eventually would.
    client.on('close', () => {
      live.delete(state);
      server.destroy();
    });
    server.on('close', () => {
      live.delete(state);
      if (!state.dead) client.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    blackhole() {
      holed = true;
      for (const s of live) s.dead = true;
    },
    refuse() {
      refusing = true;
      for (const s of sockets) s.resetAndDestroy();
    },
    restore() {
      holed = false;
      refusing = false;
    },
    get accepted() {
      return accepted;
    },
    get refused() {
      return refused;
    },
    down: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    }),
    up: () => new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve)),
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}
