// Session windows: per key (the node at each configured level, and kind), a session spans its
// events plus `gap` after the last; events closer than `gap` join it, and an event that
// bridges two sessions merges them. A session fires once the watermark passes its end, takes
// late events until end + allowedLateness, and is then purged. When a late event merges
// sessions whose results were already stored, the absorbed ones are retracted with a final
// zero-count row (same window start, higher version), so the store never shows both.
import type { OrgTree } from '../config/org-tree.ts';
import type { Level, SourceName, WindowSpecConfig } from '../config/schema.ts';
import type { LoggedEvent } from '../ingest/envelope.ts';
import { durationMs } from '../platform/duration.ts';
import { Accumulator, type AccumulatorState } from './aggregates.ts';
import { DeviceNumbers } from './device-numbers.ts';
import { type ClockState, OperatorClock } from './operator-clock.ts';
import {
  ALL_KINDS,
  type OperatorLimits,
  type OperatorOutput,
  SpecParams,
  toResult,
  type WindowOperator,
} from './window-operator.ts';
import type { WindowResult } from './window-result.ts';

interface Session {
  start: number;
  /** Last event time + gap. */
  end: number;
  acc: Accumulator;
  fired: boolean;
  /** A row (provisional or final) is in the store at `start`: moving or absorbing it retracts it. */
  stored: boolean;
}

interface SeriesSessions {
  level: Level;
  key: string;
  kind: string;
  /** Disjoint, sorted by start. */
  sessions: Session[];
}

type SessionState = [number, number, boolean, AccumulatorState, boolean?];

interface SessionClock extends ClockState {
  shedFloor?: number | null;
}

interface SessionSnapshot extends SessionClock {
  series: [Level, string, string, SessionState[]][];
}

export class SessionWindowOperator implements WindowOperator {
  readonly name: string;
  readonly source: SourceName;
  private readonly p: SpecParams;
  private readonly gapMs: number;
  private readonly clock: OperatorClock;
  private readonly series = new Map<string, SeriesSessions>();
  private readonly maxOpenWindows: number;
  private open = 0;
  private wm = Number.NEGATIVE_INFINITY;
  /** No unfired session ends before this: firing scans only when the watermark reaches it. */
  private nextEnd = Number.POSITIVE_INFINITY;
  /** No session is kept past end + lateness before this: purging scans only then. */
  private nextPurge = Number.POSITIVE_INFINITY;
  /** Sessions ending at or before this were shed by the state limit: older events are late. */
  private shedFloor = Number.NEGATIVE_INFINITY;
  /** Sessions changed since the last checkpoint. They are few: a delta then holds them all. */
  private touched = false;
  /** The watermark at the last checkpoint. */
  private savedWm = Number.NEGATIVE_INFINITY;

  constructor(
    spec: WindowSpecConfig,
    private readonly org: OrgTree,
    private readonly out: OperatorOutput,
    limits: OperatorLimits,
  ) {
    this.maxOpenWindows = limits.maxOpenWindows;
    this.p = new SpecParams(spec, org, limits);
    this.name = this.p.name;
    this.source = this.p.source;
    this.gapMs = durationMs(spec.gap ?? '5m');
    this.clock = new OperatorClock(this.p);
  }

  get watermark(): number {
    return this.wm;
  }

  get openWindows(): number {
    return this.open;
  }

  process(e: LoggedEvent, wall: number): void {
    if (!this.p.accepts(e)) return;
    const t = this.p.time(e);
    const kind = this.p.byKind ? e.kind : ALL_KINDS;
    // Sessions are keyed by strings and leave with their last session (bounded by
    // maxOpenWindows); only the device numbering needs maxKeys here, for events not late.
    const late = t + this.p.latenessMs < this.wm || t < this.shedFloor;
    const d = late ? -1 : this.p.deviceOf(e);
    if (d === DeviceNumbers.FULL) {
      this.p.refuse(e, 'device', this.out);
      return;
    }
    for (const level of this.p.levels) {
      const key = level === 'grid' ? e.grid : this.org.ancestorAt(e.grid, level);
      if (key !== undefined) this.add(level, key, kind, e, t, d, late);
    }
    const wm = this.clock.onEvent(e.partition ?? 0, t, wall);
    if (wm > this.wm) this.advanceTo(wm);
    if (this.open > this.maxOpenWindows) this.shed();
  }

  /** `d`: the event's device number (SpecParams.deviceOf); `late`: past allowed lateness. */
  private add(
    level: Level,
    key: string,
    kind: string,
    e: LoggedEvent,
    t: number,
    d: number,
    late: boolean,
  ): void {
    const id = `${level}\u0001${key}\u0001${kind}`;
    let s = this.series.get(id);
    if (!s) {
      s = { level, key, kind, sessions: [] };
      this.series.set(id, s);
    }
    // Past allowed lateness an event is late even if it touches a held session: joining would
    // stretch that session back over one already purged, and the store cannot hold two sessions
    // at one start (found by the oracle tests).
    if (late) {
      this.out.late(e, this.wm);
      return;
    }
    this.touched = true;
    // Sessions this event touches: [t, t + gap) overlaps [start, end).
    const list = s.sessions;
    let first = -1;
    let last = -1;
    const closed = this.wm - this.p.latenessMs;
    for (let i = 0; i < list.length; i++) {
      const x = list[i]!;
      if (x.end <= closed) continue; // past allowed lateness: no longer changes, awaiting purge
      if (x.start < t + this.gapMs && t < x.end) {
        if (first === -1) first = i;
        last = i;
      }
    }
    if (first === -1) {
      const acc = new Accumulator(this.p.agg);
      acc.add(e.value, t, e.seq, d, e.kind);
      const ses: Session = { start: t, end: t + this.gapMs, acc, fired: false, stored: false };
      let at = list.findIndex((x) => x.start > t);
      if (at === -1) at = list.length;
      list.splice(at, 0, ses);
      this.open++;
      if (ses.end < this.nextEnd) this.nextEnd = ses.end;
      if (ses.end <= this.wm) this.refire(s, ses);
      return;
    }
    // Merge every touched session into the first, retracting absorbed ones already stored.
    const into = list[first]!;
    const wasStart = into.start;
    const wasStored = into.stored;
    for (let i = first + 1; i <= last; i++) {
      const x = list[i]!;
      into.acc.merge(x.acc);
      if (x.end > into.end) into.end = x.end;
      if (x.stored) this.retract(s, x);
      into.fired ||= x.fired;
      this.open--;
    }
    list.splice(first + 1, last - first);
    into.acc.add(e.value, t, e.seq, d, e.kind);
    if (t < into.start) into.start = t;
    if (t + this.gapMs > into.end) into.end = t + this.gapMs;
    if (wasStored && into.start !== wasStart) {
      this.retract(s, { start: wasStart, end: into.end, acc: into.acc, fired: true, stored: true });
      into.stored = false;
    }
    if (into.fired) this.refire(s, into);
    else if (into.end < this.nextEnd) this.nextEnd = into.end;
  }

  /** A stored session changed: store it again (final), or fire it now if it ends in the past. */
  private refire(s: SeriesSessions, ses: Session): void {
    if (ses.end <= this.wm) {
      ses.fired = true;
      this.emit(s, ses, true);
    } else {
      // It grew past the watermark again: it is open once more, and fires when its new end passes.
      ses.fired = false;
      if (ses.end < this.nextEnd) this.nextEnd = ses.end;
    }
  }

  private retract(s: SeriesSessions, gone: Session): void {
    const r: WindowResult = toResult(
      this.p,
      s.level,
      s.key,
      s.kind,
      gone.start,
      gone.end,
      new Accumulator(this.p.agg),
      true,
      undefined,
    );
    // One step above the final row stored for that start, so the zero-count row replaces it.
    r.version = gone.acc.maxSeq * 2 + 3;
    r.deltaCount = null;
    this.out.result(r);
  }

  private emit(s: SeriesSessions, ses: Session, final: boolean): void {
    ses.stored = true;
    this.touched = true;
    const r = toResult(this.p, s.level, s.key, s.kind, ses.start, ses.end, ses.acc, final, undefined);
    r.deltaCount = null; // sessions have no "previous window"
    this.out.result(r);
  }

  tick(wall: number): void {
    const wm = this.clock.onTick(wall);
    if (wm > this.wm) this.advanceTo(wm);
    if (this.clock.updatesDue(wall)) {
      for (const s of this.series.values()) {
        for (const ses of s.sessions) {
          if (!ses.fired && ses.acc.dirty) {
            ses.acc.dirty = false;
            this.emit(s, ses, false);
          }
        }
      }
    }
  }

  private advanceTo(wm: number): void {
    this.wm = wm;
    if (wm < this.nextEnd && wm < this.nextPurge) return;
    this.touched = true;
    let nextEnd = Number.POSITIVE_INFINITY;
    let nextPurge = Number.POSITIVE_INFINITY;
    for (const [id, s] of this.series) {
      const keep: Session[] = [];
      for (const ses of s.sessions) {
        if (!ses.fired && ses.end <= wm) {
          ses.fired = true;
          ses.acc.dirty = false;
          this.emit(s, ses, true);
        }
        if (ses.end + this.p.latenessMs <= wm) {
          this.open--;
          continue;
        }
        keep.push(ses);
        if (!ses.fired && ses.end < nextEnd) nextEnd = ses.end;
        if (ses.end + this.p.latenessMs < nextPurge) nextPurge = ses.end + this.p.latenessMs;
      }
      if (keep.length === 0) this.series.delete(id);
      else s.sessions = keep;
    }
    this.nextEnd = nextEnd;
    this.nextPurge = nextPurge;
  }

  /** Over the state limit: fire and drop the sessions that end first. */
  private shed(): void {
    this.touched = true;
    this.out.stateLimit();
    const all: [string, SeriesSessions, Session][] = [];
    for (const [id, s] of this.series) for (const ses of s.sessions) all.push([id, s, ses]);
    all.sort((a, b) => a[2].end - b[2].end);
    for (const [id, s, ses] of all) {
      if (this.open <= this.maxOpenWindows * 0.9) break;
      if (!ses.fired) this.emit(s, ses, true);
      if (ses.end > this.shedFloor) this.shedFloor = ses.end;
      s.sessions = s.sessions.filter((x) => x !== ses);
      if (s.sessions.length === 0) this.series.delete(id);
      this.open--;
    }
  }

  get changed(): boolean {
    return this.touched || this.wm !== this.savedWm;
  }

  /** Every session if any changed (a whole snapshot), else only the clock. */
  changes(): SessionSnapshot | SessionClock {
    if (this.touched) return this.snapshot();
    this.savedWm = this.wm;
    return this.clockState();
  }

  /** What every checkpoint carries: watermark, partitions and the shedding floor. */
  private clockState(): SessionClock {
    return { ...this.clock.snapshot(), shedFloor: Number.isFinite(this.shedFloor) ? this.shedFloor : null };
  }

  applyChanges(changes: unknown, wall: number): void {
    const c = changes as SessionSnapshot | SessionClock;
    if ('series' in c) {
      this.restore(c, wall);
      return;
    }
    this.clock.restore(c, wall);
    this.wm = this.savedWm = this.clock.watermark;
    this.shedFloor = c.shedFloor ?? Number.NEGATIVE_INFINITY;
    this.nextEnd = Number.NEGATIVE_INFINITY; // rescan on the next advance
    this.nextPurge = Number.NEGATIVE_INFINITY;
  }

  snapshot(): SessionSnapshot {
    this.touched = false;
    this.savedWm = this.wm;
    return {
      ...this.clockState(),
      series: [...this.series.values()].map((s) => [
        s.level,
        s.key,
        s.kind,
        s.sessions.map((x): SessionState => [x.start, x.end, x.fired, x.acc.toJSON(), x.stored]),
      ]),
    };
  }

  restore(state: unknown, wall: number): void {
    const st = state as SessionSnapshot;
    this.touched = false;
    this.clock.restore(st, wall);
    this.wm = this.savedWm = this.clock.watermark;
    this.shedFloor = st.shedFloor ?? Number.NEGATIVE_INFINITY;
    this.series.clear();
    this.open = 0;
    this.nextEnd = Number.NEGATIVE_INFINITY; // rescan on the next advance
    this.nextPurge = Number.NEGATIVE_INFINITY;
    for (const [level, key, kind, sessions] of st.series) {
      this.series.set(`${level}\u0001${key}\u0001${kind}`, {
        level,
        key,
        kind,
        sessions: sessions.map(([start, end, fired, acc, stored]) => ({
          start,
          end,
          fired,
          stored: stored ?? fired,
          acc: Accumulator.fromJSON(acc, this.p.agg),
        })),
      });
      this.open += sessions.length;
    }
  }
}
