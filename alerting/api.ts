// The alerts HTTP API: list and read alerts (with their timeline), and act on them —
// acknowledge, assign to a department (分派), comment, resolve with feedback (回访). Reading
// needs the `read` or `alerts` scope, acting the `alerts` scope; a key limited to an area sees
// and acts on alerts in its subtree only. The console (issue #6) adds officers' logins on top.
import { type Static, Type as T } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { OrgTree } from '../config/org-tree.ts';
import { LEVELS } from '../config/schema.ts';
import type { ApiKeys, ApiPrincipal } from '../platform/api-keys.ts';
import { GwErrors } from '../platform/errors.ts';
import type { AlertEngine } from './engine.ts';
import { AlertingErrors } from './errors.ts';
import type { Alert } from './model.ts';

const Id = T.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.:-]+$' });
const ListQuery = T.Object(
  {
    area: T.Optional(T.String({ minLength: 1, maxLength: 64 })),
    tier: T.Optional(T.String({ minLength: 1, maxLength: 16 })),
    state: T.Optional(T.Union(['pending', 'firing', 'acknowledged'].map((s) => T.Literal(s)))),
    rule: T.Optional(T.String({ minLength: 1, maxLength: 64 })),
    level: T.Optional(T.Union(LEVELS.map((l) => T.Literal(l)))),
    limit: T.Integer({ minimum: 1, maximum: 5000, default: 500 }),
  },
  { additionalProperties: false },
);
const Note = T.String({ maxLength: 2000 });
const AckBody = T.Object({ note: T.Optional(Note) }, { additionalProperties: false });
const ResolveBody = T.Object({ feedback: Note }, { additionalProperties: false });
const CommentBody = T.Object(
  { text: T.String({ minLength: 1, maxLength: 2000 }) },
  { additionalProperties: false },
);
const AssignBody = T.Object(
  { department: T.String({ minLength: 1, maxLength: 64 }), note: T.Optional(Note) },
  { additionalProperties: false },
);

export interface AlertApiDeps {
  engine: AlertEngine;
  keys: ApiKeys;
  org: OrgTree;
}

export async function alertRoutes(app: FastifyInstance, deps: AlertApiDeps): Promise<void> {
  const { engine, org } = deps;

  const principal = (req: FastifyRequest, act: boolean): ApiPrincipal => {
    const p = deps.keys.authenticate(req.headers.authorization);
    if (!p) throw new GwErrors.UNAUTHORIZED();
    if (act ? !p.scopes.has('alerts') : !p.scopes.has('alerts') && !p.scopes.has('read'))
      throw new GwErrors.FORBIDDEN(`key "${p.name}" has no ${act ? 'alerts' : 'read'} scope`);
    return p;
  };
  const inArea = (a: Alert, p: ApiPrincipal) => !p.area || a.area === p.area || org.isWithin(a.area, p.area);
  /** An alert outside the caller's area is answered like a missing one: no existence leak. */
  const visible = (id: string, p: ApiPrincipal): Alert => {
    const a = engine.lifecycle.get(id);
    if (!a || !inArea(a, p)) throw new AlertingErrors.ALERT_NOT_FOUND(id);
    return a;
  };

  app.get<{ Querystring: Static<typeof ListQuery> }>(
    '/v1/alerts',
    { schema: { querystring: ListQuery } },
    async (req) => {
      const p = principal(req, false);
      const q = req.query;
      if (q.area && !org.node(q.area)) throw new GwErrors.BAD_REQUEST(`area: "${q.area}" is not an org node`);
      if (q.area && p.area && !org.isWithin(q.area, p.area))
        throw new GwErrors.FORBIDDEN(`area: "${q.area}" is outside this key's area`);
      const out: Alert[] = [];
      for (const a of engine.lifecycle.active()) {
        if (!inArea(a, p)) continue;
        if (q.area && a.area !== q.area && !org.isWithin(a.area, q.area)) continue;
        if (q.tier && a.tier !== q.tier) continue;
        if (q.state && a.state !== q.state) continue;
        if (q.rule && a.rule !== q.rule) continue;
        if (q.level && a.level !== q.level) continue;
        out.push(a);
      }
      // Worst first, then newest.
      out.sort((x, y) => y.tierRank - x.tierRank || y.updatedAt - x.updatedAt);
      return { alerts: out.slice(0, q.limit), total: out.length };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/alerts/:id',
    { schema: { params: T.Object({ id: Id }) } },
    async (req) => {
      const p = principal(req, false);
      const history = await engine.alertLog.history(req.params.id);
      const open = engine.lifecycle.get(req.params.id);
      const alert = open ?? (history.length > 0 ? await engine.alertLog.snapshot(req.params.id) : undefined);
      if (!alert || !inArea(alert, p)) throw new AlertingErrors.ALERT_NOT_FOUND(req.params.id);
      return { alert, timeline: history };
    },
  );

  app.post<{ Params: { id: string }; Body: Static<typeof AckBody> }>(
    '/v1/alerts/:id/ack',
    { schema: { params: T.Object({ id: Id }), body: AckBody } },
    async (req) => {
      const p = principal(req, true);
      visible(req.params.id, p);
      return { alert: await engine.acknowledge(req.params.id, p.name, req.body?.note ?? '') };
    },
  );

  app.post<{ Params: { id: string }; Body: Static<typeof ResolveBody> }>(
    '/v1/alerts/:id/resolve',
    { schema: { params: T.Object({ id: Id }), body: ResolveBody } },
    async (req) => {
      const p = principal(req, true);
      visible(req.params.id, p);
      return { alert: await engine.resolve(req.params.id, p.name, req.body.feedback) };
    },
  );

  app.post<{ Params: { id: string }; Body: Static<typeof CommentBody> }>(
    '/v1/alerts/:id/comment',
    { schema: { params: T.Object({ id: Id }), body: CommentBody } },
    async (req) => {
      const p = principal(req, true);
      visible(req.params.id, p);
      return { alert: await engine.comment(req.params.id, p.name, req.body.text) };
    },
  );

  app.post<{ Params: { id: string }; Body: Static<typeof AssignBody> }>(
    '/v1/alerts/:id/assign',
    { schema: { params: T.Object({ id: Id }), body: AssignBody } },
    async (req) => {
      const p = principal(req, true);
      visible(req.params.id, p);
      return { alert: await engine.assign(req.params.id, p.name, req.body.department, req.body.note ?? '') };
    },
  );
}
