// Read access to what the store holds: window results and raw events. Needs the `read`
// permission (a key or a console user); a caller limited to an area sees only that subtree. Every user
// value reaches ClickHouse as a query parameter.
import { type Static, Type as T } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { OrgTree } from '../../config/org-tree.ts';
import { SOURCES, type SourceName } from '../../config/schema.ts';
import { SOURCE_TABLES } from '../../ingest/event-log.ts';
import type { Access } from '../../platform/access.ts';
import { GwErrors } from '../../platform/errors.ts';
import type { Store } from '../../platform/store/store.ts';

const Time = T.String({ maxLength: 40, description: 'ISO-8601 or epoch ms' });
const NodeId = T.String({ minLength: 1, maxLength: 64 });

const WindowsQuery = T.Object(
  {
    grid: T.Optional(NodeId),
    level: T.Optional(T.Union(['city', 'district', 'street', 'community', 'grid'].map((l) => T.Literal(l)))),
    kind: T.Optional(T.String({ minLength: 1, maxLength: 64 })),
    window: T.Optional(T.String({ minLength: 1, maxLength: 32 })),
    from: T.Optional(Time),
    to: T.Optional(Time),
    final: T.Optional(T.Boolean()),
    limit: T.Integer({ minimum: 1, maximum: 10_000, default: 500 }),
  },
  { additionalProperties: false },
);
const EventsQuery = T.Object(
  {
    grid: T.Optional(NodeId),
    kind: T.Optional(T.String({ minLength: 1, maxLength: 64 })),
    from: T.Optional(Time),
    to: T.Optional(Time),
    limit: T.Integer({ minimum: 1, maximum: 10_000, default: 100 }),
  },
  { additionalProperties: false },
);

export const SOURCE_COLUMNS: Record<SourceName, string> = {
  sensor: 'device, kind AS metric, value, unit',
  video: 'device AS camera, kind AS event_type, confidence, object_count, snapshot_url',
  hotline: 'id AS call_id, kind AS category, address, summary, caller_phone_masked',
};

export interface QueryApiDeps {
  store: Store;
  org: OrgTree;
  access: Access;
}

export async function queryRoutes(app: FastifyInstance, deps: QueryApiDeps): Promise<void> {
  const { store, org } = deps;

  app.addHook('onRequest', deps.access.hook('read'));

  /** Raw events: a node in the caller's area (and its subtree), or the whole area. */
  function gridFilter(node: string | undefined, area: string | undefined): { sql: string; params: object } {
    const target = node ?? area;
    if (node !== undefined) {
      if (!org.node(node))
        throw new GwErrors.BAD_REQUEST(`grid: "${node}" is not a node of the org registry`);
      if (area && !org.isWithin(node, area))
        throw new GwErrors.FORBIDDEN(`"${node}" is outside this key's area`);
    }
    if (target === undefined) return { sql: '1', params: {} };
    const n = org.node(target)!;
    if (n.level === 'grid') return { sql: 'grid = {grid:String}', params: { grid: target } };
    // Raw rows are at grid level: expand the subtree (≤ a city's grids).
    const grids = org.subtree(target, 'grid');
    return { sql: 'grid IN {grids:Array(String)}', params: { grids } };
  }

  function timeRange(
    from: string | undefined,
    to: string | undefined,
    defaultSpanMs: number,
  ): { from: number; to: number } {
    const t = to === undefined ? Date.now() : parseTime(to, 'to');
    const f = from === undefined ? t - defaultSpanMs : parseTime(from, 'from');
    if (f > t) throw new GwErrors.BAD_REQUEST('from: must not be after to');
    return { from: f, to: t };
  }

  /** Window keys are org nodes at any level: a node means its own series; an area, its subtree's. */
  function keyFilter(node: string | undefined, area: string | undefined): { sql: string; params: object } {
    if (node !== undefined) {
      if (!org.node(node))
        throw new GwErrors.BAD_REQUEST(`grid: "${node}" is not a node of the org registry`);
      if (area && !org.isWithin(node, area))
        throw new GwErrors.FORBIDDEN(`"${node}" is outside this key's area`);
      return { sql: 'key = {key:String}', params: { key: node } };
    }
    if (area === undefined) return { sql: '1', params: {} };
    const keys = org.subtree(area);
    return { sql: 'key IN {keys:Array(String)}', params: { keys } };
  }

  app.get<{ Querystring: Static<typeof WindowsQuery> }>(
    '/v1/windows',
    { schema: { querystring: WindowsQuery } },
    async (req) => {
      const q = req.query;
      const { from, to } = timeRange(q.from, q.to, 3_600_000);
      const g = keyFilter(q.grid, req.principal?.area);
      const where = [
        g.sql,
        'count > 0', // hides session windows retracted by a late merge
        'window_start >= fromUnixTimestamp64Milli({from:Int64})',
        'window_start < fromUnixTimestamp64Milli({to:Int64})',
      ];
      if (q.kind) where.push('kind = {kind:String}');
      if (q.window) where.push('window = {window:String}');
      if (q.level) where.push('level = {level:String}');
      if (q.final !== undefined) where.push('final = {final:UInt8}');
      const rows = await store.query<Record<string, unknown>>(
        `SELECT window, level, key, source, kind, toUnixTimestamp64Milli(window_start) AS start_ms,
                toUnixTimestamp64Milli(window_end) AS end_ms, count, sum, min, max, mean, variance, p50, p90, p99,
                distinct, last, delta_count, delta_mean, kinds, final
         FROM window_results FINAL WHERE ${where.join(' AND ')}
         ORDER BY window_start DESC, level, key, kind LIMIT {limit:UInt32}`,
        {
          ...g.params,
          from,
          to,
          kind: q.kind,
          window: q.window,
          level: q.level,
          final: q.final ? 1 : 0,
          limit: q.limit,
        },
      );
      return {
        from: new Date(from).toISOString(),
        to: new Date(to).toISOString(),
        windows: rows.map(({ start_ms, end_ms, ...r }) => ({
          ...r,
          start: new Date(Number(start_ms)).toISOString(),
          end: new Date(Number(end_ms)).toISOString(),
          count: Number(r.count),
          distinct: r.distinct === null ? null : Number(r.distinct),
          kinds:
            Object.keys(r.kinds as object).length > 0
              ? numberValues(r.kinds as Record<string, unknown>)
              : null,
          final: Number(r.final) === 1,
        })),
      };
    },
  );

  app.get<{ Params: { source: string }; Querystring: Static<typeof EventsQuery> }>(
    '/v1/events/:source',
    { schema: { querystring: EventsQuery } },
    async (req) => {
      const source = req.params.source as SourceName;
      if (!SOURCES.includes(source))
        throw new GwErrors.BAD_REQUEST(`source: expected one of ${SOURCES.join(', ')}`);
      const q = req.query;
      const { from, to } = timeRange(q.from, q.to, 3_600_000);
      const g = gridFilter(q.grid, req.principal?.area);
      const where = [
        g.sql,
        'ts >= fromUnixTimestamp64Milli({from:Int64})',
        'ts < fromUnixTimestamp64Milli({to:Int64})',
      ];
      if (q.kind) where.push('kind = {kind:String}');
      const rows = await store.query<Record<string, unknown>>(
        `SELECT id, toUnixTimestamp64Milli(ts) AS ts_ms, toUnixTimestamp64Milli(received_at) AS received_ms, grid,
                ${SOURCE_COLUMNS[source]}
         FROM ${SOURCE_TABLES[source]} FINAL WHERE ${where.join(' AND ')}
         ORDER BY ts DESC LIMIT {limit:UInt32}`,
        { ...g.params, from, to, kind: q.kind, limit: q.limit },
      );
      return {
        source,
        events: rows.map(({ ts_ms, received_ms, ...r }) => ({
          ...r,
          ts: new Date(Number(ts_ms)).toISOString(),
          received_at: new Date(Number(received_ms)).toISOString(),
        })),
      };
    },
  );
}

function parseTime(v: string, field: string): number {
  const ms = /^\d{1,15}$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(ms))
    throw new GwErrors.BAD_REQUEST(`${field}: expected ISO-8601 or epoch ms, got "${v.slice(0, 40)}"`);
  return ms;
}

function numberValues(o: Record<string, unknown>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(o)) out[k] = Number(v);
  return out;
}
