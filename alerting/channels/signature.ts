// Webhook signatures: HMAC-SHA256 over "<unix seconds>.<raw body>", sent as
//   X-Gridwatch-Timestamp: 1732179600
//   X-Gridwatch-Signature: sha256=<hex>
// The timestamp is inside the MAC, so a captured request cannot be replayed later than the
// receiver's tolerance (the Stripe / Slack scheme).
import { createHmac, timingSafeEqual } from 'node:crypto';

export const TIMESTAMP_HEADER = 'X-Gridwatch-Timestamp';
export const SIGNATURE_HEADER = 'X-Gridwatch-Signature';

export function sign(secret: string, timestamp: number, rawBody: string | Buffer): string {
  const mac = createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest('hex');
  return `sha256=${mac}`;
}

/**
 * True when `header` is the signature of `rawBody` at `timestamp` under `secret`, and the
 * timestamp is within `toleranceSec` of now. Compares in constant time.
 */
export function verifySignature(
  secret: string,
  timestamp: string | number | undefined,
  rawBody: string | Buffer,
  header: string | undefined,
  toleranceSec = 300,
  nowMs = Date.now(),
): boolean {
  if (!secret || header === undefined || timestamp === undefined) return false;
  const ts = typeof timestamp === 'number' ? timestamp : Number(timestamp);
  if (!Number.isInteger(ts) || Math.abs(nowMs / 1000 - ts) > toleranceSec) return false;
  const expected = Buffer.from(sign(secret, ts, rawBody));
  const given = Buffer.from(header.trim());
  return given.length === expected.length && timingSafeEqual(given, expected);
}
