// uPlot options for the console's dark theme, with an optional vertical marker (the alert start).
import uPlot from 'uplot';
import { currentLocale } from '../i18n.ts';

export interface ChartSeries {
  label: string;
  color: string;
  dash?: number[];
  fill?: boolean;
  /** Plot against a second y axis on the right (e.g. the max beside the mean). */
  right?: boolean;
}

export interface ChartMarker {
  /** epoch ms */
  at: number;
  label: string;
  color: string;
}

const AXIS = '#9aa6bd';
const GRID = 'rgba(154,166,189,0.14)';

function axis(): uPlot.Axis {
  return {
    stroke: AXIS,
    grid: { stroke: GRID, width: 1 },
    ticks: { stroke: GRID, width: 1 },
    font: '13px system-ui, sans-serif',
  };
}

function markerPlugin(getMarker: () => ChartMarker | null): uPlot.Plugin {
  return {
    hooks: {
      draw: (u: uPlot) => {
        const m = getMarker();
        if (!m) return;
        const x = u.valToPos(m.at / 1000, 'x', true);
        const { top, height, left, width } = u.bbox;
        if (x < left || x > left + width) return;
        const ctx = u.ctx;
        ctx.save();
        ctx.strokeStyle = m.color;
        ctx.lineWidth = 2 * uPlot.pxRatio;
        ctx.setLineDash([6 * uPlot.pxRatio, 4 * uPlot.pxRatio]);
        ctx.beginPath();
        ctx.moveTo(x, top);
        ctx.lineTo(x, top + height);
        ctx.stroke();
        ctx.setLineDash([]);
        ctx.fillStyle = m.color;
        ctx.font = `${13 * uPlot.pxRatio}px system-ui, sans-serif`;
        const tw = ctx.measureText(m.label).width;
        const tx =
          x + 6 * uPlot.pxRatio + tw > left + width ? x - 6 * uPlot.pxRatio - tw : x + 6 * uPlot.pxRatio;
        ctx.fillText(m.label, tx, top + 16 * uPlot.pxRatio);
        ctx.restore();
      },
    },
  };
}

export function chartOptions(
  width: number,
  height: number,
  series: ChartSeries[],
  getMarker: () => ChartMarker | null,
  timeLabel: string,
): uPlot.Options {
  const hasRight = series.some((x) => x.right);
  const fmt = (o: Intl.DateTimeFormatOptions) =>
    new Intl.DateTimeFormat(currentLocale(), { hour12: false, ...o });
  const hms = fmt({ hour: '2-digit', minute: '2-digit', second: '2-digit' });
  const hm = fmt({ hour: '2-digit', minute: '2-digit' });
  const mdhm = fmt({ month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' });
  /** Tick labels as fine as the tick spacing (seconds, minutes, or days). */
  const tick = (s: number, incr: number) => {
    const d = new Date(s * 1000);
    if (incr < 60) return hms.format(d);
    if (incr >= 86_400) return mdhm.format(d);
    return hm.format(d);
  };
  const full = new Intl.DateTimeFormat(currentLocale(), {
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hour12: false,
  });
  return {
    width,
    height,
    padding: [12, 12, 0, 0],
    legend: { show: true, live: true },
    cursor: { drag: { x: false, y: false } },
    scales: {
      x: {
        time: true,
        // Keep the marker (the alert start) in view even when the data stops short of it.
        range: (_u, min, max) => {
          const m = getMarker();
          if (!m) return [min, max];
          const at = m.at / 1000;
          const lo = Math.min(min, at);
          const hi = Math.max(max, at);
          const pad = Math.max(30, (hi - lo) * 0.03);
          return [lo - (at <= min ? pad : 0), hi + (at >= max ? pad : 0)];
        },
      },
      ...(hasRight ? { y2: { auto: true } } : {}),
    },
    axes: [
      { ...axis(), space: 90, values: (_u, splits, _i, _space, incr) => splits.map((s) => tick(s, incr)) },
      { ...axis(), size: 60, ...(hasRight ? { stroke: series[0]?.color ?? AXIS } : {}) },
      ...(hasRight
        ? [
            {
              ...axis(),
              scale: 'y2',
              side: 1,
              size: 60,
              grid: { show: false },
              stroke: series.find((x) => x.right)?.color ?? AXIS,
            } satisfies uPlot.Axis,
          ]
        : []),
    ],
    series: [
      {
        label: timeLabel,
        value: (_u, v) => (v === null || v === undefined ? '—' : full.format(new Date(v * 1000))),
      },
      ...series.map(
        (s): uPlot.Series => ({
          label: s.label,
          stroke: s.color,
          ...(s.right ? { scale: 'y2' } : {}),
          width: 2,
          spanGaps: true,
          points: { show: false },
          ...(s.dash ? { dash: s.dash } : {}),
          ...(s.fill ? { fill: `${s.color}22` } : {}),
          value: (_u, v) => (v === null || v === undefined ? '—' : String(Math.round(v * 100) / 100)),
        }),
      ),
    ],
    plugins: [markerPlugin(getMarker)],
  };
}
