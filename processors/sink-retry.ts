// A stage's checkpoint is retried until its sinks (the store, Kafka) take it. Meanwhile the
// consumer loop awaits it, so nothing more is read: back-pressure by paused consumption, with
// the pause visible on a gauge and in the log.
import type { GroupConsumer } from '../platform/kafka/consumer.ts';
import type { Logger } from '../platform/logger.ts';

export async function untilStored(
  write: () => Promise<void>,
  o: {
    consumer: GroupConsumer | undefined;
    log: Logger;
    what: string;
    /** false once the work no longer belongs to this member (revoked meanwhile): give up. */
    stillOwned: () => boolean;
  },
): Promise<boolean> {
  let paused = false;
  for (let attempt = 0; ; attempt++) {
    try {
      await write();
      break;
    } catch (err) {
      if (!paused) {
        paused = true;
        o.consumer?.setPaused(true);
      }
      o.log.error({ err, attempt }, `${o.what}: checkpoint failed; reading paused until it succeeds`);
      await new Promise((r) => setTimeout(r, Math.min(5000, 200 * 2 ** attempt)));
      if (!o.stillOwned()) {
        o.consumer?.setPaused(false);
        return false;
      }
    }
  }
  if (paused) {
    o.consumer?.setPaused(false);
    o.log.info(`${o.what}: checkpoint stored; reading resumes`);
  }
  return true;
}
