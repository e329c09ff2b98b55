// `gridwatch store`: the embedded ClickHouse (chDB) served over ClickHouse's HTTP interface, so
// several gridwatch processes on one box, and tests, share one store without a ClickHouse
// server. It speaks the subset @clickhouse/client 1.x uses (and plain curl/fetch): POST / with
// the SQL in the body or `query`, inserts with the data in the body, `param_<name>` bound by the
// engine, settings as URL parameters, GET /ping. See docs/store.md for what was verified.
//
// One chDB session serves every request, one statement at a time (a queue): the session holds
// the current database and settings, so two statements must never interleave on it. Results are
// buffered whole, not streamed.
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { drainPending, Session } from 'chdb';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Logger } from '../logger.ts';

export interface StoreServerOptions {
  /** The chDB data lives in `<dataDir>/clickhouse`, as in embedded mode. */
  dataDir: string;
  /** Default 127.0.0.1: the engine can read and write any file this process can (see docs/store.md). */
  host?: string;
  /** Default 8123, ClickHouse's HTTP port; 0 picks a free one. */
  port?: number;
  /** When `user` or `password` is set, every request but /ping must carry them. */
  user?: string;
  password?: string;
  logger: Logger;
  /** The registry to count requests on (the project's `Metrics` fits); none: not exported. */
  metrics?: { registry: Registry };
  /** Largest request body after decompression (default 256 MiB). */
  bodyLimit?: number;
  /** Largest SQL text, not counting insert data (default 1 MiB). */
  maxQueryBytes?: number;
  /** Requests waiting for the session beyond this are answered 503 (default 1000). */
  maxQueued?: number;
}

export interface StoreServer {
  url: string;
  close(): Promise<void>;
}

const MiB = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Errors, in ClickHouse's words: `Code: N. DB::Exception: message. (NAME)` is what
// @clickhouse/client parses into a ClickHouseError. Status codes as ClickHouse's
// exceptionCodeToHTTPStatus.cpp maps them.

const CODE_NAMES: Record<number, string> = {
  1: 'UNSUPPORTED_METHOD',
  36: 'BAD_ARGUMENTS',
  48: 'NOT_IMPLEMENTED',
  62: 'SYNTAX_ERROR',
  164: 'READONLY',
  194: 'REQUIRED_PASSWORD',
  202: 'TOO_MANY_SIMULTANEOUS_QUERIES',
  229: 'QUERY_IS_TOO_LARGE',
  271: 'CANNOT_DECOMPRESS',
  516: 'AUTHENTICATION_FAILED',
  779: 'UNSUPPORTED_MEDIA_TYPE',
  1002: 'UNKNOWN_EXCEPTION',
};

const STATUS_BY_CODE = new Map<number, number>([
  [194, 401],
  ...[192, 193, 497, 512, 516].map((c) => [c, 403] as [number, number]),
  ...[
    6, 8, 15, 25, 26, 27, 36, 37, 38, 41, 44, 53, 62, 72, 117, 123, 167, 168, 223, 321, 376, 427, 441, 675,
    676,
  ].map((c) => [c, 400] as [number, number]),
  ...[46, 47, 50, 56, 60, 63, 73, 78, 81, 115, 152, 336, 511].map((c) => [c, 404] as [number, number]),
  [229, 413],
  [48, 501],
  [76, 503],
  [209, 503],
  [439, 503],
  [202, 503],
  [381, 411],
  [159, 408],
  [779, 415],
]);

class ClickHouseHttpError extends Error {
  readonly status: number;
  constructor(
    readonly chCode: number,
    message: string,
    status?: number,
  ) {
    super(message);
    this.status = status ?? STATUS_BY_CODE.get(chCode) ?? 500;
  }

  /** The body ClickHouse would send: the engine's own text when it came from the engine. */
  render(): string {
    if (/^Code: \d+\./.test(this.message))
      return this.message.endsWith('\n') ? this.message : `${this.message}\n`;
    return `Code: ${this.chCode}. DB::Exception: ${this.message}. (${CODE_NAMES[this.chCode] ?? 'UNKNOWN_EXCEPTION'})\n`;
  }
}

/** An engine error keeps its message; the code is read from it, as the client will. */
function engineError(e: unknown): ClickHouseHttpError {
  if (e instanceof ClickHouseHttpError) return e;
  const message = e instanceof Error ? e.message : String(e);
  const code = /Code: (\d+)\./.exec(message);
  return new ClickHouseHttpError(code ? Number(code[1]) : 1002, message);
}

// ---------------------------------------------------------------------------------------------
// The shape of a statement, from a small scan that knows ClickHouse's quoting and comments:
// enough to refuse multi-statements (chDB would run them; ClickHouse's HTTP interface refuses),
// to find where insert data starts, the FORMAT clause, and the kind for read-only requests.
// It decides nothing about safety: values never reach the SQL text (they are bound by chDB).

export interface SqlShape {
  /** First keyword, upper-cased; '(' for a parenthesised query, '' for none. */
  kind: string;
  /** Second keyword, upper-cased ('' when the second token is not a word). */
  second: string;
  /** Another statement follows a `;`. */
  multi: boolean;
  /** Name after a top-level FORMAT (input format for INSERT, output format otherwise). */
  format: string | undefined;
  /** Where insert data starts (after `FORMAT X`, or at `VALUES`); text.length otherwise. */
  dataStart: number;
  /** The statement part ran past `limit` characters. */
  tooLong: boolean;
}

const isWordStart = (c: string) => /[A-Za-z_]/.test(c);
const isWordChar = (c: string) => /[A-Za-z0-9_$]/.test(c);

export function inspectSql(text: string, limit = Number.POSITIVE_INFINITY): SqlShape {
  const n = text.length;
  const shape: SqlShape = {
    kind: '',
    second: '',
    multi: false,
    format: undefined,
    dataStart: n,
    tooLong: false,
  };
  let i = 0;
  let depth = 0;
  let tokens = 0;
  let afterSemicolon = false;
  let formatAt = -1; // token index of a top-level FORMAT keyword
  // `SELECT format FROM t` is a column, not a clause: a FORMAT clause ends the statement, or
  // comes right before SETTINGS; anything else after it drops the candidate.
  let candidate: { name: string; token: number } | undefined;
  let settled = false;
  const notFormat = () => {
    if (!settled) candidate = undefined;
  };
  const skipQuoted = (q: string) => {
    i++;
    while (i < n && text[i] !== q) i += text[i] === '\\' ? 2 : 1;
    i++;
  };
  while (i < n) {
    if (i > limit) {
      shape.tooLong = true;
      break;
    }
    const c = text[i]!;
    const next = text[i + 1];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v') {
      i++;
      continue;
    }
    if ((c === '-' && next === '-') || (c === '#' && (next === ' ' || next === '!'))) {
      while (i < n && text[i] !== '\n') i++;
      continue;
    }
    if (c === '/' && next === '*') {
      // ClickHouse nests block comments.
      let nest = 0;
      while (i < n) {
        if (text[i] === '/' && text[i + 1] === '*') {
          nest++;
          i += 2;
        } else if (text[i] === '*' && text[i + 1] === '/') {
          nest--;
          i += 2;
          if (nest === 0) break;
        } else i++;
      }
      continue;
    }
    // A significant token.
    if (afterSemicolon) {
      shape.multi = true;
      break;
    }
    const token = tokens++;
    if (c === ';') {
      afterSemicolon = true;
      i++;
      continue;
    }
    if (c === "'" || c === '"' || c === '`') {
      notFormat();
      skipQuoted(c);
      continue;
    }
    if (c === '$') {
      notFormat();
      const tag = /^\$[A-Za-z0-9_]*\$/.exec(text.slice(i, i + 256));
      if (tag) {
        const end = text.indexOf(tag[0], i + tag[0].length);
        i = end < 0 ? n : end + tag[0].length;
        continue;
      }
      i++;
      continue;
    }
    if (isWordStart(c)) {
      const start = i;
      while (i < n && isWordChar(text[i]!)) i++;
      const word = text.slice(start, i);
      const upper = word.toUpperCase();
      if (token === 0) shape.kind = upper;
      if (token === 1) shape.second = upper;
      if (candidate && token > candidate.token) {
        if (depth === 0 && upper === 'SETTINGS') settled = true;
        else notFormat();
      }
      if (depth === 0 && formatAt >= 0 && formatAt === token - 1) {
        candidate = { name: word, token };
        if (shape.kind === 'INSERT') {
          shape.format = word;
          shape.dataStart = i;
          return shape;
        }
      }
      if (depth === 0 && upper === 'FORMAT') formatAt = token;
      if (depth === 0 && upper === 'VALUES' && shape.kind === 'INSERT') {
        shape.format = 'Values';
        shape.dataStart = start;
        return shape;
      }
      continue;
    }
    notFormat();
    if (c === '(' || c === '[' || c === '{') {
      if (token === 0 && c === '(') shape.kind = '(';
      depth++;
    } else if (c === ')' || c === ']' || c === '}') depth--;
    i++;
  }
  if (candidate) shape.format = candidate.name;
  return shape;
}

const READ_KINDS = new Set(['SELECT', 'WITH', 'SHOW', 'DESC', 'DESCRIBE', 'EXISTS', 'EXPLAIN', '(']);

function kindLabel(kind: string): string {
  if (READ_KINDS.has(kind)) return 'read';
  if (kind === 'INSERT') return 'insert';
  if (['CREATE', 'ALTER', 'DROP', 'RENAME', 'TRUNCATE', 'OPTIMIZE', 'ATTACH', 'DETACH'].includes(kind))
    return 'ddl';
  return 'other';
}

// Formats whose bytes are not text: the fallback insert path hands chDB a string, so these
// would be corrupted on the way; output in them is fine (the result is bytes).
const BINARY_FORMATS = new Set([
  'native',
  'rowbinary',
  'rowbinarywithnames',
  'rowbinarywithnamesandtypes',
  'rowbinarywithdefaults',
  'parquet',
  'arrow',
  'arrowstream',
  'orc',
  'avro',
  'avroconfluent',
  'msgpack',
  'protobuf',
  'protobuflist',
  'protobufsingle',
  'capnproto',
  'bsoneachrow',
  'npy',
  'rawblob',
]);

function contentTypeOf(format: string): string {
  const f = format.toLowerCase();
  if (BINARY_FORMATS.has(f)) return 'application/octet-stream';
  if (f.startsWith('json') || f === 'ndjson' || f.startsWith('prettyjson') || f === 'prettyndjson')
    return 'application/json; charset=UTF-8';
  if (f.startsWith('tabseparated') || f.startsWith('tsv')) return 'text/tab-separated-values; charset=UTF-8';
  if (f.startsWith('csv'))
    return `text/csv; charset=UTF-8; header=${f.includes('withnames') ? 'present' : 'absent'}`;
  if (f === 'xml') return 'application/xml; charset=UTF-8';
  return 'text/plain; charset=UTF-8';
}

// ---------------------------------------------------------------------------------------------
// The engine. chDB's public `queryBindAsync` takes JS values and TSV-escapes strings itself,
// which would escape a second time the text @clickhouse/client already put in `param_<name>`
// (`it\'s`). The native call underneath it, `QueryAsyncConnection(connection, sql, format,
// {name: text})`, takes the text as ClickHouse's HTTP interface does: the engine parses each
// value as its `{name:Type}` placeholder's type. We call that, on this session's connection.

interface NativeResult {
  bytes: Uint8Array;
  elapsed: number;
  rowsRead: number;
  bytesRead: number;
}
interface ChdbAddon {
  QueryAsyncConnection(
    connection: unknown,
    sql: string,
    format: string,
    params?: Record<string, string>,
  ): Promise<NativeResult>;
}

function loadAddon(): ChdbAddon {
  const require = createRequire(import.meta.url);
  const dir = dirname(require.resolve('chdb/package.json'));
  const { version } = require('chdb/package.json') as { version: string };
  const loader = require(join(dir, 'dist', 'loader.js')) as { loadNative(): ChdbAddon };
  const addon = loader.loadNative();
  if (typeof addon.QueryAsyncConnection !== 'function')
    throw new Error(`chdb ${version}: the native QueryAsyncConnection binding is missing`);
  return addon;
}

/** TSV escaping: a bound value is parsed as escaped text, so a verbatim value travels escaped. */
function tsvEscape(s: string): string {
  return s.replace(/[\\\t\n\r\0\b\f]/g, (c) => {
    const map: Record<string, string> = {
      '\\': '\\\\',
      '\t': '\\t',
      '\n': '\\n',
      '\r': '\\r',
      '\0': '\\0',
      '\b': '\\b',
      '\f': '\\f',
    };
    return map[c]!;
  });
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

interface Statement {
  database: string;
  settings: Map<string, string>;
  sql: string;
  /** Output format when the SQL names none. */
  format: string;
  params: Record<string, string> | undefined;
  /** The fast path: data handed to chDB's raw insert as bytes. */
  rawInsert?: { table: string; columns: string[] | undefined; format: RawFormat; data: Buffer };
}

interface Outcome {
  body: Buffer;
  readRows: number;
  readBytes: number;
  writtenRows: number;
  writtenBytes: number;
  elapsed: number;
}

type RawFormat =
  | 'JSONEachRow'
  | 'JSONCompactEachRow'
  | 'CSV'
  | 'CSVWithNames'
  | 'TSV'
  | 'TabSeparated'
  | 'TSVWithNames'
  | 'TabSeparatedWithNames';
const RAW_FORMATS = new Set<string>([
  'JSONEachRow',
  'JSONCompactEachRow',
  'CSV',
  'CSVWithNames',
  'TSV',
  'TabSeparated',
  'TSVWithNames',
  'TabSeparatedWithNames',
]);

class Engine {
  private session: Session;
  private tail: Promise<unknown> = Promise.resolve();
  private depth = 0;
  private database: string | undefined;
  /** Settings this session has changed from its baseline, by request. */
  private readonly active = new Map<string, string>();
  /** Settings chDB itself starts changed: a reset goes back to these, not to DEFAULT. */
  private baseline = new Map<string, string>();
  timezone = 'UTC';

  constructor(
    private readonly path: string,
    private readonly addon: ChdbAddon,
    private readonly log: Logger,
    private readonly maxQueued: number,
    private readonly hooks: { depth(n: number): void; reopened(): void },
  ) {
    this.session = new Session(path);
  }

  async init(): Promise<void> {
    await this.enqueue(async () => {
      const rows = await this.text(
        'SELECT name, value FROM system.settings WHERE changed FORMAT JSONEachRow',
      );
      for (const line of rows.split('\n').filter(Boolean)) {
        const { name, value } = JSON.parse(line) as { name: string; value: string };
        this.baseline.set(name, value);
      }
      this.timezone = (await this.text('SELECT timezone()')).trim() || 'UTC';
    });
  }

  /** Runs `job` when every earlier one has finished. */
  enqueue<T>(job: () => Promise<T>): Promise<T> {
    if (this.depth >= this.maxQueued)
      return Promise.reject(
        new ClickHouseHttpError(
          202,
          `Too many queued queries: ${this.depth} are waiting for the store session`,
        ),
      );
    this.depth++;
    this.hooks.depth(this.depth);
    const run = this.tail.then(job);
    this.tail = run.then(
      () => this.done(),
      () => this.done(),
    );
    return run;
  }

  private done(): void {
    this.depth--;
    this.hooks.depth(this.depth);
  }

  /** Runs one statement on the session; call inside `enqueue`. */
  async execute(st: Statement): Promise<Outcome> {
    // Settings first: resetting them may reopen the session, which forgets the database.
    await this.applySettings(st.settings);
    await this.use(st.database);
    if (st.rawInsert) {
      const r = await this.session
        .insert({
          table: st.rawInsert.table,
          values: st.rawInsert.data,
          format: st.rawInsert.format,
          ...(st.rawInsert.columns ? { columns: st.rawInsert.columns } : {}),
        })
        .catch((e: unknown) => {
          throw engineError(e);
        });
      return {
        body: Buffer.alloc(0),
        readRows: 0,
        readBytes: 0,
        writtenRows: r.rowsWritten,
        writtenBytes: r.bytesWritten,
        elapsed: r.elapsed,
      };
    }
    const r = await this.native(st.sql, st.format, st.params);
    return {
      body: Buffer.from(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength),
      readRows: r.rowsRead,
      readBytes: r.bytesRead,
      writtenRows: 0,
      writtenBytes: 0,
      elapsed: r.elapsed,
    };
  }

  private native(sql: string, format: string, params?: Record<string, string>): Promise<NativeResult> {
    const connection = this.session.connection;
    const p = params
      ? this.addon.QueryAsyncConnection(connection, sql, format, params)
      : this.addon.QueryAsyncConnection(connection, sql, format);
    return p.catch((e: unknown) => {
      throw engineError(e);
    });
  }

  private async text(sql: string): Promise<string> {
    return Buffer.from((await this.native(sql, 'TabSeparated')).bytes).toString('utf8');
  }

  private async use(database: string): Promise<void> {
    if (database === this.database) return;
    if (!IDENT.test(database))
      throw new ClickHouseHttpError(
        36,
        `Database name ${JSON.stringify(database)} is not a plain identifier`,
      );
    await this.native(`USE ${database}`, 'TabSeparated');
    this.database = database;
  }

  /**
   * Brings the session's settings to exactly baseline + `wanted`: what an earlier request set
   * and this one does not is reset; only differences cost a statement. Values are bound, never
   * spliced into the SQL; names are plain identifiers.
   */
  private async applySettings(wanted: Map<string, string>): Promise<void> {
    const stale = [...this.active.keys()].filter((k) => !wanted.has(k));
    if (stale.length > 0) {
      const params: Record<string, string> = {};
      const parts = stale.map((name, i) => {
        const base = this.baseline.get(name);
        if (base === undefined) return `${name} = DEFAULT`;
        params[`b${i}`] = tsvEscape(base);
        return `${name} = {b${i}:String}`;
      });
      try {
        await this.native(
          `SET ${parts.join(', ')}`,
          'TabSeparated',
          Object.keys(params).length ? params : undefined,
        );
        for (const k of stale) this.active.delete(k);
      } catch (e) {
        // A setting that stops even SET from running (max_query_size = 1): start afresh.
        await this.recycle(`settings reset failed: ${(e as Error).message}`);
      }
    }
    for (const [name, value] of wanted) {
      if (this.active.get(name) === value) continue;
      if (!IDENT.test(name)) throw new ClickHouseHttpError(115, `Unknown setting ${JSON.stringify(name)}`);
      await this.native(`SET ${name} = {v:String}`, 'TabSeparated', { v: tsvEscape(value) });
      this.active.set(name, value);
    }
  }

  /** A fresh connection on the same data: the old one's state is no longer known. */
  private async recycle(reason: string): Promise<void> {
    this.log.warn({ reason }, 'store server: reopening the chDB session');
    this.session.close();
    await drainPending();
    this.session = new Session(this.path);
    this.database = undefined;
    this.active.clear();
    this.hooks.reopened();
  }

  async close(): Promise<void> {
    await this.tail;
    this.session.close();
    await drainPending();
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP

// URL parameters that belong to the HTTP layer, not to the engine's settings.
const HTTP_PARAMS = new Set([
  'query',
  'query_id',
  'database',
  'default_format',
  'user',
  'password',
  'quota_key',
  'readonly',
  'enable_http_compression',
  'wait_end_of_query',
  'send_progress_in_http_headers',
  'buffer_size',
  'stacktrace',
  'add_http_cors_header',
  'cancel_http_readonly_queries_on_client_close',
  'client_protocol_version',
  'session_timeout',
  'session_check',
]);
// Parameters asking for something this server does not do: refused rather than ignored.
const UNSUPPORTED_PARAMS: Record<string, string> = {
  session_id: 'HTTP sessions (session_id) are not supported: every request is sessionless',
  compress:
    "ClickHouse's own compressed response format (compress=1) is not supported; use enable_http_compression=1",
  decompress:
    "ClickHouse's own compressed request format (decompress=1) is not supported; use Content-Encoding: gzip",
  role: 'roles are not supported',
};

const gunzip = promisify(zlib.gunzip);
const inflate = promisify(zlib.inflate);
const brotliDecompress = promisify(zlib.brotliDecompress);
const gzip = promisify(zlib.gzip);
const deflate = promisify(zlib.deflate);
const brotliCompress = promisify(zlib.brotliCompress);

async function decodeBody(raw: Buffer, encoding: string | undefined, limit: number): Promise<Buffer> {
  const enc = (encoding ?? 'identity').trim().toLowerCase();
  const opts = { maxOutputLength: limit };
  try {
    if (enc === 'identity' || enc === '') return raw;
    if (enc === 'gzip' || enc === 'x-gzip') return await gunzip(raw, opts);
    if (enc === 'deflate') return await inflate(raw, opts);
    if (enc === 'br') return await brotliDecompress(raw, { maxOutputLength: limit });
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE')
      throw new ClickHouseHttpError(36, `Request body is larger than ${limit} bytes once decompressed`, 413);
    throw new ClickHouseHttpError(
      271,
      `Cannot decompress the request body (${enc}): ${(e as Error).message}`,
    );
  }
  throw new ClickHouseHttpError(779, `Content-Encoding ${enc} is not supported (gzip, deflate, br are)`);
}

/** The named text fields of a multipart/form-data body (the client sends query_params so). */
function parseMultipart(body: Buffer, contentType: string): Map<string, string> {
  const m = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const boundary = m?.[1] ?? m?.[2];
  if (!boundary) throw new ClickHouseHttpError(36, 'multipart/form-data without a boundary');
  const fields = new Map<string, string>();
  const delimiter = Buffer.from(`--${boundary}`);
  let pos = body.indexOf(delimiter);
  while (pos >= 0) {
    const start = pos + delimiter.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const headerEnd = body.indexOf('\r\n\r\n', start);
    if (headerEnd < 0) break;
    const next = body.indexOf(delimiter, headerEnd + 4);
    if (next < 0) throw new ClickHouseHttpError(36, 'multipart/form-data body is truncated');
    const headers = body.subarray(start, headerEnd).toString('utf8');
    const name = /name="([^"]*)"/i.exec(headers)?.[1];
    if (/filename=/i.test(headers))
      throw new ClickHouseHttpError(48, 'external tables (multipart file parts) are not supported');
    // The part's content ends with the CRLF that precedes the next delimiter.
    let end = next;
    if (body[end - 2] === 0x0d && body[end - 1] === 0x0a) end -= 2;
    if (name) fields.set(name, body.subarray(headerEnd + 4, end).toString('utf8'));
    pos = next;
  }
  return fields;
}

function refuseUnsupported(fields: Map<string, string>): void {
  for (const [name, why] of Object.entries(UNSUPPORTED_PARAMS)) {
    const v = fields.get(name);
    // compress=0 / decompress=0 ask for nothing.
    if (v !== undefined && v !== '' && v !== '0') throw new ClickHouseHttpError(48, why);
  }
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** Constant-time equality whatever the lengths (compares digests). */
function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(sha256(a), sha256(b));
}

function credentialsOf(
  req: FastifyRequest,
  url: URLSearchParams,
): { user: string; password: string } | undefined {
  const h = req.headers;
  const xUser = h['x-clickhouse-user'];
  if (typeof xUser === 'string') {
    const key = h['x-clickhouse-key'];
    return { user: xUser, password: typeof key === 'string' ? key : '' };
  }
  const auth = h.authorization;
  if (typeof auth === 'string' && /^basic\s+/i.test(auth)) {
    const decoded = Buffer.from(auth.replace(/^basic\s+/i, ''), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon < 0
      ? { user: decoded, password: '' }
      : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  const user = url.get('user');
  if (user !== null) return { user, password: url.get('password') ?? '' };
  return undefined;
}

function pickEncoding(accept: string | undefined): 'gzip' | 'deflate' | 'br' | undefined {
  for (const part of (accept ?? '').split(',')) {
    const enc = part.split(';')[0]!.trim().toLowerCase();
    if (enc === 'gzip' || enc === 'deflate' || enc === 'br') return enc;
  }
  return undefined;
}

// `INSERT INTO [db.]table [(a, b)] FORMAT X`, the shape @clickhouse/client sends, goes to chDB's
// raw insert: the body stays bytes and chDB reports the rows written. Anything else is run as text.
const SIMPLE_INSERT =
  /^\s*INSERT\s+INTO\s+([A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)?)\s*(?:\(\s*([A-Za-z0-9_]+(?:\s*,\s*[A-Za-z0-9_]+)*)\s*\))?\s*FORMAT\s+([A-Za-z]+)\s*$/i;

export async function serveStore(opts: StoreServerOptions): Promise<StoreServer> {
  const log = opts.logger.child({ component: 'store-server' });
  const bodyLimit = opts.bodyLimit ?? 256 * MiB;
  const maxQueryBytes = opts.maxQueryBytes ?? MiB;
  const authRequired = opts.user !== undefined || (opts.password !== undefined && opts.password !== '');
  const expectedUser = opts.user ?? 'default';
  const expectedPassword = opts.password ?? '';
  const displayName = hostname();

  const registers = opts.metrics ? [opts.metrics.registry] : [];
  const existing = <T>(name: string): T | undefined =>
    opts.metrics?.registry.getSingleMetric(name) as T | undefined;
  const requests =
    existing<Counter<'kind' | 'outcome'>>('gridwatch_store_server_requests_total') ??
    new Counter({
      name: 'gridwatch_store_server_requests_total',
      help: 'Requests to the store server, per statement kind (read, insert, ddl, other) and outcome',
      labelNames: ['kind', 'outcome'] as const,
      registers,
    });
  const seconds =
    existing<Histogram<'kind'>>('gridwatch_store_server_query_seconds') ??
    new Histogram({
      name: 'gridwatch_store_server_query_seconds',
      help: 'Time a statement held the chDB session, per kind',
      labelNames: ['kind'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
  const queueDepth =
    existing<Gauge>('gridwatch_store_server_queue_depth') ??
    new Gauge({
      name: 'gridwatch_store_server_queue_depth',
      help: 'Statements running or waiting for the chDB session',
      registers,
    });

  const reopens =
    existing<Counter>('gridwatch_store_server_session_reopens_total') ??
    new Counter({
      name: 'gridwatch_store_server_session_reopens_total',
      help: 'Times the chDB session was reopened because a request left it in a state it could not reset',
      registers,
    });

  const path = resolve(opts.dataDir, 'clickhouse');
  mkdirSync(path, { recursive: true });
  const engine = new Engine(path, loadAddon(), log, opts.maxQueued ?? 1000, {
    depth: (d) => queueDepth.set(d),
    reopened: () => reopens.inc(),
  });
  await engine.init();

  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit,
    return503OnClosing: true,
  });

  // Bodies stay bytes (SQL, insert data or a form), decompressed per Content-Encoding.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (req, payload, done) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    payload.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > bodyLimit) {
        failed = true;
        done(new ClickHouseHttpError(36, `Request body is larger than ${bodyLimit} bytes`, 413), undefined);
        payload.resume();
        return;
      }
      chunks.push(chunk);
    });
    payload.on('error', (e) => {
      if (!failed) done(e, undefined);
      failed = true;
    });
    payload.on('end', () => {
      if (failed) return;
      decodeBody(Buffer.concat(chunks), req.headers['content-encoding'], bodyLimit).then(
        (body) => done(null, body),
        (e: Error) => done(e, undefined),
      );
    });
  });

  app.setErrorHandler((err: Error, req, reply) => {
    const e =
      err instanceof ClickHouseHttpError
        ? err
        : new ClickHouseHttpError(
            (err as { statusCode?: number }).statusCode === 413 ? 36 : 1002,
            err.message,
            (err as { statusCode?: number }).statusCode,
          );
    // Errors of the query handler were logged there; these come from reading the body.
    if (!(err instanceof ClickHouseHttpError)) req.log.info({ err }, 'store server: bad request');
    return reply
      .status(e.status)
      .header('content-type', 'text/plain; charset=UTF-8')
      .header('x-clickhouse-exception-code', String(e.chCode))
      .send(e.render());
  });
  app.setNotFoundHandler((req, reply) =>
    reply
      .status(404)
      .header('content-type', 'text/plain; charset=UTF-8')
      .send(`There is no handle ${req.url}\n\nUse / or /ping for health checks.\n`),
  );

  app.get('/ping', async (_req, reply) =>
    reply.header('content-type', 'text/plain; charset=UTF-8').send('Ok.\n'),
  );

  const handle = async (req: FastifyRequest, reply: FastifyReply) => {
    const started = performance.now();
    const url = new URL(req.url, 'http://store').searchParams;
    const queryId = url.get('query_id') || randomUUID();
    void reply
      .header('x-clickhouse-query-id', queryId)
      .header('x-clickhouse-server-display-name', displayName)
      .header('x-clickhouse-timezone', engine.timezone);
    let kind = 'other';
    try {
      if (authRequired) {
        const creds = credentialsOf(req, url);
        if (!creds) {
          void reply.header('www-authenticate', 'Basic realm="ClickHouse server"');
          throw new ClickHouseHttpError(194, `${expectedUser}: Authentication failed: password is required`);
        }
        // Both compared every time, so the answer's timing says nothing about which was wrong.
        const ok =
          Number(sameSecret(creds.user, expectedUser)) & Number(sameSecret(creds.password, expectedPassword));
        if (!ok) {
          throw new ClickHouseHttpError(
            516,
            `${creds.user}: Authentication failed: password is incorrect, or there is no user with such name`,
          );
        }
      }

      // Parameters: the URL, then the fields of a multipart form, which win.
      const fields = new Map<string, string>(url);
      let body =
        req.method === 'POST' && Buffer.isBuffer(req.body) && req.body.length > 0 ? req.body : undefined;
      const contentType = req.headers['content-type'] ?? '';
      if (body && /^multipart\/form-data/i.test(contentType)) {
        for (const [k, v] of parseMultipart(body, contentType)) fields.set(k, v);
        body = undefined;
      }
      refuseUnsupported(fields);

      // The statement: `query` followed by the body (ClickHouse joins them with a newline), or
      // the body alone. After `INSERT ... FORMAT X` in `query`, the body is the data, kept as bytes.
      const queryParam = fields.get('query');
      if (queryParam === undefined && !body) {
        if (req.method === 'GET')
          return reply.header('content-type', 'text/plain; charset=UTF-8').send('Ok.\n');
        throw new ClickHouseHttpError(62, 'Empty query');
      }
      let text = queryParam ?? '';
      let shape = inspectSql(text, maxQueryBytes);
      let data: Buffer | undefined;
      if (queryParam !== undefined && body) {
        if (
          shape.kind === 'INSERT' &&
          shape.format !== 'Values' &&
          queryParam.slice(shape.dataStart).trim() === ''
        )
          data = body;
        else {
          text = `${queryParam}\n${body.toString('utf8')}`;
          shape = inspectSql(text, maxQueryBytes);
        }
      } else if (body) {
        text = body.toString('utf8');
        shape = inspectSql(text, maxQueryBytes);
      }
      kind = kindLabel(shape.kind);
      if (shape.tooLong || Buffer.byteLength(text.slice(0, shape.dataStart)) > maxQueryBytes)
        throw new ClickHouseHttpError(229, `Query is too large: the limit is ${maxQueryBytes} bytes`);
      if (shape.kind === '') throw new ClickHouseHttpError(62, 'Empty query');
      if (shape.multi) throw new ClickHouseHttpError(62, 'Syntax error: Multi-statements are not allowed');

      const readonly = req.method === 'GET' || ['1', '2'].includes(fields.get('readonly') ?? '0');
      if (readonly && !READ_KINDS.has(shape.kind) && shape.kind !== 'SET' && shape.kind !== 'USE')
        throw new ClickHouseHttpError(164, 'Cannot execute query in readonly mode');
      // Without an HTTP session these change nothing, as on a ClickHouse server.
      if (shape.kind === 'SET' || shape.kind === 'USE') {
        requests.inc({ kind, outcome: 'ok' });
        return reply.header('x-clickhouse-summary', JSON.stringify(summaryOf(undefined, 0))).send('');
      }
      if (shape.kind === 'CREATE' && shape.second === 'TEMPORARY')
        throw new ClickHouseHttpError(
          48,
          'Temporary tables need an HTTP session, which this server does not keep',
        );

      const settings = new Map<string, string>();
      const params: Record<string, string> = {};
      for (const [k, v] of fields) {
        if (k.startsWith('param_')) params[k.slice('param_'.length)] = v;
        else if (!HTTP_PARAMS.has(k) && !k.startsWith('http_') && !(k in UNSUPPORTED_PARAMS))
          settings.set(k, v);
      }
      const database = fields.get('database') ?? headerOf(req, 'x-clickhouse-database') ?? 'default';
      const format = fields.get('default_format') ?? headerOf(req, 'x-clickhouse-format') ?? 'TabSeparated';
      if (!IDENT.test(format)) throw new ClickHouseHttpError(73, `Unknown format ${JSON.stringify(format)}`);
      const statement: Statement = {
        database,
        settings,
        sql: text,
        format,
        params: Object.keys(params).length > 0 ? params : undefined,
      };

      const isInsert = shape.kind === 'INSERT';
      if (isInsert) {
        const empty = data ? isBlank(data) : text.slice(shape.dataStart).trim() === '';
        if (shape.format !== undefined && shape.format !== 'Values' && empty) {
          // ClickHouse answers an insert without rows with success; chDB would say "No data to insert".
          requests.inc({ kind, outcome: 'ok' });
          return reply.header('x-clickhouse-summary', JSON.stringify(summaryOf(undefined, 0))).send('');
        }
        if (shape.format && BINARY_FORMATS.has(shape.format.toLowerCase()))
          throw new ClickHouseHttpError(
            48,
            `Inserting in the binary format ${shape.format} is not supported`,
          );
        const simple = data && queryParam !== undefined ? SIMPLE_INSERT.exec(queryParam) : null;
        if (data && simple && RAW_FORMATS.has(simple[3]!) && !statement.params) {
          statement.rawInsert = {
            table: simple[1]!,
            columns: simple[2]?.split(',').map((c) => c.trim()),
            format: simple[3] as RawFormat,
            data,
          };
        } else if (data) statement.sql = `${queryParam}\n${data.toString('utf8')}`;
      }

      const outputFormat = isInsert ? format : (shape.format ?? format);
      const outcome = await engine.enqueue(async () => {
        // Nobody is waiting for a read any more: skip it.
        if (!isInsert && READ_KINDS.has(shape.kind) && req.raw.socket?.destroyed)
          throw new ClickHouseHttpError(394, 'Query was cancelled: the client went away', 499);
        const end = seconds.startTimer({ kind });
        try {
          return await engine.execute(statement);
        } finally {
          end();
        }
      });
      requests.inc({ kind, outcome: 'ok' });
      log.debug(
        {
          queryId,
          kind,
          ms: Math.round(performance.now() - started),
          rows: outcome.readRows + outcome.writtenRows,
        },
        'store server: query',
      );
      void reply
        .header('x-clickhouse-format', outputFormat)
        .header('x-clickhouse-summary', JSON.stringify(summaryOf(outcome, outcome.body.length)))
        .header('content-type', contentTypeOf(outputFormat));
      const compress = ['1', 'true'].includes(fields.get('enable_http_compression') ?? '')
        ? pickEncoding(headerOf(req, 'accept-encoding'))
        : undefined;
      if (compress && outcome.body.length > 0) {
        const packed =
          compress === 'gzip'
            ? await gzip(outcome.body)
            : compress === 'deflate'
              ? await deflate(outcome.body)
              : await brotliCompress(outcome.body);
        return reply.header('content-encoding', compress).send(packed);
      }
      return reply.send(outcome.body);
    } catch (err) {
      const e = engineError(err);
      requests.inc({ kind, outcome: e.chCode === 194 || e.chCode === 516 ? 'unauthorized' : 'error' });
      const level = e.status >= 500 && e.chCode === 1002 ? 'error' : 'info';
      log[level](
        { queryId, kind, code: e.chCode, status: e.status, message: e.message.slice(0, 500) },
        'store server: query failed',
      );
      throw e;
    }
  };
  app.route({ method: ['GET', 'POST'], url: '/', handler: handle });

  const host = opts.host ?? '127.0.0.1';
  await app.listen({ host, port: opts.port ?? 8123 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : (opts.port ?? 8123);
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  log.info({ url, path, auth: authRequired }, 'store server: listening');

  return {
    url,
    async close() {
      await app.close();
      await engine.close();
      log.info({ url }, 'store server: closed');
    },
  };
}

function isBlank(buf: Buffer): boolean {
  for (const b of buf) if (b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09) return false;
  return true;
}

function headerOf(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' ? v : undefined;
}

function summaryOf(o: Outcome | undefined, resultBytes: number): Record<string, string> {
  return {
    read_rows: String(o?.readRows ?? 0),
    read_bytes: String(o?.readBytes ?? 0),
    written_rows: String(o?.writtenRows ?? 0),
    written_bytes: String(o?.writtenBytes ?? 0),
    total_rows_to_read: '0',
    result_bytes: String(resultBytes),
    elapsed_ns: String(Math.round((o?.elapsed ?? 0) * 1e9)),
  };
}
