// Integration: real HTTP into a real embedded store (chDB).
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { get, post, startTestGridwatch, TEST_KEYS, waitFor } from '../test/harness.ts';

let gw: Awaited<ReturnType<typeof startTestGridwatch>>;
let sensorId: string;
let sensorMetric: string;
let cameraId: string;
let gridId: string;

beforeAll(async () => {
  gw = await startTestGridwatch({
    windows: [
      {
        name: 'sensor_1m',
        source: 'sensor',
        size: '1m',
        outOfOrder: '1s',
        allowedLateness: '1m',
        idleTimeout: '1s',
        levels: ['grid', 'district', 'city'],
        updates: '1s',
      },
    ],
  });
  const s = [...gw.org.allDevices('sensor')][0]!;
  sensorId = s.id;
  sensorMetric = [...s.metrics!][0]!;
  cameraId = [...gw.org.allDevices('camera')][0]!.id;
  gridId = [...gw.org.allNodes('grid')][0]!.id;
});
afterAll(async () => gw?.close());

const url = (p: string) => `${gw.url}${p}`;

describe('ingest API', () => {
  it('refuses requests without a valid key (401) and keys of another source (403)', async () => {
    const rec = { device: sensorId, metric: sensorMetric, value: 1, ts: Date.now() };
    expect((await post(url('/v1/ingest/sensor'), undefined, rec)).status).toBe(401);
    expect((await post(url('/v1/ingest/sensor'), 'wrong-key-wrong-key-123', rec)).status).toBe(401);
    const forbidden = await post(url('/v1/ingest/sensor'), TEST_KEYS.video, rec);
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.error).toBe('GW_ERR_FORBIDDEN');
    expect((await get(url('/v1/windows'))).status).toBe(401);
    expect((await get(url('/v1/windows'), TEST_KEYS.sensor)).status).toBe(403);
  });

  it('lands each source with every field, personal data masked', async () => {
    const ts = Date.now() - 5000;
    const s = await post(url('/v1/ingest/sensor'), TEST_KEYS.sensor, {
      device: sensorId,
      metric: sensorMetric,
      value: 3.25,
      ts,
      unit: gw.config.sensors.metrics[sensorMetric]!.unit,
    });
    expect(s).toMatchObject({ status: 200, body: { accepted: 1, rejected: 0 } });
    const v = await post(url('/v1/ingest/video'), TEST_KEYS.video, {
      camera: cameraId,
      event_type: 'crowd_gathering',
      ts: new Date(ts).toISOString(),
      confidence: 0.91,
      object_count: 42,
      snapshot_url: 'http://nvr.local/snap/1.jpg',
    });
    expect(v).toMatchObject({ status: 200, body: { accepted: 1 } });
    const h = await post(url('/v1/ingest/hotline'), TEST_KEYS.hotline, {
      call_id: 'call-land-1',
      received_at: new Date(ts).toISOString(),
      category: 'complaint.noise',
      grid: gridId,
      summary: '楼上装修噪音，联系13987654321',
      caller_phone: '13812345678',
      attrs: { contact: '13712345678' },
    });
    expect(h).toMatchObject({ status: 200, body: { accepted: 1 } });
    // A refused value is quoted in the reason: the dead letter masks it as it masks the record.
    const refused = await post(url('/v1/ingest/hotline'), TEST_KEYS.hotline, {
      call_id: 'call-land-2',
      received_at: new Date(ts).toISOString(),
      category: 'complaint.noise',
      grid: '13612345678',
      summary: 'x',
    });
    expect(refused.body.records).toEqual([expect.objectContaining({ field: 'grid', code: 'unknown_grid' })]);
    const reasons = await gw.store.query<{ reason: string }>(
      "SELECT reason FROM dead_letters WHERE raw LIKE '%call-land-2%'",
    );
    expect(reasons.length).toBe(1);
    expect(reasons[0]!.reason).not.toMatch(/13612345678/);

    const q = `?from=${ts - 1000}&to=${ts + 1000}`;
    const se = (await get(url(`/v1/events/sensor${q}&grid=${gw.org.device(sensorId)!.grid}`), TEST_KEYS.read))
      .body.events as Record<string, unknown>[];
    expect(se).toContainEqual(
      expect.objectContaining({
        device: sensorId,
        metric: sensorMetric,
        value: 3.25,
        unit: gw.config.sensors.metrics[sensorMetric]!.unit,
        ts: new Date(ts).toISOString(),
      }),
    );
    const ve = (await get(url(`/v1/events/video${q}`), TEST_KEYS.read)).body.events as Record<
      string,
      unknown
    >[];
    expect(ve).toContainEqual(
      expect.objectContaining({
        camera: cameraId,
        event_type: 'crowd_gathering',
        object_count: 42,
        snapshot_url: 'http://nvr.local/snap/1.jpg',
        grid: gw.org.device(cameraId)!.grid,
      }),
    );
    expect(Number((ve[0] as { confidence: number }).confidence)).toBeCloseTo(0.91, 5);
    const he = (await get(url(`/v1/events/hotline${q}`), TEST_KEYS.read)).body.events as Record<
      string,
      unknown
    >[];
    expect(he).toContainEqual(
      expect.objectContaining({
        call_id: 'call-land-1',
        category: 'complaint.noise',
        grid: gridId,
        caller_phone_masked: '138****5678',
        summary: '楼上装修噪音，联系139****4321',
      }),
    );
    const stored = await gw.store.query("SELECT * FROM events_hotline WHERE id = 'call-land-1'");
    expect(JSON.stringify(stored)).not.toMatch(/13812345678|13987654321|13712345678/);
    expect(JSON.stringify(stored)).toMatch(/137\*{4}5678/);
  });

  it('accepts good records beside bad ones, and dead-letters each bad one with its reason', async () => {
    const now = Date.now();
    const batch = [
      { device: sensorId, metric: sensorMetric, value: 1, ts: now },
      { device: 'S-ghost', metric: sensorMetric, value: 1, ts: now },
      { device: sensorId, metric: sensorMetric, value: 'high', ts: now },
      { device: sensorId, metric: sensorMetric, value: 2, ts: 946_684_799_000 },
      { device: sensorId, metric: sensorMetric, value: 3, ts: now + 1 },
    ];
    const r = await post(url('/v1/ingest/sensor'), TEST_KEYS.sensor, batch);
    expect(r.status).toBe(207);
    expect(r.body).toMatchObject({ accepted: 2, rejected: 3 });
    expect(r.body.records).toEqual([
      expect.objectContaining({ index: 0, status: 'accepted' }),
      expect.objectContaining({ index: 1, status: 'rejected', field: 'device', code: 'unknown_device' }),
      expect.objectContaining({ index: 2, status: 'rejected', field: 'value', code: 'invalid_type' }),
      expect.objectContaining({ index: 3, status: 'rejected', field: 'ts', code: 'timestamp_out_of_range' }),
      expect.objectContaining({ index: 4, status: 'accepted' }),
    ]);
    const requestId = (
      await gw.store.query<{ request_id: string }>(
        "SELECT request_id FROM dead_letters WHERE raw LIKE '%S-ghost%'",
      )
    )[0]?.request_id;
    const dl = await gw.store.query<{ record_index: number; field: string; raw: string }>(
      'SELECT record_index, field, raw FROM dead_letters WHERE request_id = {id:String} ORDER BY record_index',
      { id: requestId },
    );
    expect(dl.map((d) => [d.record_index, d.field])).toEqual([
      [1, 'device'],
      [2, 'value'],
      [3, 'ts'],
    ]);
    expect(JSON.parse(dl[1]!.raw)).toEqual(batch[2]);
  });

  it("refuses an unpaired surrogate or a record nested past the stack as that record's error only", async () => {
    const now = Date.now();
    const good = (value: number, ts: number) =>
      JSON.stringify({ device: sensorId, metric: sensorMetric, value, ts });
    // JSON may escape half a surrogate pair; it is not Unicode, and the store refused the whole
    // insert it was in (this request's good records and any other request's in the same flush).
    const lone = `{"device":${JSON.stringify(sensorId)},"metric":${JSON.stringify(sensorMetric)},"value":1,"ts":${now},"id":"x\\ud800"}`;
    const attrs = `{"device":${JSON.stringify(sensorId)},"metric":${JSON.stringify(sensorMetric)},"value":1,"ts":${now},"attrs":{"k":"\\udc00"}}`;
    const deep = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
    const body = `[${good(11, now + 11)},${lone},${deep},${attrs},${good(12, now + 12)}]`;
    const r = await post(url('/v1/ingest/sensor'), TEST_KEYS.sensor, body);
    expect(r.status).toBe(207);
    expect(r.body.records).toEqual([
      expect.objectContaining({ index: 0, status: 'accepted' }),
      expect.objectContaining({ index: 1, status: 'rejected', field: 'id', code: 'invalid_encoding' }),
      expect.objectContaining({ index: 2, status: 'rejected', code: 'not_an_object' }),
      expect.objectContaining({ index: 3, status: 'rejected', field: 'attrs.k', code: 'invalid_encoding' }),
      expect.objectContaining({ index: 4, status: 'accepted' }),
    ]);
    const rows = await gw.store.query<{ value: number }>(
      'SELECT value FROM events_sensor WHERE device = {d:String} AND value IN (11, 12) ORDER BY value',
      { d: sensorId },
    );
    expect(rows.map((x) => Number(x.value))).toEqual([11, 12]);
    const dl = await gw.store.query<{ code: string; raw: string }>(
      "SELECT code, raw FROM dead_letters WHERE code = 'invalid_encoding' OR raw LIKE '%nested too deeply%' ORDER BY received_at, record_index",
    );
    expect(dl.map((d) => d.code)).toEqual(['invalid_encoding', 'not_an_object', 'invalid_encoding']);
    // The raw record keeps the escape as sent.
    expect(dl[0]!.raw).toContain('"id":"x\\ud800"');
  });

  it('answers 415 for a text/plain or compressed body rather than reading it as records, and counts them', async () => {
    const r = await post(url('/v1/ingest/sensor'), TEST_KEYS.sensor, '{}', 'text/plain');
    expect(r.status).toBe(415);
    expect(r.body.error).toBe('GW_ERR_UNSUPPORTED_MEDIA_TYPE');
    const gz = await fetch(url('/v1/ingest/sensor'), {
      method: 'POST',
      headers: {
        authorization: `Bearer ${TEST_KEYS.sensor}`,
        'content-type': 'application/json',
        'content-encoding': 'gzip',
      },
      body: gzipSync('{}'),
    });
    expect(gz.status).toBe(415);
    expect(((await gz.json()) as { message: string }).message).toMatch(/content-encoding gzip/);
    // A coding that compresses nothing (a client's stray "utf-8", or "Identity") is not refused.
    for (const coding of ['utf-8', 'Identity']) {
      const plain = await fetch(url('/v1/ingest/sensor'), {
        method: 'POST',
        headers: {
          authorization: `Bearer ${TEST_KEYS.sensor}`,
          'content-type': 'application/json',
          'content-encoding': coding,
        },
        body: JSON.stringify({ device: sensorId, metric: sensorMetric, value: 1, ts: Date.now() }),
      });
      expect(plain.status, coding).toBe(200);
    }
    // Refused whole, they hold no record to count: the request counter has them.
    const metrics = await (await fetch(url('/metrics'))).text();
    expect(metrics).toMatch(/gridwatch_ingest_requests_total\{source="sensor",status="415"\} [2-9]/);
  });

  it("takes NDJSON, where a broken line is that record's error only", async () => {
    const now = Date.now();
    const lines = [
      JSON.stringify({ device: sensorId, metric: sensorMetric, value: 7, ts: now + 2 }),
      '{"device": "broken',
      JSON.stringify({ device: sensorId, metric: sensorMetric, value: 8, ts: now + 3 }),
    ];
    const r = await post(
      url('/v1/ingest/sensor'),
      TEST_KEYS.sensor,
      `${lines.join('\n')}\n`,
      'application/x-ndjson',
    );
    expect(r.status).toBe(207);
    expect(r.body.records).toEqual([
      expect.objectContaining({ index: 0, status: 'accepted' }),
      expect.objectContaining({ index: 1, status: 'rejected', code: 'invalid_json' }),
      expect.objectContaining({ index: 2, status: 'accepted' }),
    ]);
    const dl = await gw.store.query<{ raw: string }>(
      "SELECT raw FROM dead_letters WHERE code = 'invalid_json'",
    );
    expect(dl.map((d) => d.raw)).toContain('{"device": "broken');
  });

  it('answers 400 for a body that is not JSON, 413 over the size or record limit, 422 when nothing is good', async () => {
    expect((await post(url('/v1/ingest/sensor'), TEST_KEYS.sensor, '{not json')).status).toBe(400);
    const huge = `[${'1,'.repeat(3 * 1024 * 1024)}1]`;
    expect((await post(url('/v1/ingest/sensor'), TEST_KEYS.sensor, huge)).status).toBe(413);
    const many = Array.from({ length: gw.config.ingest.maxRecordsPerRequest + 1 }, () => ({}));
    expect((await post(url('/v1/ingest/sensor'), TEST_KEYS.sensor, many)).status).toBe(413);
    const none = await post(url('/v1/ingest/sensor'), TEST_KEYS.sensor, [{ nope: 1 }, 42]);
    expect(none.status).toBe(422);
    expect(none.body.records).toEqual([
      expect.objectContaining({ code: 'missing_field', field: 'device' }),
      expect.objectContaining({ code: 'not_an_object' }),
    ]);
  });

  it('treats a resent event id as a duplicate: stored and counted once', async () => {
    const rec = { id: 'dup-1', device: sensorId, metric: sensorMetric, value: 1, ts: Date.now() };
    expect((await post(url('/v1/ingest/sensor'), TEST_KEYS.sensor, rec)).body).toMatchObject({
      accepted: 1,
      duplicates: 0,
    });
    expect((await post(url('/v1/ingest/sensor'), TEST_KEYS.sensor, [rec, rec])).body).toMatchObject({
      accepted: 0,
      duplicates: 2,
    });
    const rows = await gw.store.query<{ c: string }>(
      "SELECT count() AS c FROM events_sensor WHERE id = 'dup-1'",
    );
    expect(Number(rows[0]!.c)).toBe(1);
  });

  it('limits a read key to its area', async () => {
    const inD01 = [...gw.org.allNodes('grid')].find((g) => g.path[1] === 'd01')!.id;
    const denied = await get(url(`/v1/windows?grid=${inD01}`), TEST_KEYS.readD02);
    expect(denied.status).toBe(403);
    const mine = await get(url('/v1/events/sensor?limit=1000&from=0'), TEST_KEYS.readD02);
    expect(mine.status).toBe(200);
    for (const e of mine.body.events as { grid: string }[]) expect(gw.org.isWithin(e.grid, 'd02')).toBe(true);
    expect((await get(url('/v1/windows?limit=0'), TEST_KEYS.read)).status).toBe(400);
    expect((await get(url("/v1/windows?grid=x' OR 1=1 --"), TEST_KEYS.read)).status).toBe(400);
  });

  it('keeps every good record of random mixed batches and dead-letters every bad one (property)', async () => {
    const sensors = [...gw.org.allDevices('sensor')];
    const good = fc
      .record({ d: fc.constantFrom(...sensors), v: fc.double({ min: 0, max: 1, noNaN: true }) })
      .map(({ d, v }) => {
        const metric = [...d.metrics!][0]!;
        const def = gw.config.sensors.metrics[metric]!;
        return { device: d.id, metric, value: def.min + v * (def.max - def.min), ts: Date.now() - 1000 };
      });
    const bad = fc.oneof(
      fc.anything({ maxDepth: 2 }),
      good.map((g) => ({ ...g, device: `${g.device}-x` })),
      good.map((g) => ({ ...g, ts: 'not a time' })),
      good.map((g) => ({ ...g, value: null })),
      good.map((g) => ({ ...g, extra: true })),
    );
    const item = fc.oneof(
      good.map((r) => ({ ok: true, r })),
      bad.map((r) => ({ ok: false, r })),
    );
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(item, { minLength: 1, maxLength: 60 }), async (items) => {
        runs++;
        const tagged = items.map((x, i) => (x.ok ? { ...(x.r as object), id: `prop-${runs}-${i}` } : x.r));
        const res = await post(url('/v1/ingest/sensor'), TEST_KEYS.sensor, tagged);
        expect([200, 207, 422]).toContain(res.status);
        const recs = res.body.records!;
        expect(recs).toHaveLength(items.length);
        items.forEach((x, i) => {
          expect(recs[i]!.status).toBe(x.ok ? 'accepted' : 'rejected');
          if (!x.ok) expect(String(recs[i]!.field).length).toBeGreaterThan(0);
        });
        const ids = await gw.store.query<{ id: string }>(
          'SELECT id FROM events_sensor WHERE id LIKE {p:String}',
          { p: `prop-${runs}-%` },
        );
        expect(ids.length).toBe(items.filter((x) => x.ok).length);
      }),
      { numRuns: 60 },
    );
    const dead = await gw.store.query<{ c: string }>(
      "SELECT count() AS c FROM dead_letters WHERE source = 'sensor'",
    );
    expect(Number(dead[0]!.c)).toBeGreaterThan(0);
  });

  it('fills windows, exposes health, readiness and metrics', async () => {
    const w = await waitFor('a sensor window in the store', async () => {
      const r = await get(url('/v1/windows?from=0'), TEST_KEYS.read);
      return (r.body.windows as unknown[]).length > 0 ? r : undefined;
    });
    expect(w.body.windows).toContainEqual(expect.objectContaining({ source: 'sensor', level: 'grid' }));
    expect((await get(url('/healthz'))).status).toBe(200);
    expect((await get(url('/readyz'))).body).toMatchObject({ status: 'ready' });
    const m = await (await fetch(url('/metrics'))).text();
    expect(m).toMatch(/gridwatch_events_accepted_total\{source="sensor"\} \d+/);
    expect(m).toMatch(/gridwatch_events_rejected_total\{source="sensor",reason="unknown_device"\} \d+/);
    expect(m).toMatch(/gridwatch_store_insert_seconds_bucket/);
    expect(m).toMatch(/gridwatch_window_lag_seconds\{window="sensor_1m"\}/);
  });

  it("serves roll-up windows by node and level, within a key's area only", async () => {
    await waitFor('a city roll-up', async () => {
      const r = await get(url('/v1/windows?grid=city&from=0'), TEST_KEYS.read);
      return (r.body.windows as unknown[]).length > 0;
    });
    const city = (await get(url('/v1/windows?grid=city&from=0'), TEST_KEYS.read)).body.windows as {
      key: string;
      level: string;
    }[];
    for (const w of city) expect(w).toMatchObject({ key: 'city', level: 'city' });
    const districts = (await get(url('/v1/windows?level=district&from=0'), TEST_KEYS.read)).body.windows as {
      level: string;
    }[];
    expect(districts.length).toBeGreaterThan(0);
    for (const w of districts) expect(w.level).toBe('district');
    expect((await get(url('/v1/windows?grid=city&from=0'), TEST_KEYS.readD02)).status).toBe(403);
    const mine = (await get(url('/v1/windows?from=0&limit=10000'), TEST_KEYS.readD02)).body.windows as {
      key: string;
    }[];
    for (const w of mine) expect(gw.org.isWithin(w.key, 'd02')).toBe(true);
  });
});
