// The alert engine's Kafka input with hostile messages: whatever a foreign producer writes on
// the event and window topics, the valid messages beside it reach the engine, the rest are
// skipped and counted, and nothing throws.
import fc from 'fast-check';
import type Kafka from 'node-rdkafka';
import { describe, expect, it } from 'vitest';
import { generateDemoCity } from '../../config/demo-city.ts';
import { validateConfig } from '../../config/load.ts';
import { OrgTree } from '../../config/org-tree.ts';
import type { LoggedEvent } from '../../ingest/envelope.ts';
import { EVENTS_TOPIC } from '../../ingest/event-log.ts';
import { InProcessBus } from '../../platform/bus.ts';
import { topicsOf } from '../../platform/kafka/topics.ts';
import { createLogger } from '../../platform/logger.ts';
import { Metrics } from '../../platform/metrics.ts';
import { WINDOW_UPDATES_TOPIC, WINDOWS_TOPIC, type WindowResult } from '../../processors/window-result.ts';
import { KafkaInput, resultCheck } from './kafka-input.ts';

const config = validateConfig({
  org: { demo: { districts: 2, streetsPerDistrict: 1, communitiesPerStreet: 1, gridsPerCommunity: 2 } },
});
const org = new OrgTree(generateDemoCity(config.org.demo));
const GRID = [...org.allNodes('grid')][0]!.id;
const DISTRICT = [...org.allNodes('district')][0]!.id;
const topics = topicsOf(config);
const NOW = Date.UTC(2026, 10, 23);

const validRow = (i: number) => ({
  id: `e${i}`,
  grid: 'g1',
  kind: 'gas_ppm',
  ts: NOW - i,
  value: i,
  received_at: NOW,
  device: 'd1',
});
const validResult = (i: number) => ({
  window: 'sensor_1m',
  level: 'grid',
  key: GRID,
  source: 'sensor',
  kind: 'gas_ppm',
  start: NOW - 60_000 * (i + 1),
  end: NOW - 60_000 * i,
  count: i + 1,
  sum: i,
  mean: i / (i + 1),
  final: true,
});

const junk = fc.oneof(
  fc.string(),
  fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b).toString('latin1')),
  fc.json(),
  fc
    .record({
      id: fc.anything(),
      grid: fc.anything(),
      kind: fc.anything(),
      ts: fc.anything(),
      value: fc.anything(),
    })
    .map((o) => JSON.stringify(o)),
  fc.constant(JSON.stringify({ ...validRow(0), ts: 'yesterday' })),
  fc.constant(JSON.stringify({ ...validResult(0), count: 'many' })),
);

function setup() {
  const bus = new InProcessBus();
  const metrics = new Metrics({ defaultMetrics: false });
  const got = { events: [] as LoggedEvent[], finals: [] as WindowResult[], updates: [] as WindowResult[] };
  bus.subscribe<LoggedEvent>(EVENTS_TOPIC, (m) => void got.events.push(...m));
  bus.subscribe<WindowResult>(WINDOWS_TOPIC, (m) => void got.finals.push(...m));
  bus.subscribe<WindowResult>(WINDOW_UPDATES_TOPIC, (m) => void got.updates.push(...m));
  const input = new KafkaInput({
    topics,
    bus,
    settled: async () => {},
    minTs: Date.UTC(2020, 0, 1),
    maxFutureMs: 60_000,
    events: true,
    commit: true,
    check: resultCheck(config, org),
    metrics,
    log: createLogger({ level: 'silent' }),
  });
  input.assigned(input.subscribedTopics.map((topic) => ({ topic, partition: 0 })));
  return { input, got, metrics };
}

const message = (topic: string, offset: number, text: string): Kafka.Message =>
  ({
    topic,
    partition: 0,
    offset,
    value: Buffer.from(text),
    size: text.length,
    timestamp: NOW,
  }) as Kafka.Message;

describe('KafkaInput', () => {
  it('passes every valid event and result beside arbitrary junk, counts the bad events, never throws', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.boolean(), fc.constantFrom('events', 'windows', 'updates'), junk), {
          maxLength: 40,
        }),
        async (items) => {
          const { input, got, metrics } = setup();
          const expected = { events: 0, finals: 0, updates: 0, badEvents: 0 };
          const messages = items.map(([valid, where, text], offset) => {
            const topic =
              where === 'events'
                ? topics.events('sensor')
                : where === 'windows'
                  ? topics.windows
                  : topics.windowUpdates;
            if (valid) {
              if (where === 'events') expected.events++;
              else if (where === 'windows') expected.finals++;
              else expected.updates++;
              return message(
                topic,
                offset,
                JSON.stringify(where === 'events' ? validRow(offset) : validResult(offset)),
              );
            }
            if (where === 'events') expected.badEvents++;
            return message(topic, offset, text);
          });
          // Junk that happens to be valid is fine too: count what the guards accept as valid.
          await input.handle(messages);
          expect(got.events.length).toBeGreaterThanOrEqual(expected.events);
          expect(got.finals.length + got.updates.length).toBeGreaterThanOrEqual(
            expected.finals + expected.updates,
          );
          const rejected = (await metrics.eventsRejected.get()).values.reduce((n, v) => n + v.value, 0);
          expect(rejected + got.events.length).toBe(expected.events + expected.badEvents);
          for (const e of got.events) expect(typeof e.id === 'string' && Number.isFinite(e.ts)).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('skips what it has seen (offsets fetched twice) and partitions it does not own', async () => {
    const { input, got } = setup();
    const t = topics.events('sensor');
    await input.handle([
      message(t, 0, JSON.stringify(validRow(0))),
      message(t, 1, JSON.stringify(validRow(1))),
    ]);
    await input.handle([
      message(t, 1, JSON.stringify(validRow(1))),
      { ...message(t, 2, JSON.stringify(validRow(2))), partition: 3 },
    ]);
    expect(got.events.map((e) => e.id)).toEqual(['e0', 'e1']);
  });

  it("skips results this deployment's windows could not have produced, counted by field, and passes the rest", async () => {
    const { input, got, metrics } = setup();
    const foreign = [
      { window: 'made_up_1m' }, // no such spec
      { source: 'video' }, // sensor_1m windows sensors
      { key: 'nowhere' }, // no such area
      { key: DISTRICT }, // an area, but not a grid
      { level: 'community', key: DISTRICT }, // a level the spec does not roll up to
      { kind: 'made_up_kind' }, // not a configured metric
    ];
    const flood = Array.from({ length: 600 }, (_, i) => ({
      ...validResult(i),
      ...foreign[i % foreign.length],
    }));
    const valid = [validResult(1), { ...validResult(2), level: 'district', key: DISTRICT }];
    const hotline = { ...validResult(3), window: 'hotline_24h', source: 'hotline', kind: '*' };
    await input.handle(
      [...flood, ...valid, hotline, { ...hotline, kind: 'complaint.service' }].map((r, i) =>
        message(topics.windows, i, JSON.stringify(r)),
      ),
    );
    expect(got.finals.map((r) => [r.window, r.level, r.key, r.kind])).toEqual([
      ['sensor_1m', 'grid', GRID, 'gas_ppm'],
      ['sensor_1m', 'district', DISTRICT, 'gas_ppm'],
      ['hotline_24h', 'grid', GRID, '*'],
    ]);
    const skipped = Object.fromEntries(
      (await metrics.resultsSkipped.get()).values.map((v) => [v.labels.field, v.value]),
    );
    expect(skipped).toEqual({ window: 100, source: 100, key: 300, kind: 101 });
  });
});
