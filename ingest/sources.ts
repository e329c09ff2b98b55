// One adapter per source: validate a record in the source's own words, normalise it to a
// GovEvent, and shape the row for that source's raw table. Errors name the field and reason.

import type { TSchema } from '@sinclair/typebox';
import { type TypeCheck, TypeCompiler } from '@sinclair/typebox/compiler';
import { ValueErrorType } from '@sinclair/typebox/errors';
import type { OrgNode, OrgTree } from '../config/org-tree.ts';
import type { GridwatchConfig, SourceName } from '../config/schema.ts';
import { durationMs } from '../platform/duration.ts';
import { illFormedPath } from '../platform/unicode.ts';
import { DeviceFacts } from './device-facts.ts';
import type { GovEvent, SourceRow } from './envelope.ts';
import { maskPersonalData, maskPhone } from './mask.ts';
import { HotlineRecord, SensorRecord, VideoRecord } from './records.ts';
import { epochMsText, parseEventTime } from './timestamp.ts';

export interface RecordError {
  index: number;
  /** Dotted path of the offending field, or "(record)" for the record as a whole. */
  field: string;
  /** Stable, low-cardinality reason code (also the metric label). */
  code: string;
  reason: string;
}

export type Normalised =
  | { ok: true; event: GovEvent; row: SourceRow }
  | { ok: false; field: string; code: string; reason: string };

export interface ValidationContext {
  org: OrgTree;
  config: GridwatchConfig;
  now: number;
  /** Accepted event times, [minMs, maxMs]: computed once per request, not per record. */
  minMs: number;
  maxMs: number;
  /**
   * Metric definitions (numbered in config order) and taxonomies as Maps/Sets: cheaper lookups
   * than the config objects.
   */
  metrics: ReadonlyMap<string, { unit: string; min: number; max: number; number: number }>;
  eventTypes: ReadonlySet<string>;
  categories: ReadonlySet<string>;
  /** Each device's grid, type and metrics, by device number. */
  devices: DeviceFacts;
}

type Lookups = Pick<ValidationContext, 'metrics' | 'eventTypes' | 'categories'>;
const lookups = new WeakMap<GridwatchConfig, Lookups>();
/** Built once per registry and config: validationContext() is called per request. */
const facts = new WeakMap<OrgTree, WeakMap<Lookups, DeviceFacts>>();

export function validationContext(org: OrgTree, config: GridwatchConfig, now: number): ValidationContext {
  let l = lookups.get(config);
  if (!l) {
    l = {
      metrics: new Map(
        Object.entries(config.sensors.metrics).map(([name, m], number) => [name, { ...m, number }]),
      ),
      eventTypes: new Set(config.video.eventTypes),
      categories: new Set(config.hotline.categories),
    };
    lookups.set(config, l);
  }
  let byConfig = facts.get(org);
  if (!byConfig) {
    byConfig = new WeakMap();
    facts.set(org, byConfig);
  }
  let devices = byConfig.get(l);
  if (!devices) {
    devices = new DeviceFacts(org, l.metrics);
    byConfig.set(l, devices);
  }
  return {
    org,
    config,
    now,
    minMs: Date.parse(config.ingest.minTimestamp),
    maxMs: now + durationMs(config.ingest.maxFuture),
    ...l,
    devices,
  };
}

export interface SourceAdapter {
  readonly source: SourceName;
  readonly table: string;
  normalise(record: unknown, ctx: ValidationContext): Normalised;
}

const fail = (field: string, code: string, reason: string): Normalised => ({
  ok: false,
  field,
  code,
  reason,
});

/** First schema error of a record, as a field + code + reason. */
function schemaError<T extends TSchema>(check: TypeCheck<T>, record: unknown): Normalised | undefined {
  if (check.Check(record)) {
    const at = illFormedPath(record);
    return at === undefined
      ? undefined
      : fail(at, 'invalid_encoding', 'contains an unpaired UTF-16 surrogate');
  }
  if (typeof record !== 'object' || record === null || Array.isArray(record)) {
    return fail('(record)', 'not_an_object', 'expected a JSON object');
  }
  const err = check.Errors(record).First();
  if (!err) return fail('(record)', 'invalid', 'does not match the schema');
  // TypeBox paths are JSON pointers: decode ~1 and ~0 so the field reads as the client sent it.
  const field =
    err.path
      .slice(1)
      .split('/')
      .map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'))
      .join('.') || '(record)';
  // JSON reads 1e309 as Infinity: a number, just not one a reading can be.
  if (typeof err.value === 'number' && !Number.isFinite(err.value))
    return fail(field, 'out_of_range', 'must be a finite number');
  switch (err.type) {
    case ValueErrorType.ObjectRequiredProperty:
      return fail(field, 'missing_field', 'required');
    case ValueErrorType.ObjectAdditionalProperties:
      return fail(field, 'unknown_field', 'not a field of this record type');
    case ValueErrorType.StringMaxLength:
    case ValueErrorType.ObjectMaxProperties:
      return fail(field, 'too_long', err.message.toLowerCase());
    case ValueErrorType.StringMinLength:
      return fail(field, 'empty', 'must not be empty');
    case ValueErrorType.NumberMinimum:
    case ValueErrorType.NumberMaximum:
    case ValueErrorType.IntegerMinimum:
    case ValueErrorType.IntegerMaximum:
      return fail(field, 'out_of_range', err.message.toLowerCase());
    case ValueErrorType.StringPattern:
      return fail(field, 'invalid_format', err.message.toLowerCase());
    default:
      return fail(field, 'invalid_type', err.message.toLowerCase());
  }
}

const NO_ATTRS: Record<string, string> = Object.freeze({}) as Record<string, string>;

function stringAttrs(attrs: Record<string, string | number | boolean> | undefined): Record<string, string> {
  if (!attrs) return NO_ATTRS;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(attrs)) out[k] = String(v);
  return out;
}

/** A hotline call's attrs are free text from the call system: masked like its summary. */
function maskedAttrs(attrs: Record<string, string | number | boolean> | undefined): Record<string, string> {
  if (!attrs) return NO_ATTRS;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(attrs)) out[k] = maskPersonalData(String(v));
  return out;
}

const sensorCheck = TypeCompiler.Compile(SensorRecord);
export const sensorAdapter: SourceAdapter = {
  source: 'sensor',
  table: 'events_sensor',
  normalise(record, ctx) {
    const bad = schemaError(sensorCheck, record);
    if (bad) return bad;
    const r = record as SensorRecord;
    const device = ctx.org.deviceNumber(r.device);
    if (device < 0) return fail('device', 'unknown_device', `"${r.device}" is not a registered device`);
    if (ctx.devices.isCamera(device))
      return fail('device', 'wrong_device_type', `"${r.device}" is a camera, not a sensor`);
    const metric = ctx.metrics.get(r.metric);
    if (!metric) return fail('metric', 'unknown_metric', `"${r.metric}" is not a configured metric`);
    if (!ctx.devices.reports(device, metric.number, r.metric)) {
      return fail('metric', 'unknown_metric', `device "${r.device}" does not report "${r.metric}"`);
    }
    if (r.unit !== undefined && r.unit !== metric.unit) {
      return fail('unit', 'unit_mismatch', `expected "${metric.unit}" for ${r.metric}, got "${r.unit}"`);
    }
    if (r.value < metric.min || r.value > metric.max) {
      return fail(
        'value',
        'out_of_range',
        `${r.value} is outside the plausible range [${metric.min}, ${metric.max}] of ${r.metric}`,
      );
    }
    const t = parseEventTime(r.ts, ctx.minMs, ctx.maxMs);
    if (!t.ok) return fail('ts', t.code, t.reason);
    const id = r.id ?? `${r.device}:${r.metric}:${epochMsText(t.ms)}`;
    const attrs = stringAttrs(r.attrs);
    const gridIndex = ctx.devices.gridIndex(device);
    const event: GovEvent = {
      id,
      source: 'sensor',
      kind: r.metric,
      ts: t.ms,
      grid: ctx.org.nodeIdAt(gridIndex)!,
      gridIndex,
      value: r.value,
      device: ctx.org.deviceIdAt(device)!,
      deviceIndex: device,
    };
    return { ok: true, event, row: { unit: metric.unit, attrs: attrs as never } };
  },
};

const videoCheck = TypeCompiler.Compile(VideoRecord);
export const videoAdapter: SourceAdapter = {
  source: 'video',
  table: 'events_video',
  normalise(record, ctx) {
    const bad = schemaError(videoCheck, record);
    if (bad) return bad;
    const r = record as VideoRecord;
    const camera = ctx.org.deviceNumber(r.camera);
    if (camera < 0) return fail('camera', 'unknown_device', `"${r.camera}" is not a registered camera`);
    if (!ctx.devices.isCamera(camera))
      return fail('camera', 'wrong_device_type', `"${r.camera}" is a sensor, not a camera`);
    if (!ctx.eventTypes.has(r.event_type)) {
      return fail(
        'event_type',
        'unknown_event_type',
        `"${r.event_type}" is not a configured video event type`,
      );
    }
    const t = parseEventTime(r.ts, ctx.minMs, ctx.maxMs);
    if (!t.ok) return fail('ts', t.code, t.reason);
    const id = r.id ?? `${r.camera}:${r.event_type}:${epochMsText(t.ms)}`;
    const gridIndex = ctx.devices.gridIndex(camera);
    const event: GovEvent = {
      id,
      source: 'video',
      kind: r.event_type,
      ts: t.ms,
      grid: ctx.org.nodeIdAt(gridIndex)!,
      gridIndex,
      value: r.object_count ?? 1,
      device: ctx.org.deviceIdAt(camera)!,
      deviceIndex: camera,
      attrs: { confidence: r.confidence },
    };
    return {
      ok: true,
      event,
      row: {
        confidence: r.confidence,
        object_count: r.object_count ?? null,
        snapshot_url: r.snapshot_url ?? '',
        attrs: stringAttrs(r.attrs) as never,
      },
    };
  },
};

const hotlineCheck = TypeCompiler.Compile(HotlineRecord);
export const hotlineAdapter: SourceAdapter = {
  source: 'hotline',
  table: 'events_hotline',
  normalise(record, ctx) {
    const bad = schemaError(hotlineCheck, record);
    if (bad) return bad;
    const r = record as HotlineRecord;
    if (!ctx.categories.has(r.category)) {
      return fail('category', 'unknown_category', `"${r.category}" is not in the hotline taxonomy`);
    }
    let grid: OrgNode;
    if (r.grid !== undefined) {
      const node = ctx.org.node(r.grid);
      if (!node) return fail('grid', 'unknown_grid', `"${r.grid}" is not a node of the org registry`);
      if (node.level !== 'grid')
        return fail('grid', 'unknown_grid', `"${r.grid}" is a ${node.level}, not a grid`);
      grid = node;
    } else if (r.address !== undefined) {
      const node = ctx.org.resolveAddress(r.address);
      if (!node) return fail('address', 'unresolved_address', 'no registered address is a prefix of it');
      if (node.level !== 'grid') {
        return fail(
          'address',
          'unresolved_address',
          `resolves only to ${node.level} "${node.id}", not to a grid`,
        );
      }
      grid = node;
    } else {
      return fail('grid', 'missing_field', 'one of grid or address is required');
    }
    const t = parseEventTime(r.received_at, ctx.minMs, ctx.maxMs);
    if (!t.ok) return fail('received_at', t.code, t.reason);
    const event: GovEvent = {
      id: r.call_id,
      source: 'hotline',
      kind: r.category,
      ts: t.ms,
      grid: grid.id,
      gridIndex: grid.index,
      value: 1,
    };
    return {
      ok: true,
      event,
      row: {
        address: r.address ? maskPersonalData(r.address) : '',
        summary: maskPersonalData(r.summary),
        caller_phone_masked: r.caller_phone ? maskPhone(r.caller_phone) : '',
        attrs: maskedAttrs(r.attrs) as never,
      },
    };
  },
};

export const ADAPTERS: Record<SourceName, SourceAdapter> = {
  sensor: sensorAdapter,
  video: videoAdapter,
  hotline: hotlineAdapter,
};
