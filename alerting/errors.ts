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
} as const;
