// An event-time window operator for one window spec. The watermark is the highest event time
// seen minus the allowed out-of-orderness; a window fires (final) when the watermark passes its
// end, takes late events (late firings) until the watermark passes end + allowedLateness, and
// is then purged; later events go to the late-events side output. With no events for
// idleTimeout, the watermark advances with processing time so quiet keys still close.
import type { OrgTree } from '../config/org-tree.ts';
import type { Level, SourceName, WindowSpecConfig } from '../config/schema.ts';
import type { LoggedEvent } from '../ingest/envelope.ts';
import { durationMs } from '../platform/duration.ts';
import type { WindowAssigner } from './window-assigner.ts';
import { TumblingAssigner } from './window-assigner.ts';
import type { WindowResult } from './window-result.ts';

/** One open window's running aggregate; arrays of these are what a snapshot holds. */
interface Acc {
  start: number;
  end: number;
  key: string;
  kind: string;
  count: number;
  sum: number;
  min: number;
  max: number;
  maxSeq: number;
  fired: boolean;
  dirty: boolean;
}

export interface OperatorOutput {
  result(r: WindowResult): void;
  late(e: LoggedEvent, watermark: number): void;
  stateLimit(): void;
}

export interface OperatorSnapshot {
  maxTs: number;
  watermark: number;
  windows: [number, number, string, string, number, number, number, number, number, 0 | 1][];
}

export class WindowOperator {
  readonly name: string;
  readonly source: SourceName;
  private readonly level: Level;
  private readonly assigner: WindowAssigner;
  private readonly outOfOrderMs: number;
  private readonly latenessMs: number;
  private readonly idleMs: number;
  private readonly open = new Map<string, Acc>();
  /** Open windows grouped by end time, so firing and purging touch only what is due. */
  private readonly byEnd = new Map<number, Acc[]>();
  private maxTs = Number.NEGATIVE_INFINITY;
  private wm = Number.NEGATIVE_INFINITY;
  /** Windows ending at or before this have fired. */
  private firedThrough = Number.NEGATIVE_INFINITY;
  private lastEventWall = 0;

  constructor(
    spec: WindowSpecConfig,
    private readonly org: OrgTree,
    private readonly out: OperatorOutput,
    private readonly maxOpenWindows: number,
  ) {
    this.name = spec.name;
    this.source = spec.source;
    this.level = spec.keyLevel ?? 'grid';
    this.assigner = new TumblingAssigner(durationMs(spec.size));
    this.outOfOrderMs = durationMs(spec.outOfOrder);
    this.latenessMs = durationMs(spec.allowedLateness);
    this.idleMs = durationMs(spec.idleTimeout);
  }

  get watermark(): number {
    return this.wm;
  }

  get openWindows(): number {
    return this.open.size;
  }

  process(e: LoggedEvent, wallNow: number): void {
    if (e.source !== this.source) return;
    this.lastEventWall = wallNow;
    const key = this.level === 'grid' ? e.grid : this.org.ancestorAt(e.grid, this.level);
    if (key === undefined) return;
    for (const [start, end] of this.assigner.assign(e.ts)) {
      if (end + this.latenessMs <= this.wm) {
        this.out.late(e, this.wm);
        continue;
      }
      const id = windowId(start, key, e.kind);
      let acc = this.open.get(id);
      if (!acc) {
        acc = {
          start,
          end,
          key,
          kind: e.kind,
          count: 0,
          sum: 0,
          min: e.value,
          max: e.value,
          maxSeq: 0,
          fired: false,
          dirty: false,
        };
        this.open.set(id, acc);
        const list = this.byEnd.get(end);
        if (list) list.push(acc);
        else this.byEnd.set(end, [acc]);
      }
      acc.count++;
      acc.sum += e.value;
      if (e.value < acc.min) acc.min = e.value;
      if (e.value > acc.max) acc.max = e.value;
      if (e.seq > acc.maxSeq) acc.maxSeq = e.seq;
      acc.dirty = true;
      if (end <= this.wm) {
        acc.fired = true;
        this.emit(acc, true); // a late firing corrects the stored result
      }
    }
    if (e.ts > this.maxTs) {
      this.maxTs = e.ts;
      this.advanceTo(this.maxTs - this.outOfOrderMs);
    }
    if (this.open.size > this.maxOpenWindows) this.shed();
  }

  /** Processing-time idle advancement: called on a timer. */
  tick(wallNow: number): void {
    if (this.lastEventWall === 0 || this.maxTs === Number.NEGATIVE_INFINITY) return;
    const idleFor = wallNow - this.lastEventWall;
    if (idleFor < this.idleMs) return;
    this.advanceTo(this.maxTs - this.outOfOrderMs + (idleFor - this.idleMs));
  }

  /** Provisional results of open windows that changed since they were last written. */
  emitUpdates(): void {
    for (const acc of this.open.values()) if (acc.dirty && !acc.fired) this.emit(acc, false);
  }

  private advanceTo(wm: number): void {
    if (wm <= this.wm) return;
    this.wm = wm;
    // Each window is visited twice in its life: once to fire, once to purge.
    const horizon = wm - this.latenessMs;
    for (const [end, list] of this.byEnd) {
      if (end > this.firedThrough && end <= wm) {
        for (const acc of list) {
          if (!acc.fired) {
            acc.fired = true;
            this.emit(acc, true);
          }
        }
      }
      if (end <= horizon) {
        for (const acc of list) this.open.delete(windowId(acc.start, acc.key, acc.kind));
        this.byEnd.delete(end);
      }
    }
    if (wm > this.firedThrough) this.firedThrough = wm;
  }

  /** Over the state limit: fire and purge the windows that end first (documented policy). */
  private shed(): void {
    this.out.stateLimit();
    const ends = [...this.byEnd.keys()].sort((a, b) => a - b);
    for (const end of ends) {
      if (this.open.size <= this.maxOpenWindows * 0.9) break;
      for (const acc of this.byEnd.get(end)!) {
        if (!acc.fired) this.emit(acc, true);
        this.open.delete(windowId(acc.start, acc.key, acc.kind));
      }
      this.byEnd.delete(end);
    }
  }

  private emit(acc: Acc, final: boolean): void {
    acc.dirty = false;
    this.out.result({
      window: this.name,
      level: this.level,
      key: acc.key,
      source: this.source,
      kind: acc.kind,
      start: acc.start,
      end: acc.end,
      count: acc.count,
      sum: acc.sum,
      min: acc.min,
      max: acc.max,
      mean: acc.sum / acc.count,
      final,
      version: acc.maxSeq * 2 + (final ? 1 : 0),
    });
  }

  snapshot(): OperatorSnapshot {
    const windows: OperatorSnapshot['windows'] = [];
    for (const a of this.open.values()) {
      windows.push([a.start, a.end, a.key, a.kind, a.count, a.sum, a.min, a.max, a.maxSeq, a.fired ? 1 : 0]);
    }
    return { maxTs: this.maxTs, watermark: this.wm, windows };
  }

  restore(s: OperatorSnapshot): void {
    this.open.clear();
    this.byEnd.clear();
    this.maxTs = s.maxTs ?? Number.NEGATIVE_INFINITY;
    this.wm = s.watermark ?? Number.NEGATIVE_INFINITY;
    this.firedThrough = this.wm;
    for (const [start, end, key, kind, count, sum, min, max, maxSeq, fired] of s.windows) {
      const acc: Acc = {
        start,
        end,
        key,
        kind,
        count,
        sum,
        min,
        max,
        maxSeq,
        fired: fired === 1,
        dirty: false,
      };
      this.open.set(windowId(start, key, kind), acc);
      const list = this.byEnd.get(end);
      if (list) list.push(acc);
      else this.byEnd.set(end, [acc]);
    }
  }
}

function windowId(start: number, key: string, kind: string): string {
  return `${start}\u0001${key}\u0001${kind}`;
}
