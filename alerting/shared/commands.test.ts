// Officers' actions forwarded from a console node to the active engine over a real Redis: the
// answer or the engine's coded error comes back to the node that asked; an action past its
// deadline or an unreadable entry is skipped without stopping the engine's reader.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../platform/logger.ts';
import { type RedisService, startRedis } from '../../test/services/redis.ts';
import { AlertingErrors } from '../errors.ts';
import type { Alert } from '../model.ts';
import { CommandClient, CommandServer, type DeskCommand } from './commands.ts';
import { alertStateKeys } from './keys.ts';

let service: RedisService;
const conns: Redis[] = [];
const keys = alertStateKeys('c:');
const log = createLogger({ level: 'silent' });
const served: DeskCommand[] = [];
let server: CommandServer;

const conn = () => {
  const r = new Redis(service.url);
  conns.push(r);
  return r;
};

beforeAll(async () => {
  service = await startRedis();
  server = new CommandServer(
    conn(),
    conn(),
    keys,
    2000,
    async (cmd) => {
      served.push(cmd);
      if (cmd.id === 'missing') throw new AlertingErrors.ALERT_NOT_FOUND(cmd.id);
      if (cmd.id === 'boom') throw new Error('database password leaked in this message');
      return { id: cmd.id, state: 'acknowledged', acknowledgedBy: cmd.actor } as Alert;
    },
    log,
  );
  server.start();
});
afterAll(async () => {
  await server?.stop();
  for (const c of conns) c.disconnect();
  await service?.stop();
});

async function client(node: string, timeoutMs = 2000): Promise<CommandClient> {
  const c = new CommandClient(conn(), conn(), keys, node, timeoutMs, log);
  await c.start();
  return c;
}

describe('forwarded actions', () => {
  it('answers each node on its own channel, with the alert after the action', async () => {
    const [n1, n2] = await Promise.all([client('n1'), client('n2')]);
    const [a, b] = await Promise.all([
      n1.send('acknowledge', 'a1', 'alice', ['on it']),
      n2.send('assign', 'a2', 'bob', ['gas-co', 'crew']),
    ]);
    expect(a).toMatchObject({ id: 'a1', acknowledgedBy: 'alice' });
    expect(b).toMatchObject({ id: 'a2', acknowledgedBy: 'bob' });
    expect(served.find((c) => c.id === 'a2')).toMatchObject({
      op: 'assign',
      args: ['gas-co', 'crew'],
      node: 'n2',
    });
  });

  it("carries the engine's coded error back (status and code), and hides the message of an internal one", async () => {
    const n = await client('n3');
    await expect(n.send('resolve', 'missing', 'alice', ['done'])).rejects.toMatchObject({
      code: 'GW_ERR_ALERT_NOT_FOUND',
      statusCode: 404,
    });
    const err = await n.send('comment', 'boom', 'alice', ['x']).catch((e: Error) => e);
    expect(err).toMatchObject({ statusCode: 500, message: 'internal error' });
  });

  it('skips unreadable entries and actions past their deadline, and goes on serving', async () => {
    const raw = conn();
    await raw.xadd(keys.commands, '*', 'cmd', '{not json');
    await raw.xadd(
      keys.commands,
      '*',
      'cmd',
      JSON.stringify({ rid: 'x', node: 'n9', op: 'drop_tables', id: 'a' }),
    );
    const late: DeskCommand = {
      rid: 'late',
      node: 'n9',
      op: 'acknowledge',
      id: 'late',
      actor: 'z',
      args: [],
      deadline: Date.now() - 1,
    };
    await raw.xadd(keys.commands, '*', 'cmd', JSON.stringify(late));
    const n = await client('n4');
    expect(await n.send('acknowledge', 'after', 'carol', [''])).toMatchObject({ id: 'after' });
    expect(served.map((c) => c.id)).not.toContain('late');
    expect(served.map((c) => c.op)).not.toContain('drop_tables');
  });

  it('tells the officer to retry when no engine answers in time', async () => {
    await server.stop();
    const n = await client('n5', 300);
    await expect(n.send('acknowledge', 'a9', 'dave', [''])).rejects.toMatchObject({ statusCode: 503 });
    server.start(); // picks up what is still within its deadline
  });

  it('a new engine re-reading the stream takes each action once (not again after a takeover)', async () => {
    const n = await client('n6');
    expect(await n.send('comment', 'before', 'erin', ['x'])).toMatchObject({ id: 'before' });
    await server.stop();
    server = new CommandServer(
      conn(),
      conn(),
      keys,
      2000,
      async (cmd) => {
        served.push(cmd);
        return { id: cmd.id } as Alert;
      },
      log,
    );
    server.start(); // reads from now − timeout: 'before' is within its deadline again
    expect(await n.send('comment', 'fresh', 'erin', ['x'])).toMatchObject({ id: 'fresh' });
    const rids = served.map((c) => c.rid);
    expect(new Set(rids).size).toBe(rids.length);
    expect(served.filter((c) => c.id === 'before')).toHaveLength(1);
  });
});
