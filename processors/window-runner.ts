// Runs the window operators of every configured spec over the event log: live from the bus,
// and on start-up from the last checkpoint by replaying the log. Results are written to the
// store idempotently; a checkpoint (log seq + open-window state) is taken only after the
// results it covers are stored, so a crash at any point replays to the same stored results.
import type { OrgTree } from '../config/org-tree.ts';
import type { GridwatchConfig } from '../config/schema.ts';
import type { LoggedEvent } from '../ingest/envelope.ts';
import { EVENTS_TOPIC, type EventLog } from '../ingest/event-log.ts';
import type { Bus } from '../platform/bus.ts';
import { durationMs } from '../platform/duration.ts';
import type { Logger } from '../platform/logger.ts';
import type { Metrics } from '../platform/metrics.ts';
import type { Row, Store } from '../platform/store/store.ts';
import {
  CheckpointChain,
  loadCheckpoint,
  operatorStates,
  restoreOperators,
  storeCheckpoints,
} from './checkpoint-chain.ts';
import { lateRow, refusedRow } from './checkpoints.ts';
import { createOperator } from './operators.ts';
import type { WindowOperator } from './window-operator.ts';
import { WINDOW_UPDATES_TOPIC, WINDOWS_TOPIC, type WindowResult } from './window-result.ts';

const PROCESSOR = 'windows';
const REPLAY_PAGE = 50_000;

interface Checkpoint {
  seq: number;
  operators: Record<string, unknown>;
}

export class WindowRunner {
  private readonly operators: WindowOperator[];
  private results: WindowResult[] = [];
  /** Emitted since the last publish: finals for alerting, updates for the live console. */
  private finals: WindowResult[] = [];
  private updates: WindowResult[] = [];
  private late: Row[] = [];
  /** Events refused by an operator (processor.maxKeys), for `dead_letters`. */
  private dead: Row[] = [];
  private processedSeq = 0;
  private checkpointSeq = 0;
  private timers: NodeJS.Timeout[] = [];
  private checkpointing: Promise<void> | undefined;
  private readonly chain: CheckpointChain;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly config: GridwatchConfig,
    org: OrgTree,
    private readonly store: Store,
    private readonly bus: Bus,
    private readonly eventLog: EventLog,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly clock: () => number = Date.now,
  ) {
    this.chain = new CheckpointChain(PROCESSOR, clock);
    this.operators = config.windows.map((spec) =>
      createOperator(
        spec,
        org,
        {
          result: (r) => {
            this.results.push(r);
            (r.final ? this.finals : this.updates).push(r);
          },
          late: (e, wm) => {
            this.metrics.lateEvents.inc({ window: spec.name });
            this.late.push(lateRow(spec.name, e, e.partition ?? 0, wm));
          },
          stateLimit: () => this.metrics.stateLimitHits.inc({ window: spec.name }),
          refused: (e, field, reason) => {
            this.metrics.stateLimitHits.inc({ window: spec.name });
            this.metrics.eventsRejected.inc({ source: e.source, reason: 'key_limit' });
            this.dead.push(refusedRow(spec.name, e, field, reason, this.clock()));
          },
        },
        config.processor,
      ),
    );
  }

  /** Restores the last checkpoint and replays the log after it; then follows the bus live. */
  async start(): Promise<void> {
    const saved = await loadCheckpoint(this.store, PROCESSOR);
    const deltas = saved?.deltas.length ?? 0;
    if (saved) {
      restoreOperators(this.operators, saved, this.clock());
      this.processedSeq = this.checkpointSeq = saved.seq;
    }
    let replayed = 0;
    for (;;) {
      const page = await this.eventLog.readAfter(this.processedSeq, REPLAY_PAGE);
      if (page.length === 0) break;
      this.handle(page);
      replayed += page.length;
      await this.checkpoint();
    }
    this.log.info(
      { fromSeq: this.checkpointSeq, deltas, replayed },
      'windows: restored from checkpoint and log',
    );
    this.unsubscribe = this.bus.subscribe<LoggedEvent>(EVENTS_TOPIC, (events) => this.handle(events));
    const p = this.config.processor;
    this.timers.push(setInterval(() => this.tick(), 1000));
    this.timers.push(setInterval(() => void this.checkpoint(), durationMs(p.checkpointInterval)));
    for (const t of this.timers) t.unref();
  }

  /** Events not yet reflected in window state (the processor's lag behind the log). */
  get lag(): number {
    return Math.max(0, this.eventLog.lastSeq - this.processedSeq);
  }

  private handle(events: LoggedEvent[]): void {
    const now = this.clock();
    for (const e of events) {
      if (e.seq <= this.processedSeq) continue; // already in state (replay overlap)
      for (const op of this.operators) op.process(e, now);
      this.processedSeq = e.seq;
    }
    this.metrics.processedSeq.set(this.processedSeq);
    this.publish();
  }

  /** One bus message per batch and topic, not one per result. */
  private publish(): void {
    if (this.finals.length > 0) {
      this.bus.publish(WINDOWS_TOPIC, this.finals);
      this.countEmitted(this.finals, 'final');
      this.finals = [];
    }
    if (this.updates.length > 0) {
      this.bus.publish(WINDOW_UPDATES_TOPIC, this.updates);
      this.countEmitted(this.updates, 'update');
      this.updates = [];
    }
  }

  private countEmitted(results: WindowResult[], kind: 'final' | 'update'): void {
    const by = new Map<string, number>();
    for (const r of results) by.set(r.window, (by.get(r.window) ?? 0) + 1);
    for (const [window, n] of by) this.metrics.windowsEmitted.inc({ window, kind }, n);
  }

  private tick(): void {
    const now = this.clock();
    for (const op of this.operators) {
      op.tick(now);
      this.publish();
      this.metrics.windowsOpen.set({ window: op.name }, op.openWindows);
      if (Number.isFinite(op.watermark))
        this.metrics.windowLagSeconds.set({ window: op.name }, (now - op.watermark) / 1000);
    }
  }

  /** Stores pending results, then the checkpoint that covers them. One at a time. */
  checkpoint(): Promise<void> {
    if (!this.checkpointing) {
      this.checkpointing = this.doCheckpoint().finally(() => {
        this.checkpointing = undefined;
      });
    }
    return this.checkpointing;
  }

  private async doCheckpoint(): Promise<void> {
    // Taken together, synchronously: the state at seq and exactly the results emitted up to it.
    const seq = this.processedSeq;
    const results = this.results;
    const late = this.late;
    const dead = this.dead;
    this.results = [];
    this.late = [];
    this.dead = [];
    // A state checkpoint when anything moved: the log, the side outputs, a window or watermark
    // (the clock alone changes no seq), or the chain is due for renewal.
    const moved =
      seq > this.checkpointSeq ||
      results.length > 0 ||
      late.length > 0 ||
      dead.length > 0 ||
      this.operators.some((op) => op.changed) ||
      this.chain.expired;
    const whole = this.chain.wantsWhole;
    const state: Checkpoint | undefined = moved
      ? { seq, operators: operatorStates(this.operators, whole) }
      : undefined;
    const cp = state && this.chain.take(seq, state, whole);
    try {
      await this.store.insert('window_results', results.map(windowRow));
      await this.store.insert('late_events', late);
      await this.store.insert('dead_letters', dead);
      if (cp) {
        await storeCheckpoints(this.store, [cp]);
        this.chain.stored(cp, this.metrics);
        this.checkpointSeq = seq;
        this.metrics.checkpointSeq.set(seq);
      }
    } catch (err) {
      // Keep them for the next try; the store being down also stops ingest, which bounds this.
      this.results = results.concat(this.results);
      this.late = late.concat(this.late);
      this.dead = dead.concat(this.dead);
      if (cp) this.chain.failed(); // its changes are no longer pending: the next one is whole
      this.log.error({ err }, 'windows: checkpoint failed, will retry');
    }
  }

  /**
   * End of input (a replay): advance every watermark past the last event so all remaining
   * windows fire, then store them. Not for a live stream, whose windows close by themselves.
   */
  async closeAll(): Promise<void> {
    for (const op of this.operators) op.tick(Number.MAX_SAFE_INTEGER);
    this.publish();
    await this.checkpoint();
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.checkpointing; // an in-flight checkpoint may predate the last events
    await this.checkpoint();
  }
}

/** A window result as a `window_results` row. */
export function windowRow(r: WindowResult): Row {
  return {
    window: r.window,
    level: r.level,
    key: r.key,
    source: r.source,
    kind: r.kind,
    window_start: r.start,
    window_end: r.end,
    count: r.count,
    sum: r.sum,
    // A retraction (zero-count) row has no extremes: store 0 rather than ±Infinity.
    min: r.count > 0 ? r.min : 0,
    max: r.count > 0 ? r.max : 0,
    mean: r.count > 0 ? r.mean : 0,
    variance: r.count > 0 ? r.variance : 0,
    p50: r.p50,
    p90: r.p90,
    p99: r.p99,
    distinct: r.distinct,
    last: r.last,
    delta_count: r.deltaCount,
    delta_mean: r.deltaMean,
    kinds: r.kinds ?? {},
    final: r.final ? 1 : 0,
    version: r.version,
    updated_at: Date.now(),
  };
}
