// The bus between parts. Embedded mode delivers in-process; the Kafka adapter (distributed
// mode) implements the same interface. Each subscriber drains its own queue in order, off the
// publisher's call stack, so ingest answers do not wait on processing.
export type Handler<T> = (messages: T[]) => void | Promise<void>;

export interface Bus {
  publish<T>(topic: string, messages: T[]): void;
  subscribe<T>(topic: string, handler: Handler<T>): () => void;
  /** Messages published but not yet handled by the slowest subscriber of a topic. */
  depth(topic: string): number;
  /** Resolves once every queued message of every topic has been handled. */
  idle(): Promise<void>;
}

interface Subscriber {
  handler: Handler<unknown>;
  queue: unknown[][];
  queued: number;
  running: boolean;
}

export class InProcessBus implements Bus {
  private readonly topics = new Map<string, Subscriber[]>();
  private waiters: (() => void)[] = [];

  constructor(private readonly onError: (topic: string, err: unknown) => void = () => {}) {}

  publish<T>(topic: string, messages: T[]): void {
    if (messages.length === 0) return;
    for (const sub of this.topics.get(topic) ?? []) {
      sub.queue.push(messages);
      sub.queued += messages.length;
      if (!sub.running) this.drain(topic, sub);
    }
  }

  subscribe<T>(topic: string, handler: Handler<T>): () => void {
    const sub: Subscriber = { handler: handler as Handler<unknown>, queue: [], queued: 0, running: false };
    const subs = this.topics.get(topic) ?? [];
    subs.push(sub);
    this.topics.set(topic, subs);
    return () => {
      const list = this.topics.get(topic) ?? [];
      this.topics.set(
        topic,
        list.filter((s) => s !== sub),
      );
    };
  }

  depth(topic: string): number {
    let max = 0;
    for (const s of this.topics.get(topic) ?? []) max = Math.max(max, s.queued);
    return max;
  }

  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private isIdle(): boolean {
    for (const subs of this.topics.values())
      for (const s of subs) if (s.running || s.queued > 0) return false;
    return true;
  }

  private drain(topic: string, sub: Subscriber): void {
    sub.running = true;
    setImmediate(async () => {
      while (sub.queue.length > 0) {
        const batch = sub.queue.shift()!;
        try {
          await sub.handler(batch);
        } catch (err) {
          this.onError(topic, err);
        }
        sub.queued -= batch.length;
      }
      sub.running = false;
      if (this.isIdle()) {
        const w = this.waiters;
        this.waiters = [];
        for (const f of w) f();
      }
    });
  }
}
