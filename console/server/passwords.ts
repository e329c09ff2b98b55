// Password hashes for console users: scrypt from node:crypto (memory-hard, no native add-on),
// stored as `scrypt$N$r$p$salt$hash` so the cost can rise later without breaking old hashes.
import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto';

const KEY_LEN = 32;
const DEFAULT = { N: 16_384, r: 8, p: 1 };

function derive(password: string, salt: Buffer, o: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFKC'), salt, KEY_LEN, { ...o, maxmem: 64 * 1024 * 1024 }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, DEFAULT);
  return `scrypt$${DEFAULT.N}$${DEFAULT.r}$${DEFAULT.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** Parses a stored hash; a description of what is wrong with it otherwise. */
export function parseHash(
  stored: string,
): { N: number; r: number; p: number; salt: Buffer; key: Buffer } | string {
  const m = /^scrypt\$(\d{1,7})\$(\d{1,2})\$(\d{1,2})\$([A-Za-z0-9+/=]{8,})\$([A-Za-z0-9+/=]{16,})$/.exec(
    stored,
  );
  if (!m) return 'expected scrypt$N$r$p$salt$hash (from `gridwatch hash-password`)';
  const N = Number(m[1]);
  if (N < 1024 || (N & (N - 1)) !== 0) return 'N must be a power of two ≥ 1024';
  return {
    N,
    r: Number(m[2]),
    p: Number(m[3]),
    salt: Buffer.from(m[4]!, 'base64'),
    key: Buffer.from(m[5]!, 'base64'),
  };
}

/** Constant-time comparison; a malformed hash never matches. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const h = parseHash(stored);
  if (typeof h === 'string') return false;
  const key = await derive(password, h.salt, { N: h.N, r: h.r, p: h.p });
  return key.length === h.key.length && timingSafeEqual(key, h.key);
}
