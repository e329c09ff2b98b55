// Logins for people: `POST /v1/auth/login` checks the password, starts a session and sets an
// httpOnly, SameSite=Strict cookie; `/logout` ends it; `/me` says who is signed in. The same
// cookie authenticates every other route (through platform/access.ts) and the socket.
// Failed logins are limited per user name and per address, so passwords cannot be guessed.

import { type Static, Type as T } from '@sinclair/typebox';
import { parseCookie, stringifySetCookie } from 'cookie';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RateLimiterMemory, type RateLimiterRes } from 'rate-limiter-flexible';
import type { Access, Authenticator, Principal } from '../../platform/access.ts';
import { GwErrors } from '../../platform/errors.ts';
import type { Metrics } from '../../platform/metrics.ts';
import type { Accounts, ConsoleUser } from './accounts.ts';
import { ConsoleErrors } from './errors.ts';
import type { SessionStore } from './sessions.ts';

export const SESSION_COOKIE = 'gw_session';

const LoginBody = T.Object(
  {
    username: T.String({ minLength: 1, maxLength: 64 }),
    password: T.String({ minLength: 1, maxLength: 256 }),
  },
  { additionalProperties: false },
);

export interface Login {
  principal: Principal;
  user: ConsoleUser;
  /** The cookie's session token: sockets keep it to re-check the session before each action. */
  token: string;
}

/** Resolves a Cookie header to the signed-in user, or undefined. */
export async function loginOf(
  cookieHeader: string | undefined,
  accounts: Accounts,
  sessions: SessionStore,
): Promise<Login | undefined> {
  if (!cookieHeader || cookieHeader.length > 8192) return undefined;
  const token = parseCookie(cookieHeader)[SESSION_COOKIE];
  if (!token) return undefined;
  const s = await sessions.resolve(token);
  const user = s && accounts.get(s.user);
  if (!s || !user) return undefined;
  return { principal: accounts.principal(user, s.id), user, token };
}

/**
 * Console sessions as principals. A state-changing request whose Origin is another site is not
 * authenticated by the cookie (belt and braces beside SameSite=Strict).
 */
export function sessionAuthenticator(accounts: Accounts, sessions: SessionStore): Authenticator {
  return {
    async authenticate(req) {
      if (req.method !== 'GET' && req.method !== 'HEAD' && !sameOrigin(req)) return undefined;
      return (await loginOf(req.headers.cookie, accounts, sessions))?.principal;
    },
  };
}

function sameOrigin(req: FastifyRequest): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true; // not a browser's cross-site request
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

export interface AuthRoutesDeps {
  accounts: Accounts;
  sessions: SessionStore;
  access: Access;
  metrics: Metrics;
  ttlMs: number;
  secureCookie: boolean;
  maxFailures: number;
  failureWindowMs: number;
}

export async function authRoutes(app: FastifyInstance, d: AuthRoutesDeps): Promise<void> {
  const windowS = Math.ceil(d.failureWindowMs / 1000);
  // Per user name: a guessed password locks that name. Per address ten times more, because a
  // whole operations centre may sit behind one NAT address.
  const limiters = {
    u: new RateLimiterMemory({ points: d.maxFailures, duration: windowS, blockDuration: windowS }),
    ip: new RateLimiterMemory({ points: d.maxFailures * 10, duration: windowS, blockDuration: windowS }),
  };
  const cookie = (value: string, maxAgeS: number) =>
    stringifySetCookie({
      name: SESSION_COOKIE,
      value,
      httpOnly: true,
      sameSite: 'strict',
      secure: d.secureCookie,
      path: '/',
      maxAge: maxAgeS,
    });

  const refuse = async (reply: FastifyReply, user: string, ip: string) => {
    const [u, a] = await Promise.all([limiters.u.get(user), limiters.ip.get(ip)]);
    const blocked =
      u && u.consumedPoints >= d.maxFailures
        ? u
        : a && a.consumedPoints >= d.maxFailures * 10
          ? a
          : undefined;
    if (blocked) {
      d.metrics.consoleAuthFailures.inc({ reason: 'rate_limited' });
      void reply.header('retry-after', String(Math.ceil(blocked.msBeforeNext / 1000)));
      throw new ConsoleErrors.LOGIN_LOCKED(Math.ceil(blocked.msBeforeNext / 60_000));
    }
  };

  app.post<{ Body: Static<typeof LoginBody> }>(
    '/v1/auth/login',
    { schema: { body: LoginBody }, bodyLimit: 4096 },
    async (req, reply) => {
      // A page on another site must not sign a browser in (login CSRF) or out.
      if (!sameOrigin(req)) throw new GwErrors.FORBIDDEN('a login from another site');
      const { username, password } = req.body;
      const name = username.toLowerCase();
      await refuse(reply, name, req.ip);
      const user = await d.accounts.verify(username, password);
      if (!user) {
        d.metrics.consoleAuthFailures.inc({ reason: 'bad_credentials' });
        await Promise.all([
          limiters.u.consume(name).catch((e) => e as RateLimiterRes),
          limiters.ip.consume(req.ip).catch((e) => e as RateLimiterRes),
        ]);
        req.log.warn({ user: username.slice(0, 64), ip: req.ip }, 'console: login failed');
        throw new ConsoleErrors.BAD_CREDENTIALS();
      }
      await limiters.u.delete(name);
      const { token, session } = await d.sessions.create(user.name);
      req.log.info({ user: user.name, role: user.role, session: session.id.slice(0, 12) }, 'console: login');
      void reply.header('set-cookie', cookie(token, Math.floor(d.ttlMs / 1000)));
      void reply.header('cache-control', 'no-store');
      return { me: d.accounts.me(user) };
    },
  );

  app.post('/v1/auth/logout', async (req, reply) => {
    if (!sameOrigin(req)) throw new GwErrors.FORBIDDEN('a logout from another site');
    const login = await loginOf(req.headers.cookie, d.accounts, d.sessions);
    if (login?.principal.sessionId) {
      await d.sessions.destroy(login.principal.sessionId);
      req.log.info({ user: login.user.name }, 'console: logout');
    }
    void reply.header('set-cookie', cookie('', 0));
    return { ok: true };
  });

  app.get('/v1/auth/me', async (req, reply) => {
    const login = await loginOf(req.headers.cookie, d.accounts, d.sessions);
    if (!login) throw new GwErrors.UNAUTHORIZED();
    void reply.header('cache-control', 'no-store');
    return { me: d.accounts.me(login.user) };
  });
}
