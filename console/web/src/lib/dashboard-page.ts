// State of the dashboard: KPI tiles (refreshed every 15 s and shortly after alert changes) and a
// live chart of one window series (history from /v1/windows, then windows:watch updates).
import { computed, onBeforeUnmount, onMounted, reactive, watch } from 'vue';
import type { Kpis, WindowPoint } from '../../../shared/protocol.ts';
import { api, type WindowRow } from '../api.ts';
import { onAlertChange } from '../store/alerts.ts';
import { currentSocket, type GwSocket, onConnect } from '../store/connection.ts';
import { session } from '../store/session.ts';
import { errorText } from './actions.ts';
import { dominantKind, fromRow, measureFor, mergePoints, type SeriesPoint } from './series.ts';

export const KPI_REFRESH_MS = 15_000;
const HISTORY_POINTS = 90;

export function useDashboard() {
  const org = computed(() => session.org);
  const s = reactive({
    area: session.me?.area ?? session.org?.root ?? '',
    window: session.org?.view.windows[0]?.name ?? '',
    kind: '',
    kinds: [] as string[],
    kpis: null as Kpis | null,
    kpiError: '',
    kpiAt: 0,
    rows: [] as WindowRow[],
    points: [] as SeriesPoint[],
    loading: false,
    chartError: '',
    watchError: '',
    liveAt: 0,
  });
  if (s.area && org.value && !org.value.byId.has(s.area)) s.area = org.value.root;

  const spec = computed(() => org.value?.view.windows.find((w) => w.name === s.window) ?? null);
  const measure = computed(() => measureFor(spec.value?.source ?? '', s.points));

  // KPIs -------------------------------------------------------------------------------------
  let kpiTimer: ReturnType<typeof setInterval> | null = null;
  let kpiDebounce: ReturnType<typeof setTimeout> | null = null;
  let kpiSeq = 0;
  async function loadKpis(): Promise<void> {
    const mine = ++kpiSeq;
    try {
      const k = await api.kpis(s.area || undefined);
      if (mine !== kpiSeq) return;
      s.kpis = k;
      s.kpiError = '';
      s.kpiAt = Date.now();
    } catch (e) {
      if (mine === kpiSeq) s.kpiError = errorText(e);
    }
  }
  const offChange = onAlertChange(() => {
    if (kpiDebounce !== null) clearTimeout(kpiDebounce);
    kpiDebounce = setTimeout(() => {
      kpiDebounce = null;
      void loadKpis();
    }, 1000);
  });

  // Live series --------------------------------------------------------------------------------
  let attached: GwSocket | null = null;
  const onUpdate = (points: WindowPoint[]) => {
    const mine = points.filter(
      (p) => p.window === s.window && p.key === s.area && (s.kind === '' || p.kind === s.kind),
    );
    if (mine.length === 0) return;
    s.points = mergePoints(s.points, mine.map(fromRow), HISTORY_POINTS * 4);
    s.liveAt = Date.now();
  };

  function watchSeries(sock: GwSocket | null): void {
    if (!sock?.connected || !s.area || !s.window) return;
    if (attached !== sock) {
      attached?.off('window:update', onUpdate);
      sock.on('window:update', onUpdate);
      attached = sock;
    }
    const req = s.kind
      ? { area: s.area, window: s.window, kind: s.kind }
      : { area: s.area, window: s.window };
    sock.emit('windows:watch', req, (res) => {
      s.watchError = res.ok ? '' : errorText(Object.assign(new Error(res.message), res));
    });
  }

  function applyKind(): void {
    s.points = mergePoints(
      [],
      s.rows.filter((r) => s.kind === '' || r.kind === s.kind).map(fromRow),
      HISTORY_POINTS * 4,
    );
  }

  let historySeq = 0;
  async function loadHistory(): Promise<void> {
    const mine = ++historySeq;
    if (!s.area || !s.window) return;
    s.loading = true;
    s.chartError = '';
    const size = spec.value?.sizeMs ?? 60_000;
    const span = Math.min(24 * 3_600_000, Math.max(3_600_000, size * HISTORY_POINTS));
    try {
      const { windows } = await api.windows({
        grid: s.area,
        window: s.window,
        from: new Date(Date.now() - span).toISOString(),
        limit: 2000,
      });
      if (mine !== historySeq) return;
      s.rows = windows;
      const kinds = [...new Set(windows.map((w) => w.kind))].sort();
      s.kinds = kinds;
      if (!kinds.includes(s.kind)) s.kind = kinds.length > 0 ? dominantKind(windows) : '';
      applyKind();
    } catch (e) {
      if (mine === historySeq) {
        s.chartError = errorText(e);
        s.rows = [];
        s.points = [];
      }
    } finally {
      if (mine === historySeq) s.loading = false;
    }
    watchSeries(currentSocket());
  }

  const offConnect = onConnect((sock) => watchSeries(sock));

  watch(
    () => [s.area, s.window],
    () => {
      void loadHistory();
      void loadKpis();
    },
  );
  watch(
    () => s.kind,
    () => {
      applyKind();
      watchSeries(currentSocket());
    },
  );

  onMounted(() => {
    void loadKpis();
    void loadHistory();
    kpiTimer = setInterval(() => void loadKpis(), KPI_REFRESH_MS);
  });
  onBeforeUnmount(() => {
    if (kpiTimer !== null) clearInterval(kpiTimer);
    if (kpiDebounce !== null) clearTimeout(kpiDebounce);
    offChange();
    offConnect();
    if (attached) {
      attached.off('window:update', onUpdate);
      if (attached.connected) attached.emit('windows:unwatch');
      attached = null;
    }
  });

  return { s, org, spec, measure, loadKpis };
}
