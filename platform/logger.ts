import pino, { type Logger } from 'pino';

export type { Logger } from 'pino';

// Personal data and secrets never reach the log, whatever a caller passes in.
const REDACT = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  '*.caller_phone',
  '*.password',
  '*.key',
  '*.secret',
  'caller_phone',
  'password',
];

export function createLogger(opts: { level?: string; name?: string } = {}): Logger {
  return pino({
    name: opts.name ?? 'gridwatch',
    level: opts.level ?? process.env.GRIDWATCH_LOG_LEVEL ?? 'info',
    redact: { paths: REDACT, censor: '[redacted]' },
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}
