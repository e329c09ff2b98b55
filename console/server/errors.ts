// Coded errors of the console, in the style of platform/errors.ts.
import createError from '@fastify/error';

export const ConsoleErrors = {
  BAD_CREDENTIALS: createError('GW_ERR_BAD_CREDENTIALS', 'wrong user name or password', 401),
  LOGIN_LOCKED: createError('GW_ERR_LOGIN_LOCKED', 'too many failed logins: try again in %s minute(s)', 429),
  WEB_NOT_BUILT: createError('GW_ERR_WEB_NOT_BUILT', 'the console web app is not built: %s', 503),
} as const;
