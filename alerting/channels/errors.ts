// Why one delivery attempt failed. Channels turn every failure into one of these, so the retry
// loop decides on `retryable` alone and never sees a raw TypeError or DOMException.

export class DeliveryError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  /** HTTP status of the answer, when there was one. */
  readonly status: number | undefined;
  /** The receiver's Retry-After, already capped, in ms. */
  readonly retryAfterMs: number | undefined;

  constructor(
    code: string,
    message: string,
    opts: { retryable: boolean; status?: number; retryAfterMs?: number; cause?: unknown },
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'DeliveryError';
    this.code = code;
    this.retryable = opts.retryable;
    this.status = opts.status;
    this.retryAfterMs = opts.retryAfterMs;
  }
}

/** Network trouble: refused, reset, DNS. Worth another try. */
export class NetworkError extends DeliveryError {
  constructor(cause: unknown) {
    super('GW_ERR_DELIVERY_NETWORK', `network: ${describe(cause)}`, { retryable: true, cause });
    this.name = 'NetworkError';
  }
}

export class TimeoutError extends DeliveryError {
  constructor(timeoutMs: number) {
    super('GW_ERR_DELIVERY_TIMEOUT', `no answer within ${timeoutMs}ms`, { retryable: true });
    this.name = 'TimeoutError';
  }
}

/** A non-2xx answer; retryable for 408, 429 and 5xx only. */
export class HttpStatusError extends DeliveryError {
  constructor(status: number, detail: string, retryAfterMs?: number) {
    super('GW_ERR_DELIVERY_STATUS', `HTTP ${status}${detail ? `: ${detail}` : ''}`, {
      retryable: isRetryableStatus(status),
      status,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    });
    this.name = 'HttpStatusError';
  }
}

/** A 2xx answer whose body carries a provider error code (SMS gateways do this). Not retried. */
export class ProviderError extends DeliveryError {
  readonly providerCode: string;
  constructor(status: number, providerCode: string, message: string) {
    super('GW_ERR_DELIVERY_PROVIDER', `provider ${providerCode}${message ? `: ${message}` : ''}`, {
      retryable: false,
      status,
    });
    this.name = 'ProviderError';
    this.providerCode = providerCode;
  }
}

/** The rate limit said no (and waiting, where allowed, did not help). */
export class RateLimitedError extends DeliveryError {
  constructor(detail: string) {
    super('GW_ERR_DELIVERY_RATE_LIMITED', `rate-limited: ${detail}`, { retryable: false });
    this.name = 'RateLimitedError';
  }
}

/** The notification cannot go out on this channel (no target, tier not sent, ...). Not retried. */
export class NotDeliverableError extends DeliveryError {
  constructor(detail: string) {
    super('GW_ERR_NOT_DELIVERABLE', detail, { retryable: false });
    this.name = 'NotDeliverableError';
  }
}

/** The channel closed while the delivery waited: it stays in the outbox for the next start. */
export class ChannelClosedError extends DeliveryError {
  constructor() {
    super('GW_ERR_CHANNEL_CLOSED', 'channel closed', { retryable: false });
    this.name = 'ChannelClosedError';
  }
}

export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

function describe(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  // undici puts the useful part ("ECONNREFUSED ...") in the cause of its "fetch failed".
  const cause = (e as { cause?: unknown }).cause;
  return cause instanceof Error ? `${e.message} (${cause.message})` : e.message;
}
