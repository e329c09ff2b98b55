// librdkafka reports every failed reconnect while a broker is away ("broker transport failure",
// "all broker connections are down"): a restart would flood the log. One line per kind of
// error per interval, with how many were folded into it.
import type { Logger } from '../logger.ts';

export function throttledErrorLog(
  log: Logger,
  what: string,
  intervalMs = 10_000,
): (err: { message: string }) => void {
  const last = new Map<string, { at: number; folded: number }>();
  return (err) => {
    const now = Date.now();
    const seen = last.get(err.message);
    if (seen && now - seen.at < intervalMs) {
      seen.folded++;
      return;
    }
    last.set(err.message, { at: now, folded: 0 });
    log.warn({ err, repeatedSinceLast: seen?.folded ?? 0 }, `${what}: ${err.message}`);
  };
}
