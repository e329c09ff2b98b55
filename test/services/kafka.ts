// A real Apache Kafka broker for tests: KRaft combined mode (broker + controller, one node) on
// free ports, from the jars .ci/kafka-jars.sh fetches from Maven Central, run by the machine's
// Java 17. No Docker, no mocks. See test/services/README.md.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Kafka, { type Metadata } from 'node-rdkafka';
import {
  exited,
  freePort,
  guardChild,
  killHard,
  portOpen,
  removeAtExit,
  terminate,
  waitUntil,
} from './proc.ts';

export interface StartKafkaOptions {
  /** Partitions of a topic created without a count (num.partitions). Default 6. */
  partitions?: number;
  /** Directory for the broker's own log file (kept after the run); default: the temp dir. */
  logDir?: string;
}

export interface TopicSpec {
  name: string;
  /** Default: the broker's `partitions`. */
  partitions?: number;
  /** Topic-level configs, e.g. `{ 'retention.ms': '-1' }`. */
  config?: Record<string, string>;
}

export interface KafkaService {
  /** `127.0.0.1:PORT`, for `metadata.broker.list` / `bootstrap.servers`. */
  readonly bootstrap: string;
  /** Kafka's log.dirs: partition data and the KRaft metadata log; kept across restart(). */
  readonly dataDir: string;
  /** The broker's stdout/stderr and log4j output, appended across restarts. */
  readonly logFile: string;
  /** SIGTERM (controlled shutdown), SIGKILL if still running after 20 s. */
  stop(): Promise<void>;
  /** SIGKILL: a crash, for recovery tests. */
  kill(): Promise<void>;
  /** stop() if running, then start again on the same ports and data dir; resolves when ready. */
  restart(): Promise<void>;
  /** Creates the topics (replication factor 1) and waits until every partition has a leader. */
  createTopics(specs: TopicSpec[]): Promise<void>;
}

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const JARS_SCRIPT = join(ROOT, '.ci/kafka-jars.sh');
const READY_TIMEOUT_MS = 90_000;
const STOP_GRACE_MS = 20_000;
// Two cores shared with the tests: a small heap and the serial collector.
const JVM_OPTS = ['-Xms256m', '-Xmx512m', '-XX:+UseSerialGC', '-XX:-UsePerfData', '-Djava.awt.headless=true'];

export async function startKafka(opts: StartKafkaOptions = {}): Promise<KafkaService> {
  const lib = await kafkaJars();
  // A free port can be taken by someone else before the JVM binds it (seconds later): then
  // start over on new ports, in a new dir (the controller's address is written at format).
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(lib, opts);
    } catch (err) {
      if (!(err instanceof PortTaken) || attempt === 3) throw err;
    }
  }
}

class PortTaken extends Error {}

async function startOnce(lib: string, opts: StartKafkaOptions): Promise<KafkaService> {
  const partitions = opts.partitions ?? 6;
  const dir = mkdtempSync(join(tmpdir(), 'gridwatch-kafka-'));
  removeAtExit(dir);
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir);
  const port = await freePort();
  let controllerPort = await freePort();
  while (controllerPort === port) controllerPort = await freePort();
  const bootstrap = `127.0.0.1:${port}`;
  const logDir = opts.logDir ? resolve(opts.logDir) : dir;
  mkdirSync(logDir, { recursive: true });
  const logFile = join(logDir, `kafka-${port}.log`);

  const config = join(dir, 'server.properties');
  writeFileSync(
    config,
    [
      'process.roles=broker,controller',
      'node.id=1',
      // Dynamic quorum (`format --standalone`): the one voter is this node.
      `controller.quorum.bootstrap.servers=127.0.0.1:${controllerPort}`,
      `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
      'controller.listener.names=CONTROLLER',
      'inter.broker.listener.name=PLAINTEXT',
      'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
      `log.dirs=${dataDir}`,
      `num.partitions=${partitions}`,
      'default.replication.factor=1',
      'min.insync.replicas=1',
      'offsets.topic.replication.factor=1',
      // 6 rather than 50 partitions: the offsets topic is created on the first group join.
      'offsets.topic.num.partitions=6',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'transaction.state.log.num.partitions=6',
      'share.coordinator.state.topic.replication.factor=1',
      'share.coordinator.state.topic.min.isr=1',
      // Topics are created explicitly, as in production: a typo must not make a topic.
      'auto.create.topics.enable=false',
      'group.initial.rebalance.delay.ms=0',
      // After kill() the restarted broker cannot register until its old session expires (9 s
      // by default); short sessions keep kill-and-restart tests quick.
      'broker.session.timeout.ms=4000',
      'broker.heartbeat.interval.ms=500',
      'log.segment.bytes=16777216',
      'log.retention.check.interval.ms=60000',
      '',
    ].join('\n'),
  );
  const log4j = join(dir, 'log4j2.properties');
  writeFileSync(
    log4j,
    [
      'status = warn',
      // Kafka flushes logs on shutdown itself; log4j's own hook only warns when it is late.
      'shutdownHook = disable',
      'appender.out.type = Console',
      'appender.out.name = out',
      'appender.out.layout.type = PatternLayout',
      'appender.out.layout.pattern = [%d] %p %m (%c)%n',
      'rootLogger.level = INFO',
      'rootLogger.appenderRef.out.ref = out',
      // Per-request and per-partition state chatter: WARN is enough to debug a test.
      'logger.state.name = state.change.logger',
      'logger.state.level = WARN',
      'logger.request.name = kafka.request.logger',
      'logger.request.level = WARN',
      '',
    ].join('\n'),
  );

  const java = process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin/java') : 'java';
  const javaArgs = (main: string, ...args: string[]) => [
    ...JVM_OPTS,
    `-Dlog4j2.configurationFile=${log4j}`,
    '-cp',
    `${lib}/*`,
    main,
    ...args,
  ];

  // Format once; restart() reuses the formatted data dir.
  const format = await runToLog(
    java,
    javaArgs('kafka.tools.StorageTool', 'format', '--standalone', '-t', clusterId(), '-c', config),
    dir,
    logFile,
  );
  if (format !== 0) throw new Error(`kafka storage format exited ${format}\n${tail(logFile)}`);

  let child: ChildProcess | undefined;

  const launch = async () => {
    const out = openSync(logFile, 'a');
    let proc: ChildProcess;
    try {
      proc = spawn(java, javaArgs('kafka.Kafka', config), { cwd: dir, stdio: ['ignore', out, out] });
    } finally {
      closeSync(out);
    }
    child = proc;
    let spawnError: Error | undefined;
    proc.once('error', (err) => {
      spawnError = err;
    });
    guardChild(proc);
    // A forgotten stop() must not keep a script alive: the 'exit' hook kills the broker then.
    proc.unref();
    try {
      await waitUntil(
        `kafka ${bootstrap}`,
        async () => {
          if (spawnError) throw new Error(`cannot run ${java}: ${spawnError.message}`);
          return brokerReady(proc, bootstrap, logFile);
        },
        {
          timeoutMs: READY_TIMEOUT_MS,
          intervalMs: 300,
          describe: () => `log tail (${logFile}):\n${tail(logFile)}`,
        },
      );
    } catch (err) {
      await killHard(proc);
      if (tail(logFile).includes('Address already in use')) throw new PortTaken(String(err));
      throw err;
    }
  };

  const stop = async () => {
    if (child) await terminate(child, STOP_GRACE_MS);
  };

  await launch();

  return {
    bootstrap,
    dataDir,
    logFile,
    stop,
    async kill() {
      if (child) await killHard(child);
    },
    async restart() {
      await stop();
      await launch();
    },
    createTopics: (specs) => createTopics(bootstrap, specs, partitions),
  };
}

/** The jar directory, fetched by .ci/kafka-jars.sh first if needed (fast when it is complete). */
async function kafkaJars(): Promise<string> {
  // The script owns the version, the cache path and the completeness check, so it is always
  // asked; with a complete cache it only compares the stamp (milliseconds).
  const child = spawn('bash', [JARS_SCRIPT], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const code = await new Promise<number | null>((res, rej) => {
    child.once('error', rej);
    child.once('close', res);
  });
  const lib = stdout.trim().split('\n').pop() ?? '';
  if (code !== 0 || !lib || !existsSync(lib)) {
    throw new Error(`.ci/kafka-jars.sh failed (exit ${code}):\n${stderr.slice(-4000)}`);
  }
  return lib;
}

/** A KRaft cluster id: 16 random bytes, base64url (what `kafka-storage random-uuid` prints). */
function clusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    // Kafka's own generator avoids a leading '-', which argument parsers read as an option.
    if (!id.startsWith('-')) return id;
  }
}

async function runToLog(cmd: string, args: string[], cwd: string, logFile: string): Promise<number | null> {
  const out = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(cmd, args, { cwd, stdio: ['ignore', out, out] });
  } finally {
    closeSync(out);
  }
  guardChild(child);
  return new Promise((res, rej) => {
    child.once('error', (err) => rej(new Error(`cannot run ${cmd}: ${err.message}`)));
    child.once('exit', (code) => res(code));
  });
}

function tail(file: string, lines = 60): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Ready = the port accepts and a metadata request lists a broker (registered and unfenced). */
async function brokerReady(child: ChildProcess, bootstrap: string, logFile: string): Promise<boolean> {
  if (exited(child)) {
    throw new Error(
      `kafka ${bootstrap} exited (${child.exitCode ?? child.signalCode}) while starting:\n${tail(logFile)}`,
    );
  }
  // A TCP probe first: a librdkafka client against a closed port only logs and waits.
  if (!(await portOpen(Number(bootstrap.split(':')[1])))) return false;
  try {
    const md = await metadata(bootstrap, 3000);
    return md.brokers.length > 0;
  } catch {
    return false;
  }
}

function metadata(bootstrap: string, timeoutMs: number): Promise<Metadata> {
  const producer = new Kafka.Producer({
    'client.id': 'gridwatch-test-probe',
    'metadata.broker.list': bootstrap,
    'log.connection.close': false,
  });
  return new Promise((res, rej) => {
    producer.connect({ timeout: timeoutMs }, (err, md) => {
      if (err) {
        rej(new Error(err.message));
        return;
      }
      producer.disconnect(() => res(md));
    });
  });
}

async function createTopics(bootstrap: string, specs: TopicSpec[], defaultPartitions: number): Promise<void> {
  const admin = Kafka.AdminClient.create({
    'client.id': 'gridwatch-test-admin',
    'metadata.broker.list': bootstrap,
  });
  try {
    for (const spec of specs) {
      await new Promise<void>((res, rej) =>
        admin.createTopic(
          {
            topic: spec.name,
            num_partitions: spec.partitions ?? defaultPartitions,
            replication_factor: 1,
            ...(spec.config ? { config: spec.config } : {}),
          },
          30_000,
          (err) => (err ? rej(new Error(`create topic ${spec.name}: ${err.message}`)) : res()),
        ),
      );
    }
  } finally {
    admin.disconnect();
  }
  // The controller answers before every partition's leader is known to the broker; a client
  // producing straight away would see UNKNOWN_TOPIC_OR_PART.
  await waitUntil(
    `topics ${specs.map((s) => s.name).join(', ')}`,
    async () => {
      const md = await metadata(bootstrap, 5000).catch(() => undefined);
      return specs.every((spec) => {
        const topic = md?.topics.find((t) => t.name === spec.name);
        return (
          topic !== undefined &&
          topic.partitions.length === (spec.partitions ?? defaultPartitions) &&
          topic.partitions.every((p) => p.leader >= 0)
        );
      });
    },
    { timeoutMs: 30_000, intervalMs: 200 },
  );
}
