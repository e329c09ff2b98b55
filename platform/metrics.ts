// Every metric gridwatch exports, in one registry, so names and labels stay consistent
// across components (source / transform / sink, as in Vector).
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();

  readonly eventsReceived = new Counter({
    name: 'gridwatch_events_received_total',
    help: 'Records received by ingest, per source',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });
  readonly eventsAccepted = new Counter({
    name: 'gridwatch_events_accepted_total',
    help: 'Records accepted and durably logged, per source',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });
  readonly eventsRejected = new Counter({
    name: 'gridwatch_events_rejected_total',
    help: 'Records rejected to the dead-letter store, per source and reason code',
    labelNames: ['source', 'reason'] as const,
    registers: [this.registry],
  });
  readonly resultsSkipped = new Counter({
    name: 'gridwatch_window_results_skipped_total',
    help: 'Window results read from Kafka and skipped: unreadable, or naming a window spec, area or kind this deployment does not have (field)',
    labelNames: ['field'] as const,
    registers: [this.registry],
  });
  readonly eventsDuplicate = new Counter({
    name: 'gridwatch_events_duplicate_total',
    help: 'Records whose id was already accepted (idempotent retries), per source',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });
  readonly ingestRequests = new Counter({
    name: 'gridwatch_ingest_requests_total',
    help: 'Ingest requests answered, per source and HTTP status: a body refused whole (400, 413, 415) holds no record the event counters could count',
    labelNames: ['source', 'status'] as const,
    registers: [this.registry],
  });
  readonly ingestBackpressure = new Counter({
    name: 'gridwatch_ingest_backpressure_total',
    help: 'Requests answered 429 because the log or the processors are behind',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });
  readonly logPending = new Gauge({
    name: 'gridwatch_log_pending_records',
    help: 'Records waiting for the group commit to the event log',
    registers: [this.registry],
  });
  readonly storeInsertSeconds = new Histogram({
    name: 'gridwatch_store_insert_seconds',
    help: 'Latency of inserts into the store, per table',
    labelNames: ['table'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly storeInsertRows = new Counter({
    name: 'gridwatch_store_insert_rows_total',
    help: 'Rows inserted into the store, per table',
    labelNames: ['table'] as const,
    registers: [this.registry],
  });
  readonly storeErrors = new Counter({
    name: 'gridwatch_store_errors_total',
    help: 'Failed store operations, per operation',
    labelNames: ['op'] as const,
    registers: [this.registry],
  });
  readonly windowLagSeconds = new Gauge({
    name: 'gridwatch_window_lag_seconds',
    help: 'Wall clock minus the watermark, per window spec',
    labelNames: ['window'] as const,
    registers: [this.registry],
  });
  readonly windowsOpen = new Gauge({
    name: 'gridwatch_windows_open',
    help: 'Windows held in memory, per window spec',
    labelNames: ['window'] as const,
    registers: [this.registry],
  });
  readonly windowsEmitted = new Counter({
    name: 'gridwatch_windows_emitted_total',
    help: 'Window results emitted, per window spec and kind (final, update)',
    labelNames: ['window', 'kind'] as const,
    registers: [this.registry],
  });
  readonly lateEvents = new Counter({
    name: 'gridwatch_late_events_total',
    help: 'Events past allowed lateness, sent to the late-events output, per window spec',
    labelNames: ['window'] as const,
    registers: [this.registry],
  });
  readonly stateLimitHits = new Counter({
    name: 'gridwatch_window_state_limit_total',
    help: 'Times a state limit bit, per window spec: open windows shed early (processor.maxOpenWindows), or an event or partial refused (processor.maxKeys)',
    labelNames: ['window'] as const,
    registers: [this.registry],
  });
  readonly processedSeq = new Gauge({
    name: 'gridwatch_processor_processed_seq',
    help: 'Highest event-log sequence reflected in processor state',
    registers: [this.registry],
  });
  readonly checkpointSeq = new Gauge({
    name: 'gridwatch_processor_checkpoint_seq',
    help: 'Event-log sequence of the last stored checkpoint',
    registers: [this.registry],
  });
  readonly checkpointsStored = new Counter({
    name: 'gridwatch_checkpoints_total',
    help: 'Window-state checkpoints stored, whole (a new chain) or delta (what changed since the one before)',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly checkpointBytes = new Counter({
    name: 'gridwatch_checkpoint_bytes_total',
    help: 'Bytes of window state (JSON) stored in checkpoints, whole or delta',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  // alerting: rules, lifecycle, notifications
  readonly ruleEvaluations = new Counter({
    name: 'gridwatch_rule_evaluations_total',
    help: 'Rule evaluations, per evaluator type',
    labelNames: ['evaluator'] as const,
    registers: [this.registry],
  });
  readonly ruleReloads = new Counter({
    name: 'gridwatch_rule_reloads_total',
    help: 'Rule file reloads, per outcome (ok, invalid)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly alertTransitions = new Counter({
    name: 'gridwatch_alert_transitions_total',
    help: 'Alert lifecycle transitions, per type and tier',
    labelNames: ['type', 'tier'] as const,
    registers: [this.registry],
  });
  readonly alertsOpen = new Gauge({
    name: 'gridwatch_alerts_open',
    help: 'Alerts pending, firing or acknowledged, per tier',
    labelNames: ['tier'] as const,
    registers: [this.registry],
  });
  readonly alertsSuppressed = new Counter({
    name: 'gridwatch_alert_notifications_suppressed_total',
    help: 'Notifications not sent, per reason (silenced, maintenance, inhibited, flapping, cooldown)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly eventToAlertSeconds = new Histogram({
    name: 'gridwatch_event_to_alert_seconds',
    help: 'From an event being logged to the alert transition it caused, per evaluator',
    labelNames: ['evaluator'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [this.registry],
  });
  readonly notifications = new Counter({
    name: 'gridwatch_notifications_total',
    help: 'Notification deliveries, per channel and outcome (delivered, retrying, dead, rate_limited, failed)',
    labelNames: ['channel', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly consoleSockets = new Gauge({
    name: 'gridwatch_console_sockets',
    help: 'Console Socket.IO connections open on this node',
    registers: [this.registry],
  });
  readonly consoleMessages = new Counter({
    name: 'gridwatch_console_messages_total',
    help: 'Messages the console sent to rooms or sockets, per event',
    labelNames: ['event'] as const,
    registers: [this.registry],
  });
  readonly consoleReplayed = new Counter({
    name: 'gridwatch_console_replayed_total',
    help: 'Alert changes replayed to reconnecting clients, per origin (memory ring or alert log)',
    labelNames: ['origin'] as const,
    registers: [this.registry],
  });
  readonly consoleAuthFailures = new Counter({
    name: 'gridwatch_console_auth_failures_total',
    help: 'Console logins and socket handshakes refused, per reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly consoleActions = new Counter({
    name: 'gridwatch_console_actions_total',
    help: 'Officer actions on alerts through the console socket, per action and outcome',
    labelNames: ['action', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly notificationSeconds = new Histogram({
    name: 'gridwatch_notification_seconds',
    help: 'Time to deliver a notification including retries, per channel',
    labelNames: ['channel'] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });

  readonly kafkaProduced = new Counter({
    name: 'gridwatch_kafka_produced_total',
    help: 'Messages acknowledged by Kafka (acks=all), per topic',
    labelNames: ['topic'] as const,
    registers: [this.registry],
  });
  readonly kafkaProduceErrors = new Counter({
    name: 'gridwatch_kafka_produce_errors_total',
    help: 'Messages Kafka did not acknowledge, per topic',
    labelNames: ['topic'] as const,
    registers: [this.registry],
  });
  readonly kafkaConsumed = new Counter({
    name: 'gridwatch_kafka_consumed_total',
    help: 'Messages read from Kafka, per consumer group and topic',
    labelNames: ['group', 'topic'] as const,
    registers: [this.registry],
  });
  readonly kafkaConsumerLag = new Gauge({
    name: 'gridwatch_kafka_consumer_lag',
    help: 'Messages between the high watermark and the next offset to process, per group, topic and partition',
    labelNames: ['group', 'topic', 'partition'] as const,
    registers: [this.registry],
  });
  readonly kafkaRebalances = new Counter({
    name: 'gridwatch_kafka_rebalances_total',
    help: 'Partition assignments and revocations, per consumer group',
    labelNames: ['group', 'kind'] as const,
    registers: [this.registry],
  });
  readonly kafkaPaused = new Gauge({
    name: 'gridwatch_kafka_consumer_paused',
    help: '1 while a consumer waits for its sink (the store) instead of reading, per group',
    labelNames: ['group'] as const,
    registers: [this.registry],
  });
  readonly partitionRestores = new Counter({
    name: 'gridwatch_partition_restores_total',
    help: 'Partitions whose window state was rebuilt from a checkpoint on assignment, per group',
    labelNames: ['group'] as const,
    registers: [this.registry],
  });

  readonly leaseHeld = new Gauge({
    name: 'gridwatch_lease_held',
    help: '1 while this process holds the named lease (the active alert engine), else 0',
    labelNames: ['lease'] as const,
    registers: [this.registry],
  });
  readonly leaseEvents = new Counter({
    name: 'gridwatch_lease_events_total',
    help: 'Lease acquisitions, losses and re-establishments after Redis lost it, per lease',
    labelNames: ['lease', 'event'] as const,
    registers: [this.registry],
  });
  readonly redisErrors = new Counter({
    name: 'gridwatch_redis_errors_total',
    help: 'Failed Redis operations, per operation',
    labelNames: ['op'] as const,
    registers: [this.registry],
  });
  readonly alertStateRebuilds = new Counter({
    name: 'gridwatch_alert_state_rebuilds_total',
    help: 'Times the shared alert state in Redis was rewritten from the engine (after Redis lost it)',
    registers: [this.registry],
  });
  readonly notificationClaims = new Counter({
    name: 'gridwatch_notification_claims_total',
    help: 'Notification keys claimed before sending, per outcome (granted, taken: another instance has it)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly alertFeedGaps = new Counter({
    name: 'gridwatch_alert_feed_gaps_total',
    help: 'Alert changes a console node missed on the shared feed and read from the alert log instead',
    registers: [this.registry],
  });

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics !== false)
      collectDefaultMetrics({ register: this.registry, prefix: 'gridwatch_' });
  }
}
