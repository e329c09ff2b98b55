// The alert log in ClickHouse: one row per transition (who, when, why, the alert after it).
// It is the source of truth: the open alerts are rebuilt from it at start-up.
import type { Store } from '../platform/store/store.ts';
import type { Alert, AlertTransition } from './model.ts';

export interface LoggedAlert {
  alert: Alert;
  seq: number;
}

export class AlertLog {
  constructor(private readonly store: Store) {}

  async append(ts: readonly AlertTransition[]): Promise<void> {
    if (ts.length === 0) return;
    await this.store.insert(
      'alert_log',
      ts.map((t) => ({
        alert_id: t.alertId,
        fingerprint: t.fingerprint,
        seq: t.seq,
        cursor: t.cursor,
        at: t.at,
        type: t.type,
        actor: t.actor,
        reason: t.reason.slice(0, 2000),
        from_state: t.fromState ?? '',
        to_state: t.toState,
        from_tier: t.fromTier ?? '',
        to_tier: t.toTier,
        rule: t.alert.rule,
        area: t.alert.area,
        alert: JSON.stringify(t.alert),
      })),
    );
  }

  /** Open alerts, plus those resolved since `resolvedSince` (for cooldowns): the latest snapshot of each. */
  async load(resolvedSince: number): Promise<LoggedAlert[]> {
    const rows = await this.store.query<{ snapshot: string; last_seq: number }>(
      `SELECT argMax(alert, seq) AS snapshot, max(seq) AS last_seq, argMax(to_state, seq) AS state, max(at) AS last
         FROM alert_log FINAL
        GROUP BY alert_id
       HAVING state != 'resolved' OR last >= fromUnixTimestamp64Milli({since:Int64})`,
      { since: resolvedSince },
    );
    return rows.map((r) => ({ alert: JSON.parse(r.snapshot) as Alert, seq: Number(r.last_seq) }));
  }

  async maxCursor(): Promise<number> {
    const rows = await this.store.query<{ c: string | number }>('SELECT max(cursor) AS c FROM alert_log');
    return Number(rows[0]?.c ?? 0);
  }

  /**
   * Transitions after `cursor` (up to `upTo`), oldest first, of alerts in `areas` (all when undefined): what a
   * console client missed while it was away. At most `limit` rows; `complete` says whether that
   * was all of them.
   */
  async since(
    cursor: number,
    areas: readonly string[] | undefined,
    limit: number,
    upTo = Number.MAX_SAFE_INTEGER,
  ): Promise<{ transitions: AlertTransition[]; complete: boolean }> {
    const rows = await this.store.query<Record<string, string | number>>(
      `SELECT alert_id, fingerprint, seq, cursor, toUnixTimestamp64Milli(at) AS at_ms, type, actor, reason,
              from_state, to_state, from_tier, to_tier, alert
         FROM alert_log FINAL
        WHERE cursor > {cursor:UInt64} AND cursor <= {upTo:UInt64} ${areas ? 'AND area IN {areas:Array(String)}' : ''}
        ORDER BY cursor LIMIT {limit:UInt32}`,
      { cursor, upTo, areas: areas ?? [], limit: limit + 1 },
    );
    const transitions = rows.slice(0, limit).map((r) => ({
      ...transitionOf(r),
      alert: JSON.parse(String(r.alert)) as Alert,
    }));
    return { transitions, complete: rows.length <= limit };
  }

  /** The latest snapshot of one alert (open or closed), from the log. */
  async snapshot(alertId: string): Promise<Alert | undefined> {
    const rows = await this.store.query<{ snapshot: string }>(
      'SELECT argMax(alert, seq) AS snapshot FROM alert_log FINAL WHERE alert_id = {id:String} GROUP BY alert_id',
      { id: alertId },
    );
    return rows[0] ? (JSON.parse(rows[0].snapshot) as Alert) : undefined;
  }

  /** The timeline of one alert, oldest first. */
  async history(alertId: string): Promise<Omit<AlertTransition, 'alert'>[]> {
    const rows = await this.store.query<Record<string, string | number>>(
      `SELECT alert_id, fingerprint, seq, cursor, toUnixTimestamp64Milli(at) AS at_ms, type, actor, reason,
              from_state, to_state, from_tier, to_tier
         FROM alert_log FINAL WHERE alert_id = {id:String} ORDER BY seq`,
      { id: alertId },
    );
    return rows.map(transitionOf);
  }
}

function transitionOf(r: Record<string, string | number>): Omit<AlertTransition, 'alert'> {
  return {
    alertId: String(r.alert_id),
    fingerprint: String(r.fingerprint),
    seq: Number(r.seq),
    cursor: Number(r.cursor),
    at: Number(r.at_ms),
    type: r.type as AlertTransition['type'],
    actor: String(r.actor),
    reason: String(r.reason),
    fromState: (r.from_state || null) as AlertTransition['fromState'],
    toState: r.to_state as AlertTransition['toState'],
    fromTier: (r.from_tier as string) || null,
    toTier: String(r.to_tier),
  };
}
