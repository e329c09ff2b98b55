// Benchmarks print a table for people and, as the very last line, one JSON object for machines.
export interface BenchRow {
  name: string;
  value: number;
  unit: string;
  note?: string;
}

export function printReport(rows: BenchRow[], json: Record<string, number | string>): void {
  const w = Math.max(...rows.map((r) => r.name.length), 10);
  const lines = [
    '',
    `${'measure'.padEnd(w)}  ${'value'.padStart(14)}  unit`,
    `${'-'.repeat(w)}  ${'-'.repeat(14)}  ${'-'.repeat(12)}`,
    ...rows.map(
      (r) => `${r.name.padEnd(w)}  ${fmt(r.value).padStart(14)}  ${r.unit}${r.note ? `  (${r.note})` : ''}`,
    ),
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n${JSON.stringify(json)}\n`);
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Math.abs(v) >= 100) return Math.round(v).toLocaleString('en-US');
  return v.toFixed(3);
}
