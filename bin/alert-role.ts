// `gridwatch alert`: N instances, one active. The active one holds a lease in Redis and runs the
// same AlertEngine as one process does — fed from Kafka, logging to the store, notifying — and
// mirrors every transition into the shared alert state (fenced by its lease token) for the
// console nodes; the others stand by and take over within about twice the lease's ttl, starting
// from the alert log. Notification keys are claimed in Redis before sending, so an instance that
// lost the lease without knowing it yet (a long pause) sends nothing twice. If Redis loses its
// data, the active engine writes the state and the claims again from the alert log and outbox.
import { AlertEngine } from '../alerting/engine.ts';
import { ALERTS_TOPIC, type AlertTransition } from '../alerting/model.ts';
import { createNotificationChannels } from '../alerting/notification-channels.ts';
import { isFenced, SharedAlertState } from '../alerting/shared/alert-state.ts';
import { CommandServer, perform } from '../alerting/shared/commands.ts';
import { KafkaInput, resultCheck } from '../alerting/shared/kafka-input.ts';
import { type AlertStateKeys, alertStateKeys } from '../alerting/shared/keys.ts';
import { MaintenanceWindows } from '../alerting/silences/maintenance.ts';
import { Silences } from '../alerting/silences/silences.ts';
import type { GridwatchConfig } from '../config/schema.ts';
import { type Bus, InProcessBus } from '../platform/bus.ts';
import { durationMs } from '../platform/duration.ts';
import { GroupConsumer } from '../platform/kafka/consumer.ts';
import { topicsOf } from '../platform/kafka/topics.ts';
import type { Logger } from '../platform/logger.ts';
import { Lease } from '../platform/redis/lease.ts';
import { type Common, common, type RoleHandle, requireRedis, roleRedis, roleServer } from './roles.ts';

const DAY = 86_400_000;
/** Silences are created on console nodes (in the store): the active engine reads them this often. */
const SILENCE_RELOAD_MS = 10_000;
/** After a failed write to Redis, the state is written whole again this often until it succeeds. */
const REPAIR_MS = 2000;

export async function startAlertRole(
  config: GridwatchConfig,
  opts: { logger?: Logger } = {},
): Promise<RoleHandle> {
  requireRedis(config, 'alert');
  const c = await common(config, 'alert', opts.logger);
  const r = config.state.redis;
  const keys = alertStateKeys(r.keyPrefix);
  const redis = roleRedis(config, c, 'alert');
  const state = new SharedAlertState(redis, keys, c.metrics);
  const lease = new Lease(redis, {
    key: keys.lease,
    name: 'alert-engine',
    ttlMs: durationMs(r.leaseTtl),
    metrics: c.metrics,
    log: c.log,
  });
  let active: ActiveEngine | undefined;
  lease.start({
    acquired: async (token) => {
      active = await ActiveEngine.start(config, c, redis, keys, state, token);
    },
    lost: async () => {
      const a = active;
      active = undefined;
      await a?.stop();
    },
    reestablished: async () => {
      c.log.warn('alerting: Redis lost the shared state; writing it again from the engine');
      await active?.repair(true);
    },
  });

  const server = roleServer('alert', config, c, {
    bodyLimit: 1024 * 1024,
    checks: [{ name: 'redis', check: async () => (await redis.ping()) === 'PONG' }],
  });
  return server.listen(
    () => lease.stop(), // the active engine stops (logs, sends what is decided), then releases
    () => redis.disconnect(),
  );
}

/** The engine of the instance holding the lease, with its input, its mirror and its action queue. */
class ActiveEngine {
  private queue: Promise<unknown> = Promise.resolve();
  /** Cursor of the last transition written to Redis. */
  private applied: number;
  private dirty = false;
  private stopped = false;
  private readonly timers: NodeJS.Timeout[] = [];

  private constructor(
    private readonly c: Common,
    private readonly state: SharedAlertState,
    private readonly token: string,
    readonly engine: AlertEngine,
    private readonly outboxKeys: () => Promise<string[]>,
    private readonly parts: { stop(): Promise<void> }[],
  ) {
    this.applied = engine.cursor;
  }

  static async start(
    config: GridwatchConfig,
    c: Common,
    redis: import('ioredis').Redis,
    keys: AlertStateKeys,
    state: SharedAlertState,
    token: string,
  ): Promise<ActiveEngine> {
    const log = c.log.child({ component: 'alerting' });
    const bus = new InProcessBus((topic, err) => log.error({ err, topic }, 'bus: subscriber failed'));
    const notify = createNotificationChannels(config.alerting, {
      store: c.store,
      org: c.org,
      metrics: c.metrics,
      log,
    });
    const silences = new Silences({ store: c.store, org: c.org, log });
    await silences.load();
    let live = true;
    const engine = new AlertEngine({
      silences,
      maintenance: new MaintenanceWindows(config.alerting.maintenance, c.org),
      channels: notify.channels,
      outbox: notify.outbox,
      // Only while this engine is the active one: after `stop` its claims are refused here already.
      claims: state.claims(() => (live ? token : undefined)),
      fence: async () => {
        // Unreachable Redis: nobody can take the lease over meanwhile, so this engine goes on.
        const holder = await redis.get(keys.lease).catch(() => null);
        if (holder !== null && holder !== token)
          throw new Error('FENCED another alert engine holds the lease; this one stands down');
      },
      config,
      org: c.org,
      store: c.store,
      bus,
      metrics: c.metrics,
      log,
    });
    const topics = topicsOf(config);
    const parts: { stop(): Promise<void> }[] = [];
    const a = new ActiveEngine(
      c,
      state,
      token,
      engine,
      () => notify.outbox.keysSince(Date.now() - DAY),
      parts,
    );
    bus.subscribe<AlertTransition>(ALERTS_TOPIC, (ts) => a.mirror(ts, topics.alerts));
    // Stopped last (after the action reader and the input, unshifted before it): the engine
    // settles what is queued (fenced), then the channels finish what they are sending.
    parts.push({
      stop: async () => {
        await engine.stop();
        live = false;
        await notify.close();
      },
    });
    try {
      await engine.start();
    } catch (err) {
      await a.stop();
      throw err;
    }
    a.applied = engine.cursor;
    try {
      await a.repair(true);
      await a.connectInputs(config, bus, redis, keys, log);
    } catch (err) {
      await a.stop();
      throw err;
    }
    a.timers.push(
      setInterval(
        () => void silences.load().catch((err) => log.warn({ err }, 'alerting: silences not reloaded')),
        SILENCE_RELOAD_MS,
      ),
      setInterval(() => {
        if (a.dirty) void a.repair(false);
      }, REPAIR_MS),
    );
    log.info(
      { open: engine.lifecycle.activeCount, cursor: engine.cursor },
      'alerting: this instance is the active engine',
    );
    return a;
  }

  /** The Kafka input and the officers' actions, each stopped (before the engine) by stop(). */
  private async connectInputs(
    config: GridwatchConfig,
    bus: Bus,
    redis: import('ioredis').Redis,
    keys: AlertStateKeys,
    log: Logger,
  ): Promise<void> {
    const engine = this.engine;
    const c = this.c;
    const topics = topicsOf(config);
    const input = new KafkaInput({
      topics,
      bus,
      settled: () => engine.idle(),
      minTs: Date.parse(config.ingest.minTimestamp),
      maxFutureMs: durationMs(config.ingest.maxFuture),
      events: true,
      commit: true,
      check: resultCheck(config, c.org),
      metrics: c.metrics,
      log,
    });
    const consumer = new GroupConsumer(
      config,
      { group: `${config.bus.kafka.topicPrefix}alerting`, topics: input.subscribedTopics, role: 'alert' },
      input,
      c.metrics,
      log,
    );
    input.consumer = consumer;
    const reader = roleRedis(config, c, 'alert-actions');
    const commands = new CommandServer(
      reader,
      redis,
      keys,
      durationMs(config.state.redis.commandTimeout),
      (cmd) => perform(engine, cmd),
      log,
    );
    commands.start();
    this.parts.unshift({ stop: () => commands.stop().finally(() => reader.disconnect()) });
    await consumer.start();
    this.parts.unshift({ stop: () => consumer.stop() });
  }

  /** Each logged transition, in order, into Redis (fenced) and onto the Kafka alerts topic. */
  private mirror(ts: AlertTransition[], topic: string): Promise<void> {
    return this.serial(async () => {
      void this.c.producer
        .send(
          topic,
          ts.map((t) => ({ key: t.alertId, value: Buffer.from(JSON.stringify(t)) })),
        )
        .catch((err) => this.c.log.warn({ err }, 'alerting: alert changes not sent to Kafka'));
      // While the state is being written whole again, single changes wait for it (they are in
      // the engine's state, and console nodes read the feed's gap from the alert log).
      if (this.dirty) return;
      try {
        await this.state.apply(this.token, ts);
        for (const t of ts) this.applied = Math.max(this.applied, t.cursor);
      } catch (err) {
        this.failed(err);
      }
    });
  }

  /**
   * Writes the shared state whole from the engine (its state came from the alert log); `claims`:
   * also claims again what the outbox holds. After Redis lost its data, or a write to it failed.
   */
  repair(claims: boolean): Promise<void> {
    return this.serial(async () => {
      if (this.stopped) return;
      const lc = this.engine.lifecycle;
      const open = [...lc.active()].map((alert) => ({ alert, seq: lc.seqOf(alert.id) }));
      // The engine's state includes changes still queued for the mirror: the cursor written is
      // the engine's, and those changes, skipped, reach consoles from the alert log.
      this.applied = Math.max(this.applied, this.engine.cursor);
      try {
        await this.state.rebuild(this.token, this.applied, open);
        if (claims) await this.state.seedClaims(this.token, await this.outboxKeys());
        this.dirty = false;
        this.c.log.info({ open: open.length, cursor: this.applied }, 'alerting: shared alert state written');
      } catch (err) {
        this.failed(err);
      }
    });
  }

  private failed(err: unknown): void {
    this.dirty = true;
    if (isFenced(err))
      this.c.log.warn('alerting: shared state refused this engine (lease lost); the lease loop stops it');
    else {
      this.c.metrics.redisErrors.inc({ op: 'alert_state' });
      this.c.log.warn(
        { err: (err as Error).message },
        'alerting: shared state not written; will write it whole again',
      );
    }
  }

  private serial(f: () => Promise<void>): Promise<void> {
    const p = this.queue.then(f);
    this.queue = p.catch((err) => this.c.log.error({ err }, 'alerting: shared state step failed'));
    return p;
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    for (const p of this.parts) await p.stop();
    await this.queue;
    this.stopped = true;
    this.c.log.info('alerting: this instance is no longer the active engine');
  }
}
