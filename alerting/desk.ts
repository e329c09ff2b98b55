// AlertDesk: what the alerts API and the console need of alerting — the open alerts, the alert
// log, the palette and rules, and officers' actions. In one process the AlertEngine is the desk;
// on a distributed console node a RemoteDesk mirrors the shared alert state from Redis and
// forwards actions to the active engine. Routes and sockets see the same interface either way.
import type { AlertLog } from './alert-log.ts';
import type { Alert } from './model.ts';
import type { TierPalette } from './palette.ts';
import type { RuleSet } from './rules/rule-set.ts';

export interface AlertDesk {
  readonly palette: TierPalette;
  readonly alertLog: AlertLog;
  readonly ruleSet: RuleSet;
  /** The cursor of the last change this desk has published: a replay from it misses nothing. */
  readonly cursor: number;
  /** Open alerts: pending, firing, acknowledged. */
  open(): Iterable<Alert>;
  /** An open alert by id. */
  get(id: string): Alert | undefined;
  acknowledge(id: string, actor: string, note?: string): Promise<Alert>;
  assign(id: string, actor: string, department: string, note?: string): Promise<Alert>;
  comment(id: string, actor: string, text: string): Promise<Alert>;
  escalate(id: string, actor: string, note: string): Promise<Alert>;
  resolve(id: string, actor: string, feedback: string): Promise<Alert>;
}
