// HTTP API of silences: create (POST), list (GET), expire (DELETE) under /v1/silences.
// Creating and expiring need the `silence` permission, listing `read` (platform/access.ts). A
// caller limited to an area acts only on silences confined to it (a `within` or `area` = matcher
// on a node inside it), so an officer can silence their own jurisdiction and nobody else's.
import { type Static, Type as T } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest, FastifySchemaValidationError } from 'fastify';
import type { OrgTree } from '../../config/org-tree.ts';
import type { Access, Principal } from '../../platform/access.ts';
import { parseDuration } from '../../platform/duration.ts';
import { GwErrors } from '../../platform/errors.ts';
import { SilenceErrors } from './errors.ts';
import { confinedTo, MATCH_OPS, MATCHER_LIMITS, matchesEverything, parseMatchers } from './matchers.ts';
import { COMMENT_MAX, type Silences, silenceView } from './silences.ts';
import { parseIsoTime } from './time.ts';

export interface SilenceApiDeps {
  silences: Silences;
  access: Access;
  org: OrgTree;
  /** Clock for `duration` and list states; defaults to Date.now (the Silences clock should match). */
  now?: () => number;
}

const Time = T.String({ minLength: 1, maxLength: 40, description: 'ISO-8601 with a zone' });

const MatcherObject = T.Object(
  {
    name: T.String({ minLength: 1, maxLength: MATCHER_LIMITS.name }),
    op: T.Optional(T.Union(MATCH_OPS.map((o) => T.Literal(o)))),
    value: T.String({ maxLength: MATCHER_LIMITS.value }),
  },
  { additionalProperties: false },
);

const CreateBody = T.Object(
  {
    matchers: T.Array(
      T.Union([
        T.String({ minLength: 1, maxLength: MATCHER_LIMITS.name + MATCHER_LIMITS.value + 8 }),
        MatcherObject,
      ]),
      { minItems: 1, maxItems: MATCHER_LIMITS.matchers, description: 'area="g-001" or { name, op, value }' },
    ),
    comment: T.String({ minLength: 1, maxLength: COMMENT_MAX }),
    startsAt: T.Optional(Time),
    endsAt: T.Optional(Time),
    duration: T.Optional(T.String({ minLength: 1, maxLength: 16, description: 'e.g. "2h"; or endsAt' })),
    force: T.Optional(T.Boolean({ description: 'allow matchers that select every alert (whole-city keys)' })),
  },
  { additionalProperties: false },
);

const ListQuery = T.Object(
  { state: T.Optional(T.Union([T.Literal('active'), T.Literal('pending'), T.Literal('expired')])) },
  { additionalProperties: false },
);

const IdParams = T.Object({ id: T.String({ minLength: 1, maxLength: 64 }) });

export async function silenceRoutes(app: FastifyInstance, deps: SilenceApiDeps): Promise<void> {
  const { silences, org } = deps;
  const now = deps.now ?? Date.now;

  const principal = (req: FastifyRequest): Principal => req.principal!;

  app.post<{ Body: Static<typeof CreateBody> }>(
    '/v1/silences',
    {
      onRequest: deps.access.hook('silence'),
      bodyLimit: 64 * 1024,
      schema: { body: CreateBody },
      schemaErrorFormatter,
    },
    async (req, reply) => {
      const p = principal(req);
      const b = req.body;
      const matchers = parseMatchers(b.matchers, { org });
      if (p.area !== undefined && !confinedTo(matchers, p.area, org))
        throw new GwErrors.FORBIDDEN(
          `${p.kind} "${p.name}" is limited to "${p.area}": a silence needs a within or area matcher (=) on a node inside it`,
        );
      const wholeCity = p.area === undefined || p.area === org.root.id;
      if (b.force && !wholeCity && matchesEverything(matchers, org))
        throw new GwErrors.FORBIDDEN(`force: only a key or user for the whole city may silence every alert`);
      const t = now();
      const startsAt = b.startsAt === undefined ? undefined : time(b.startsAt, 'startsAt');
      let endsAt: number;
      if (b.endsAt !== undefined && b.duration !== undefined)
        throw new SilenceErrors.INVALID('endsAt, duration: give one, not both');
      if (b.endsAt !== undefined) endsAt = time(b.endsAt, 'endsAt');
      else if (b.duration !== undefined) {
        const d = parseDuration(b.duration);
        if (d === undefined || d <= 0)
          throw new SilenceErrors.INVALID(`duration: expected e.g. "30m", "2h", "1d", got "${b.duration}"`);
        endsAt = Math.max(startsAt ?? t, t) + d;
      } else throw new SilenceErrors.INVALID('endsAt: required (or duration)');
      const s = await silences.create({
        matchers: b.matchers,
        author: p.name,
        comment: b.comment,
        startsAt,
        endsAt,
        force: b.force === true && wholeCity,
      });
      return reply.status(201).send(silenceView(s, now()));
    },
  );

  app.get<{ Querystring: Static<typeof ListQuery> }>(
    '/v1/silences',
    { onRequest: deps.access.hook('read'), schema: { querystring: ListQuery }, schemaErrorFormatter },
    async (req) => {
      const area = principal(req).area;
      const t = now();
      const list = silences
        .list({ state: req.query.state })
        .filter((s) => area === undefined || confinedTo(s.matchers, area, org));
      return { silences: list.map((s) => silenceView(s, t)) };
    },
  );

  app.delete<{ Params: Static<typeof IdParams> }>(
    '/v1/silences/:id',
    { onRequest: deps.access.hook('silence'), schema: { params: IdParams }, schemaErrorFormatter },
    async (req) => {
      const p = principal(req);
      const s = silences.get(req.params.id);
      if (!s) throw new SilenceErrors.NOT_FOUND(req.params.id);
      if (p.area !== undefined && !confinedTo(s.matchers, p.area, org))
        throw new GwErrors.FORBIDDEN(`silence "${s.id}" is not confined to your area "${p.area}"`);
      return silenceView(await silences.expire(s.id, p.name), now());
    },
  );
}

function time(v: string, field: string): number {
  const t = parseIsoTime(v);
  if (typeof t === 'string') throw new SilenceErrors.INVALID(`${field}: ${t}`);
  return t;
}

/** One 400 naming the field, in the matchers[1].value style of the rest of this module. */
function schemaErrorFormatter(errors: FastifySchemaValidationError[], dataVar: string): Error {
  // The deepest error says most (anyOf adds a vague "must match a schema in anyOf" above it).
  const e = errors
    .filter((x) => x.keyword !== 'anyOf')
    .reduce<FastifySchemaValidationError | undefined>(
      (best, x) => (!best || x.instancePath.length > best.instancePath.length ? x : best),
      undefined,
    );
  if (!e) return new GwErrors.BAD_REQUEST(`${dataVar}: invalid`);
  const path = e.instancePath
    .split('/')
    .filter(Boolean)
    .map((seg) => (/^\d+$/.test(seg) ? `[${seg}]` : `.${seg}`))
    .join('')
    .replace(/^\./, '');
  if (e.keyword === 'required') {
    const field = `${path ? `${path}.` : ''}${String(e.params.missingProperty)}`;
    return new GwErrors.BAD_REQUEST(`${field}: required`);
  }
  if (e.keyword === 'additionalProperties')
    return new GwErrors.BAD_REQUEST(
      `${path ? `${path}.` : ''}${String(e.params.additionalProperty)}: unknown property`,
    );
  return new GwErrors.BAD_REQUEST(`${path || dataVar}: ${e.message ?? 'invalid'}`);
}
