// Silences: officers mute matching alerts for a while (still tracked and logged, not notified).
// Held in memory for the engine's hot path, written through to the `silences` table (one row
// per version: create, then expire) and reloaded at start-up. Times are epoch ms here.
import { randomUUID } from 'node:crypto';
import ms from 'ms';
import type { OrgTree } from '../../config/org-tree.ts';
import type { Logger } from '../../platform/logger.ts';
import type { Row, Store } from '../../platform/store/store.ts';
import { SilenceErrors } from './errors.ts';
import {
  type CompiledMatcher,
  formatMatcher,
  type Matcher,
  matches,
  matchesEverything,
  parseMatchers,
  plainMatcher,
} from './matchers.ts';

export type SilenceState = 'pending' | 'active' | 'expired';

export interface Silence {
  readonly id: string;
  /** 1 when created, +1 on each change: the ReplacingMergeTree version. */
  readonly version: number;
  readonly matchers: readonly CompiledMatcher[];
  readonly author: string;
  readonly comment: string;
  readonly startsAt: number;
  readonly endsAt: number;
  readonly createdAt: number;
  /** Who expired it early; null when it ran (or runs) its course. */
  readonly expiredBy: string | null;
}

export interface NewSilence {
  /** Any form parseMatchers takes: strings, { name, op, value } objects, or one list string. */
  matchers: unknown;
  author: string;
  comment: string;
  /** Default now; a time in the past starts it now. */
  startsAt?: number;
  endsAt: number;
  /** Allow matchers that select every alert. The caller checks the author may (whole-city key). */
  force?: boolean;
}

export interface SilenceChange {
  /** created: new (pending or active); started: became active; expired: ended or expired early. */
  type: 'created' | 'started' | 'expired';
  silence: Silence;
  at: number;
}

/** The part of the Store silences use, so tests can pass a fake. */
export type SilenceStore = Pick<Store, 'insert' | 'query'>;

export interface SilencesOptions {
  store: SilenceStore;
  /** Needed for `within` matchers (and to check `area` values). */
  org?: OrgTree;
  now?: () => number;
  /** Longest silence, ms. Default 30 days. */
  maxDuration?: number;
  /** Expired silences stay listed (and are reloaded) this long, ms. Default 5 days (as Alertmanager). */
  retention?: number;
  /** Cap on pending + active silences: memory and the hot path stay bounded. Default 1000. */
  maxLive?: number;
  log?: Logger;
  newId?: () => string;
}

export const COMMENT_MAX = 1000;
export const AUTHOR_MAX = 64;
const DAY = 86_400_000;

export function silenceState(s: Silence, at: number): SilenceState {
  return at < s.startsAt ? 'pending' : at < s.endsAt ? 'active' : 'expired';
}

export class Silences {
  private readonly store: SilenceStore;
  private readonly org: OrgTree | undefined;
  private readonly now: () => number;
  readonly maxDuration: number;
  private readonly retention: number;
  private readonly maxLive: number;
  private readonly log: Logger | undefined;
  private readonly newId: () => string;
  /** Every silence not yet past retention, in creation order. */
  private readonly all = new Map<string, Silence>();
  /** Pending and active ones: what silencing() scans. Replaced, never mutated, so a scan is stable. */
  private live: readonly Silence[] = [];
  /** The state last announced to listeners, per live silence: tick() reports what changed since. */
  private readonly announced = new Map<string, SilenceState>();
  private readonly listeners = new Set<(c: SilenceChange) => void>();

  constructor(opts: SilencesOptions) {
    this.store = opts.store;
    this.org = opts.org;
    this.now = opts.now ?? Date.now;
    this.maxDuration = opts.maxDuration ?? 30 * DAY;
    this.retention = opts.retention ?? 5 * DAY;
    this.maxLive = opts.maxLive ?? 1000;
    this.log = opts.log;
    this.newId = opts.newId ?? randomUUID;
  }

  /** Replaces memory with the latest version of each silence from the store, skipping long-expired ones. */
  async load(): Promise<number> {
    const since = this.now() - this.retention;
    const rows = await this.store.query<Row>(
      `SELECT id, version, matchers, author, comment, expired_by,
              toUnixTimestamp64Milli(starts_at) AS starts_ms, toUnixTimestamp64Milli(ends_at) AS ends_ms,
              toUnixTimestamp64Milli(created_at) AS created_ms
       FROM (SELECT * FROM silences ORDER BY id, version DESC LIMIT 1 BY id)
       WHERE ends_at >= fromUnixTimestamp64Milli({since:Int64})
       ORDER BY created_at, id`,
      { since },
    );
    this.all.clear();
    this.announced.clear();
    const now = this.now();
    for (const r of rows) {
      const id = String(r.id);
      try {
        const s: Silence = {
          id,
          version: Number(r.version),
          // Re-checked: the org registry may have changed since (a node removed, say).
          matchers: parseMatchers(JSON.parse(String(r.matchers)), { org: this.org }),
          author: String(r.author),
          comment: String(r.comment),
          startsAt: Number(r.starts_ms),
          endsAt: Number(r.ends_ms),
          createdAt: Number(r.created_ms),
          expiredBy: r.expired_by ? String(r.expired_by) : null,
        };
        this.all.set(id, s);
        this.announced.set(id, silenceState(s, now));
      } catch (e) {
        this.log?.warn({ silence: id, err: (e as Error).message }, 'silences: stored silence skipped');
      }
    }
    this.rebuildLive(now);
    this.log?.info({ silences: this.all.size, live: this.live.length }, 'silences: loaded');
    return this.all.size;
  }

  /** Validates, stores, then keeps a new silence. Throws GW_ERR_SILENCE_* naming the field. */
  async create(input: NewSilence): Promise<Silence> {
    const invalid = (msg: string) => new SilenceErrors.INVALID(msg);
    if (typeof input.author !== 'string' || !input.author.trim() || input.author.length > AUTHOR_MAX)
      throw invalid(`author: required, at most ${AUTHOR_MAX} characters`);
    if (typeof input.comment !== 'string' || !input.comment.trim())
      throw invalid('comment: required: say why the alerts are silenced');
    if (input.comment.length > COMMENT_MAX) throw invalid(`comment: at most ${COMMENT_MAX} characters`);
    const matchers = parseMatchers(input.matchers, { org: this.org });
    if (!input.force && matchesEverything(matchers, this.org))
      throw new SilenceErrors.MATCHES_ALL(matchers.map(formatMatcher).join(', '));

    const now = this.now();
    if (input.startsAt !== undefined && !Number.isFinite(input.startsAt))
      throw invalid('startsAt: expected a time');
    if (!Number.isFinite(input.endsAt)) throw invalid('endsAt: expected a time');
    const startsAt = Math.max(input.startsAt ?? now, now);
    if (input.endsAt <= now) throw invalid('endsAt: must be in the future');
    if (input.endsAt <= startsAt) throw invalid('endsAt: must be after startsAt');
    if (input.endsAt - startsAt > this.maxDuration)
      throw invalid(`endsAt: a silence lasts at most ${ms(this.maxDuration, { long: true })}`);
    if (this.live.length >= this.maxLive) throw new SilenceErrors.LIMIT(this.maxLive);

    const s: Silence = {
      id: this.newId(),
      version: 1,
      matchers,
      author: input.author,
      comment: input.comment,
      startsAt,
      endsAt: input.endsAt,
      createdAt: now,
      expiredBy: null,
    };
    await this.persist(s); // durable before it takes effect or is answered
    this.all.set(s.id, s);
    this.live = [...this.live, s];
    const state = silenceState(s, now);
    this.announced.set(s.id, state);
    this.log?.info(
      { silence: s.id, author: s.author, matchers: matchers.map(formatMatcher), state },
      'silences: created',
    );
    this.emit({ type: 'created', silence: s, at: now });
    if (state === 'active') this.emit({ type: 'started', silence: s, at: now });
    return s;
  }

  /** Ends a silence now (a pending one never starts). Expiring an expired silence changes nothing. */
  async expire(id: string, by: string): Promise<Silence> {
    const s = this.all.get(id);
    if (!s) throw new SilenceErrors.NOT_FOUND(id);
    const now = this.now();
    if (silenceState(s, now) === 'expired') return s;
    const next: Silence = {
      ...s,
      version: s.version + 1,
      startsAt: Math.min(s.startsAt, now),
      endsAt: now,
      expiredBy: by,
    };
    await this.persist(next);
    this.all.set(id, next);
    this.live = this.live.filter((x) => x.id !== id);
    this.announced.delete(id);
    this.log?.info({ silence: id, by }, 'silences: expired');
    this.emit({ type: 'expired', silence: next, at: now });
    return next;
  }

  get(id: string): Silence | undefined {
    return this.all.get(id);
  }

  /** Silences not past retention, in creation order; only those in `state` at now, when given. */
  list(filter: { state?: SilenceState } = {}): Silence[] {
    const now = this.now();
    const out: Silence[] = [];
    for (const s of this.all.values())
      if (!filter.state || silenceState(s, now) === filter.state) out.push(s);
    return out;
  }

  /** The first silence active at `at` whose matchers match: the engine asks before each notification. */
  silencing(labels: Readonly<Record<string, string>>, at: number = this.now()): Silence | undefined {
    const live = this.live;
    for (let i = 0; i < live.length; i++) {
      const s = live[i]!;
      if (s.startsAt <= at && at < s.endsAt && matches(s.matchers, labels, this.org)) return s;
    }
    return undefined;
  }

  /**
   * Announces silences that started or ran out since the last tick, and forgets those past
   * retention. The engine calls it on its evaluation timer (simulated time in tests).
   */
  tick(at: number = this.now()): SilenceChange[] {
    const changes: SilenceChange[] = [];
    for (const s of this.live) {
      const state = silenceState(s, at);
      const before = this.announced.get(s.id);
      if (state === before) continue;
      // A silence may start and end between two ticks: it still reports both, in order.
      if (before === 'pending' && state === 'expired') changes.push({ type: 'started', silence: s, at });
      changes.push({ type: state === 'active' ? 'started' : 'expired', silence: s, at });
      this.announced.set(s.id, state);
    }
    for (const [id, s] of this.all) if (s.endsAt < at - this.retention) this.all.delete(id);
    if (changes.some((c) => c.type === 'expired')) this.rebuildLive(at);
    for (const c of changes) this.emit(c);
    return changes;
  }

  /** Calls `listener` on every change; returns the function that unsubscribes it. */
  onChange(listener: (c: SilenceChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private rebuildLive(at: number): void {
    const live = [...this.all.values()].filter((s) => silenceState(s, at) !== 'expired');
    const ids = new Set(live.map((s) => s.id));
    for (const id of this.announced.keys()) if (!ids.has(id)) this.announced.delete(id);
    this.live = live;
  }

  private emit(c: SilenceChange): void {
    for (const l of this.listeners) {
      try {
        l(c);
      } catch (e) {
        // A failing listener must not undo a change that is already stored.
        this.log?.error({ err: e, silence: c.silence.id }, 'silences: change listener failed');
      }
    }
  }

  private persist(s: Silence): Promise<void> {
    return this.store.insert('silences', [silenceRow(s)]);
  }
}

function silenceRow(s: Silence): Row {
  return {
    id: s.id,
    version: s.version,
    matchers: JSON.stringify(s.matchers.map(plainMatcher)),
    author: s.author,
    comment: s.comment,
    starts_at: s.startsAt,
    ends_at: s.endsAt,
    created_at: s.createdAt,
    expired_by: s.expiredBy ?? '',
  };
}

/** A silence as the API shows it: ISO times and its state at `now`. */
export interface SilenceView {
  id: string;
  matchers: Matcher[];
  author: string;
  comment: string;
  startsAt: string;
  endsAt: string;
  createdAt: string;
  expiredBy: string | null;
  state: SilenceState;
}

export function silenceView(s: Silence, now: number): SilenceView {
  return {
    id: s.id,
    matchers: s.matchers.map(plainMatcher),
    author: s.author,
    comment: s.comment,
    startsAt: new Date(s.startsAt).toISOString(),
    endsAt: new Date(s.endsAt).toISOString(),
    createdAt: new Date(s.createdAt).toISOString(),
    expiredBy: s.expiredBy,
    state: silenceState(s, now),
  };
}
