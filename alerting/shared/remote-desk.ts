// RemoteDesk: the alert desk of a distributed console node. It starts from the shared alert
// state in Redis (or from the alert log when Redis has lost it), follows the change feed the
// active engine appends to, and republishes each change on the node's local bus for its live
// console. A change missing from the feed (Redis lost, node too far behind) is read from the
// alert log, the source of truth, so the node's view and its officers' streams have no gap.
// Actions go to the active engine (CommandClient); the routes check permission and
// jurisdiction on this node first, as in one process.
import type { Redis } from 'ioredis';
import type { Bus } from '../../platform/bus.ts';
import type { Logger } from '../../platform/logger.ts';
import type { Metrics } from '../../platform/metrics.ts';
import type { AlertLog } from '../alert-log.ts';
import type { AlertDesk } from '../desk.ts';
import { ALERTS_TOPIC, type Alert, type AlertTransition } from '../model.ts';
import type { TierPalette } from '../palette.ts';
import type { RuleSet } from '../rules/rule-set.ts';
import type { CommandClient } from './commands.ts';
import type { AlertStateKeys } from './keys.ts';
import { alertScripts } from './scripts.ts';

const DAY = 86_400_000;
/** How often the node compares its cursor with the alert log's (a gap that persists is filled). */
const CHECK_MS = 3000;

export interface RemoteDeskDeps {
  /** For reads; `reader` is a connection of its own (XREAD blocks it). */
  redis: Redis;
  reader: Redis;
  keys: AlertStateKeys;
  commands: CommandClient;
  alertLog: AlertLog;
  palette: TierPalette;
  ruleSet: RuleSet;
  bus: Bus;
  metrics: Metrics;
  log: Logger;
}

export class RemoteDesk implements AlertDesk {
  readonly palette: TierPalette;
  readonly alertLog: AlertLog;
  readonly ruleSet: RuleSet;
  private readonly alerts = new Map<string, Alert>();
  private readonly seqs = new Map<string, number>();
  private last = 0;
  private feedId = '0-0';
  private running = false;
  private loop: Promise<void> | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private checker: NodeJS.Timeout | undefined;
  /** The log's cursor at the previous check: a gap is filled once it outlives one check. */
  private behindAt = 0;

  constructor(private readonly d: RemoteDeskDeps) {
    this.palette = d.palette;
    this.alertLog = d.alertLog;
    this.ruleSet = d.ruleSet;
  }

  get cursor(): number {
    return this.last;
  }

  open(): Iterable<Alert> {
    return this.alerts.values();
  }

  get(id: string): Alert | undefined {
    return this.alerts.get(id);
  }

  acknowledge(id: string, actor: string, note = ''): Promise<Alert> {
    return this.d.commands.send('acknowledge', id, actor, [note]);
  }
  assign(id: string, actor: string, department: string, note = ''): Promise<Alert> {
    return this.d.commands.send('assign', id, actor, [department, note]);
  }
  comment(id: string, actor: string, text: string): Promise<Alert> {
    return this.d.commands.send('comment', id, actor, [text]);
  }
  escalate(id: string, actor: string, note: string): Promise<Alert> {
    return this.d.commands.send('escalate', id, actor, [note]);
  }
  resolve(id: string, actor: string, feedback: string): Promise<Alert> {
    return this.d.commands.send('resolve', id, actor, [feedback]);
  }

  async start(): Promise<void> {
    const k = this.d.keys;
    const [cursor, lastId, flat] = (await alertScripts(this.d.redis).run(
      'read-state',
      [k.open, k.cursor, k.feed],
      [],
    )) as [string, string, string[]];
    this.feedId = lastId;
    if (cursor === '') {
      // Redis has no state (lost, or no engine has written it yet): the alert log has it. The
      // cursor first: a change logged meanwhile is then in the load and comes again (seq skips it).
      this.last = await this.d.alertLog.maxCursor();
      for (const { alert, seq } of await this.d.alertLog.load(Date.now() - DAY)) {
        if (alert.state === 'resolved') continue;
        this.alerts.set(alert.id, alert);
        this.seqs.set(alert.id, seq);
      }
      this.d.log.info(
        { open: this.alerts.size, cursor: this.last },
        'console: alert state read from the alert log',
      );
    } else {
      for (let i = 0; i + 1 < flat.length; i += 2)
        this.alerts.set(flat[i]!, JSON.parse(flat[i + 1]!) as Alert);
      this.last = Number(cursor);
      this.d.log.info({ open: this.alerts.size, cursor: this.last }, 'console: alert state read from Redis');
    }
    this.running = true;
    this.loop = this.follow();
    this.checker = setInterval(() => void this.serial(() => this.check()), CHECK_MS);
    this.checker.unref();
  }

  private async follow(): Promise<void> {
    while (this.running) {
      let batch: [string, [string, string[]][]][] | null;
      try {
        batch = (await this.d.reader.xread(
          'COUNT',
          500,
          'BLOCK',
          1000,
          'STREAMS',
          this.d.keys.feed,
          this.feedId,
        )) as [string, [string, string[]][]][] | null;
      } catch (err) {
        if (!this.running) break;
        this.d.metrics.redisErrors.inc({ op: 'feed' });
        this.d.log.warn({ err: (err as Error).message }, 'console: alert feed unavailable, retrying');
        await new Promise((r) => setTimeout(r, 1000));
        continue;
      }
      const ts: AlertTransition[] = [];
      let next = this.feedId;
      for (const [, entries] of batch ?? [])
        for (const [id, fields] of entries) {
          next = id;
          try {
            ts.push(JSON.parse(fields[fields.indexOf('change') + 1] ?? '') as AlertTransition);
          } catch {
            this.d.log.warn({ id }, 'console: unreadable feed entry skipped (the alert log fills the gap)');
          }
        }
      try {
        if (ts.length > 0) await this.serial(() => this.accept(ts));
        this.feedId = next;
      } catch (err) {
        // The log could not fill a gap (store away): read these entries again in a moment.
        this.d.log.warn({ err: (err as Error).message }, 'console: alert changes not taken yet, retrying');
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  /** Takes changes in cursor order; what lies between the node's cursor and them comes from the log. */
  private async accept(ts: readonly AlertTransition[]): Promise<void> {
    const out: AlertTransition[] = [];
    for (const t of ts) {
      if (t.cursor <= this.last) continue;
      if (t.cursor > this.last + 1) {
        this.publish(out.splice(0));
        await this.fill(t.cursor - 1);
      }
      this.take(t);
      out.push(t);
    }
    this.publish(out);
  }

  /** Reads the log from the node's cursor up to `upTo` and takes what it finds. */
  private async fill(upTo: number): Promise<void> {
    while (this.last < upTo) {
      const r = await this.d.alertLog.since(this.last, undefined, 5000, upTo);
      for (const t of r.transitions) this.take(t);
      this.d.metrics.alertFeedGaps.inc(r.transitions.length);
      this.publish(r.transitions);
      if (r.transitions.length === 0 || r.complete) {
        // Cursors the log does not hold (a commit that failed before it was logged): skip them.
        this.last = Math.max(this.last, upTo);
        break;
      }
    }
  }

  private take(t: AlertTransition): void {
    this.last = Math.max(this.last, t.cursor);
    const known = this.seqs.get(t.alertId) ?? 0;
    if (t.seq < known) return;
    this.seqs.set(t.alertId, t.seq);
    if (t.toState === 'resolved') {
      this.alerts.delete(t.alertId);
      this.seqs.delete(t.alertId);
    } else this.alerts.set(t.alertId, t.alert);
  }

  private publish(ts: AlertTransition[]): void {
    if (ts.length > 0) this.d.bus.publish<AlertTransition>(ALERTS_TOPIC, ts);
  }

  /** A gap the feed never fills (changes logged while Redis was away): read from the log. */
  private async check(): Promise<void> {
    let logged: number;
    try {
      logged = await this.d.alertLog.maxCursor();
    } catch (err) {
      this.d.log.warn({ err: (err as Error).message }, 'console: alert log unavailable for the gap check');
      return;
    }
    if (logged > this.last && this.behindAt > this.last) await this.fill(Math.min(logged, this.behindAt));
    this.behindAt = logged > this.last ? logged : 0;
  }

  private serial(f: () => Promise<void>): Promise<void> {
    const p = this.queue.then(f);
    this.queue = p.catch((err) => this.d.log.error({ err }, 'console: alert feed step failed'));
    return p;
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.checker) clearInterval(this.checker);
    await this.loop;
    await this.queue;
  }
}
