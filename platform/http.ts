// The one HTTP server of a process: parts register their routes on it. Health and metrics
// are open; every other route authenticates in its own plugin's hook.
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { GwErrors, httpStatusOf } from './errors.ts';
import type { Logger } from './logger.ts';
import type { Metrics } from './metrics.ts';
import { illFormedPath } from './unicode.ts';

interface SchemaError {
  keyword: string;
  instancePath: string;
  message?: string;
  params: Record<string, unknown>;
}

/** Fastify's message ("body/x must be …"), except that an unknown field is named. */
function schemaErrorMessage(errors: SchemaError[], dataVar: string): Error {
  return new Error(
    errors
      .map((e) =>
        e.keyword === 'additionalProperties'
          ? `${dataVar}${e.instancePath}/${String(e.params.additionalProperty)}: not a field of this request`
          : `${dataVar}${e.instancePath} ${e.message}`,
      )
      .join(', '),
  );
}

export interface ReadinessCheck {
  name: string;
  check(): Promise<boolean> | boolean;
}

export function createHttpServer(opts: {
  logger: Logger;
  metrics: Metrics;
  bodyLimit: number;
  readiness: ReadinessCheck[];
}): FastifyInstance {
  const app = Fastify({
    loggerInstance: opts.logger.child({ component: 'http' }) as FastifyBaseLogger,
    bodyLimit: opts.bodyLimit,
    genReqId: () => randomUUID(),
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    // A field a schema does not know is an error naming it, not silently dropped (Fastify's
    // default): a silence sent with `startAt` for `startsAt` would otherwise start at once.
    ajv: { customOptions: { removeAdditional: false } },
    schemaErrorFormatter: schemaErrorMessage,
  });

  // A body its route's schema validates must also be text the store can keep: refused here,
  // naming the field, before it reaches an alert note, a comment or a silence. (Ingest has no
  // body schema: it refuses such a record alone, with a dead letter.)
  app.addHook('preValidation', async (req) => {
    if (!req.routeOptions.schema?.body || typeof req.body !== 'object' || req.body === null) return;
    const at = illFormedPath(req.body);
    if (at !== undefined) throw new GwErrors.BAD_REQUEST(`${at}: contains an unpaired UTF-16 surrogate`);
  });

  app.setErrorHandler((err: Error, req, reply) => {
    const status = httpStatusOf(err);
    if (status >= 500) req.log.error({ err }, 'request failed');
    // A route's own Retry-After (a login lockout's minutes) stands.
    if ((status === 429 || status === 503) && !reply.hasHeader('retry-after'))
      void reply.header('retry-after', '1');
    const own = (err as { code?: string }).code;
    // An error without one of our codes is a fault: its text (a stack-overflow message, a
    // library's internals) is not for the client.
    const message = status >= 500 && !own?.startsWith('GW_ERR_') ? 'internal error' : err.message;
    const code = own ?? 'GW_ERR_INTERNAL';
    return reply.status(status).send({ error: code, message, statusCode: status, requestId: req.id });
  });
  app.setNotFoundHandler((req, reply) =>
    reply
      .status(404)
      .send({ error: 'GW_ERR_NOT_FOUND', message: `no route ${req.method} ${req.url}`, statusCode: 404 }),
  );

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const checks: Record<string, boolean> = {};
    for (const r of opts.readiness) {
      try {
        checks[r.name] = await r.check();
      } catch {
        checks[r.name] = false;
      }
    }
    const ready = Object.values(checks).every(Boolean);
    return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks });
  });
  app.get('/metrics', async (_req, reply) => {
    return reply
      .header('content-type', opts.metrics.registry.contentType)
      .send(await opts.metrics.registry.metrics());
  });
  return app;
}
