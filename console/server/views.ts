// The console's read-only views beside the alerts API: the org tree of the caller's jurisdiction
// (with palette, departments and window specs), KPIs, and an alert's context — its source events
// and the windowed metric around it. All jurisdiction-checked; every user value is a query parameter.
import { Type as T } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { AlertId, withinJurisdiction } from '../../alerting/actions.ts';
import type { AlertDesk } from '../../alerting/desk.ts';
import { AlertingErrors } from '../../alerting/errors.ts';
import type { Alert } from '../../alerting/model.ts';
import type { OrgTree } from '../../config/org-tree.ts';
import type { GridwatchConfig } from '../../config/schema.ts';
import { SOURCE_TABLES } from '../../ingest/event-log.ts';
import type { Access, Principal } from '../../platform/access.ts';
import { durationMs } from '../../platform/duration.ts';
import { GwErrors } from '../../platform/errors.ts';
import type { Store } from '../../platform/store/store.ts';
import type { Kpis, OrgView, WindowPoint } from '../shared/protocol.ts';
import { SOURCE_COLUMNS } from './query-api.ts';

const DAY = 86_400_000;

export interface ViewDeps {
  access: Access;
  org: OrgTree;
  store: Store;
  engine: AlertDesk;
  config: GridwatchConfig;
  now?: () => number;
}

export async function viewRoutes(app: FastifyInstance, d: ViewDeps): Promise<void> {
  const { org, store, engine, access } = d;
  const now = d.now ?? Date.now;
  const rootOf = (p: Principal) => p.area ?? org.root.id;

  const orgView = (p: Principal): OrgView => {
    const root = rootOf(p);
    return {
      root,
      nodes: [root, ...org.subtree(root).filter((id) => id !== root)].map((id) => {
        const n = org.node(id)!;
        return { id, name: n.name, level: n.level, parent: id === root ? null : (n.parent ?? null) };
      }),
      tiers: engine.palette.names.map((name, rank) => {
        const t = engine.palette.at(rank);
        return { name, color: t.color, label: t.label, ackSlaMs: t.ackSlaMs };
      }),
      departments: d.config.alerting.departments.map((x) => ({ id: x.id, name: x.name })),
      windows: d.config.windows.map((w) => ({
        name: w.name,
        source: w.source,
        sizeMs: durationMs(w.size ?? '1m'),
      })),
    };
  };
  app.get('/v1/org', async (req) => orgView(await access.require(req, 'read')));

  app.get<{ Querystring: { area?: string; since?: number } }>(
    '/v1/kpis',
    {
      schema: {
        querystring: T.Object(
          {
            area: T.Optional(T.String({ minLength: 1, maxLength: 64 })),
            // Up to the end of 2299, the last instant ClickHouse's DateTime64 holds.
            since: T.Optional(
              T.Integer({
                minimum: 0,
                maximum: 10_413_791_999_999,
                description: 'epoch ms; default: 24 h ago',
              }),
            ),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (req): Promise<Kpis> => {
      const p = await access.require(req, 'read');
      const area = req.query.area ?? rootOf(p);
      if (!org.node(area)) throw new GwErrors.BAD_REQUEST(`area: "${area}" is not an org node`);
      if (!withinJurisdiction(org, area, p))
        throw new GwErrors.FORBIDDEN(`area: "${area}" is outside your jurisdiction`);
      const since = req.query.since ?? now() - DAY;
      const open: Record<string, number> = Object.fromEntries(engine.palette.names.map((n) => [n, 0]));
      let overdue = 0;
      for (const a of engine.open()) {
        if (!org.isWithin(a.area, area) || a.state === 'pending') continue;
        open[a.tier] = (open[a.tier] ?? 0) + 1;
        if (a.overdue) overdue++;
      }
      const whole = area === org.root.id;
      const rows = await store.query<Record<string, string | number | null>>(
        `SELECT count() AS raised, countIf(acked > 0) AS acknowledged, countIf(resolved = 1) AS resolved,
                avgIf(acked - fired, acked > 0) AS mtta_ms
           FROM (SELECT alert_id,
                        minIf(toUnixTimestamp64Milli(at), type = 'firing') AS fired,
                        minIf(toUnixTimestamp64Milli(at), type = 'acknowledged') AS acked,
                        maxIf(1, type = 'resolved') AS resolved
                   FROM alert_log FINAL
                  WHERE at >= fromUnixTimestamp64Milli({since:Int64})
                        ${whole ? '' : 'AND area IN {areas:Array(String)}'}
                  GROUP BY alert_id
                 HAVING fired > 0)`,
        { since, areas: whole ? [] : org.subtree(area) },
      );
      const r = rows[0] ?? {};
      const raised = Number(r.raised ?? 0);
      const resolved = Number(r.resolved ?? 0);
      const mtta = r.mtta_ms === null || r.mtta_ms === undefined ? Number.NaN : Number(r.mtta_ms);
      return {
        area,
        since,
        open,
        overdue,
        raised,
        acknowledged: Number(r.acknowledged ?? 0),
        resolved,
        mttaSeconds: Number.isFinite(mtta) ? Math.round(mtta / 100) / 10 : null,
        resolutionRate: raised > 0 ? resolved / raised : null,
      };
    },
  );

  /** An alert (open, or closed from the log) the caller may read: 404 / 403 otherwise. */
  const readable = async (id: string, p: Principal): Promise<Alert> => {
    const a = engine.get(id) ?? (await engine.alertLog.snapshot(id));
    if (!a) throw new AlertingErrors.ALERT_NOT_FOUND(id);
    if (!withinJurisdiction(org, a.area, p)) throw new AlertingErrors.OUT_OF_JURISDICTION(a.id, rootOf(p));
    return a;
  };
  const params = { params: T.Object({ id: AlertId }) };

  app.get<{ Params: { id: string } }>('/v1/alerts/:id/events', { schema: params }, async (req) => {
    const a = await readable(req.params.id, await access.require(req, 'read'));
    const source = a.source as keyof typeof SOURCE_TABLES;
    if (!(source in SOURCE_TABLES)) return { source: a.source, events: [] };
    const node = org.node(a.area);
    const grids = node?.level === 'grid' ? [a.area] : org.subtree(a.area, 'grid');
    const where = [
      'grid IN {grids:Array(String)}',
      'ts >= fromUnixTimestamp64Milli({from:Int64})',
      'ts <= fromUnixTimestamp64Milli({to:Int64})',
    ];
    if (a.kind && a.kind !== '*') where.push('kind = {kind:String}');
    if (a.device) where.push('device = {device:String}');
    const from = a.startsAt - 15 * 60_000;
    const to = (a.resolvedAt ?? now()) + 60_000;
    const rows = await store.query<Record<string, unknown>>(
      `SELECT id, toUnixTimestamp64Milli(ts) AS ts_ms, grid, ${SOURCE_COLUMNS[source]}
         FROM ${SOURCE_TABLES[source]} FINAL WHERE ${where.join(' AND ')}
        ORDER BY ts DESC LIMIT 200`,
      { grids, from, to, kind: a.kind, device: a.device ?? '' },
    );
    return {
      source,
      events: rows.map(({ ts_ms, ...r }) => ({ ...r, ts: new Date(Number(ts_ms)).toISOString() })),
    };
  });

  app.get<{ Params: { id: string } }>('/v1/alerts/:id/series', { schema: params }, async (req) => {
    const a = await readable(req.params.id, await access.require(req, 'read'));
    const rule = engine.ruleSet.get(a.rule);
    const spec =
      d.config.windows.find((w) => w.name === rule?.window) ??
      d.config.windows.find((w) => w.source === a.source && w.levels.includes(a.level));
    if (!spec) return { window: null, points: [] };
    const kind = spec.byKind === false ? '*' : a.kind;
    const from = a.startsAt - 3_600_000;
    const to = (a.resolvedAt ?? now()) + 600_000;
    const rows = await store.query<Record<string, string | number | null>>(
      `SELECT window, level, key, source, kind, toUnixTimestamp64Milli(window_start) AS start_ms,
              toUnixTimestamp64Milli(window_end) AS end_ms, count, sum, mean, max, p90, final
         FROM window_results FINAL
        WHERE window = {window:String} AND key = {key:String} AND kind = {kind:String} AND count > 0
          AND window_start >= fromUnixTimestamp64Milli({from:Int64})
          AND window_start < fromUnixTimestamp64Milli({to:Int64})
        ORDER BY window_start LIMIT 2000`,
      { window: spec.name, key: a.area, kind, from, to },
    );
    const points: WindowPoint[] = rows.map((r) => ({
      window: String(r.window),
      level: String(r.level),
      key: String(r.key),
      source: String(r.source),
      kind: String(r.kind),
      start: Number(r.start_ms),
      end: Number(r.end_ms),
      count: Number(r.count),
      sum: r.sum === null ? null : Number(r.sum),
      mean: r.mean === null ? null : Number(r.mean),
      max: r.max === null ? null : Number(r.max),
      p90: r.p90 === null ? null : Number(r.p90),
      final: Number(r.final) === 1,
    }));
    return { window: spec.name, points };
  });
}
