// Coded errors of the alert engine, in the style of platform/errors.ts.
import createError from '@fastify/error';

export const AlertingErrors = {
  RULES_INVALID: createError('GW_ERR_RULES_INVALID', 'invalid alert rules: %s', 500),
  ALERT_NOT_FOUND: createError('GW_ERR_ALERT_NOT_FOUND', 'no alert %s', 404),
  ILLEGAL_TRANSITION: createError('GW_ERR_ILLEGAL_TRANSITION', 'alert %s: %s', 409),
  FEEDBACK_REQUIRED: createError(
    'GW_ERR_FEEDBACK_REQUIRED',
    'feedback: resolving an alert by hand needs a feedback note (回访记录)',
    400,
  ),
  NOTE_REQUIRED: createError('GW_ERR_NOTE_REQUIRED', 'note: %s an alert needs a note saying why', 400),
  OUT_OF_JURISDICTION: createError(
    'GW_ERR_OUT_OF_JURISDICTION',
    'alert %s is outside your jurisdiction (%s)',
    403,
  ),
} as const;
