// Robust streaming anomaly detector for one numeric series (a sensor reading, a window count).
//
// Method, per row, using only the past:
//  1. Several time scales. Each cuts the stream into blocks of `scales[k]` rows and keeps, per
//     block, its most extreme value relative to a short moving average (so a one-row spike
//     survives the down-sampling), or the block mean when the extreme is close to it.
//  2. Each scale keeps the last `windowBlocks` block values as a pattern and measures its
//     distance to the nearest of the last `memoryWindows` patterns it has seen (a left
//     "discord" over a ring buffer). Patterns never seen before — a level shift, a spike, a
//     missing daily rise — are far from everything in memory.
//  3. The distance becomes a surprise z: its deviation from the scale's own long-run mean,
//     in long-run standard deviations (winsorised, so an incident does not teach the detector
//     that incidents are normal). A short average of the distance gives a second z that
//     catches sustained changes (more noise, denser spikes) — the idea behind Numenta's
//     anomaly likelihood.
//  4. A value outside everything seen so far by more than `spatialTolerance` of the range is
//     surprising on its own, whatever its pattern.
//  5. The score is z / (z + alarmZ), so 0.5 is the detector's own alarm line. After an alarm
//     the detector stays quiet for `suppressRows` (an incident is one alarm, not a burst), and
//     it is quiet for the first `learnRows` rows while it learns.
// State is O(1) in stream length: a few fixed-size typed arrays per scale, nothing allocated
// per update.

export interface DetectorParams {
  /** Rows per block, one entry per time scale. */
  scales: readonly number[];
  /** Blocks per pattern. */
  windowBlocks: number;
  /** Past patterns remembered per scale (ring buffer). */
  memoryWindows: number;
  /** Rows scored 0 at the start while the detector learns. */
  learnRows: number;
  /** Horizon, in blocks, of the long-run mean and variance of pattern distances. */
  statsHorizonBlocks: number;
  /** Distances are clipped at mean + winsorSd·sd before they update the long-run stats. */
  winsorSd: number;
  /** Blocks in the short average of distances (sustained change). */
  sustainBlocks: number;
  /** Surprise at which the detector alarms (score 0.5). */
  alarmZ: number;
  /** A value beyond the range seen so far by this fraction of the range is a spatial anomaly. */
  spatialTolerance: number;
  /** Rows kept quiet after an alarm. */
  suppressRows: number;
  /** A block extreme within this fraction of the block mean's height is replaced by the mean. */
  deadZone: number;
}

/** The one parameter set used for every NAB file and every gridwatch series. */
export const DEFAULT_DETECTOR_PARAMS: Readonly<DetectorParams> = Object.freeze({
  scales: Object.freeze([2, 6, 24]),
  windowBlocks: 8,
  memoryWindows: 256,
  learnRows: 150,
  statsHorizonBlocks: 1000,
  winsorSd: 8,
  sustainBlocks: 4,
  alarmZ: 4,
  spatialTolerance: 0.02,
  suppressRows: 70,
  deadZone: 0.1,
});

export interface ValueRange {
  min: number;
  max: number;
}

/** Checkpoint of one detector: plain JSON, typed arrays as base64 of their bytes. */
export interface DetectorState {
  v: 1;
  params: DetectorParams;
  range: ValueRange | null;
  scalars: (number | null)[];
  scales: ScaleState[];
}

interface ScaleState {
  scalars: number[];
  window: string;
  memory: string;
}

/** Minimum std of distances, in units of the range: a perfectly regular series still has a scale. */
const SD_FLOOR = 1e-3;
/** Blocks of distance history before a scale's z is trusted. */
const MIN_STATS = 10;

/** One time scale: block down-sampling, pattern memory and surprise statistics. */
class Scale {
  // Block being filled.
  private blockN = 0;
  private blockMax = 0;
  private blockMin = 0;
  private blockSum = 0;
  private blocks = 0;
  /** Short moving average of block means, to tell which extreme of a block stands out. */
  private avg = 0;
  // Pattern memory: `window` is the current pattern, `memory` a ring of past ones. Values are
  // stored relative to `origin` so Float32 keeps precision for large readings (bytes, counts).
  private readonly window: Float64Array;
  private readonly memory: Float32Array;
  private memCount = 0;
  private memHead = 0;
  // Long-run statistics of pattern distance `d` and of its short average `s`.
  private dN = 0;
  private dMean = 0;
  private dVar = 0;
  private sAvg = 0;
  private sMean = 0;
  private sVar = 0;
  /** Surprise of the last closed block. */
  z = 0;

  constructor(
    private readonly p: DetectorParams,
    private readonly rowsPerBlock: number,
  ) {
    this.window = new Float64Array(p.windowBlocks);
    this.memory = new Float32Array(p.memoryWindows * p.windowBlocks);
  }

  /** Adds one value; returns true when it closed a block (then `z` is fresh). */
  push(value: number, origin: number, floor: number, span: number): boolean {
    if (this.blockN === 0) {
      this.blockMax = value;
      this.blockMin = value;
      this.blockSum = 0;
    }
    if (value > this.blockMax) this.blockMax = value;
    if (value < this.blockMin) this.blockMin = value;
    this.blockSum += value;
    if (++this.blockN < this.rowsPerBlock) return false;
    this.blockN = 0;
    this.z = 0;

    const p = this.p;
    const mean = this.blockSum / this.rowsPerBlock;
    this.avg = this.blocks === 0 ? mean : (this.avg + mean) / 2;
    const hi = Math.abs(this.blockMax - this.avg) >= Math.abs(this.blockMin - this.avg);
    let v = hi ? this.blockMax : this.blockMin;
    // Ordinary jitter inside a block is not a feature; a real excursion is.
    if (Math.abs(v - mean) < p.deadZone * Math.abs(mean - floor)) v = mean;

    const W = p.windowBlocks;
    this.window.copyWithin(0, 1);
    this.window[W - 1] = v - origin;
    if (++this.blocks < W) return true;

    const best = this.nearest();
    this.remember();
    if (best === Number.POSITIVE_INFINITY) return true;
    const d = span > 0 ? Math.sqrt(best / W) / span : 0;
    this.z = this.surprise(d);
    return true;
  }

  /** Squared distance from the current pattern to the nearest remembered, non-overlapping one. */
  private nearest(): number {
    const p = this.p;
    const W = p.windowBlocks;
    const M = p.memoryWindows;
    let best = Number.POSITIVE_INFINITY;
    // The last W patterns overlap the current one: matching them would be trivially close.
    const usable = this.memCount - W;
    for (let k = 0; k < usable; k++) {
      let slot = this.memHead - 1 - W - k;
      if (slot < 0) slot += M;
      const off = slot * W;
      let d = 0;
      for (let i = 0; i < W && d < best; i++) {
        const e = this.window[i]! - this.memory[off + i]!;
        d += e * e;
      }
      if (d < best) best = d;
    }
    return best;
  }

  private remember(): void {
    const p = this.p;
    const W = p.windowBlocks;
    this.memory.set(this.window, this.memHead * W);
    this.memHead = (this.memHead + 1) % p.memoryWindows;
    if (this.memCount < p.memoryWindows) this.memCount++;
  }

  /** z of distance `d` (and of its short average) against the long run; then learns from d. */
  private surprise(d: number): number {
    const p = this.p;
    const trusted = this.dN > MIN_STATS;
    const sd = Math.sqrt(this.dVar) + SD_FLOOR;
    let z = trusted ? (d - this.dMean) / sd : 0;

    this.sAvg += (d - this.sAvg) / p.sustainBlocks;
    const ssd = Math.sqrt(this.sVar) + SD_FLOOR;
    if (this.dN > MIN_STATS + p.sustainBlocks) z = Math.max(z, (this.sAvg - this.sMean) / ssd);

    // Cumulative mean at first, then an exponential one over the horizon.
    const a = 1 / Math.min(this.dN + 1, p.statsHorizonBlocks);
    const dc = trusted ? Math.min(d, this.dMean + p.winsorSd * sd) : d;
    const dd = dc - this.dMean;
    this.dMean += a * dd;
    this.dVar = (1 - a) * (this.dVar + a * dd * dd);
    const sc = trusted ? Math.min(this.sAvg, this.sMean + p.winsorSd * ssd) : this.sAvg;
    const ds = sc - this.sMean;
    this.sMean += a * ds;
    this.sVar = (1 - a) * (this.sVar + a * ds * ds);
    this.dN++;
    return z;
  }

  toState(): ScaleState {
    return {
      scalars: [
        this.blockN,
        this.blockMax,
        this.blockMin,
        this.blockSum,
        this.blocks,
        this.avg,
        this.memCount,
        this.memHead,
        this.dN,
        this.dMean,
        this.dVar,
        this.sAvg,
        this.sMean,
        this.sVar,
        this.z,
      ],
      window: toBase64(this.window),
      memory: toBase64(this.memory),
    };
  }

  restore(s: ScaleState): void {
    const v = numbers(s.scalars, 15);
    let i = 0;
    const next = () => v[i++]!;
    this.blockN = next();
    this.blockMax = next();
    this.blockMin = next();
    this.blockSum = next();
    this.blocks = next();
    this.avg = next();
    this.memCount = next();
    this.memHead = next();
    this.dN = next();
    this.dMean = next();
    this.dVar = next();
    this.sAvg = next();
    this.sMean = next();
    this.sVar = next();
    this.z = next();
    fromBase64(s.window, this.window);
    fromBase64(s.memory, this.memory);
  }

  static bytes(p: DetectorParams): number {
    return p.windowBlocks * 8 + p.memoryWindows * p.windowBlocks * 4;
  }
}

export class StreamingAnomalyDetector {
  readonly params: Readonly<DetectorParams>;
  /** Range given up front (NAB), or null: then the range seen so far is used. */
  private readonly range: ValueRange | null;
  private readonly scales: Scale[];
  private rows = 0;
  /** Range of values seen so far: the spatial check, and the range when none was given. */
  private seenMin = Number.POSITIVE_INFINITY;
  private seenMax = Number.NEGATIVE_INFINITY;
  /** Origin of stored patterns (the first value, or the given minimum). */
  private origin = Number.NaN;
  private quietUntil = 0;

  constructor(params?: Partial<DetectorParams>, range?: ValueRange) {
    const p: DetectorParams = { ...DEFAULT_DETECTOR_PARAMS, ...params };
    validate(p);
    this.params = Object.freeze({ ...p, scales: Object.freeze([...p.scales]) });
    this.range =
      range && Number.isFinite(range.min) && Number.isFinite(range.max) && range.max >= range.min
        ? { min: range.min, max: range.max }
        : null;
    if (this.range) this.origin = this.range.min;
    this.scales = this.params.scales.map((rows) => new Scale(this.params, rows));
  }

  /**
   * Scores the next value of the series: 0 (ordinary) … 1 (extraordinary); ≥ 0.5 is an alarm.
   * `ts` (epoch ms) is accepted for the engine's convenience; the detector works in rows,
   * assuming a roughly regular series. Non-finite values are skipped: score 0, state untouched.
   */
  update(_ts: number, value: number): number {
    if (!Number.isFinite(value)) return 0;
    const p = this.params;
    this.rows++;
    if (Number.isNaN(this.origin)) this.origin = value;
    const lo = this.range ? this.range.min : Math.min(this.seenMin, value);
    const hi = this.range ? this.range.max : Math.max(this.seenMax, value);
    const span = hi - lo;

    let z = 0;
    let fresh = false;
    for (let k = 0; k < this.scales.length; k++) {
      const s = this.scales[k]!;
      if (s.push(value, this.origin, lo, span)) {
        fresh = true;
        if (s.z > z) z = s.z;
      }
    }
    // Spatial novelty: beyond everything seen so far, by more than the tolerance.
    if (this.rows > 1 && span > 0) {
      const beyond = Math.max(value - this.seenMax, this.seenMin - value) / (p.spatialTolerance * span);
      if (beyond > 1) {
        z = Math.max(z, p.alarmZ * (1 + Math.log(beyond)));
        fresh = true;
      }
    }
    if (value > this.seenMax) this.seenMax = value;
    if (value < this.seenMin) this.seenMin = value;

    if (!fresh || z <= 0 || this.rows <= p.learnRows || this.rows < this.quietUntil) return 0;
    if (z > p.alarmZ) this.quietUntil = this.rows + p.suppressRows;
    return z / (z + p.alarmZ);
  }

  /** Rows seen (non-finite values excluded). */
  get count(): number {
    return this.rows;
  }

  /** Bytes of typed-array state per instance (the bulk of its memory). */
  static stateBytes(params: Partial<DetectorParams> = {}): number {
    const p = { ...DEFAULT_DETECTOR_PARAMS, ...params };
    return p.scales.length * Scale.bytes(p);
  }

  toJSON(): DetectorState {
    return {
      v: 1,
      params: { ...this.params, scales: [...this.params.scales] },
      range: this.range,
      scalars: [this.rows, this.seenMin, this.seenMax, this.origin, this.quietUntil].map(finiteOrNull),
      scales: this.scales.map((s) => s.toState()),
    };
  }

  static fromJSON(state: DetectorState): StreamingAnomalyDetector {
    if (state?.v !== 1) throw new Error('anomaly detector checkpoint: unknown version');
    const d = new StreamingAnomalyDetector(state.params, state.range ?? undefined);
    if (!Array.isArray(state.scales) || state.scales.length !== d.scales.length)
      throw new Error('anomaly detector checkpoint: scales do not match its parameters');
    if (!Array.isArray(state.scalars) || state.scalars.length !== 5)
      throw new Error('anomaly detector checkpoint: malformed scalars');
    const [rows, seenMin, seenMax, origin, quietUntil] = state.scalars.map(nullToNonFinite);
    d.rows = rows ?? 0;
    d.seenMin = seenMin ?? Number.POSITIVE_INFINITY;
    d.seenMax = seenMax ?? Number.NEGATIVE_INFINITY;
    d.origin = origin ?? Number.NaN;
    d.quietUntil = quietUntil ?? 0;
    for (let i = 0; i < d.scales.length; i++) d.scales[i]!.restore(state.scales[i]!);
    return d;
  }
}

function validate(p: DetectorParams): void {
  const positiveInt = (n: number) => Number.isInteger(n) && n > 0;
  if (!Array.isArray(p.scales) || p.scales.length === 0 || !p.scales.every(positiveInt))
    throw new RangeError('detector: scales must be positive integers');
  if (!positiveInt(p.windowBlocks) || !positiveInt(p.memoryWindows) || p.memoryWindows <= p.windowBlocks)
    throw new RangeError('detector: windowBlocks and memoryWindows must be positive, memory > window');
  if (!positiveInt(p.sustainBlocks) || !positiveInt(p.statsHorizonBlocks))
    throw new RangeError('detector: sustainBlocks and statsHorizonBlocks must be positive integers');
  for (const k of [
    'learnRows',
    'suppressRows',
    'alarmZ',
    'winsorSd',
    'spatialTolerance',
    'deadZone',
  ] as const)
    if (!(p[k] >= 0)) throw new RangeError(`detector: ${k} must be ≥ 0`);
  if (!(p.alarmZ > 0) || !(p.spatialTolerance > 0))
    throw new RangeError('detector: alarmZ and spatialTolerance must be > 0');
}

// JSON has no ±Infinity/NaN: the seen range starts infinite and the origin NaN.
function finiteOrNull(n: number): number | null {
  return Number.isFinite(n) ? n : null;
}

function nullToNonFinite(n: number | null): number | undefined {
  return n === null ? undefined : n;
}

function numbers(a: unknown, n: number): number[] {
  if (!Array.isArray(a) || a.length !== n || !a.every((x) => typeof x === 'number'))
    throw new Error('anomaly detector checkpoint: malformed scalars');
  return a as number[];
}

function toBase64(a: Float64Array | Float32Array): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
}

function fromBase64(s: string, into: Float64Array | Float32Array): void {
  const b = Buffer.from(s, 'base64');
  if (b.byteLength !== into.byteLength) throw new Error('anomaly detector checkpoint: array size mismatch');
  new Uint8Array(into.buffer, into.byteOffset, into.byteLength).set(b);
}
