// The notification channels of a running engine, from config: the delivery log, the outbox,
// the webhook channel and (when enabled) the SMS channel.
import type { OrgTree } from '../config/org-tree.ts';
import type { AlertingConfig } from '../config/schema.ts';
import type { Logger } from '../platform/logger.ts';
import type { Metrics } from '../platform/metrics.ts';
import type { Store } from '../platform/store/store.ts';
import { DeliveryLog, Outbox } from './channels/delivery-log.ts';
import { SmsChannel } from './channels/sms.ts';
import { WebhookChannel } from './channels/webhook.ts';
import type { ChannelPort } from './notifier.ts';
import { Router } from './router.ts';

export interface NotificationChannels {
  channels: ChannelPort[];
  outbox: Outbox;
  close(): Promise<void>;
}

export function createNotificationChannels(
  config: AlertingConfig,
  deps: { store: Store; org: OrgTree; metrics: Metrics; log: Logger },
): NotificationChannels {
  const deliveries = new DeliveryLog(deps.store, deps.log);
  const router = new Router(deps.org, config);
  const outbox = new Outbox(deps.store, deliveries, deps.log, (id) => router.recipient(id));
  const channelDeps = { metrics: deps.metrics, log: deps.log, deliveries };
  const channels: ChannelPort[] = [new WebhookChannel(config, channelDeps)];
  if (config.sms.enabled)
    channels.push(new SmsChannel(config, { ...channelDeps, areaName: (id) => deps.org.node(id)?.name }));
  return {
    channels,
    outbox,
    async close() {
      for (const c of channels) await c.close();
      await deliveries.close();
    },
  };
}
