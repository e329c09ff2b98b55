// Raw rows from Kafka go to the store in one insert per source. A row the store refuses for
// good (a foreign producer's mistyped column) must not stall the partition for ever: when the
// store is up but an insert fails, the batch is split until the refused rows are found, and
// those become dead letters (the event itself was valid and is counted in the windows).
import type { SourceName } from '../config/schema.ts';
import { deadLetterRow } from '../ingest/dead-letters.ts';
import type { Row, Store } from '../platform/store/store.ts';

export async function insertRawRows(
  store: Store,
  table: string,
  source: SourceName,
  rows: Row[],
  now: number,
  deadLetters: Row[],
): Promise<void> {
  if (rows.length === 0) return;
  try {
    await store.insert(table, rows);
  } catch (err) {
    // Unreachable or failing as a whole: transient, the caller retries the checkpoint.
    if (!(await store.ping())) throw err;
    if (rows.length === 1) {
      const row = rows[0]!;
      deadLetters.push(
        deadLetterRow(
          source,
          `kafka:${table}/seq ${String(row.seq)}`,
          'kafka',
          {
            index: 0,
            field: '$',
            code: 'store_refused',
            reason: `the store refused the raw row (the event is counted in windows): ${(err as Error).message.slice(0, 500)}`,
          },
          row,
          now,
        ),
      );
      return;
    }
    const half = Math.ceil(rows.length / 2);
    await insertRawRows(store, table, source, rows.slice(0, half), now, deadLetters);
    await insertRawRows(store, table, source, rows.slice(half), now, deadLetters);
  }
}
