// Officers' actions from console nodes to the active alert engine. A node appends the action to
// a capped Redis stream and waits for the answer on its own pub/sub channel; the engine reads
// the stream in order, runs each action through the same serial queue as everything else, and
// publishes the result. Actions carry a deadline: one the officer was already told had timed
// out is skipped, and a new engine picks up what is still within its deadline.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { GwErrors } from '../../platform/errors.ts';
import type { Logger } from '../../platform/logger.ts';
import type { AlertDesk } from '../desk.ts';
import type { Alert } from '../model.ts';
import type { AlertStateKeys } from './keys.ts';

export const DESK_OPS = ['acknowledge', 'assign', 'comment', 'escalate', 'resolve'] as const;
export type DeskOp = (typeof DESK_OPS)[number];

export interface DeskCommand {
  rid: string;
  node: string;
  op: DeskOp;
  id: string;
  actor: string;
  /** The op's arguments after id and actor (note, department, text, feedback). */
  args: string[];
  deadline: number;
}

type Reply =
  | { rid: string; ok: true; alert: Alert }
  | { rid: string; ok: false; code: string; message: string; statusCode: number };

const COMMANDS_MAX = 1000;

/** The console node's side: `send` resolves with the alert after the action, or rejects with its error. */
export class CommandClient {
  private readonly pending = new Map<
    string,
    { resolve(a: Alert): void; reject(e: Error): void; timer: NodeJS.Timeout }
  >();

  constructor(
    private readonly redis: Redis,
    /** A connection of its own: it enters subscriber mode. */
    private readonly subscriber: Redis,
    private readonly keys: AlertStateKeys,
    readonly node: string,
    private readonly timeoutMs: number,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    this.subscriber.on('message', (_channel: string, text: string) => this.onReply(text));
    await this.subscriber.subscribe(this.keys.replies(this.node));
  }

  async send(op: DeskOp, id: string, actor: string, args: string[]): Promise<Alert> {
    const cmd: DeskCommand = {
      rid: randomUUID(),
      node: this.node,
      op,
      id,
      actor,
      args,
      deadline: Date.now() + this.timeoutMs,
    };
    const answer = new Promise<Alert>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(cmd.rid);
        reject(new GwErrors.NOT_READY('the alert engine did not answer in time; try again'));
      }, this.timeoutMs);
      this.pending.set(cmd.rid, { resolve, reject, timer });
    });
    try {
      await this.redis.xadd(this.keys.commands, 'MAXLEN', '~', COMMANDS_MAX, '*', 'cmd', JSON.stringify(cmd));
    } catch (err) {
      const p = this.pending.get(cmd.rid);
      if (p) clearTimeout(p.timer);
      this.pending.delete(cmd.rid);
      throw new GwErrors.NOT_READY(`shared state unavailable: ${(err as Error).message}`);
    }
    return answer;
  }

  private onReply(text: string): void {
    let r: Reply;
    try {
      r = JSON.parse(text) as Reply;
    } catch {
      this.log.warn('console: unreadable action reply ignored');
      return;
    }
    const p = this.pending.get(r.rid);
    if (!p) return; // timed out already
    this.pending.delete(r.rid);
    clearTimeout(p.timer);
    if (r.ok) p.resolve(r.alert);
    else p.reject(Object.assign(new Error(r.message), { code: r.code, statusCode: r.statusCode }));
  }

  close(): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new GwErrors.NOT_READY('console node shutting down'));
    }
    this.pending.clear();
  }
}

/** The active engine's side: reads actions in order and answers each on its node's channel. */
export class CommandServer {
  private running = false;
  private loop: Promise<void> | undefined;

  constructor(
    /** A connection of its own: XREAD blocks it. */
    private readonly reader: Redis,
    private readonly writer: Redis,
    private readonly keys: AlertStateKeys,
    private readonly timeoutMs: number,
    private readonly handle: (cmd: DeskCommand) => Promise<Alert>,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.running = true;
    // From the oldest action that may still be within its deadline: sent while no engine was active.
    this.loop = this.run(`${Date.now() - this.timeoutMs}-0`);
  }

  private async run(from: string): Promise<void> {
    let last = from;
    while (this.running) {
      let batch: [string, [string, string[]][]][] | null;
      try {
        batch = (await this.reader.xread('COUNT', 100, 'BLOCK', 1000, 'STREAMS', this.keys.commands, last)) as
          | [string, [string, string[]][]][]
          | null;
      } catch (err) {
        if (!this.running) break;
        this.log.warn({ err }, 'alerting: reading officer actions failed, retrying');
        await new Promise((r) => setTimeout(r, 1000));
        continue;
      }
      for (const [, entries] of batch ?? [])
        for (const [id, fields] of entries) {
          last = id;
          await this.serve(fields);
        }
    }
  }

  private async serve(fields: string[]): Promise<void> {
    const text = fields[fields.indexOf('cmd') + 1];
    let cmd: DeskCommand;
    try {
      cmd = JSON.parse(text ?? '') as DeskCommand;
      if (!DESK_OPS.includes(cmd.op) || typeof cmd.rid !== 'string' || typeof cmd.node !== 'string')
        throw new Error('not an action');
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'alerting: unreadable officer action skipped');
      return;
    }
    if (cmd.deadline < Date.now()) return; // the officer was told it timed out
    // Taken once: after a takeover the new engine re-reads actions the old one may have run.
    const first = await this.writer
      .set(this.keys.done(cmd.rid), '1', 'PX', this.timeoutMs * 3, 'NX')
      .catch(() => 'OK'); // Redis away: the stream read itself failed first, so this is rare
    if (first !== 'OK') return;
    let reply: Reply;
    try {
      reply = { rid: cmd.rid, ok: true, alert: await this.handle(cmd) };
    } catch (err) {
      const e = err as Error & { code?: string; statusCode?: number };
      const statusCode = typeof e.statusCode === 'number' ? e.statusCode : 500;
      if (statusCode >= 500) this.log.error({ err, op: cmd.op, id: cmd.id }, 'alerting: action failed');
      reply = {
        rid: cmd.rid,
        ok: false,
        code: e.code ?? 'GW_ERR_INTERNAL',
        message: statusCode >= 500 ? 'internal error' : e.message,
        statusCode,
      };
    }
    await this.writer
      .publish(this.keys.replies(cmd.node), JSON.stringify(reply))
      .catch((err) => this.log.warn({ err }, 'alerting: action answer not delivered'));
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

/** Runs a forwarded action on the active engine's desk (checked for permission on the console node). */
export function perform(desk: AlertDesk, c: DeskCommand): Promise<Alert> {
  const [a = '', b = ''] = c.args;
  switch (c.op) {
    case 'acknowledge':
      return desk.acknowledge(c.id, c.actor, a);
    case 'assign':
      return desk.assign(c.id, c.actor, a, b);
    case 'comment':
      return desk.comment(c.id, c.actor, a);
    case 'escalate':
      return desk.escalate(c.id, c.actor, a);
    case 'resolve':
      return desk.resolve(c.id, c.actor, a);
  }
}
