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
  readonly eventsDuplicate = new Counter({
    name: 'gridwatch_events_duplicate_total',
    help: 'Records whose id was already accepted (idempotent retries), per source',
    labelNames: ['source'] as const,
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
    help: 'Times the open-window limit forced an early emission, per window spec',
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

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics !== false)
      collectDefaultMetrics({ register: this.registry, prefix: 'gridwatch_' });
  }
}
