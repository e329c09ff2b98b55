// The built-in simulator: a seeded, deterministic model of a demo city's sensor, camera and 12345
// streams, plus scripted incidents that the processors and alerting must turn into alerts.
//
// Every device (and the hotline, and the incident script) is a stream with its own generator, and
// streams are merged by event time through a heap. A stream draws the same numbers whatever the
// tick times, so the output depends only on seed, org tree, start time and the end time reached.
import { validateConfig } from '../../config/load.ts';
import type { OrgTree } from '../../config/org-tree.ts';
import type { GridwatchConfig } from '../../config/schema.ts';
import { durationMs } from '../../platform/duration.ts';
import type { HotlineRecord, SensorRecord, VideoRecord } from '../records.ts';
import {
  categoryWeight,
  genericProfile,
  hotlineRhythm,
  localHour,
  localIso,
  localStamp,
  METRIC_PROFILES,
  type MetricProfile,
  mobileNumber,
  objectCount,
  roomSuffix,
  summaryFor,
  VIDEO_EVENT_PROFILES,
} from './content.ts';
import {
  between,
  chance,
  cumulativeWeights,
  exponential,
  gaussian,
  intBetween,
  pick,
  type Rng,
  rngFor,
  shuffled,
  weightedPick,
} from './rand.ts';

export type SimulatorOptions = GridwatchConfig['simulator'];

/** What the city's config says the streams may contain: metric units, video event types, hotline categories. */
export interface SimCatalog {
  metrics: GridwatchConfig['sensors']['metrics'];
  videoEventTypes: readonly string[];
  hotlineCategories: readonly string[];
}

export function catalogFrom(cfg: Pick<GridwatchConfig, 'sensors' | 'video' | 'hotline'>): SimCatalog {
  return {
    metrics: cfg.sensors.metrics,
    videoEventTypes: cfg.video.eventTypes,
    hotlineCategories: cfg.hotline.categories,
  };
}

let builtInCatalog: SimCatalog | undefined;
/** The catalog of the default configuration. */
export function defaultSimCatalog(): SimCatalog {
  builtInCatalog ??= catalogFrom(validateConfig({}));
  return builtInCatalog;
}

export interface SimBatch {
  sensor: SensorRecord[];
  video: VideoRecord[];
  hotline: HotlineRecord[];
}

/** One record with its source and event time (epoch ms), in the order the city produced them. */
export type SimRecord =
  | { source: 'sensor'; ts: number; record: SensorRecord }
  | { source: 'video'; ts: number; record: VideoRecord }
  | { source: 'hotline'; ts: number; record: HotlineRecord };

export type IncidentKind = 'gas_leak' | 'crowd' | 'complaint_spike' | 'camera_offline';

export interface ScriptedIncident {
  kind: IncidentKind;
  cycle: number;
  /** The grid the incident happens in (the device's grid for device incidents). */
  grid: string;
  device?: string;
  /** Epoch ms; the incident's records have startsAt ≤ ts < endsAt. */
  startsAt: number;
  endsAt: number;
}

// The script of one incident cycle, relative to the cycle's start.
const FIRST_CYCLE_AFTER_MS = 30_000;
const GAS = { offset: 0, rampMs: 60_000, holdMs: 180_000, everyMs: 5_000, peak: [600, 900] as const };
const OFFLINE = { offset: 30_000, durationMs: 480_000 };
const CROWD = { offset: 60_000, durationMs: 180_000, everyMs: [8_000, 12_000] as const, from: 20, to: 300 };
const SPIKE = { offset: 90_000, durationMs: 240_000, calls: [24, 28] as const };
/** The latest end of an incident after its cycle starts: which cycles can cover a given time. */
const CYCLE_SPAN_MS = OFFLINE.offset + OFFLINE.durationMs;
/** Cycles overlap when shorter than their span; below a minute the overlap would be absurd. */
const MIN_CYCLE_MS = 60_000;
const PLAN_CACHE = 64;

// Stream kinds, mixed into seeds so that no two streams share a generator.
const K_SENSOR = 1;
const K_HEARTBEAT = 2;
const K_CAMERA = 3;
const K_HOTLINE = 4;
const K_PLAN = 5;
const K_SCRIPT = 6;
const K_POOL = 7;

/** Snapshot URLs and ISO timestamps appear on a share of camera events, as real NVRs differ. */
const SNAPSHOT_SHARE = 0.5;
const ISO_TS_SHARE = 0.25;
/** Mean size of a camera event burst: the first event and 1–4 more of the same type. */
const MEAN_BURST = 3.5;
/** Registered building numbers are looked for up to this number in a community. */
const MAX_BUILDING = 256;

interface Stream {
  readonly order: number;
  /** Event time of the stream's next record; Infinity when it has none. */
  next: number;
  /** Emits the record due at `next` (or nothing, when it is suppressed) and moves `next` on. */
  fire(out: SimRecord[]): void;
}

interface CyclePlan {
  incidents: ScriptedIncident[];
  gasPeak: number;
}

interface CallDraw {
  category: string;
  grid?: string;
  address?: string;
  summary: string;
  caller_phone: string;
}

export class CitySimulator {
  readonly startMs: number;
  readonly catalog: SimCatalog;
  private readonly org: OrgTree;
  private readonly opts: SimulatorOptions;
  private lastMs: number;
  private readonly seed: number;
  private readonly cycleMs: number;
  private readonly queue = new StreamQueue();
  private readonly gasPool: string[] = [];
  private readonly cameraPool: string[] = [];
  private readonly gridPool: string[];
  private readonly baselines = new Map<string, number>();
  private readonly plans = new Map<number, CyclePlan>();
  private readonly addresses = new Map<string, string[]>();
  private callSecond = '';
  private callSeq = 0;

  constructor(
    org: OrgTree,
    opts: SimulatorOptions,
    startMs: number,
    catalog: SimCatalog = defaultSimCatalog(),
  ) {
    this.org = org;
    this.opts = opts;
    this.startMs = Math.floor(startMs);
    this.lastMs = this.startMs;
    this.seed = opts.seed;
    this.catalog = catalog;
    this.cycleMs = Math.max(MIN_CYCLE_MS, durationMs(opts.incidentEvery));
    const sensorMs = Math.max(1000, durationMs(opts.sensorInterval));
    const heartbeatMs = Math.max(1000, durationMs(opts.heartbeatInterval));

    let order = 0;
    const metricNames = Object.keys(catalog.metrics).sort();
    const grids = [...org.allNodes('grid')].map((n) => n.id);
    for (const [i, d] of [...org.allDevices()].entries()) {
      if (d.type === 'sensor') {
        const rng = rngFor(this.seed, K_SENSOR, i);
        const metric = d.metrics
          ? [...d.metrics][0]!
          : pick(rng, metricNames.length ? metricNames : ['temperature']);
        if (metric === 'gas_ppm') this.gasPool.push(d.id);
        this.queue.push(this.sensorStream(order++, d.id, metric, sensorMs, rng));
      } else {
        this.cameraPool.push(d.id);
        this.queue.push(this.heartbeatStream(order++, d.id, heartbeatMs, rngFor(this.seed, K_HEARTBEAT, i)));
        const events = this.cameraEventStream(order++, d.id, rngFor(this.seed, K_CAMERA, i));
        if (events) this.queue.push(events);
      }
    }
    const hotline = this.hotlineStream(order++, grids, rngFor(this.seed, K_HOTLINE));
    if (hotline) this.queue.push(hotline);

    // Incident targets rotate through shuffled pools, so consecutive cycles pick different ones.
    this.gasPool = shuffled(rngFor(this.seed, K_POOL, 1), this.gasPool);
    this.cameraPool = shuffled(rngFor(this.seed, K_POOL, 2), this.cameraPool);
    this.gridPool = shuffled(rngFor(this.seed, K_POOL, 3), grids);
    if (this.incidentsAt(0).some((x) => x.kind !== 'camera_offline'))
      this.queue.push(this.scriptStream(order++));
  }

  /** All records with lastTick < ts ≤ nowMs, each source in event-time order. */
  tick(nowMs: number): SimBatch {
    const batch: SimBatch = { sensor: [], video: [], hotline: [] };
    for (const r of this.advance(nowMs)) {
      if (r.source === 'sensor') batch.sensor.push(r.record);
      else if (r.source === 'video') batch.video.push(r.record);
      else batch.hotline.push(r.record);
    }
    return batch;
  }

  /** Like `tick`, as one list across sources in event-time order. */
  advance(nowMs: number): SimRecord[] {
    const out: SimRecord[] = [];
    if (!(nowMs > this.lastMs)) return out;
    for (let s = this.queue.peek(); s && s.next <= nowMs; s = this.queue.peek()) {
      this.queue.pop();
      s.fire(out);
      if (Number.isFinite(s.next)) this.queue.push(s);
    }
    this.lastMs = Math.floor(nowMs);
    return out;
  }

  /** Time the last tick reached: the next tick returns records after it. */
  get lastTickMs(): number {
    return this.lastMs;
  }

  /** Start of incident cycle `cycle` (epoch ms). */
  cycleStartMs(cycle: number): number {
    return this.startMs + FIRST_CYCLE_AFTER_MS + cycle * this.cycleMs;
  }

  /** The incidents scripted for a cycle, in start order; none when incidents are off. */
  incidentsAt(cycle: number): ScriptedIncident[] {
    return this.plan(cycle)?.incidents ?? [];
  }

  /** Incidents under way at `nowMs`. */
  currentIncidents(nowMs: number): ScriptedIncident[] {
    const out: ScriptedIncident[] = [];
    for (const c of this.cyclesCovering(nowMs)) {
      for (const x of this.incidentsAt(c)) if (x.startsAt <= nowMs && nowMs < x.endsAt) out.push(x);
    }
    return out;
  }

  // --- streams -----------------------------------------------------------------------------

  private sensorStream(order: number, device: string, metric: string, intervalMs: number, rng: Rng): Stream {
    const def = this.catalog.metrics[metric];
    const profile: MetricProfile = METRIC_PROFILES[metric] ?? genericProfile(def?.min ?? 0, def?.max ?? 100);
    const unit = def?.unit;
    const baseline = between(rng, profile.baseLo, profile.baseHi);
    const amp = profile.amp * between(rng, 0.7, 1.3);
    const phase = intBetween(rng, 1, intervalMs);
    const jitterMs = Math.min(500, Math.floor(intervalMs / 10));
    this.baselines.set(device, baseline);
    let k = 0;
    const slot = () => this.startMs + phase + k * intervalMs + intBetween(rng, 0, jitterMs);
    const s: Stream = {
      order,
      next: slot(),
      fire: (out) => {
        const ts = s.next;
        const normal = baseline + amp * profile.shape(localHour(ts)) + profile.noise * gaussian(rng);
        const leak = metric === 'gas_ppm' ? this.leakAt(device, ts) : undefined;
        const value = leak ? this.leakValue(leak, baseline, ts, rng) : clamp(normal, profile.lo, profile.hi);
        const record: SensorRecord = { device, metric, value: round2(value), ts };
        if (unit !== undefined) record.unit = unit;
        out.push({ source: 'sensor', ts, record });
        k++;
        s.next = slot();
      },
    };
    return s;
  }

  private heartbeatStream(order: number, camera: string, intervalMs: number, rng: Rng): Stream {
    const phase = intBetween(rng, 1, intervalMs);
    let k = 0;
    const s: Stream = {
      order,
      next: this.startMs + phase,
      fire: (out) => {
        const ts = s.next;
        if (!this.isOffline(camera, ts)) {
          out.push({ source: 'video', ts, record: { camera, event_type: 'heartbeat', ts, confidence: 1 } });
        }
        k++;
        s.next = this.startMs + phase + k * intervalMs;
      },
    };
    return s;
  }

  /** Analytics events in bursts: a burst's events are queued and released in time order. */
  private cameraEventStream(order: number, camera: string, rng: Rng): Stream | undefined {
    const types = this.catalog.videoEventTypes.filter((t) => t !== 'heartbeat');
    if (types.length === 0 || this.opts.cameraEventsPerMinute <= 0) return undefined;
    const cumulative = cumulativeWeights(types.map((t) => VIDEO_EVENT_PROFILES[t]?.weight ?? 1));
    const meanGapMs = (60_000 * MEAN_BURST) / this.opts.cameraEventsPerMinute;
    const pending: { ts: number; record: VideoRecord }[] = [];
    let nextBurst = this.startMs + 1 + Math.floor(exponential(rng, meanGapMs));

    const burst = (start: number) => {
      const type = weightedPick(rng, types, cumulative);
      const profile = VIDEO_EVENT_PROFILES[type];
      const n = 1 + intBetween(rng, 1, 4);
      let ts = start;
      for (let i = 0; i < n; i++) {
        if (i > 0) ts += intBetween(rng, 1_000, 6_000);
        const record: VideoRecord = {
          camera,
          event_type: type,
          ts: chance(rng, ISO_TS_SHARE) ? new Date(ts).toISOString() : ts,
          confidence: round2(between(rng, 0.6, 0.99)),
        };
        const count = objectCount(rng, profile);
        if (count !== undefined) record.object_count = count;
        if (chance(rng, SNAPSHOT_SHARE)) record.snapshot_url = snapshotUrl(camera, ts);
        pending.push({ ts, record });
      }
      pending.sort((a, b) => a.ts - b.ts);
    };
    // A burst starting before the earliest queued event must be queued first.
    const refill = () => {
      while (nextBurst <= (pending[0]?.ts ?? Number.POSITIVE_INFINITY)) {
        burst(nextBurst);
        nextBurst += 1 + Math.floor(exponential(rng, meanGapMs));
      }
      s.next = pending[0]!.ts;
    };
    const s: Stream = {
      order,
      next: 0,
      fire: (out) => {
        const e = pending.shift()!;
        if (!this.isOffline(camera, e.ts)) out.push({ source: 'video', ts: e.ts, record: e.record });
        refill();
      },
    };
    refill();
    return s;
  }

  /** City-wide calls: a Poisson process at the peak rate, thinned by the hour-of-day rhythm. */
  private hotlineStream(order: number, grids: string[], rng: Rng): Stream | undefined {
    const categories = this.catalog.hotlineCategories;
    if (grids.length === 0 || categories.length === 0 || this.opts.hotlineCallsPerHour <= 0) return undefined;
    const cumulative = cumulativeWeights(categories.map(categoryWeight));
    const meanGapMs = 3_600_000 / this.opts.hotlineCallsPerHour;
    const gap = () => 1 + Math.floor(exponential(rng, meanGapMs));
    const s: Stream = {
      order,
      next: this.startMs + gap(),
      fire: (out) => {
        const ts = s.next;
        if (chance(rng, hotlineRhythm(ts))) {
          const category = weightedPick(rng, categories, cumulative);
          const grid = pick(rng, grids);
          const addresses = this.addressesOf(grid);
          // Half the callers give an address (resolved to a grid at ingest), half are filed by grid.
          const where =
            addresses.length > 0 && chance(rng, 0.5)
              ? { address: pick(rng, addresses) + roomSuffix(rng) }
              : { grid };
          const draw: CallDraw = {
            category,
            ...where,
            summary: summaryFor(rng, category),
            caller_phone: mobileNumber(rng),
          };
          out.push({ source: 'hotline', ts, record: this.call(ts, draw) });
        }
        s.next = ts + gap();
      },
    };
    return s;
  }

  /** The scripted incidents' own records, cycle after cycle. */
  private scriptStream(order: number): Stream {
    const pending: { ts: number; make: () => SimRecord }[] = [];
    let cycle = 0;
    const refill = () => {
      // Every record of a cycle comes at or after its start.
      while (this.cycleStartMs(cycle) <= (pending[0]?.ts ?? Number.POSITIVE_INFINITY)) {
        pending.push(...this.scriptedRecords(cycle++));
        pending.sort((a, b) => a.ts - b.ts);
      }
      s.next = pending[0]!.ts;
    };
    const s: Stream = {
      order,
      next: 0,
      fire: (out) => {
        out.push(pending.shift()!.make());
        refill();
      },
    };
    refill();
    return s;
  }

  private scriptedRecords(cycle: number): { ts: number; make: () => SimRecord }[] {
    const plan = this.plan(cycle)!;
    const rng = rngFor(this.seed, K_SCRIPT, cycle);
    const out: { ts: number; make: () => SimRecord }[] = [];
    for (const x of plan.incidents) {
      if (x.kind === 'gas_leak') {
        const device = x.device!;
        const baseline = this.baselines.get(device) ?? METRIC_PROFILES.gas_ppm!.baseLo;
        const unit = this.catalog.metrics.gas_ppm?.unit;
        for (let ts = x.startsAt; ts < x.endsAt; ts += GAS.everyMs) {
          const record: SensorRecord = {
            device,
            metric: 'gas_ppm',
            value: round2(this.leakValue(x, baseline, ts, rng)),
            ts,
          };
          if (unit !== undefined) record.unit = unit;
          out.push({ ts, make: () => ({ source: 'sensor', ts, record }) });
        }
      } else if (x.kind === 'crowd') {
        const camera = x.device!;
        // The count reaches its peak a little before the end, then holds there.
        const rampMs = CROWD.durationMs - 15_000;
        for (let ts = x.startsAt; ts < x.endsAt; ts += intBetween(rng, CROWD.everyMs[0], CROWD.everyMs[1])) {
          const f = Math.min(1, (ts - x.startsAt) / rampMs);
          const count = Math.round(
            clamp(CROWD.from + (CROWD.to - CROWD.from) * f + 3 * gaussian(rng), CROWD.from, CROWD.to),
          );
          const record: VideoRecord = {
            camera,
            event_type: 'crowd_gathering',
            ts,
            confidence: round2(between(rng, 0.85, 0.99)),
            object_count: count,
            snapshot_url: snapshotUrl(camera, ts),
          };
          out.push({ ts, make: () => ({ source: 'video', ts, record }) });
        }
      } else if (x.kind === 'complaint_spike') {
        const n = intBetween(rng, SPIKE.calls[0], SPIKE.calls[1]);
        const times = Array.from(
          { length: n },
          () => x.startsAt + intBetween(rng, 0, SPIKE.durationMs - 1),
        ).sort((a, b) => a - b);
        for (const ts of times) {
          const draw: CallDraw = {
            category: 'complaint.noise',
            grid: x.grid,
            summary: summaryFor(rng, 'complaint.noise'),
            caller_phone: mobileNumber(rng),
          };
          // Call ids are numbered when the call is emitted, in time order with the other calls.
          out.push({ ts, make: () => ({ source: 'hotline', ts, record: this.call(ts, draw) }) });
        }
      }
    }
    return out;
  }

  // --- incidents ---------------------------------------------------------------------------

  private plan(cycle: number): CyclePlan | undefined {
    if (!this.opts.incidents || cycle < 0 || !Number.isInteger(cycle)) return undefined;
    const cached = this.plans.get(cycle);
    if (cached) return cached;
    const base = this.cycleStartMs(cycle);
    const rng = rngFor(this.seed, K_PLAN, cycle);
    const incidents: ScriptedIncident[] = [];
    const gridOf = (device: string) => this.org.device(device)!.grid;
    if (this.gasPool.length > 0) {
      const device = this.gasPool[cycle % this.gasPool.length]!;
      const startsAt = base + GAS.offset;
      incidents.push({
        kind: 'gas_leak',
        cycle,
        grid: gridOf(device),
        device,
        startsAt,
        endsAt: startsAt + GAS.rampMs + GAS.holdMs,
      });
    }
    const cams = this.cameraPool;
    // With a single camera it plays the crowd; going offline as well would hide the crowd.
    if (cams.length >= 2) {
      const device = cams[(2 * cycle) % cams.length]!;
      const startsAt = base + OFFLINE.offset;
      incidents.push({
        kind: 'camera_offline',
        cycle,
        grid: gridOf(device),
        device,
        startsAt,
        endsAt: startsAt + OFFLINE.durationMs,
      });
    }
    if (cams.length >= 1) {
      const device = cams[(2 * cycle + 1) % cams.length]!;
      const startsAt = base + CROWD.offset;
      incidents.push({
        kind: 'crowd',
        cycle,
        grid: gridOf(device),
        device,
        startsAt,
        endsAt: startsAt + CROWD.durationMs,
      });
    }
    if (this.gridPool.length > 0) {
      const startsAt = base + SPIKE.offset;
      const grid = this.gridPool[cycle % this.gridPool.length]!;
      incidents.push({ kind: 'complaint_spike', cycle, grid, startsAt, endsAt: startsAt + SPIKE.durationMs });
    }
    const plan: CyclePlan = { incidents, gasPeak: between(rng, GAS.peak[0], GAS.peak[1]) };
    this.plans.set(cycle, plan);
    if (this.plans.size > PLAN_CACHE) this.plans.delete(this.plans.keys().next().value!);
    return plan;
  }

  /** Cycles whose incidents may be under way at `ts`. */
  private cyclesCovering(ts: number): number[] {
    const since = ts - this.cycleStartMs(0);
    if (since < 0) return [];
    const last = Math.floor(since / this.cycleMs);
    const first = Math.max(0, Math.floor((since - CYCLE_SPAN_MS) / this.cycleMs));
    const out: number[] = [];
    for (let c = first; c <= last; c++) out.push(c);
    return out;
  }

  private findIncident(kind: IncidentKind, device: string, ts: number): ScriptedIncident | undefined {
    if (!this.opts.incidents) return undefined;
    for (const c of this.cyclesCovering(ts)) {
      for (const x of this.incidentsAt(c)) {
        if (x.kind === kind && x.device === device && x.startsAt <= ts && ts < x.endsAt) return x;
      }
    }
    return undefined;
  }

  private isOffline(camera: string, ts: number): boolean {
    return this.findIncident('camera_offline', camera, ts) !== undefined;
  }

  private leakAt(device: string, ts: number): ScriptedIncident | undefined {
    return this.findIncident('gas_leak', device, ts);
  }

  /** A leak ramps from the sensor's baseline to the cycle's peak, then holds near it. */
  private leakValue(x: ScriptedIncident, baseline: number, ts: number, rng: Rng): number {
    const peak = this.plan(x.cycle)!.gasPeak;
    const f = (ts - x.startsAt) / GAS.rampMs;
    if (f < 1) return Math.max(0, baseline + (peak - baseline) * f + 0.5 * gaussian(rng));
    return peak * (1 + 0.02 * gaussian(rng));
  }

  // --- hotline helpers ---------------------------------------------------------------------

  /** Call ids carry the local date and second, so a restarted simulator never reuses one. */
  private call(ts: number, d: CallDraw): HotlineRecord {
    const { ymd, hms } = localStamp(ts);
    const second = ymd + hms;
    this.callSeq = second === this.callSecond ? this.callSeq + 1 : 1;
    this.callSecond = second;
    return {
      call_id: `12345-${ymd}-${hms}${String(this.callSeq).padStart(2, '0')}`,
      received_at: localIso(ts),
      ...d,
    };
  }

  /**
   * Building addresses registered for a grid ('…平南社区6号楼'), found by asking the org tree
   * which grid resolves them, since the tree does not list them; failing that, the grid's own
   * name under its community. Empty when neither resolves back to the grid.
   */
  private addressesOf(grid: string): string[] {
    const cached = this.addresses.get(grid);
    if (cached) return cached;
    const node = this.org.node(grid);
    const out: string[] = [];
    if (node) {
      const prefix = node.path
        .slice(1, -1)
        .map((id) => this.org.node(id)?.name ?? '')
        .join('');
      for (let b = 1; b <= MAX_BUILDING; b++) {
        const a = `${prefix}${b}号楼`;
        if (this.org.resolveAddress(a)?.id === grid) out.push(a);
        else if (out.length > 0) break;
      }
      if (out.length === 0 && this.org.resolveAddress(prefix + node.name)?.id === grid)
        out.push(prefix + node.name);
    }
    this.addresses.set(grid, out);
    return out;
  }
}

/** The streams ordered by next event time; ties go to the stream created first. */
class StreamQueue {
  private readonly h: Stream[] = [];

  peek(): Stream | undefined {
    return this.h[0];
  }

  push(s: Stream): void {
    const h = this.h;
    h.push(s);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  pop(): Stream | undefined {
    const h = this.h;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l]!, h[m]!)) m = l;
        if (r < h.length && before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

function before(a: Stream, b: Stream): boolean {
  return a.next < b.next || (a.next === b.next && a.order < b.order);
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

function round2(v: number): number {
  return Math.round(v * 100) / 100;
}

function snapshotUrl(camera: string, ts: number): string {
  return `http://camera-nvr.local/snap/${camera}/${ts}.jpg`;
}
