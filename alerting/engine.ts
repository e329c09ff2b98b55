// AlertEngine: reads events and window results from the bus, runs the rules, drives the
// lifecycle, writes every transition to the alert log before anyone hears of it, publishes
// transitions for the console and hands them to the notifier. One serial queue orders bus
// batches, timer ticks and officers' actions, so the lifecycle never sees two at once.
import { type FSWatcher, readFileSync, watch } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { OrgTree } from '../config/org-tree.ts';
import type { GridwatchConfig } from '../config/schema.ts';
import type { LoggedEvent } from '../ingest/envelope.ts';
import { EVENTS_TOPIC } from '../ingest/event-log.ts';
import type { Bus } from '../platform/bus.ts';
import { durationMs } from '../platform/duration.ts';
import { GwErrors } from '../platform/errors.ts';
import type { Logger } from '../platform/logger.ts';
import type { Metrics } from '../platform/metrics.ts';
import type { Store } from '../platform/store/store.ts';
import { WINDOW_UPDATES_TOPIC, WINDOWS_TOPIC, type WindowResult } from '../processors/window-result.ts';
import { AlertLog } from './alert-log.ts';
import { StreamingAnomalyDetector } from './anomaly/detector.ts';
import type { AlertDesk } from './desk.ts';
import { CorrelationEvaluator } from './evaluators/correlation.ts';
import { DeviceWatch } from './evaluators/devices.ts';
import { evaluateEvents } from './evaluators/threshold.ts';
import { type ScoreDetector, WindowEvaluator } from './evaluators/windows.ts';
import { AlertLifecycle, type Observation } from './lifecycle.ts';
import { ALERTS_TOPIC, type Alert, type AlertTransition, type Notification } from './model.ts';
import {
  type ChannelPort,
  type ClaimPort,
  Notifier,
  type OutboxPort,
  type SuppressionPort,
} from './notifier.ts';
import { TierPalette } from './palette.ts';
import { Router } from './router.ts';
import { parseRules } from './rules/load.ts';
import type { RuleSet } from './rules/rule-set.ts';

export const DEFAULT_RULES_FILE = join(
  dirname(fileURLToPath(import.meta.url)),
  'rules',
  'default-rules.yaml',
);

export interface SilencePort {
  silencing(labels: Record<string, string>, at: number): { id: string } | undefined;
  /** Moves silences between pending, active and expired as time passes. */
  tick?(at: number): void;
}
export interface MaintenancePort {
  active(labels: Record<string, string>, at: number): string | undefined;
}

export interface AlertEngineDeps {
  config: GridwatchConfig;
  org: OrgTree;
  store: Store;
  bus: Bus;
  metrics: Metrics;
  log: Logger;
  /** The engine's clock; simulated in tests. */
  now?: () => number;
  /** false: the caller calls tick() (simulated time). */
  timers?: boolean;
  channels?: readonly ChannelPort[];
  outbox?: OutboxPort & { undelivered?(since: number): Promise<(Notification & { retrying?: boolean })[]> };
  /** Distributed mode: notification keys are claimed in shared state before sending. */
  claims?: ClaimPort;
  /**
   * Distributed mode: throws when this engine is no longer the active one, so that an engine
   * replaced without knowing it yet logs no transition beside its successor's.
   */
  fence?: () => Promise<void>;
  silences?: SilencePort;
  maintenance?: MaintenancePort;
  newDetector?: () => ScoreDetector;
  /** Rules as YAML text instead of a file (tests). */
  rulesText?: string;
}

/**
 * The rules of `config` (its file, else the built-in ones) compiled against the palette. The
 * built-in rules skip windows the config does not define; a rule file of one's own must not.
 */
export function compileRules(
  config: GridwatchConfig,
  palette: TierPalette,
  text = readFileSync(config.alerting.rulesFile ?? DEFAULT_RULES_FILE, 'utf8'),
  fromText = false,
): RuleSet {
  const file = config.alerting.rulesFile;
  const builtIn = file === undefined && !fromText;
  return parseRules(text, { palette, windows: config.windows, skipUnknownWindows: builtIn }, file ?? 'rules');
}

const DAY = 86_400_000;
/** Absence and connectivity look at every registered device: often enough for minute-scale tiers. */
const DEVICE_CHECK_MS = 5_000;

export class AlertEngine implements AlertDesk {
  readonly palette: TierPalette;
  readonly lifecycle: AlertLifecycle;
  readonly alertLog: AlertLog;
  readonly notifier: Notifier;
  readonly router: Router;
  private rules!: RuleSet;
  private readonly windows: WindowEvaluator;
  private readonly devices: DeviceWatch;
  private readonly correlation: CorrelationEvaluator;
  private readonly now: () => number;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly unsubscribe: (() => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  private watcher: FSWatcher | undefined;
  private reloadTimer: NodeJS.Timeout | undefined;
  private lastDeviceCheck = 0;
  private stopped = false;
  /** The alert log's global sequence: the last cursor given to a logged transition. */
  private lastCursor = 0;

  constructor(private readonly d: AlertEngineDeps) {
    const a = d.config.alerting;
    this.now = d.now ?? Date.now;
    this.palette = new TierPalette(a.tiers);
    this.lifecycle = new AlertLifecycle(this.palette, d.org, {
      flapWindowMs: durationMs(a.flapping.window),
      flapThreshold: a.flapping.threshold,
    });
    this.alertLog = new AlertLog(d.store);
    this.router = new Router(d.org, a);
    const newDetector = d.newDetector ?? (() => new StreamingAnomalyDetector());
    this.windows = new WindowEvaluator(this.palette, newDetector);
    this.devices = new DeviceWatch(d.org, this.palette, this.now());
    this.correlation = new CorrelationEvaluator(d.org, this.palette);
    this.notifier = new Notifier({
      router: this.router,
      palette: this.palette,
      channels: d.channels ?? [],
      outbox: d.outbox,
      claims: d.claims,
      suppression: this.suppression(),
      departmentsOf: (rule) => this.rules.get(rule)?.departments,
      groupWaitMs: durationMs(a.grouping.wait),
      maxAlertsPerMessage: a.grouping.maxAlerts,
      metrics: d.metrics,
      log: d.log,
    });
  }

  get ruleSet(): RuleSet {
    return this.rules;
  }

  /** The cursor of the last transition logged (and so published): replays start after it. */
  get cursor(): number {
    return this.lastCursor;
  }

  open(): Iterable<Alert> {
    return this.lifecycle.active();
  }

  get(id: string): Alert | undefined {
    return this.lifecycle.get(id);
  }

  async start(): Promise<void> {
    const now = this.now();
    this.rules = this.compile(this.readRules());
    this.devices.setRules(this.rules);
    this.lastCursor = await this.alertLog.maxCursor();
    await this.restore(now);
    await this.seedDevices(now);
    await this.seedBaselines(now);
    const undelivered = await this.d.outbox?.undelivered?.(now - DAY);
    if (undelivered && undelivered.length > 0) {
      this.d.log.info(
        { count: undelivered.length },
        'alerting: resending notifications without a final outcome',
      );
      await this.notifier.resend(undelivered);
    }
    const bus = this.d.bus;
    this.unsubscribe.push(
      bus.subscribe<LoggedEvent>(EVENTS_TOPIC, (events) => this.serial(() => this.onEvents(events))),
      bus.subscribe<WindowResult>(WINDOWS_TOPIC, (rs) => this.serial(() => this.onWindows(rs))),
      bus.subscribe<WindowResult>(WINDOW_UPDATES_TOPIC, (rs) => this.serial(() => this.onWindows(rs))),
    );
    if (this.d.timers !== false) {
      const every = durationMs(this.d.config.alerting.evaluationInterval);
      this.timer = setInterval(
        () => void this.tick().catch((err) => this.d.log.error({ err }, 'alerting: tick failed')),
        every,
      );
      this.timer.unref();
    }
    if (this.d.config.alerting.rulesFile) this.watchRules(this.d.config.alerting.rulesFile);
    this.d.log.info(
      { rules: this.rules.rules.length, open: this.lifecycle.activeCount },
      'alerting: started',
    );
  }

  /** Runs timers: pending `for`, holds, staleness, absence, SLA escalation, grouping waits. */
  tick(): Promise<void> {
    return this.serial(async () => {
      const now = this.now();
      this.d.silences?.tick?.(now);
      this.lifecycle.tick(now);
      if (now - this.lastDeviceCheck >= DEVICE_CHECK_MS) {
        this.lastDeviceCheck = now;
        const n = this.devices.evaluate(this.rules, now, (o) => this.lifecycle.observe(o, now));
        this.d.metrics.ruleEvaluations.inc({ evaluator: 'devices' }, n);
      }
      await this.commit(now);
      await this.notifier.tick(now, (id) => this.lifecycle.get(id));
    });
  }

  // Officers' actions, serialised with everything else ------------------------------------------

  acknowledge(id: string, actor: string, note = ''): Promise<Alert> {
    return this.act((now) => this.lifecycle.acknowledge(id, actor, note, now));
  }
  resolve(id: string, actor: string, feedback: string): Promise<Alert> {
    return this.act((now) => this.lifecycle.resolveByOfficer(id, actor, feedback, now));
  }
  comment(id: string, actor: string, text: string): Promise<Alert> {
    return this.act((now) => this.lifecycle.comment(id, actor, text, now));
  }
  escalate(id: string, actor: string, note: string): Promise<Alert> {
    return this.act((now) => this.lifecycle.escalateByOfficer(id, actor, note, now));
  }
  assign(id: string, actor: string, department: string, note = ''): Promise<Alert> {
    return this.act((now) => {
      if (!this.router.department(department))
        throw new GwErrors.BAD_REQUEST(`department: no department "${department}" is configured`);
      return this.lifecycle.assign(id, actor, department, note, now);
    });
  }

  private act(f: (now: number) => Alert): Promise<Alert> {
    return this.serial(async () => {
      const now = this.now();
      const a = f(now);
      await this.commit(now);
      return a;
    });
  }

  /** Everything queued so far is evaluated, logged and handed to channels. */
  async idle(): Promise<void> {
    await this.serial(async () => {});
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const u of this.unsubscribe) u();
    if (this.timer) clearInterval(this.timer);
    if (this.reloadTimer) clearTimeout(this.reloadTimer);
    this.watcher?.close();
    await this.idle();
    await this.notifier.idle();
  }

  // Inputs ------------------------------------------------------------------------------------

  private async onEvents(events: LoggedEvent[]): Promise<void> {
    const now = this.now();
    this.devices.see(events);
    let oldest = Number.POSITIVE_INFINITY;
    for (const e of events) if (e.receivedAt < oldest) oldest = e.receivedAt;
    const sink = (o: Observation) => this.lifecycle.observe(o, now);
    const n = evaluateEvents(this.rules, events, this.d.org, this.palette, sink, (rule) =>
      this.lifecycle.hasTracks(rule),
    );
    this.d.metrics.ruleEvaluations.inc({ evaluator: 'threshold' }, n);
    await this.commit(now, oldest, 'threshold');
  }

  private async onWindows(results: WindowResult[]): Promise<void> {
    const now = this.now();
    const n = this.windows.evaluate(this.rules, results, (o) => this.lifecycle.observe(o, now));
    this.d.metrics.ruleEvaluations.inc({ evaluator: 'window' }, n);
    await this.commit(now);
  }

  /** Logs the transitions made since the last commit, then publishes and notifies them. */
  private async commit(now: number, evidenceAt?: number, evaluator?: string): Promise<void> {
    let ts = this.lifecycle.drain();
    if (ts.length === 0) return;
    // Correlations follow their members' transitions (in the same commit).
    if (this.rules.correlation.length > 0) {
      const changed = ts.filter((t) => t.type !== 'commented').map((t) => t.alert);
      const n = this.correlation.evaluate(
        this.rules,
        changed,
        () => this.lifecycle.active(),
        now,
        (o) => this.lifecycle.observe(o, now),
      );
      this.d.metrics.ruleEvaluations.inc({ evaluator: 'correlation' }, n);
      ts = ts.concat(this.lifecycle.drain());
    }
    await this.d.fence?.();
    this.stampCursors(ts);
    await this.alertLog.append(ts);
    this.d.bus.publish<AlertTransition>(ALERTS_TOPIC, ts);
    for (const t of ts) {
      this.d.metrics.alertTransitions.inc({ type: t.type, tier: t.toTier });
      if (evidenceAt !== undefined && evaluator && (t.type === 'firing' || t.type === 'tier_changed'))
        this.d.metrics.eventToAlertSeconds.observe(
          { evaluator },
          Math.max(0, Date.now() - evidenceAt) / 1000,
        );
    }
    this.updateOpenGauge();
    await this.notifier.handle(ts, now);
  }

  private stampCursors(ts: AlertTransition[]): void {
    for (const t of ts) t.cursor = ++this.lastCursor;
  }

  private updateOpenGauge(): void {
    const counts = new Map(this.palette.names.map((n) => [n, 0]));
    for (const a of this.lifecycle.active()) counts.set(a.tier, (counts.get(a.tier) ?? 0) + 1);
    for (const [tier, n] of counts) this.d.metrics.alertsOpen.set({ tier }, n);
  }

  private serial<T>(f: () => Promise<T>): Promise<T> {
    const p = this.queue.then(f);
    this.queue = p.catch((err) => {
      // A refused officer action (4xx) is answered to the caller; only faults are errors here.
      const status = (err as { statusCode?: number }).statusCode;
      if (status !== undefined && status < 500) return;
      if (!this.stopped) this.d.log.error({ err }, 'alerting: step failed');
    });
    return p;
  }

  // Rules and hot reload ------------------------------------------------------------------------

  private readRules(): string {
    if (this.d.rulesText !== undefined) return this.d.rulesText;
    return readFileSync(this.d.config.alerting.rulesFile ?? DEFAULT_RULES_FILE, 'utf8');
  }

  private compile(text: string): RuleSet {
    return compileRules(this.d.config, this.palette, text, this.d.rulesText !== undefined);
  }

  /** Swaps the rules; alerts of kept rules stay open, those of removed rules resolve. Throws if invalid. */
  reloadRules(text: string): Promise<void> {
    return this.serial(async () => {
      let next: RuleSet;
      try {
        next = this.compile(text);
      } catch (err) {
        this.d.metrics.ruleReloads.inc({ outcome: 'invalid' });
        throw err;
      }
      const now = this.now();
      const old = this.rules;
      for (const r of old.rules) {
        const n = next.get(r.name);
        if (!n) {
          this.lifecycle.removeRule(r.name, now);
          this.windows.forgetRule(r.name);
        } else if (n.hash !== r.hash) {
          this.lifecycle.updateRule(n);
          this.windows.forgetRule(r.name);
        }
      }
      this.rules = next;
      this.devices.setRules(next);
      this.d.metrics.ruleReloads.inc({ outcome: 'ok' });
      this.d.log.info({ rules: next.rules.length }, 'alerting: rules reloaded');
      await this.commit(now);
    });
  }

  private watchRules(file: string): void {
    try {
      this.watcher = watch(dirname(file), (_e, name) => {
        if (name && join(dirname(file), name.toString()) !== file) return;
        // Editors write in bursts: wait for the file to settle.
        if (this.reloadTimer) clearTimeout(this.reloadTimer);
        this.reloadTimer = setTimeout(() => {
          let text: string;
          try {
            text = readFileSync(file, 'utf8');
          } catch (err) {
            this.d.log.error({ err, file }, 'alerting: cannot read rules; keeping the current ones');
            return;
          }
          this.reloadRules(text).catch((err) =>
            this.d.log.error(
              { err: { message: (err as Error).message }, file },
              'alerting: invalid rules; keeping the current ones',
            ),
          );
        }, 200);
      });
    } catch (err) {
      this.d.log.warn({ err, file }, 'alerting: cannot watch the rules file; no hot reload');
    }
  }

  // Start-up -----------------------------------------------------------------------------------

  private async restore(now: number): Promise<void> {
    const logged = await this.alertLog.load(now - DAY);
    const orphans: AlertTransition[] = [];
    for (const { alert, seq } of logged) {
      const rule = this.rules.get(alert.rule);
      if (!rule) {
        if (alert.state !== 'resolved') {
          const done: Alert = {
            ...alert,
            state: 'resolved',
            resolvedAt: now,
            resolvedBy: 'engine',
            feedback: 'auto: rule no longer exists',
            updatedAt: now,
          };
          orphans.push({
            alertId: alert.id,
            fingerprint: alert.fingerprint,
            seq: seq + 1,
            cursor: 0,
            at: now,
            type: 'resolved',
            actor: 'engine',
            reason: 'rule no longer exists',
            fromState: alert.state,
            toState: 'resolved',
            fromTier: alert.tier,
            toTier: alert.tier,
            alert: done,
          });
        }
        continue;
      }
      this.lifecycle.restore(alert, seq, rule, now);
      this.notifier.restored(alert);
    }
    this.stampCursors(orphans);
    await this.alertLog.append(orphans);
    this.updateOpenGauge();
    this.d.log.info(
      { open: this.lifecycle.activeCount },
      'alerting: open alerts restored from the alert log',
    );
  }

  /** Last sign of life of each device, from the raw tables: a restart does not forget who went quiet. */
  private async seedDevices(now: number): Promise<void> {
    if (this.rules.absence.length === 0 && this.rules.connectivity.length === 0) return;
    for (const table of ['events_sensor', 'events_video']) {
      const rows = await this.d.store.query<{ device: string; last: number }>(
        `SELECT device, toUnixTimestamp64Milli(max(ts)) AS last FROM ${table}
          WHERE ts >= fromUnixTimestamp64Milli({since:Int64}) AND device != '' GROUP BY device`,
        { since: now - DAY },
      );
      for (const r of rows) this.devices.seed(r.device, Number(r.last));
    }
  }

  /** Hour-of-week baselines for seasonal anomaly rules, from eight weeks of final windows. */
  private async seedBaselines(now: number): Promise<void> {
    const seen = new Set<string>();
    for (const r of this.rules.rules) {
      if (r.type !== 'anomaly' || r.measure !== 'z') continue;
      const k = `${r.window}\u0001${r.level}\u0001${r.field}`;
      if (seen.has(k)) continue;
      seen.add(k);
      // r.field is one of WINDOW_FIELDS (checked by the rule schema), so it is safe as a column name.
      const rows = await this.d.store.query<{
        key: string;
        kind: string;
        how: number;
        med: number;
        mad: number;
        n: number;
      }>(
        `SELECT key, kind, how, any(m) AS med, quantileExact(0.5)(abs(v - m)) AS mad, count() AS n FROM (
           SELECT key, kind, how, v, quantileExact(0.5)(v) OVER (PARTITION BY key, kind, how) AS m FROM (
             SELECT key, kind, (toDayOfWeek(window_start, 0, 'Asia/Shanghai') - 1) * 24 + toHour(window_start, 'Asia/Shanghai') AS how,
                    toFloat64(argMax(\`${r.field}\`, version)) AS v
               FROM window_results
              WHERE window = {window:String} AND level = {level:String} AND final = 1
                AND window_start >= fromUnixTimestamp64Milli({since:Int64})
              GROUP BY key, kind, window_start))
         GROUP BY key, kind, how`,
        { window: r.window, level: r.level, since: now - 8 * 7 * DAY },
      );
      for (const x of rows)
        this.windows.baseline.seed(
          `${r.window}\u0001${r.level}\u0001${x.key}\u0001${x.kind}\u0001${r.field}`,
          Number(x.how),
          Number(x.med),
          Number(x.mad),
          Number(x.n),
        );
      this.d.log.info(
        { window: r.window, level: r.level, field: r.field, buckets: rows.length },
        'alerting: seasonal baseline seeded',
      );
    }
  }

  // Noise control ----------------------------------------------------------------------------

  private suppression(): SuppressionPort {
    return {
      reason: (a, now) => {
        const s = this.d.silences?.silencing(a.labels, now);
        if (s) return `silenced:${s.id}`;
        const m = this.d.maintenance?.active(a.labels, now);
        if (m) return `maintenance:${m}`;
        const by = this.inhibitor(a);
        if (by) return `inhibited:${by.id}`;
        return undefined;
      },
    };
  }

  /** A top-tier alert of the same rule at the alert's area or above it inhibits the lower tiers beneath. */
  private inhibitor(a: Alert): Alert | undefined {
    const top = this.palette.top.rank;
    if (a.tierRank >= top) return undefined;
    for (const b of this.lifecycle.active()) {
      if (b.id === a.id || b.rule !== a.rule || b.tierRank !== top) continue;
      if (b.state !== 'firing' && b.state !== 'acknowledged') continue;
      if (b.area === a.area || this.d.org.isWithin(a.area, b.area)) return b;
    }
    return undefined;
  }
}
