// One registry of coded errors for every part of gridwatch, in the style of fastify's
// FST_ERR_* codes: a stable code for operators and clients, an HTTP status where it applies.
import createError from '@fastify/error';

export const GwErrors = {
  CONFIG_INVALID: createError('GW_ERR_CONFIG_INVALID', 'invalid configuration:\n%s', 500),
  CONFIG_READ: createError('GW_ERR_CONFIG_READ', 'cannot read configuration file %s: %s', 500),
  ORG_INVALID: createError('GW_ERR_ORG_INVALID', 'invalid org registry: %s', 500),
  STORE_UNAVAILABLE: createError('GW_ERR_STORE_UNAVAILABLE', 'event store unavailable: %s', 503),
  MIGRATION_FAILED: createError('GW_ERR_MIGRATION_FAILED', 'migration %s failed: %s', 500),
  BACKPRESSURE: createError('GW_ERR_BACKPRESSURE', 'ingest is back-pressured: %s', 429),
  UNAUTHORIZED: createError('GW_ERR_UNAUTHORIZED', 'missing or invalid credentials', 401),
  FORBIDDEN: createError('GW_ERR_FORBIDDEN', 'not allowed: %s', 403),
  BAD_REQUEST: createError('GW_ERR_BAD_REQUEST', '%s', 400),
  UNSUPPORTED_MEDIA_TYPE: createError('GW_ERR_UNSUPPORTED_MEDIA_TYPE', '%s', 415),
  TOO_MANY_RECORDS: createError('GW_ERR_TOO_MANY_RECORDS', 'request holds %d records, the limit is %d', 413),
  NOT_READY: createError('GW_ERR_NOT_READY', 'not ready: %s', 503),
  BUS_UNAVAILABLE: createError('GW_ERR_BUS_UNAVAILABLE', 'Kafka unavailable: %s', 503),
  BAD_MESSAGE: createError('GW_ERR_BAD_MESSAGE', 'unreadable message on %s: %s', 500),
} as const;

/** True for errors that carry one of our codes (or fastify's) and an HTTP status. */
export function httpStatusOf(err: unknown): number {
  const status = (err as { statusCode?: unknown })?.statusCode;
  return typeof status === 'number' && status >= 400 && status < 600 ? status : 500;
}
