// AlertLifecycle: the state machine of every alert, driven by observations (what evaluators
// conclude), timers (pending `for`, clear `hold`, staleness, the acknowledgement SLA) and
// officers' actions. It returns transitions; it does no I/O, so simulated time drives it in
// tests exactly as the wall clock does in production.
//
//   (none) ─cond─> pending ─for─> firing(tier) ⇄ tier_changed
//                     │              │  └─ SLA passed, unacknowledged → escalated (reach one level up, overdue)
//                     └─clear─> resolved <─clear for `hold`─ acknowledged <─officer─┘
//                                   ^──────── officer, with feedback ────────────────┘
import { createHash } from 'node:crypto';
import type { OrgTree } from '../config/org-tree.ts';
import { LEVEL_DEPTH, LEVELS, type Level } from '../config/schema.ts';
import { AlertingErrors } from './errors.ts';
import type { Alert, AlertState, AlertTransition, TransitionType } from './model.ts';
import type { TierPalette } from './palette.ts';
import { BAND, CLEAR, type CompiledRule } from './rules/rule-set.ts';

/** What an alert is about: an area at the rule's level, optionally one device, one kind. */
export interface Subject {
  area: string;
  level: Level;
  source: string;
  kind: string;
  device?: string | undefined;
}

export interface Observation {
  rule: CompiledRule;
  subject: Subject;
  /** Tier rank, CLEAR or BAND. */
  verdict: number;
  value: number;
  summary: string;
  /** Event time of the evidence: older evidence than already seen is ignored. */
  eventTime: number;
  /** Only raise (ignore CLEAR and lower tiers): provisional evidence of an open window. */
  raiseOnly?: boolean;
}

export interface LifecycleOptions {
  flapWindowMs: number;
  flapThreshold: number;
}

interface Track {
  key: string;
  fingerprint: string;
  rule: CompiledRule;
  subject: Subject;
  alert: Alert | null;
  /** The verdict of the latest observation, and when it was made. */
  verdict: number;
  value: number;
  summary: string;
  observedAt: number;
  eventTime: number;
  clearSince: number | null;
  /** A lower tier than the alert's, held since: lowering waits for the hold time too. */
  lowerSince: number | null;
  lowerTier: number;
  lastResolved: { alert: Alert; at: number; manual: boolean; seq: number } | null;
  /** Transitions logged for the current (or last) alert: the next one is seq + 1. */
  seq: number;
  /** Times of firing / resolved / tier changes, for flap detection. */
  changes: number[];
  flapping: boolean;
}

const higher = (a: Level, b: Level): Level => (LEVEL_DEPTH[a] <= LEVEL_DEPTH[b] ? a : b);
const ENGINE = 'engine';

export function fingerprintOf(rule: string, s: Subject): string {
  return createHash('sha1')
    .update(`${rule}\u0001${s.area}\u0001${s.device ?? ''}\u0001${s.kind}`)
    .digest('hex')
    .slice(0, 16);
}

export class AlertLifecycle {
  private readonly tracks = new Map<string, Track>();
  /** Tracks with an alert (pending, firing, acknowledged): the only ones timers look at. */
  private readonly hot = new Set<Track>();
  private readonly byId = new Map<string, Track>();
  private readonly byFingerprint = new Map<string, Track>();
  private out: AlertTransition[] = [];
  /** Resolved tracks, oldest first: forgotten once their cooldown and flap window have passed. */
  private cold: { t: Track; until: number }[] = [];
  private readonly perRule = new Map<string, number>();

  constructor(
    private readonly palette: TierPalette,
    private readonly org: OrgTree,
    private readonly opts: LifecycleOptions,
  ) {}

  /** Transitions produced since the last call. */
  drain(): AlertTransition[] {
    const t = this.out;
    this.out = [];
    return t;
  }

  get(id: string): Alert | undefined {
    return this.byId.get(id)?.alert ?? undefined;
  }

  /** The seq of the last transition of an alert (its snapshot's version), or 0. */
  seqOf(id: string): number {
    return this.byId.get(id)?.seq ?? 0;
  }

  byFingerprintActive(fp: string): Alert | undefined {
    return this.byFingerprint.get(fp)?.alert ?? undefined;
  }

  *active(): IterableIterator<Alert> {
    for (const t of this.hot) if (t.alert) yield t.alert;
  }

  get activeCount(): number {
    return this.hot.size;
  }

  /** True when some subject of the rule has an open or remembered alert. */
  hasTracks(rule: string): boolean {
    return (this.perRule.get(rule) ?? 0) > 0;
  }

  /** Replaces a live rule definition (hot reload): tracks keep their alerts and timers. */
  updateRule(rule: CompiledRule): void {
    for (const t of this.tracks.values()) if (t.rule.name === rule.name) t.rule = rule;
  }

  /** A rule was removed: its open alerts resolve, and its tracks go. */
  removeRule(name: string, at: number): void {
    for (const t of this.tracks.values()) {
      if (t.rule.name !== name) continue;
      if (t.alert) this.resolve(t, at, ENGINE, 'rule removed', 'rule removed from the rule file', false);
      this.forget(t);
    }
  }

  observe(o: Observation, now: number): void {
    const key = trackKey(o.rule.name, o.subject);
    let t = this.tracks.get(key);
    if (!t) {
      if (o.verdict < 0) return; // nothing to clear, nothing to remember
      t = this.newTrack(key, o.rule, o.subject);
    }
    // Older evidence than we already acted on is ignored — except a raise from an open window:
    // hopping windows overlap, and the older of two open ones holds more of a burst that began
    // before the newer one started; its count is still a true floor for that span.
    if (o.eventTime < t.eventTime && !o.raiseOnly) return;
    if (o.raiseOnly && (o.verdict < 0 || (t.alert !== null && o.verdict <= t.alert.tierRank))) return;
    t.eventTime = Math.max(t.eventTime, o.eventTime);
    t.verdict = o.verdict;
    t.value = o.value;
    t.summary = o.summary;
    t.observedAt = now;
    this.step(t, now);
  }

  /** Timers: pending → firing after `for`, clear and lower holds, staleness, the ack SLA, flapping. */
  tick(now: number): void {
    while (this.cold.length > 0 && this.cold[0]!.until <= now) {
      const { t } = this.cold.shift()!;
      if (!t.alert && this.tracks.get(t.key) === t) this.forget(t);
    }
    for (const t of [...this.hot]) {
      if (t.alert && now - t.observedAt > t.rule.staleAfterMs && t.rule.type !== 'absence') {
        // No evidence for a while (a quiet series makes no windows): treat as clear.
        if (t.verdict !== CLEAR) {
          t.verdict = CLEAR;
          t.summary = `no data for ${Math.round((now - t.observedAt) / 60_000)} min`;
          t.clearSince = t.observedAt + t.rule.staleAfterMs;
        }
      }
      this.step(t, now);
      this.escalate(t, now);
      this.updateFlapping(t, now);
    }
  }

  private step(t: Track, now: number): void {
    const r = t.rule;
    const a = t.alert;
    const v = t.verdict;
    if (v === BAND) {
      t.clearSince = null;
      return;
    }
    if (v === CLEAR) {
      t.lowerSince = null;
      if (!a) return;
      if (a.state === 'pending') {
        this.resolve(
          t,
          now,
          ENGINE,
          'condition cleared before it held for the pending period',
          t.summary,
          true,
        );
        return;
      }
      t.clearSince ??= now;
      if (now - t.clearSince >= r.holdMs)
        this.resolve(t, now, ENGINE, `clear for ${fmtMs(now - t.clearSince)}`, t.summary, true);
      return;
    }
    t.clearSince = null;
    if (!a) {
      this.open(t, v, now);
      return;
    }
    if (a.state === 'pending') {
      if (v !== a.tierRank)
        this.apply(t, 'pending', now, ENGINE, `pending at ${this.palette.at(v).name}`, { tierRank: v });
      if (now - a.startsAt >= r.forMs) this.fire(t, now, `held for ${fmtMs(now - a.startsAt)}`);
      return;
    }
    if (v > a.tierRank) {
      t.lowerSince = null;
      const tier = this.palette.at(v);
      this.noteChange(t, now);
      this.apply(t, 'tier_changed', now, ENGINE, `raised to ${tier.name}: ${t.summary}`, {
        tierRank: v,
        state: 'firing',
        reach: higher(a.reach, higher(tier.reach, a.level)),
        slaStart: now,
        acknowledgedAt: null,
        acknowledgedBy: null,
      });
    } else if (v < a.tierRank) {
      if (t.lowerSince === null || t.lowerTier !== v) {
        t.lowerSince = now;
        t.lowerTier = v;
      }
      if (now - t.lowerSince >= r.holdMs) {
        t.lowerSince = null;
        this.noteChange(t, now);
        this.apply(t, 'tier_changed', now, ENGINE, `lowered to ${this.palette.at(v).name}: ${t.summary}`, {
          tierRank: v,
        });
      }
    } else {
      t.lowerSince = null;
      if (a.value !== t.value) {
        // Same tier, new reading: keep the snapshot current without a transition.
        a.value = t.value;
        a.summary = t.summary;
      }
    }
  }

  private open(t: Track, v: number, now: number): void {
    const r = t.rule;
    const last = t.lastResolved;
    if (last && now - last.at < r.cooldownMs) {
      // An officer closed it by hand: a recurrence at or below that tier stays closed until cooldown ends.
      if (last.manual && v <= last.alert.tierRank) return;
      if (!last.manual) {
        // A recurrence soon after an automatic resolve reopens the same alert: one incident, not two.
        const reopened: Alert = {
          ...last.alert,
          state: last.alert.state,
          resolvedAt: null,
          resolvedBy: null,
          feedback: null,
        };
        t.alert = reopened;
        t.seq = last.seq;
        t.lastResolved = null;
        this.index(t);
        this.noteChange(t, now);
        this.apply(t, 'firing', now, ENGINE, `reopened within cooldown: ${t.summary}`, {
          state: 'firing',
          tierRank: v,
          firedAt: now,
          slaStart: now,
          acknowledgedAt: null,
          acknowledgedBy: null,
          reach: higher(reopened.reach, higher(this.palette.at(v).reach, reopened.level)),
        });
        return;
      }
    }
    const tier = this.palette.at(v);
    const s = t.subject;
    const alert: Alert = {
      id: `${t.fingerprint}-${now.toString(36)}`,
      fingerprint: t.fingerprint,
      rule: r.name,
      title: r.title['zh-CN'],
      category: r.category,
      source: s.source,
      kind: s.kind,
      area: s.area,
      level: s.level,
      ...(s.device ? { device: s.device } : {}),
      tier: tier.name,
      tierRank: v,
      state: 'pending',
      value: t.value,
      summary: t.summary,
      startsAt: now,
      updatedAt: now,
      firedAt: null,
      acknowledgedAt: null,
      acknowledgedBy: null,
      assignee: null,
      resolvedAt: null,
      resolvedBy: null,
      feedback: null,
      reach: higher(tier.reach, s.level),
      slaStart: null,
      escalations: 0,
      overdue: false,
      silencedBy: null,
      inhibited: false,
      flapping: t.flapping,
      labels: this.labelsFor(r, s, tier.name),
    };
    t.alert = alert;
    t.seq = 0;
    this.index(t);
    this.emit(t, 'pending', null, null, now, ENGINE, `pending: ${t.summary}`);
    if (r.forMs === 0) this.fire(t, now, t.summary);
  }

  private fire(t: Track, now: number, reason: string): void {
    this.noteChange(t, now);
    this.apply(t, 'firing', now, ENGINE, reason, { state: 'firing', firedAt: now, slaStart: now });
  }

  private escalate(t: Track, now: number): void {
    const a = t.alert;
    if (a?.state !== 'firing' || a.slaStart === null) return;
    const sla = this.palette.at(a.tierRank).ackSlaMs;
    if (now - a.slaStart < sla) return;
    const idx = LEVEL_DEPTH[a.reach];
    if (idx === 0 && a.overdue) return; // at the top already, and flagged
    const reach = idx === 0 ? a.reach : LEVELS[idx - 1]!;
    const reason =
      idx === 0
        ? `unacknowledged for ${fmtMs(now - a.slaStart)} (SLA ${fmtMs(sla)}); already at city level`
        : `unacknowledged for ${fmtMs(now - a.slaStart)} (SLA ${fmtMs(sla)}): 督办 to ${reach}`;
    this.apply(t, 'escalated', now, ENGINE, reason, {
      reach,
      overdue: true,
      escalations: a.escalations + 1,
      slaStart: idx === 0 ? null : now,
    });
  }

  private updateFlapping(t: Track, now: number): void {
    const cutoff = now - this.opts.flapWindowMs;
    while (t.changes.length > 0 && t.changes[0]! < cutoff) t.changes.shift();
    if (t.flapping && t.changes.length < Math.ceil(this.opts.flapThreshold / 2)) {
      t.flapping = false;
      if (t.alert) t.alert.flapping = false;
    }
  }

  private noteChange(t: Track, now: number): void {
    t.changes.push(now);
    if (t.changes.length > this.opts.flapThreshold * 2) t.changes.shift();
    const cutoff = now - this.opts.flapWindowMs;
    while (t.changes.length > 0 && t.changes[0]! < cutoff) t.changes.shift();
    if (!t.flapping && t.changes.length >= this.opts.flapThreshold) t.flapping = true;
    if (t.alert) t.alert.flapping = t.flapping;
  }

  // Officers' actions ------------------------------------------------------------------------

  acknowledge(id: string, actor: string, note: string, now: number): Alert {
    const t = this.mustGet(id);
    const a = t.alert!;
    if (a.state !== 'firing')
      throw new AlertingErrors.ILLEGAL_TRANSITION(id, `cannot acknowledge an alert that is ${a.state}`);
    this.apply(t, 'acknowledged', now, actor, note || 'acknowledged', {
      state: 'acknowledged',
      acknowledgedAt: now,
      acknowledgedBy: actor,
      slaStart: null,
    });
    return t.alert!;
  }

  assign(id: string, actor: string, department: string, note: string, now: number): Alert {
    const t = this.mustGet(id);
    if (t.alert!.state === 'pending')
      throw new AlertingErrors.ILLEGAL_TRANSITION(id, 'cannot assign an alert that is still pending');
    this.apply(t, 'assigned', now, actor, note || `assigned to ${department}`, { assignee: department });
    return t.alert!;
  }

  comment(id: string, actor: string, text: string, now: number): Alert {
    const t = this.mustGet(id);
    this.emit(t, 'commented', t.alert!.state, t.alert!.tier, now, actor, text);
    return t.alert!;
  }

  /**
   * 上报 by hand: the alert is routed one org level up (its contacts are told) and the SLA clock
   * restarts there while it is unacknowledged. Not overdue: it was raised, not missed.
   */
  escalateByOfficer(id: string, actor: string, note: string, now: number): Alert {
    if (!note.trim()) throw new AlertingErrors.NOTE_REQUIRED('escalating');
    const t = this.mustGet(id);
    const a = t.alert!;
    if (a.state === 'pending')
      throw new AlertingErrors.ILLEGAL_TRANSITION(id, 'cannot escalate an alert that is still pending');
    const idx = LEVEL_DEPTH[a.reach];
    if (idx === 0) throw new AlertingErrors.ILLEGAL_TRANSITION(id, 'the alert already reaches the city');
    const reach = LEVELS[idx - 1]!;
    this.apply(t, 'escalated', now, actor, `${note} (上报 to ${reach})`, {
      reach,
      escalations: a.escalations + 1,
      slaStart: a.state === 'firing' ? now : a.slaStart,
    });
    return t.alert!;
  }

  /** Closing by hand needs a feedback note (一号受理、分类转办、跟踪回访). */
  resolveByOfficer(id: string, actor: string, feedback: string, now: number): Alert {
    if (!feedback.trim()) throw new AlertingErrors.FEEDBACK_REQUIRED();
    const t = this.mustGet(id);
    const a = t.alert!;
    if (a.state === 'pending')
      throw new AlertingErrors.ILLEGAL_TRANSITION(id, 'a pending alert resolves by itself; it has not fired');
    return this.resolve(t, now, actor, 'resolved by officer', feedback, false);
  }

  private resolve(
    t: Track,
    now: number,
    actor: string,
    reason: string,
    feedback: string,
    auto: boolean,
  ): Alert {
    const wasFiring = t.alert!.state !== 'pending';
    if (wasFiring) this.noteChange(t, now);
    this.apply(t, 'resolved', now, actor, reason, {
      state: 'resolved',
      resolvedAt: now,
      resolvedBy: actor,
      feedback: auto ? `auto: ${feedback}` : feedback,
      slaStart: null,
    });
    const done = t.alert!;
    if (wasFiring) t.lastResolved = { alert: done, at: now, manual: !auto, seq: t.seq };
    t.alert = null;
    t.clearSince = null;
    t.lowerSince = null;
    this.hot.delete(t);
    this.byId.delete(done.id);
    this.cold.push({ t, until: now + Math.max(t.rule.cooldownMs, this.opts.flapWindowMs) });
    return done;
  }

  private mustGet(id: string): Track {
    const t = this.byId.get(id);
    if (!t?.alert) throw new AlertingErrors.ALERT_NOT_FOUND(id);
    return t;
  }

  // Restore from the alert log ---------------------------------------------------------------

  /** Rebuilds an open alert (its latest snapshot from the log) under the current rules. */
  restore(alert: Alert, seq: number, rule: CompiledRule, now: number): void {
    const subject: Subject = {
      area: alert.area,
      level: alert.level,
      source: alert.source,
      kind: alert.kind,
      device: alert.device,
    };
    const key = trackKey(rule.name, subject);
    const t = this.tracks.get(key) ?? this.newTrack(key, rule, subject);
    if (alert.state === 'resolved') {
      if (!t.lastResolved || t.lastResolved.at < (alert.resolvedAt ?? 0))
        t.lastResolved = {
          alert,
          at: alert.resolvedAt ?? alert.updatedAt,
          manual: !(alert.feedback ?? '').startsWith('auto:'),
          seq,
        };
      return;
    }
    t.alert = alert;
    t.seq = seq;
    // Evidence is unknown after a restart: assume the alert's own tier held until now.
    t.verdict = alert.tierRank;
    t.value = alert.value ?? 0;
    t.summary = alert.summary;
    t.observedAt = now;
    this.index(t);
  }

  // Internals --------------------------------------------------------------------------------

  private newTrack(key: string, rule: CompiledRule, subject: Subject): Track {
    const fingerprint = fingerprintOf(rule.name, subject);
    const t: Track = {
      key,
      fingerprint,
      rule,
      subject,
      alert: null,
      verdict: CLEAR,
      value: 0,
      summary: '',
      observedAt: 0,
      eventTime: Number.NEGATIVE_INFINITY,
      clearSince: null,
      lowerSince: null,
      lowerTier: -1,
      lastResolved: null,
      changes: [],
      flapping: false,
      seq: 0,
    };
    this.tracks.set(key, t);
    this.byFingerprint.set(fingerprint, t);
    this.perRule.set(rule.name, (this.perRule.get(rule.name) ?? 0) + 1);
    return t;
  }

  private forget(t: Track): void {
    this.tracks.delete(t.key);
    this.byFingerprint.delete(t.fingerprint);
    const n = (this.perRule.get(t.rule.name) ?? 1) - 1;
    if (n > 0) this.perRule.set(t.rule.name, n);
    else this.perRule.delete(t.rule.name);
  }

  private index(t: Track): void {
    this.hot.add(t);
    this.byId.set(t.alert!.id, t);
  }

  private apply(
    t: Track,
    type: TransitionType,
    now: number,
    actor: string,
    reason: string,
    change: Partial<Alert>,
  ): void {
    const before = t.alert!;
    const fromState = before.state;
    const fromTier = before.tier;
    const next: Alert = { ...before, ...change, value: t.value, summary: t.summary, updatedAt: now };
    if (change.tierRank !== undefined) {
      next.tier = this.palette.at(change.tierRank).name;
      next.labels = { ...next.labels, tier: next.tier };
    }
    next.flapping = t.flapping;
    t.alert = next;
    this.byId.set(next.id, t);
    this.emit(t, type, fromState, fromTier, now, actor, reason);
  }

  private emit(
    t: Track,
    type: TransitionType,
    fromState: AlertState | null,
    fromTier: string | null,
    now: number,
    actor: string,
    reason: string,
  ): void {
    const a = t.alert!;
    t.seq += 1;
    const seq = t.seq;
    this.out.push({
      alertId: a.id,
      fingerprint: a.fingerprint,
      seq,
      cursor: 0,
      at: now,
      type,
      actor,
      reason,
      fromState,
      toState: a.state,
      fromTier,
      toTier: a.tier,
      alert: a,
    });
  }

  private labelsFor(r: CompiledRule, s: Subject, tier: string): Record<string, string> {
    const labels: Record<string, string> = {
      ...r.labels,
      rule: r.name,
      tier,
      area: s.area,
      level: s.level,
      source: s.source,
      kind: s.kind,
      category: r.category,
    };
    if (s.device) labels.device = s.device;
    const node = this.org.node(s.area);
    if (node) for (const [i, id] of node.path.entries()) labels[LEVELS[i]!] = id;
    return labels;
  }
}

function trackKey(rule: string, s: Subject): string {
  return `${rule}\u0001${s.area}\u0001${s.device ?? ''}\u0001${s.kind}`;
}

export function fmtMs(ms: number): string {
  if (ms < 60_000) return `${Math.round(ms / 1000)}s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)}m`;
  return `${(ms / 3_600_000).toFixed(1)}h`;
}
