// Redis keys of the shared alert state, in one place for the engine and the console nodes.
export interface AlertStateKeys {
  /** The active engine's lease; its value is the fencing token every write script checks. */
  lease: string;
  /** Open alerts: id → alert JSON. */
  open: string;
  /** id → seq of the alert's last applied transition (snapshots only move forward). */
  seqs: string;
  /** The alert log cursor of the last change applied. */
  cursor: string;
  /** The change feed (a capped stream) console nodes follow. */
  feed: string;
  /** Officers' actions for the active engine (a capped stream). */
  commands: string;
  /** An action taken (by request id): a new engine re-reading the stream does not take it twice. */
  done(rid: string): string;
  /** Pub/sub channel of one console node: the answers to its actions. */
  replies(node: string): string;
  /** Notification claims of one UTC day (YYYYMMDD). */
  claims(day: string): string;
}

export function alertStateKeys(prefix: string): AlertStateKeys {
  return {
    lease: `${prefix}alert-engine:lease`,
    open: `${prefix}alerts:open`,
    seqs: `${prefix}alerts:seqs`,
    cursor: `${prefix}alerts:cursor`,
    feed: `${prefix}alerts:feed`,
    commands: `${prefix}alerts:commands`,
    done: (rid) => `${prefix}alerts:done:${rid}`,
    replies: (node) => `${prefix}alerts:replies:${node}`,
    claims: (day) => `${prefix}notify:claims:${day}`,
  };
}

export const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10).replaceAll('-', '');
