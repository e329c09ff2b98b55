// Who is asking, and what they may do. Machines authenticate with API keys (Bearer), people
// with a console session (cookie); both become one `Principal` so every route checks the same
// way: `access.require(req, 'ack')` answers 401 without credentials and 403 without the right.
// Jurisdiction (the org subtree a principal may see) is checked by the routes against the org tree.
import type { FastifyRequest } from 'fastify';
import type { ApiKeys } from './api-keys.ts';
import { GwErrors } from './errors.ts';

export const PERMISSIONS = ['read', 'ack', 'assign', 'comment', 'escalate', 'resolve', 'silence'] as const;
export type Permission = (typeof PERMISSIONS)[number];

export interface Principal {
  kind: 'key' | 'user';
  /** Key name or user name: the actor recorded in the alert log. */
  name: string;
  /** Root of the jurisdiction (an org node id); undefined for the whole city. */
  area: string | undefined;
  permissions: ReadonlySet<Permission>;
  /** Users only: the session this request rides on. */
  sessionId?: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

export interface Authenticator {
  authenticate(req: FastifyRequest): Principal | undefined | Promise<Principal | undefined>;
}

const KEY_PERMISSIONS: Record<string, readonly Permission[]> = {
  read: ['read'],
  alerts: PERMISSIONS,
};

/** API keys as principals: `read` reads, `alerts` reads and acts on alerts and silences. */
export function apiKeyAuthenticator(keys: ApiKeys): Authenticator {
  return {
    authenticate(req) {
      const k = keys.authenticate(req.headers.authorization);
      if (!k) return undefined;
      const permissions = new Set<Permission>();
      for (const s of k.scopes) for (const p of KEY_PERMISSIONS[s] ?? []) permissions.add(p);
      return { kind: 'key', name: k.name, area: k.area, permissions };
    },
  };
}

export class Access {
  constructor(private readonly authenticators: readonly Authenticator[]) {}

  /** The caller, or 401. Cached on the request. */
  async principal(req: FastifyRequest): Promise<Principal> {
    if (req.principal) return req.principal;
    for (const a of this.authenticators) {
      const p = await a.authenticate(req);
      if (p) {
        req.principal = p;
        return p;
      }
    }
    throw new GwErrors.UNAUTHORIZED();
  }

  /** The caller if they hold `permission` (any of them, when several), else 401 / 403. */
  async require(req: FastifyRequest, ...permissions: Permission[]): Promise<Principal> {
    const p = await this.principal(req);
    if (!permissions.some((x) => p.permissions.has(x)))
      throw new GwErrors.FORBIDDEN(`${p.kind} "${p.name}" may not ${permissions.join(' or ')}`);
    return p;
  }

  /** A route option: `{ onRequest: access.hook('read') }`. */
  hook(...permissions: Permission[]): (req: FastifyRequest) => Promise<void> {
    return async (req) => {
      await this.require(req, ...permissions);
    };
  }
}
