// The ingest API, one route per source: POST /v1/ingest/{sensor|video|hotline}. Each record is
// validated on its own; good ones are durably logged before the answer, bad ones go to the
// dead-letter table with their reason, and the answer says which was which.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { OrgTree } from '../config/org-tree.ts';
import { type GridwatchConfig, SOURCES, type SourceName } from '../config/schema.ts';
import type { ApiKeys, ApiPrincipal } from '../platform/api-keys.ts';
import { GwErrors } from '../platform/errors.ts';
import type { Metrics } from '../platform/metrics.ts';
import type { Row, Store } from '../platform/store/store.ts';
import { BodyError, type ParsedBody, parseJsonBody, parseNdjsonBody } from './body.ts';
import { deadLetterRow } from './dead-letters.ts';
import type { EventAppender, LogItem } from './event-log.ts';
import { ADAPTERS, type RecordError, validationContext } from './sources.ts';

export interface IngestDeps {
  config: GridwatchConfig;
  org: OrgTree;
  store: Store;
  eventLog: EventAppender;
  keys: ApiKeys;
  metrics: Metrics;
  /** Records the processors have not caught up with; above the limit ingest answers 429. */
  processorLag: () => number;
}

export type RecordOutcome =
  | { index: number; status: 'accepted' | 'duplicate'; id: string }
  | ({ status: 'rejected' } & RecordError);

export interface IngestResponse {
  accepted: number;
  duplicates: number;
  rejected: number;
  records: RecordOutcome[];
}

declare module 'fastify' {
  interface FastifyRequest {
    ingestKey?: ApiPrincipal;
  }
}

/** Codings a body may arrive in that are not read here (others, such as a stray utf-8, are ignored). */
const COMPRESSED = /\b(?:gzip|x-gzip|deflate|br|zstd|compress)\b/;

export async function ingestRoutes(app: FastifyInstance, deps: IngestDeps): Promise<void> {
  const { config, metrics } = deps;
  app.removeContentTypeParser(['application/json']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, parseJsonBody(body as string));
    } catch (e) {
      done(e instanceof BodyError ? new GwErrors.BAD_REQUEST(e.message) : (e as Error), undefined);
    }
  });
  app.addContentTypeParser(
    ['application/x-ndjson', 'application/ndjson'],
    { parseAs: 'string' },
    (_req, body, done) => {
      done(null, parseNdjsonBody(body as string));
    },
  );

  for (const source of SOURCES) {
    app.post(`/v1/ingest/${source}`, {
      onRequest: async (req) => {
        const p = deps.keys.authenticate(req.headers.authorization);
        if (!p) throw new GwErrors.UNAUTHORIZED();
        if (!p.scopes.has(`ingest:${source}`))
          throw new GwErrors.FORBIDDEN(`key "${p.name}" may not ingest ${source} records`);
        req.ingestKey = p;
        // Not decompressed here: a gzip body would otherwise read as broken JSON.
        const encoding = req.headers['content-encoding']?.trim().toLowerCase();
        if (encoding && COMPRESSED.test(encoding))
          throw new GwErrors.UNSUPPORTED_MEDIA_TYPE(
            `content-encoding ${encoding}: send the body uncompressed`,
          );
      },
      onResponse: async (_req, reply) => {
        metrics.ingestRequests.inc({ source, status: String(reply.statusCode) });
      },
      handler: async (req, reply) => {
        const result = await ingest(source, req, deps);
        const status = result.rejected === 0 ? 200 : result.accepted + result.duplicates > 0 ? 207 : 422;
        metrics.eventsReceived.inc({ source }, result.records.length);
        return reply.status(status).send(result);
      },
    });
  }

  async function ingest(source: SourceName, req: FastifyRequest, d: IngestDeps): Promise<IngestResponse> {
    const body = req.body as ParsedBody | string | undefined;
    if (!body) throw new GwErrors.BAD_REQUEST('empty body: send a JSON record, a JSON array or NDJSON');
    // Fastify's own text/plain parser hands over a string, not records.
    if (typeof body === 'string')
      throw new GwErrors.UNSUPPORTED_MEDIA_TYPE(
        `content-type ${req.headers['content-type']}: send application/json or application/x-ndjson`,
      );
    const n = body.records.length;
    if (n > config.ingest.maxRecordsPerRequest)
      throw new GwErrors.TOO_MANY_RECORDS(n, config.ingest.maxRecordsPerRequest);
    if (d.processorLag() > config.processor.maxLagRecords) {
      metrics.ingestBackpressure.inc({ source });
      throw new GwErrors.BACKPRESSURE('the window processors are behind');
    }

    const now = Date.now();
    const ctx = validationContext(d.org, config, now);
    const adapter = ADAPTERS[source];
    const outcomes: RecordOutcome[] = new Array(n);
    const items: LogItem[] = [];
    const itemIndex: number[] = [];
    const dead: Row[] = [];
    const keyName = req.ingestKey?.name ?? '';
    const lineErrors = new Map(body.lineErrors.map((l) => [l.index, l]));

    for (let i = 0; i < n; i++) {
      const lineErr = lineErrors.get(i);
      let err: RecordError | undefined;
      let raw: unknown = body.records[i];
      if (lineErr) {
        err = { index: i, field: '(record)', code: 'invalid_json', reason: lineErr.reason };
        raw = lineErr.raw;
      } else {
        const r = adapter.normalise(body.records[i], ctx);
        if (r.ok) {
          items.push({ event: r.event, row: r.row });
          itemIndex.push(i);
          continue;
        }
        err = { index: i, field: r.field, code: r.code, reason: r.reason };
      }
      outcomes[i] = { status: 'rejected', ...err };
      dead.push(deadLetterRow(source, req.id, keyName, err, raw, now));
      metrics.eventsRejected.inc({ source, reason: err.code });
    }

    // Dead letters and good records are written side by side; either failing fails the request,
    // so the client retries and nothing is silently lost (good records then come back duplicate).
    const [logged, deadWritten] = await Promise.allSettled([
      d.eventLog.append(source, items),
      d.store.insert('dead_letters', dead),
    ]);
    if (logged.status === 'rejected') throw logged.reason;
    if (deadWritten.status === 'rejected') throw deadWritten.reason;

    let accepted = 0;
    let duplicates = 0;
    logged.value.forEach((status, k) => {
      const i = itemIndex[k]!;
      outcomes[i] = { index: i, status, id: items[k]!.event.id };
      if (status === 'accepted') accepted++;
      else duplicates++;
    });
    metrics.eventsAccepted.inc({ source }, accepted);
    if (duplicates) metrics.eventsDuplicate.inc({ source }, duplicates);
    return { accepted, duplicates, rejected: dead.length, records: outcomes };
  }
}
