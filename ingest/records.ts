// Each source's records, in that source's own words (the ingest API contract, v1).
import { type Static, Type as T } from '@sinclair/typebox';

/** Event time: ISO-8601 with a zone, or epoch milliseconds. */
const Timestamp = T.Union([T.String({ maxLength: 40 }), T.Number()]);
const Id = T.String({ minLength: 1, maxLength: 128, pattern: '^[^\\u0000-\\u001f]+$' });
const Attrs = T.Record(
  T.String({ maxLength: 64 }),
  T.Union([T.String({ maxLength: 256 }), T.Number(), T.Boolean()]),
  {
    maxProperties: 32,
  },
);

export const SensorRecord = T.Object(
  {
    id: T.Optional(Id),
    device: Id,
    metric: T.String({ minLength: 1, maxLength: 64 }),
    value: T.Number(),
    ts: Timestamp,
    unit: T.Optional(T.String({ maxLength: 16 })),
    attrs: T.Optional(Attrs),
  },
  { additionalProperties: false },
);

export const VideoRecord = T.Object(
  {
    id: T.Optional(Id),
    camera: Id,
    event_type: T.String({ minLength: 1, maxLength: 64 }),
    ts: Timestamp,
    confidence: T.Number({ minimum: 0, maximum: 1 }),
    object_count: T.Optional(T.Integer({ minimum: 0, maximum: 1_000_000 })),
    snapshot_url: T.Optional(T.String({ maxLength: 2048, pattern: '^https?://[^\\s]+$' })),
    attrs: T.Optional(Attrs),
  },
  { additionalProperties: false },
);

export const HotlineRecord = T.Object(
  {
    call_id: Id,
    received_at: Timestamp,
    category: T.String({ minLength: 1, maxLength: 64 }),
    grid: T.Optional(T.String({ minLength: 1, maxLength: 64 })),
    address: T.Optional(T.String({ minLength: 1, maxLength: 256 })),
    summary: T.String({ maxLength: 2000 }),
    caller_phone: T.Optional(T.String({ maxLength: 32 })),
    attrs: T.Optional(Attrs),
  },
  { additionalProperties: false },
);

export type SensorRecord = Static<typeof SensorRecord>;
export type VideoRecord = Static<typeof VideoRecord>;
export type HotlineRecord = Static<typeof HotlineRecord>;
