// Scenario tests of the alert engine on simulated time: a real embedded store, the in-process
// bus, a clock the test moves, and helpers to publish events and window results.
import { loadOrgTree } from '../config/org-loader.ts';
import type { OrgTree } from '../config/org-tree.ts';
import type { GridwatchConfig, Level, SourceName } from '../config/schema.ts';
import type { LoggedEvent } from '../ingest/envelope.ts';
import { EVENTS_TOPIC } from '../ingest/event-log.ts';
import { InProcessBus } from '../platform/bus.ts';
import { createLogger } from '../platform/logger.ts';
import { Metrics } from '../platform/metrics.ts';
import type { Store } from '../platform/store/store.ts';
import { WINDOW_UPDATES_TOPIC, WINDOWS_TOPIC, type WindowResult } from '../processors/window-result.ts';
import { testConfig } from '../test/harness.ts';
import { AlertEngine, type AlertEngineDeps } from './engine.ts';
import { ALERTS_TOPIC, type AlertTransition } from './model.ts';

export const T0 = Date.UTC(2026, 10, 23, 2, 0, 0); // a Monday, 10:00 in Shanghai

export interface Scenario {
  engine: AlertEngine;
  org: OrgTree;
  bus: InProcessBus;
  metrics: Metrics;
  config: GridwatchConfig;
  /** Every transition published on the alerts topic, in order. */
  transitions: AlertTransition[];
  now(): number;
  /** Moves the clock, ticking the engine every `step` ms on the way (timers fire in order). */
  advance(ms: number, step?: number): Promise<void>;
  events(...es: Partial<LoggedEvent>[]): Promise<void>;
  windows(...ws: Partial<WindowResult>[]): Promise<void>;
  types(alertRule?: string): string[];
  /** Waits until every published message and queued engine step is handled. */
  settle(): Promise<void>;
  stop(): Promise<void>;
}

let seq = 0;

export async function startScenario(
  store: Store,
  opts: {
    rules: string;
    alerting?: Record<string, unknown>;
    windows?: unknown;
    start?: number;
    deps?: Partial<AlertEngineDeps>;
  },
): Promise<Scenario> {
  const overrides: Record<string, unknown> = { alerting: { grouping: { wait: '0s' }, ...opts.alerting } };
  if (opts.windows) overrides.windows = opts.windows;
  const config = testConfig('/nonexistent', overrides);
  const org = loadOrgTree(config);
  const bus = new InProcessBus((_t, err) => {
    throw err;
  });
  const metrics = new Metrics({ defaultMetrics: false });
  let now = opts.start ?? T0;
  const transitions: AlertTransition[] = [];
  bus.subscribe<AlertTransition>(ALERTS_TOPIC, (ts) => {
    transitions.push(...ts);
  });
  const engine = new AlertEngine({
    config,
    org,
    store,
    bus,
    metrics,
    log: createLogger({ level: 'silent' }),
    now: () => now,
    timers: false,
    rulesText: opts.rules,
    ...opts.deps,
  });
  await engine.start();
  const settle = async () => {
    await bus.idle();
    await engine.idle();
    await bus.idle();
  };
  return {
    engine,
    org,
    bus,
    metrics,
    config,
    transitions,
    now: () => now,
    async advance(ms, step = 1000) {
      const end = now + ms;
      while (now < end) {
        now = Math.min(end, now + step);
        await engine.tick();
      }
      await settle();
    },
    async events(...es) {
      bus.publish<LoggedEvent>(
        EVENTS_TOPIC,
        es.map((e) => ({
          id: `e${++seq}`,
          source: (e.source ?? 'sensor') as SourceName,
          kind: e.kind ?? 'gas_ppm',
          ts: e.ts ?? now,
          grid: e.grid ?? 'd01s01c01g01',
          value: e.value ?? 0,
          ...(e.device ? { device: e.device } : {}),
          seq,
          receivedAt: now,
        })),
      );
      await settle();
    },
    async windows(...ws) {
      const finals: WindowResult[] = [];
      const updates: WindowResult[] = [];
      for (const w of ws) {
        const r: WindowResult = {
          window: 'hotline_1h',
          level: 'grid' as Level,
          key: 'd01s01c01g01',
          source: 'hotline',
          kind: 'complaint.noise',
          start: now - 3_600_000,
          end: now,
          count: 0,
          sum: 0,
          min: 0,
          max: 0,
          mean: 0,
          variance: 0,
          p50: null,
          p90: null,
          p99: null,
          distinct: null,
          last: null,
          deltaCount: null,
          deltaMean: null,
          kinds: null,
          final: true,
          version: ++seq * 2 + 1,
          ...w,
        };
        (r.final ? finals : updates).push(r);
      }
      bus.publish(WINDOWS_TOPIC, finals);
      bus.publish(WINDOW_UPDATES_TOPIC, updates);
      await settle();
    },
    settle,
    types(rule) {
      return transitions.filter((t) => !rule || t.alert.rule === rule).map((t) => `${t.type}:${t.toTier}`);
    },
    async stop() {
      await engine.stop();
    },
  };
}

/** Empties the alert tables between scenarios that share one store. */
export async function resetAlertTables(store: Store): Promise<void> {
  for (const t of ['alert_log', 'alert_outbox', 'alert_deliveries', 'silences'])
    await store.client.command({ query: `TRUNCATE TABLE IF EXISTS ${t}` });
}
