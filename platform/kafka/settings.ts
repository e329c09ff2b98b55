// librdkafka settings from gridwatch's config: ours first, then the operator's pass-through
// `bus.kafka.settings` (security.protocol, sasl.*), which may override them.
import type { GridwatchConfig } from '../../config/schema.ts';

export function kafkaClientSettings(
  config: GridwatchConfig,
  role: string,
): Record<string, string | number | boolean> {
  const k = config.bus.kafka;
  return {
    'metadata.broker.list': k.brokers,
    'client.id': `${k.clientId}-${role}`,
    // Reconnect quickly after a broker restart; librdkafka retries for ever by itself.
    'reconnect.backoff.ms': 100,
    'reconnect.backoff.max.ms': 2000,
    ...k.settings,
  };
}
