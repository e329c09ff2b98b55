// NAB harness: runs the streaming anomaly detector over a Numenta Anomaly Benchmark data
// directory the way NAB's own runner does — one fresh detector per file, told the file's
// min and max up front, each row scored once in order — and writes NAB's result layout.
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'csv-parse';
import { type DetectorParams, StreamingAnomalyDetector } from './detector.ts';

export interface NabFileSummary {
  /** Path relative to the data directory, '/'-separated (NAB's file key). */
  file: string;
  rows: number;
  /** Rows whose value was not a finite number (scored 0, state untouched). */
  skipped: number;
}

export interface NabSummary {
  files: number;
  rows: number;
  seconds: number;
  perFile: NabFileSummary[];
}

/** Every `*.csv` under `root`, as sorted '/'-separated relative paths. */
export async function listCsvFiles(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.csv') && !e.name.startsWith('.'))
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
    .filter((rel) => !rel.split('/').some((part) => part.startsWith('.')))
    .sort();
}

/** A data row; both columns are checked on the first pass over the file. */
interface NabRow {
  timestamp?: string;
  value?: string;
}

function rows(file: string): AsyncIterable<NabRow> {
  // Fields are kept exactly as read (the timestamp goes back out verbatim); only the header
  // names are trimmed, to find the columns.
  return createReadStream(file).pipe(
    parse({ columns: (header: string[]) => header.map((h) => h.trim()), skip_empty_lines: true, bom: true }),
  ) as AsyncIterable<NabRow>;
}

/** NAB timestamps are 'YYYY-MM-DD HH:MM:SS' in UTC; anything else falls back to Date.parse. */
export function parseNabTimestamp(s: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?/.exec(s);
  if (!m) return Date.parse(s);
  const ms = m[7] ? Math.round(Number(`0.${m[7]}`) * 1000) : 0;
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!, ms);
}

async function valueRange(file: string): Promise<{ min: number; max: number } | undefined> {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for await (const r of rows(file)) {
    if (r.timestamp === undefined || r.value === undefined)
      throw new Error(`${file}: expected columns timestamp,value`);
    const v = Number(r.value);
    if (!Number.isFinite(v)) continue;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return min <= max ? { min, max } : undefined;
}

async function scoreFile(
  src: string,
  dst: string,
  params?: Partial<DetectorParams>,
): Promise<{ rows: number; skipped: number }> {
  const range = await valueRange(src);
  const detector = new StreamingAnomalyDetector(params, range);
  await mkdir(path.dirname(dst), { recursive: true });
  const out = createWriteStream(dst);
  let buf = 'timestamp,value,anomaly_score\n';
  let n = 0;
  let skipped = 0;
  for await (const r of rows(src)) {
    const timestamp = r.timestamp ?? '';
    const raw = r.value ?? '';
    const v = raw === '' ? Number.NaN : Number(raw);
    if (!Number.isFinite(v)) skipped++;
    const score = detector.update(parseNabTimestamp(timestamp), v);
    buf += `${csvField(timestamp)},${csvField(raw)},${score}\n`;
    n++;
    if (buf.length > 1 << 16) {
      if (!out.write(buf)) await once(out, 'drain');
      buf = '';
    }
  }
  out.end(buf);
  await once(out, 'finish');
  return { rows: n, skipped };
}

function csvField(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/**
 * Score every CSV under `dataDir` into `outDir` at the same relative path, with columns
 * `timestamp,value,anomaly_score`. `params` overrides the defaults for every file alike.
 */
export async function runNab(
  dataDir: string,
  outDir: string,
  params?: Partial<DetectorParams>,
): Promise<NabSummary> {
  const t0 = performance.now();
  const files = await listCsvFiles(dataDir);
  if (files.length === 0) throw new Error(`no CSV files under ${dataDir}`);
  const perFile: NabFileSummary[] = [];
  for (const rel of files) {
    const s = await scoreFile(path.join(dataDir, rel), path.join(outDir, rel), params);
    perFile.push({ file: rel, ...s });
  }
  return {
    files: perFile.length,
    rows: perFile.reduce((a, f) => a + f.rows, 0),
    seconds: Number(((performance.now() - t0) / 1000).toFixed(2)),
    perFile,
  };
}
