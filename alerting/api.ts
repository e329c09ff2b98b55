// The alerts HTTP API: list and read alerts (with their timeline), and act on them —
// acknowledge, assign to a department (分派), comment, escalate (上报), resolve with feedback
// (回访). Callers are API keys or console users (platform/access.ts); each action needs its
// permission, and an alert outside the caller's jurisdiction answers 403.
import { type Static, Type as T } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { OrgTree } from '../config/org-tree.ts';
import { LEVELS } from '../config/schema.ts';
import type { Access, Principal } from '../platform/access.ts';
import { GwErrors } from '../platform/errors.ts';
import {
  ACTION_BODIES,
  type ActionName,
  type AlertAction,
  AlertId,
  performAction,
  withinJurisdiction,
} from './actions.ts';
import type { AlertDesk } from './desk.ts';
import { AlertingErrors } from './errors.ts';
import type { Alert } from './model.ts';

const ListQuery = T.Object(
  {
    area: T.Optional(T.String({ minLength: 1, maxLength: 64 })),
    tier: T.Optional(T.String({ minLength: 1, maxLength: 16 })),
    state: T.Optional(T.Union(['pending', 'firing', 'acknowledged'].map((s) => T.Literal(s)))),
    rule: T.Optional(T.String({ minLength: 1, maxLength: 64 })),
    source: T.Optional(T.String({ minLength: 1, maxLength: 16 })),
    q: T.Optional(
      T.String({ minLength: 1, maxLength: 100, description: 'search in id, title, summary, area' }),
    ),
    level: T.Optional(T.Union(LEVELS.map((l) => T.Literal(l)))),
    limit: T.Integer({ minimum: 1, maximum: 5000, default: 500 }),
  },
  { additionalProperties: false },
);
export interface AlertApiDeps {
  engine: AlertDesk;
  access: Access;
  org: OrgTree;
}

export async function alertRoutes(app: FastifyInstance, deps: AlertApiDeps): Promise<void> {
  const { engine, org, access } = deps;
  const inArea = (area: string, p: Principal) => withinJurisdiction(org, area, p);

  app.get<{ Querystring: Static<typeof ListQuery> }>(
    '/v1/alerts',
    { schema: { querystring: ListQuery } },
    async (req) => {
      const p = await access.require(req, 'read');
      const q = req.query;
      if (q.area && !org.node(q.area)) throw new GwErrors.BAD_REQUEST(`area: "${q.area}" is not an org node`);
      if (q.area && !inArea(q.area, p))
        throw new GwErrors.FORBIDDEN(`area: "${q.area}" is outside your jurisdiction`);
      const cursor = engine.cursor; // read before the list: a replay from it misses nothing
      const needle = q.q?.toLowerCase();
      const out: Alert[] = [];
      const counts: Record<string, number> = Object.fromEntries(engine.palette.names.map((n) => [n, 0]));
      for (const a of engine.open()) {
        if (!inArea(a.area, p)) continue;
        counts[a.tier] = (counts[a.tier] ?? 0) + 1;
        if (q.area && !org.isWithin(a.area, q.area)) continue;
        if (q.tier && a.tier !== q.tier) continue;
        if (q.state && a.state !== q.state) continue;
        if (q.rule && a.rule !== q.rule) continue;
        if (q.level && a.level !== q.level) continue;
        if (q.source && a.source !== q.source) continue;
        if (needle && !matches(a, needle, org)) continue;
        out.push(a);
      }
      // Worst first, then newest.
      out.sort((x, y) => y.tierRank - x.tierRank || y.updatedAt - x.updatedAt);
      return { alerts: out.slice(0, q.limit), total: out.length, counts, cursor };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/alerts/:id',
    { schema: { params: T.Object({ id: AlertId }) } },
    async (req) => {
      const p = await access.require(req, 'read');
      const history = await engine.alertLog.history(req.params.id);
      const open = engine.get(req.params.id);
      const alert = open ?? (history.length > 0 ? await engine.alertLog.snapshot(req.params.id) : undefined);
      if (!alert) throw new AlertingErrors.ALERT_NOT_FOUND(req.params.id);
      if (!inArea(alert.area, p)) throw new AlertingErrors.OUT_OF_JURISDICTION(alert.id, p.area ?? 'city');
      return { alert, timeline: history };
    },
  );

  for (const name of Object.keys(ACTION_BODIES) as ActionName[])
    app.post<{ Params: { id: string }; Body: object | undefined }>(
      `/v1/alerts/:id/${name}`,
      { schema: { params: T.Object({ id: AlertId }), body: ACTION_BODIES[name] } },
      async (req) => {
        const p = await access.require(req, name);
        const action = { ...(req.body ?? {}), id: req.params.id, action: name } as AlertAction;
        return { alert: await performAction(engine, org, p, action) };
      },
    );
}

function matches(a: Alert, needle: string, org: OrgTree): boolean {
  return (
    a.id.toLowerCase().includes(needle) ||
    a.title.toLowerCase().includes(needle) ||
    a.summary.toLowerCase().includes(needle) ||
    a.area.toLowerCase().includes(needle) ||
    (org.node(a.area)?.name.toLowerCase().includes(needle) ?? false)
  );
}
