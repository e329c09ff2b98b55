// The test services themselves, against real servers: a KRaft Kafka broker (keyed produce,
// group consume, exactly-once delivery, a broker restart mid-stream) and a private Redis.
import { Redis } from 'ioredis';
import Kafka, { type DeliveryReport, type Message } from 'node-rdkafka';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type KafkaService, startKafka } from './kafka.ts';
import { portOpen } from './proc.ts';
import { type RedisService, startRedis } from './redis.ts';

// Generous: the broker is a JVM on two shared cores. These bound a hang; they measure nothing.
const SLOW = 180_000;

interface Sent {
  seq: number;
  key: string;
}

async function connectProducer(bootstrap: string): Promise<Kafka.Producer> {
  const producer = new Kafka.Producer(
    {
      'metadata.broker.list': bootstrap,
      'client.id': 'services-test-producer',
      'enable.idempotence': true,
      dr_cb: true,
      'linger.ms': 5,
    },
    { acks: -1 },
  );
  await new Promise<void>((res, rej) => producer.connect({}, (err) => (err ? rej(err) : res())));
  producer.setPollInterval(20);
  return producer;
}

/** Produces every record keyed by its grid; resolves with the delivery reports, by seq. */
function produceAll(
  producer: Kafka.Producer,
  topic: string,
  records: Sent[],
): Promise<Map<number, DeliveryReport>> {
  return new Promise((resolve, reject) => {
    const reports = new Map<number, DeliveryReport>();
    const onReport = (err: Kafka.LibrdKafkaError | null, report: DeliveryReport) => {
      if (err) {
        producer.off('delivery-report', onReport);
        reject(new Error(`delivery failed: ${err.message}`));
        return;
      }
      reports.set(report.opaque as number, report);
      if (reports.size === records.length) {
        producer.off('delivery-report', onReport);
        resolve(reports);
      }
    };
    producer.on('delivery-report', onReport);
    for (const r of records) {
      producer.produce(topic, null, Buffer.from(JSON.stringify(r)), r.key, Date.now(), r.seq);
    }
  });
}

async function connectConsumer(
  bootstrap: string,
  group: string,
  topic: string,
): Promise<Kafka.KafkaConsumer> {
  const consumer = new Kafka.KafkaConsumer(
    {
      'metadata.broker.list': bootstrap,
      'group.id': group,
      'client.id': `services-test-${group}`,
      'enable.auto.commit': false,
    },
    { 'auto.offset.reset': 'earliest' },
  );
  await new Promise<void>((res, rej) => consumer.connect({}, (err) => (err ? rej(err) : res())));
  consumer.setDefaultConsumeTimeout(200);
  consumer.subscribe([topic]);
  return consumer;
}

function consumeBatch(consumer: Kafka.KafkaConsumer): Promise<Message[]> {
  return new Promise((res, rej) =>
    consumer.consume(200, (err, messages) => (err ? rej(err) : res(messages))),
  );
}

/**
 * Consumes until `n` messages arrived, then keeps polling `settleMs` longer so a duplicate
 * would show up as a count over `n` rather than pass unnoticed.
 */
async function consumeN(consumer: Kafka.KafkaConsumer, n: number, settleMs = 1500): Promise<Message[]> {
  const got: Message[] = [];
  const deadline = Date.now() + 120_000;
  while (got.length < n && Date.now() < deadline) got.push(...(await consumeBatch(consumer)));
  const settle = Date.now() + settleMs;
  while (Date.now() < settle) got.push(...(await consumeBatch(consumer)));
  return got;
}

const decode = (m: Message): Sent => JSON.parse(m.value?.toString() ?? 'null') as Sent;

function disconnect(client: Kafka.Producer | Kafka.KafkaConsumer): Promise<void> {
  return new Promise((res) => client.disconnect(() => res()));
}

function records(from: number, count: number): Sent[] {
  // 50 grids over 6 partitions: many keys per partition, as grids are in production.
  return Array.from({ length: count }, (_, i) => ({ seq: from + i, key: `grid-${(from + i) % 50}` }));
}

/** Every seq exactly once, and each key on a single partition. */
function expectExactlyOnceAndKeyed(messages: Message[], expected: Sent[]): void {
  const seqs = messages.map((m) => decode(m).seq).sort((a, b) => a - b);
  expect(seqs).toEqual(expected.map((r) => r.seq).sort((a, b) => a - b));
  const partitionOf = new Map<string, Set<number>>();
  for (const m of messages) {
    const key = m.key?.toString() ?? '';
    expect(key).toBe(decode(m).key);
    partitionOf.set(key, (partitionOf.get(key) ?? new Set()).add(m.partition));
  }
  for (const [key, partitions] of partitionOf) expect([key, partitions.size]).toEqual([key, 1]);
}

describe('kafka', () => {
  let kafka: KafkaService;

  beforeAll(async () => {
    kafka = await startKafka({ partitions: 6 });
  }, SLOW);

  afterAll(async () => {
    await kafka?.stop();
  }, SLOW);

  test(
    '1,000 keyed messages arrive exactly once, each key on one partition, in order',
    async () => {
      const topic = 'svc.keyed';
      await kafka.createTopics([{ name: topic, partitions: 6 }]);
      const sent = records(0, 1000);

      const producer = await connectProducer(kafka.bootstrap);
      const reports = await produceAll(producer, topic, sent);
      await disconnect(producer);
      expect(reports.size).toBe(1000);
      expect(new Set([...reports.values()].map((r) => r.partition)).size).toBe(6);

      const consumer = await connectConsumer(kafka.bootstrap, 'svc-keyed', topic);
      const got = await consumeN(consumer, 1000);
      consumer.commitSync(null);
      await disconnect(consumer);

      expectExactlyOnceAndKeyed(got, sent);
      for (const m of got) {
        const report = reports.get(decode(m).seq)!;
        expect([m.partition, m.offset]).toEqual([report.partition, report.offset]);
      }
      // The idempotent producer keeps send order within a key.
      const lastSeq = new Map<string, number>();
      for (const m of [...got].sort((a, b) => a.partition - b.partition || a.offset - b.offset)) {
        const { key, seq } = decode(m);
        expect(seq).toBeGreaterThan(lastSeq.get(key) ?? -1);
        lastSeq.set(key, seq);
      }
    },
    SLOW,
  );

  test(
    'a broker restarted mid-stream: the same producer and consumer carry on, nothing lost or repeated',
    async () => {
      const topic = 'svc.restart';
      await kafka.createTopics([{ name: topic }]);
      const producer = await connectProducer(kafka.bootstrap);
      const consumer = await connectConsumer(kafka.bootstrap, 'svc-restart', topic);

      const before = records(0, 200);
      await produceAll(producer, topic, before);
      expectExactlyOnceAndKeyed(await consumeN(consumer, 200), before);
      consumer.commitSync(null);

      const bootstrap = kafka.bootstrap;
      await kafka.restart();
      expect(kafka.bootstrap).toBe(bootstrap);

      const after = records(200, 200);
      await produceAll(producer, topic, after);
      expectExactlyOnceAndKeyed(await consumeN(consumer, 200), after);
      await disconnect(producer);
      await disconnect(consumer);

      // The data survived the restart: a new group reads both halves from the start.
      const fresh = await connectConsumer(kafka.bootstrap, 'svc-restart-fresh', topic);
      const all = await consumeN(fresh, 400);
      await disconnect(fresh);
      expectExactlyOnceAndKeyed(all, [...before, ...after]);
    },
    SLOW,
  );

  test(
    'kill() is a crash the broker recovers from; stop() frees its port',
    async () => {
      const topic = 'svc.crash';
      await kafka.createTopics([{ name: topic, partitions: 3 }]);
      const producer = await connectProducer(kafka.bootstrap);
      const sent = records(0, 300);
      await produceAll(producer, topic, sent);
      await disconnect(producer);

      const port = Number(kafka.bootstrap.split(':')[1]);
      await kafka.kill();
      expect(await portOpen(port)).toBe(false);
      await kafka.restart();
      // Acknowledged with acks=all before the SIGKILL: all there after log recovery.
      const consumer = await connectConsumer(kafka.bootstrap, 'svc-crash', topic);
      expectExactlyOnceAndKeyed(await consumeN(consumer, 300), sent);
      await disconnect(consumer);

      await kafka.stop();
      expect(await portOpen(port)).toBe(false);
    },
    SLOW,
  );
});

describe('redis', () => {
  let redis: RedisService;
  let client: Redis;

  beforeAll(async () => {
    redis = await startRedis();
    client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  }, 60_000);

  afterAll(async () => {
    await client?.quit();
    await redis?.stop();
  }, 60_000);

  test('a private, empty Redis on a free port: SET/GET, then flushAll empties it', async () => {
    expect(redis.port).not.toBe(6379);
    expect(await client.dbsize()).toBe(0);
    await client.set('gridwatch:test', 'hello');
    expect(await client.get('gridwatch:test')).toBe('hello');
    await redis.flushAll();
    expect(await client.get('gridwatch:test')).toBeNull();
    expect(await client.dbsize()).toBe(0);
  });
});
