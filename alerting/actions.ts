// Officers' actions on an alert, in one place for every way in (HTTP routes, console socket):
// the permission is checked, then the jurisdiction, then the lifecycle decides if the move is legal.
import { type Static, Type as T, type TSchema } from '@sinclair/typebox';
import type { OrgTree } from '../config/org-tree.ts';
import type { Principal } from '../platform/access.ts';
import { GwErrors } from '../platform/errors.ts';
import type { AlertDesk } from './desk.ts';
import { AlertingErrors } from './errors.ts';
import type { Alert } from './model.ts';

export const AlertId = T.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.:-]+$' });
const Note = T.String({ maxLength: 2000 });
const Required = T.String({ minLength: 1, maxLength: 2000 });

/** Bodies of `POST /v1/alerts/{id}/<action>`. */
export const ACTION_BODIES = {
  ack: T.Object({ note: T.Optional(Note) }, { additionalProperties: false }),
  assign: T.Object(
    { department: T.String({ minLength: 1, maxLength: 64 }), note: T.Optional(Note) },
    { additionalProperties: false },
  ),
  comment: T.Object({ text: Required }, { additionalProperties: false }),
  escalate: T.Object({ note: Required }, { additionalProperties: false }),
  resolve: T.Object({ feedback: Note }, { additionalProperties: false }),
} as const;

export type ActionName = keyof typeof ACTION_BODIES;

/** Each action as the socket carries it: the body plus `id` and `action`. */
export const ALERT_ACTION_SCHEMAS = Object.fromEntries(
  (Object.keys(ACTION_BODIES) as ActionName[]).map((name) => [
    name,
    T.Composite([T.Object({ id: AlertId, action: T.Literal(name) }), ACTION_BODIES[name]], {
      additionalProperties: false,
    }),
  ]),
) as unknown as Record<ActionName, TSchema>;

export type AlertAction = {
  [K in ActionName]: { id: string; action: K } & Static<(typeof ACTION_BODIES)[K]>;
}[ActionName];

export function withinJurisdiction(org: OrgTree, area: string, p: Principal): boolean {
  return p.area === undefined || org.isWithin(area, p.area);
}

export async function performAction(
  desk: AlertDesk,
  org: OrgTree,
  p: Principal,
  req: AlertAction,
): Promise<Alert> {
  if (!p.permissions.has(req.action))
    throw new GwErrors.FORBIDDEN(`${p.kind} "${p.name}" may not ${req.action}`);
  const a = desk.get(req.id);
  if (!a) throw await notOpen(desk, org, p, req.id);
  if (!withinJurisdiction(org, a.area, p))
    throw new AlertingErrors.OUT_OF_JURISDICTION(a.id, p.area ?? 'city');
  try {
    switch (req.action) {
      case 'ack':
        return await desk.acknowledge(req.id, p.name, req.note ?? '');
      case 'assign':
        return await desk.assign(req.id, p.name, req.department, req.note ?? '');
      case 'comment':
        return await desk.comment(req.id, p.name, req.text);
      case 'escalate':
        return await desk.escalate(req.id, p.name, req.note);
      case 'resolve':
        return await desk.resolve(req.id, p.name, req.feedback);
    }
  } catch (e) {
    // Resolved by someone else while this action waited its turn.
    if ((e as { code?: string }).code === 'GW_ERR_ALERT_NOT_FOUND') throw await notOpen(desk, org, p, req.id);
    throw e;
  }
}

/**
 * Why an alert that is not open cannot be acted on: a resolved one (the detail route still shows
 * it) is a conflict naming who resolved it, so the second of two officers learns it was closed,
 * not that it never existed.
 */
async function notOpen(desk: AlertDesk, org: OrgTree, p: Principal, id: string): Promise<Error> {
  const closed = await desk.alertLog.snapshot(id);
  if (!closed) return new AlertingErrors.ALERT_NOT_FOUND(id);
  if (!withinJurisdiction(org, closed.area, p))
    return new AlertingErrors.OUT_OF_JURISDICTION(id, p.area ?? 'city');
  // Its resolution may not be in the log yet (an action in that moment reads the state before).
  if (closed.state !== 'resolved') return new AlertingErrors.ILLEGAL_TRANSITION(id, 'it is no longer open');
  const by = closed.resolvedBy ? ` by ${closed.resolvedBy}` : '';
  return new AlertingErrors.ILLEGAL_TRANSITION(id, `it is already resolved${by}`);
}
