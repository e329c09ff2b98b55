// Loopback HTTP receivers for tests of outgoing HTTP (webhooks, SMS providers): a real server on
// 127.0.0.1 and a free port that records every request (method, headers, raw body) and answers
// from a script — e.g. 503, 503, 200, or hang, or a provider's error JSON.
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  method: string;
  /** Path and query, as sent. */
  url: string;
  headers: IncomingHttpHeaders;
  /** The body exactly as received: signatures are computed over these bytes. */
  rawBody: string;
  /** 1-based arrival order. */
  seq: number;
}

export type Reply =
  | {
      status: number;
      headers?: Record<string, string>;
      /** A string is sent as is; anything else as JSON. */
      body?: unknown;
    }
  /** Never answer: the client's timeout must fire. */
  | 'hang'
  /** Destroy the socket without an answer: a network error at the client. */
  | 'reset';

export type Responder = (req: ReceivedRequest) => Reply;

export interface ReceiverOptions {
  /** Answers used in order, one per request; after the last one, `fallback`. */
  script?: Reply[];
  /** Answer once the script is used up. Default: 200 with `{}`. */
  fallback?: Reply | Responder;
}

export class TestReceiver {
  readonly requests: ReceivedRequest[] = [];
  private script: Reply[];
  private fallback: Reply | Responder;
  private waiters: { n: number; resolve: () => void }[] = [];
  private hanging = new Set<ServerResponse>();

  private constructor(
    private readonly server: Server,
    opts: ReceiverOptions,
  ) {
    this.script = [...(opts.script ?? [])];
    this.fallback = opts.fallback ?? { status: 200, body: {} };
  }

  static async start(opts: ReceiverOptions = {}): Promise<TestReceiver> {
    const server = createServer();
    const receiver = new TestReceiver(server, opts);
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const recorded: ReceivedRequest = {
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          rawBody: Buffer.concat(chunks).toString('utf8'),
          seq: receiver.requests.length + 1,
        };
        receiver.requests.push(recorded);
        receiver.answer(recorded, res);
        receiver.notify();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return receiver;
  }

  get url(): string {
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  /** Replaces the remaining script; the fallback stays. */
  reply(...replies: Reply[]): this {
    this.script = replies;
    return this;
  }

  /** Resolves once `n` requests have arrived in total (or rejects after `timeoutMs`). */
  waitForRequests(n: number, timeoutMs = 10_000): Promise<ReceivedRequest[]> {
    if (this.requests.length >= n) return Promise.resolve(this.requests.slice(0, n));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`receiver: ${this.requests.length} of ${n} requests after ${timeoutMs}ms`)),
        timeoutMs,
      );
      this.waiters.push({
        n,
        resolve: () => {
          clearTimeout(timer);
          resolve(this.requests.slice(0, n));
        },
      });
    });
  }

  /** Parsed JSON body of the i-th request (0-based). */
  json<T = Record<string, unknown>>(i: number): T {
    const r = this.requests[i];
    if (!r) throw new Error(`receiver: no request #${i}`);
    return JSON.parse(r.rawBody) as T;
  }

  async close(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.hanging.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve, reject) => this.server.close((e) => (e ? reject(e) : resolve())));
  }

  private answer(req: ReceivedRequest, res: ServerResponse): void {
    const next = this.script.shift();
    const reply = next ?? (typeof this.fallback === 'function' ? this.fallback(req) : this.fallback);
    if (reply === 'hang') {
      this.hanging.add(res);
      res.on('close', () => this.hanging.delete(res));
      return;
    }
    if (reply === 'reset') {
      res.socket?.destroy();
      return;
    }
    const body =
      reply.body === undefined
        ? ''
        : typeof reply.body === 'string'
          ? reply.body
          : JSON.stringify(reply.body);
    const headers: Record<string, string> = { ...reply.headers };
    if (reply.body !== undefined && typeof reply.body !== 'string')
      headers['content-type'] ??= 'application/json';
    res.writeHead(reply.status, headers);
    res.end(body);
  }

  private notify(): void {
    const ready = this.waiters.filter((w) => this.requests.length >= w.n);
    this.waiters = this.waiters.filter((w) => this.requests.length < w.n);
    for (const w of ready) w.resolve();
  }
}

/** Starts a receiver; close it in afterEach/afterAll. */
export function startReceiver(opts: ReceiverOptions = {}): Promise<TestReceiver> {
  return TestReceiver.start(opts);
}
