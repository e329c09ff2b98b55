// A processor's checkpoints as a chain: now and then its whole state (a `checkpoints` row naming
// a new chain), and at each checkpoint between only what changed since the one before
// (`checkpoint_deltas`, numbered from 1). A city's open windows are tens of MB of JSON; written
// whole every few seconds they held the event loop for about a second each time, while a few
// seconds of events change a few thousand windows.
import { randomUUID } from 'node:crypto';
import type { Metrics } from '../platform/metrics.ts';
import type { Row, Store } from '../platform/store/store.ts';
import type { WindowOperator } from './window-operator.ts';

/** A chain is restarted with a whole snapshot at least this often (and the store drops deltas after a day). */
const MAX_CHAIN_AGE_MS = 3_600_000;

/** What a restore starts from: the whole state, then the changes after it, in order. */
export interface SavedState {
  /** The seq (or offset) the state covers: the last delta's, or the whole row's. */
  seq: number;
  whole: string;
  deltas: string[];
}

/** The newest whole checkpoint of `processor` and its chain's deltas, or undefined if none. */
export async function loadCheckpoint(store: Store, processor: string): Promise<SavedState | undefined> {
  const [top] = await store.query<{ seq: string; chain: string; state: string }>(
    'SELECT seq, chain, state FROM checkpoints WHERE processor = {p:String} ORDER BY seq DESC, created_at DESC LIMIT 1',
    { p: processor },
  );
  if (!top) return undefined;
  const saved: SavedState = { seq: Number(top.seq), whole: top.state, deltas: [] };
  if (top.chain === '') return saved; // stored before delta checkpoints
  const deltas = await store.query<{ n: number; seq: string; state: string }>(
    'SELECT n, seq, state FROM checkpoint_deltas WHERE processor = {p:String} AND chain = {c:String} ORDER BY n',
    { p: processor, c: top.chain },
  );
  // A write retried after an unclear failure may be stored twice. A missing number ends the
  // chain: the deltas after it build on changes that are not there (and are never written, as a
  // failed write starts a new chain), so the events since are replayed from the log instead.
  let next = 1;
  for (const d of deltas) {
    const n = Number(d.n);
    if (n < next) continue;
    if (n > next) break;
    saved.deltas.push(d.state);
    saved.seq = Number(d.seq);
    next++;
  }
  return saved;
}

/** A checkpoint row taken, to be stored; then CheckpointChain.stored() or failed(). */
export interface PendingCheckpoint {
  readonly table: 'checkpoints' | 'checkpoint_deltas';
  readonly row: Row;
  readonly chain: string;
  readonly n: number;
  readonly bytes: number;
}

/**
 * One processor's chain (the embedded runner, or one partition of a distributed stage). The next
 * checkpoint is whole when there is no chain yet (start, restore — so that a partition's old and
 * new owners never extend one chain — or a failed write, whose changes are gone), when the deltas
 * outweigh the whole row (a restore then reads at most twice the state), or after an hour.
 */
export class CheckpointChain {
  private id: string | undefined;
  private n = 0;
  private wholeBytes = 0;
  private deltaBytes = 0;
  private startedAt = 0;

  constructor(
    readonly processor: string,
    private readonly clock: () => number = Date.now,
  ) {}

  /** The next checkpoint stores the whole state (snapshot()), not what changed (changes()). */
  get wantsWhole(): boolean {
    return this.id === undefined || this.deltaBytes >= this.wholeBytes || this.expired;
  }

  /** The row for a checkpoint at `seq`: `state` whole if wantsWhole was true, else changes. */
  take(seq: number, state: unknown, whole: boolean): PendingCheckpoint {
    const text = JSON.stringify(state);
    const created_at = this.clock();
    if (!whole && this.id === undefined)
      throw new Error('a delta checkpoint needs a chain: take a whole one');
    if (whole) {
      const chain = randomUUID();
      return {
        table: 'checkpoints',
        row: { processor: this.processor, seq, chain, created_at, state: text },
        chain,
        n: 0,
        bytes: text.length,
      };
    }
    const n = this.n + 1;
    return {
      table: 'checkpoint_deltas',
      row: { processor: this.processor, chain: this.id!, n, seq, created_at, state: text },
      chain: this.id!,
      n,
      bytes: text.length,
    };
  }

  /** `p` is in the store: the chain goes on from it. */
  stored(p: PendingCheckpoint, metrics?: Metrics): void {
    const kind = p.n === 0 ? 'whole' : 'delta';
    metrics?.checkpointsStored.inc({ kind });
    metrics?.checkpointBytes.inc({ kind }, p.bytes);
    if (p.n === 0) {
      this.id = p.chain;
      this.n = 0;
      this.wholeBytes = p.bytes;
      this.deltaBytes = 0;
      this.startedAt = this.clock();
    } else if (p.chain === this.id && p.n === this.n + 1) {
      this.n = p.n;
      this.deltaBytes += p.bytes;
    }
  }

  /** `p` may not be in the store, and the changes it held are no longer pending: start anew. */
  failed(): void {
    this.id = undefined;
  }

  /** A chain older than an hour: renewed by the next checkpoint, even one with nothing else to store. */
  get expired(): boolean {
    return this.id !== undefined && this.clock() - this.startedAt >= MAX_CHAIN_AGE_MS;
  }
}

/** Stores taken checkpoints, each in its table. */
export async function storeCheckpoints(store: Store, pending: readonly PendingCheckpoint[]): Promise<void> {
  const wholes = pending.filter((p) => p.table === 'checkpoints').map((p) => p.row);
  const deltas = pending.filter((p) => p.table === 'checkpoint_deltas').map((p) => p.row);
  await store.insert('checkpoints', wholes);
  await store.insert('checkpoint_deltas', deltas);
}

/**
 * Operators' part of a checkpoint, by name: each one's whole state, or its changes (every
 * operator: its clock at least, which may have moved the watermark and closed windows).
 */
export function operatorStates(ops: Iterable<WindowOperator>, whole: boolean): Record<string, unknown> {
  const states: Record<string, unknown> = {};
  for (const op of ops) states[op.name] = whole ? op.snapshot() : op.changes();
  return states;
}

/** Restores operators from a saved chain whose states hold `operators` by name (operatorStates). */
export function restoreOperators(ops: Iterable<WindowOperator>, saved: SavedState, wall: number): void {
  const [whole, ...deltas] = [saved.whole, ...saved.deltas].map(
    (text) => (JSON.parse(text) as { operators: Record<string, unknown> }).operators,
  );
  for (const op of ops) {
    const state = whole![op.name];
    if (state !== undefined) op.restore(state, wall);
    for (const d of deltas) {
      const changes = d[op.name];
      if (changes !== undefined) op.applyChanges(changes, wall);
    }
  }
}
