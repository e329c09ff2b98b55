// Coded errors of silences and maintenance windows, in the GW_ERR_* style of platform/errors.ts
// (which this module may not extend). Messages name the field and the reason.
import createError from '@fastify/error';

export const SilenceErrors = {
  /** A matcher that does not parse, or is unsafe; the message starts with its path. */
  MATCHER: createError('GW_ERR_SILENCE_MATCHER', '%s', 400),
  /** Any other invalid field of a silence (times, comment, author). */
  INVALID: createError('GW_ERR_SILENCE_INVALID', '%s', 400),
  /** Matchers that select every alert, without `force` from a whole-city key. */
  MATCHES_ALL: createError(
    'GW_ERR_SILENCE_MATCHES_ALL',
    'matchers: %s would silence every alert; a key for the whole city must pass force: true',
    400,
  ),
  NOT_FOUND: createError('GW_ERR_SILENCE_NOT_FOUND', 'no silence with id "%s"', 404),
  /** Bounded memory: pending and active silences are capped. */
  LIMIT: createError('GW_ERR_SILENCE_LIMIT', 'too many live silences (limit %d): expire some first', 409),
} as const;
