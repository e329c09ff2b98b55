import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listCsvFiles, parseNabTimestamp, runNab } from './nab.ts';

const HEADER = 'timestamp,value,anomaly_score';

/** NAB-style timestamps: 'YYYY-MM-DD HH:MM:SS', every `stepMs` from `start`. */
function stamps(n: number, start: number, stepMs: number): string[] {
  return Array.from({ length: n }, (_, i) =>
    new Date(start + i * stepMs).toISOString().replace('T', ' ').slice(0, 19),
  );
}

function dataFile(timestamps: string[], values: string[]): string {
  return `timestamp,value\n${timestamps.map((t, i) => `${t},${values[i]}`).join('\n')}\n`;
}

describe('runNab', () => {
  let root: string;
  const files: Record<string, { timestamps: string[]; values: string[] }> = {};

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'gridwatch-nab-'));
    const cycle = (i: number) => 50 + 20 * Math.sin((2 * Math.PI * i) / 288) + ((i * 7919) % 13) / 13;
    // A five-minute series with a spike, an hourly one with odd seconds, and a flat line
    // with a hole in it (a non-numeric value must still give a row).
    const spiky = Array.from({ length: 900 }, (_, i) => (i === 700 ? '160' : cycle(i).toFixed(3)));
    files['artificialWithAnomaly/spike.csv'] = {
      timestamps: stamps(900, Date.UTC(2014, 3, 1), 300_000),
      values: spiky,
    };
    files['realAdExchange/hourly.csv'] = {
      timestamps: stamps(300, Date.UTC(2011, 6, 1, 0, 0, 1), 3_600_000),
      values: Array.from({ length: 300 }, (_, i) => (0.1 + 0.01 * Math.cos(i / 3)).toString()),
    };
    files['artificialNoAnomaly/flat.csv'] = {
      timestamps: stamps(250, Date.UTC(2014, 3, 1), 300_000),
      values: Array.from({ length: 250 }, (_, i) => (i === 120 ? 'NaN' : '45')),
    };
    for (const [rel, f] of Object.entries(files)) {
      await mkdir(path.join(root, 'data', path.dirname(rel)), { recursive: true });
      await writeFile(path.join(root, 'data', rel), dataFile(f.timestamps, f.values));
    }
    await writeFile(path.join(root, 'data', 'README.md'), '# not data\n');
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('lists the CSV files recursively, as relative NAB keys', async () => {
    expect(await listCsvFiles(path.join(root, 'data'))).toEqual(Object.keys(files).sort());
  });

  it('writes one result file per data file in NAB layout', async () => {
    const out = path.join(root, 'out');
    const summary = await runNab(path.join(root, 'data'), out);
    expect(summary.files).toBe(3);
    expect(summary.rows).toBe(900 + 300 + 250);
    expect(summary.perFile.find((f) => f.file === 'artificialNoAnomaly/flat.csv')?.skipped).toBe(1);

    for (const [rel, f] of Object.entries(files)) {
      const lines = (await readFile(path.join(out, rel), 'utf8')).split('\n');
      expect(lines.pop()).toBe(''); // newline-terminated
      expect(lines[0]).toBe(HEADER);
      const rows = lines.slice(1).map((l) => l.split(','));
      expect(rows).toHaveLength(f.timestamps.length);
      rows.forEach(([ts, value, score], i) => {
        expect(ts).toBe(f.timestamps[i]); // verbatim
        expect(value).toBe(f.values[i]);
        const s = Number(score);
        expect(Number.isFinite(s)).toBe(true);
        expect(s).toBeGreaterThanOrEqual(0);
        expect(s).toBeLessThanOrEqual(1);
      });
    }

    const spike = (await readFile(path.join(out, 'artificialWithAnomaly/spike.csv'), 'utf8')).split('\n');
    const scores = spike.slice(1, -1).map((l) => Number(l.split(',')[2]));
    expect(Math.max(...scores.slice(700, 705))).toBeGreaterThanOrEqual(0.5);
    expect(Math.max(...scores.slice(0, 690))).toBeLessThan(0.5);
  });

  it('gives the same results on a second run (fresh detector per file)', async () => {
    await runNab(path.join(root, 'data'), path.join(root, 'again'));
    for (const rel of Object.keys(files))
      expect(await readFile(path.join(root, 'again', rel), 'utf8')).toBe(
        await readFile(path.join(root, 'out', rel), 'utf8'),
      );
  });

  it('refuses a directory without CSV files', async () => {
    const empty = path.join(root, 'empty');
    await mkdir(empty, { recursive: true });
    await expect(runNab(empty, path.join(root, 'x'))).rejects.toThrow(/no CSV files/);
  });

  it('rejects a CSV without the NAB columns', async () => {
    const bad = path.join(root, 'bad');
    await mkdir(path.join(bad, 'c'), { recursive: true });
    await writeFile(path.join(bad, 'c', 'f.csv'), 'time,reading\n2014-04-01 00:00:00,1\n');
    await expect(runNab(bad, path.join(root, 'y'))).rejects.toThrow(/timestamp,value/);
  });
});

describe('parseNabTimestamp', () => {
  it('reads NAB timestamps as UTC', () => {
    expect(parseNabTimestamp('2014-04-01 00:05:00')).toBe(Date.UTC(2014, 3, 1, 0, 5));
    expect(parseNabTimestamp('2011-07-01 00:00:01')).toBe(Date.UTC(2011, 6, 1, 0, 0, 1));
    expect(parseNabTimestamp('2014-04-10 07:15:00.500000')).toBe(Date.UTC(2014, 3, 10, 7, 15, 0, 500));
    expect(parseNabTimestamp('2014-04-01T00:05:00Z')).toBe(Date.UTC(2014, 3, 1, 0, 5));
  });
});
