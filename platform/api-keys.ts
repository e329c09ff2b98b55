// API keys for machines (ingest sources, integrations). Secrets are held only as SHA-256
// digests and compared in constant time, so neither memory dumps nor timing reveal them.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { ApiKeyConfig } from '../config/schema.ts';

export type Scope = ApiKeyConfig['scopes'][number];

export interface ApiPrincipal {
  name: string;
  scopes: ReadonlySet<Scope>;
  /** Org node the key is limited to; undefined for the whole city. */
  area: string | undefined;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

export class ApiKeys {
  private readonly keys: { digest: Buffer; principal: ApiPrincipal }[];

  constructor(keys: readonly ApiKeyConfig[]) {
    this.keys = keys.map((k) => ({
      digest: digest(k.key),
      principal: { name: k.name, scopes: new Set(k.scopes), area: k.area },
    }));
  }

  /** The principal for an `Authorization: Bearer <key>` header, or undefined. */
  authenticate(header: string | undefined): ApiPrincipal | undefined {
    if (!header) return undefined;
    const m = /^Bearer\s+(\S{1,512})$/i.exec(header);
    if (!m) return undefined;
    const d = digest(m[1]!);
    let found: ApiPrincipal | undefined;
    for (const k of this.keys) if (timingSafeEqual(k.digest, d)) found = k.principal; // no early exit
    return found;
  }
}
