import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateDemoCity } from '../config/demo-city.ts';
import { validateConfig } from '../config/load.ts';
import { OrgTree } from '../config/org-tree.ts';
import { ADAPTERS, type ValidationContext, validationContext } from './sources.ts';

const config = validateConfig({
  org: {
    demo: {
      districts: 2,
      streetsPerDistrict: 2,
      communitiesPerStreet: 2,
      gridsPerCommunity: 2,
      sensorsPerGrid: 2,
      camerasPerGrid: 1,
    },
  },
});
const org = new OrgTree(generateDemoCity(config.org.demo));
const NOW = Date.parse('2026-11-22T12:00:00Z');
const ctx: ValidationContext = validationContext(org, config, NOW);
const sensors = [...org.allDevices('sensor')];
const cameras = [...org.allDevices('camera')];
const grids = [...org.allNodes('grid')];

const tsArb = fc.oneof(
  fc.integer({ min: NOW - 86_400_000, max: NOW }),
  fc.integer({ min: NOW - 86_400_000, max: NOW }).map((ms) => new Date(ms).toISOString()),
);

const sensorArb = fc
  .record({
    device: fc.constantFrom(...sensors),
    ts: tsArb,
    unit: fc.boolean(),
    frac: fc.double({ min: 0, max: 1, noNaN: true }),
  })
  .map(({ device, ts, unit, frac }) => {
    const metric = [...device.metrics!][0]!;
    const def = config.sensors.metrics[metric]!;
    const rec: Record<string, unknown> = {
      device: device.id,
      metric,
      value: def.min + frac * (def.max - def.min),
      ts,
    };
    if (unit) rec.unit = def.unit;
    return rec;
  });

const videoArb = fc
  .record({
    camera: fc.constantFrom(...cameras),
    event_type: fc.constantFrom(...config.video.eventTypes),
    ts: tsArb,
    confidence: fc.double({ min: 0, max: 1, noNaN: true }),
    object_count: fc.option(fc.integer({ min: 0, max: 5000 }), { nil: undefined }),
  })
  .map(({ camera, object_count, ...r }) => ({
    ...r,
    camera: camera.id,
    ...(object_count === undefined ? {} : { object_count }),
  }));

const hotlineArb = fc
  .record({
    call_id: fc.stringMatching(/^12345-[0-9]{8}-[0-9]{1,6}$/),
    received_at: tsArb,
    category: fc.constantFrom(...config.hotline.categories),
    grid: fc.constantFrom(...grids),
    summary: fc.string({ maxLength: 200 }),
    caller_phone: fc.stringMatching(/^1[3-9][0-9]{9}$/),
  })
  .map(({ grid, ...r }) => ({ ...r, grid: grid.id }));

const valid = { sensor: sensorArb, video: videoArb, hotline: hotlineArb } as const;
const REQUIRED = {
  sensor: ['device', 'metric', 'value', 'ts'],
  video: ['camera', 'event_type', 'ts', 'confidence'],
  hotline: ['call_id', 'received_at', 'category', 'summary'],
} as const;
const STRING_FIELDS = {
  sensor: ['device', 'metric'],
  video: ['camera', 'event_type'],
  hotline: ['call_id', 'category', 'summary'],
} as const;
const TIME_FIELD = { sensor: 'ts', video: 'ts', hotline: 'received_at' } as const;

describe.each(['sensor', 'video', 'hotline'] as const)('%s records', (source) => {
  const adapter = ADAPTERS[source];

  it('accepts every valid record and normalises it onto a real grid', () => {
    fc.assert(
      fc.property(valid[source], (rec) => {
        const r = adapter.normalise(rec, ctx);
        expect(r).toMatchObject({ ok: true });
        if (r.ok) {
          expect(org.node(r.event.grid)?.level).toBe('grid');
          expect(r.event.source).toBe(source);
          expect(Number.isFinite(r.event.ts)).toBe(true);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('names the missing field when a required one is removed', () => {
    fc.assert(
      fc.property(valid[source], fc.constantFrom(...REQUIRED[source]), (rec, field) => {
        const bad: Record<string, unknown> = { ...rec };
        delete bad[field];
        expect(adapter.normalise(bad, ctx)).toMatchObject({ ok: false, field, code: 'missing_field' });
      }),
      { numRuns: 500 },
    );
  });

  it('names the field given a value of the wrong type', () => {
    const wrong = fc.oneof(
      fc.constant(null),
      fc.boolean(),
      fc.array(fc.integer(), { maxLength: 2 }),
      fc.dictionary(fc.string(), fc.integer(), { maxKeys: 2 }),
    );
    fc.assert(
      fc.property(valid[source], fc.constantFrom(...REQUIRED[source]), wrong, (rec, field, value) => {
        const r = adapter.normalise({ ...rec, [field]: value }, ctx);
        expect(r.ok).toBe(false);
        if (!r.ok) expect(r.field).toBe(field);
      }),
      { numRuns: 500 },
    );
  });

  it('rejects oversize strings as too_long', () => {
    fc.assert(
      fc.property(
        valid[source],
        fc.constantFrom(...STRING_FIELDS[source]),
        fc.integer({ min: 2001, max: 100_000 }),
        (rec, field, len) => {
          expect(adapter.normalise({ ...rec, [field]: 'x'.repeat(len) }, ctx)).toMatchObject({
            ok: false,
            field,
            code: 'too_long',
          });
        },
      ),
      { numRuns: 200 },
    );
  });

  it('rejects unknown fields by name', () => {
    const known = new Set([
      'id',
      'device',
      'metric',
      'value',
      'ts',
      'unit',
      'attrs',
      'camera',
      'event_type',
      'confidence',
      'object_count',
      'snapshot_url',
      'call_id',
      'received_at',
      'category',
      'grid',
      'address',
      'summary',
      'caller_phone',
    ]);
    fc.assert(
      fc.property(
        valid[source],
        fc.string({ minLength: 1, maxLength: 20 }).filter((k) => !known.has(k)),
        (rec, extra) => {
          expect(adapter.normalise({ ...rec, [extra]: 1 }, ctx)).toMatchObject({
            ok: false,
            field: extra,
            code: 'unknown_field',
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('rejects absurd and malformed event times', () => {
    const field = TIME_FIELD[source];
    const absurd = fc.oneof(
      fc.integer({ min: 0, max: Date.parse('1999-12-31T23:59:59Z') }),
      fc.integer({ min: NOW + 11 * 60_000, max: 8.64e15 }),
      fc.double({ noNaN: true, noDefaultInfinity: true }).filter((x) => !Number.isInteger(x)),
      fc.constantFrom(
        'NaN',
        'Infinity',
        '',
        'yesterday',
        '2026-13-45T99:00:00Z',
        '2026-11-22T08:00:00',
        '1e12',
      ),
    );
    fc.assert(
      fc.property(valid[source], absurd, (rec, t) => {
        const r = adapter.normalise({ ...rec, [field]: t }, ctx);
        expect(r).toMatchObject({ ok: false, field });
      }),
      { numRuns: 500 },
    );
  });

  it('never throws on arbitrary input, and refuses anything that is not a record', () => {
    fc.assert(
      fc.property(fc.anything({ withNullPrototype: true, withBigInt: false, maxDepth: 3 }), (junk) => {
        const r = adapter.normalise(junk, ctx);
        expect(r.ok).toBe(false);
        if (!r.ok) expect(r.reason.length).toBeGreaterThan(0);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('domain checks', () => {
  const sensor = sensors[0]!;
  const metric = [...sensor.metrics!][0]!;
  const base = { device: sensor.id, metric, value: config.sensors.metrics[metric]!.min, ts: NOW };

  it('refuses a number JSON reads as infinite as out of range, not as a wrong type', () => {
    const record = JSON.parse(
      `{"device":${JSON.stringify(sensor.id)},"metric":"${metric}","value":1e309,"ts":${NOW}}`,
    );
    expect(ADAPTERS.sensor.normalise(record, ctx)).toMatchObject({
      field: 'value',
      code: 'out_of_range',
      reason: 'must be a finite number',
    });
  });

  it('refuses unknown devices, cameras posing as sensors, wrong units and implausible values', () => {
    expect(ADAPTERS.sensor.normalise({ ...base, device: 'S-nope' }, ctx)).toMatchObject({
      field: 'device',
      code: 'unknown_device',
    });
    expect(ADAPTERS.sensor.normalise({ ...base, device: cameras[0]!.id }, ctx)).toMatchObject({
      field: 'device',
      code: 'wrong_device_type',
    });
    expect(ADAPTERS.sensor.normalise({ ...base, unit: 'furlongs' }, ctx)).toMatchObject({
      field: 'unit',
      code: 'unit_mismatch',
    });
    expect(ADAPTERS.sensor.normalise({ ...base, value: 1e12 }, ctx)).toMatchObject({
      field: 'value',
      code: 'out_of_range',
    });
    const other = Object.keys(config.sensors.metrics).find((m) => m !== metric)!;
    expect(ADAPTERS.sensor.normalise({ ...base, metric: other }, ctx)).toMatchObject({
      field: 'metric',
      code: 'unknown_metric',
    });
  });

  it('resolves hotline addresses to grids and refuses addresses that only reach a community', () => {
    const grid = grids[1]!;
    const community = org.node(grid.parent!)!;
    const path =
      org.node(org.node(community.parent!)!.parent!)!.name +
      org.node(community.parent!)!.name +
      community.name;
    const call = { call_id: 'c-1', received_at: NOW, category: 'complaint.noise', summary: '噪音扰民' };
    const ok = ADAPTERS.hotline.normalise({ ...call, address: `${path}8号楼2单元301室` }, ctx);
    expect(ok).toMatchObject({ ok: true, event: { grid: grid.id } });
    expect(ADAPTERS.hotline.normalise({ ...call, address: `${path}某处` }, ctx)).toMatchObject({
      field: 'address',
      code: 'unresolved_address',
    });
    expect(ADAPTERS.hotline.normalise({ ...call, grid: community.id }, ctx)).toMatchObject({
      field: 'grid',
      code: 'unknown_grid',
    });
    expect(ADAPTERS.hotline.normalise(call, ctx)).toMatchObject({ field: 'grid', code: 'missing_field' });
    expect(
      ADAPTERS.hotline.normalise({ ...call, grid: grid.id, category: 'complaint.ufo' }, ctx),
    ).toMatchObject({ field: 'category', code: 'unknown_category' });
  });

  it('masks the caller phone and personal numbers in the summary before storage', () => {
    const r = ADAPTERS.hotline.normalise(
      {
        call_id: 'c-2',
        received_at: NOW,
        category: 'dispute.neighbour',
        grid: grids[0]!.id,
        caller_phone: '13812345678',
        summary: '来电人13912345678，身份证370302199001011234，座机0533-2345678',
      },
      ctx,
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.row.caller_phone_masked).toBe('138****5678');
    expect(r.row.summary).toBe('来电人139****5678，身份证370302********1234，座机0533-***5678');
    expect(JSON.stringify(r)).not.toMatch(/13812345678|13912345678|199001011234/);
  });
});
