// State and actions of the alert detail page (the .vue file is template and wiring).
import { onBeforeUnmount, type Ref, reactive, watch } from 'vue';
import type { Alert } from '../../../shared/protocol.ts';
import { ApiFailure, api, type Silence, type SourceEvent } from '../api.ts';
import { t } from '../i18n.ts';
import { onAlertChange } from '../store/alerts.ts';
import { type ActionName, act, errorText } from './actions.ts';
import {
  entryFromChange,
  mergeTimeline,
  SILENCE_DURATIONS,
  silencesFor,
  type TimelineEntry,
} from './detail.ts';
import { fromRow, type SeriesPoint } from './series.ts';

export type FormName = 'assign' | 'comment' | 'escalate' | 'silence' | 'resolve';

export function useAlertDetail(id: Ref<string>) {
  const s = reactive({
    alert: null as Alert | null,
    timeline: [] as TimelineEntry[],
    loading: true,
    notFound: false,
    error: '',
    events: null as SourceEvent[] | null,
    eventsSource: '',
    eventsError: '',
    series: null as SeriesPoint[] | null,
    seriesWindow: '',
    seriesError: '',
    silences: [] as Silence[],
    // the open action form
    form: null as FormName | null,
    department: '',
    note: '',
    text: '',
    duration: '2h' as string,
    busy: false,
    actionError: '',
    done: '',
  });

  function setAlert(a: Alert): void {
    if (s.alert && s.alert.id === a.id && s.alert.updatedAt > a.updatedAt) return;
    s.alert = a;
  }

  async function reloadDetail(): Promise<void> {
    const d = await api.alert(id.value);
    setAlert(d.alert);
    s.timeline = mergeTimeline(d.timeline, s.timeline);
  }

  async function loadSilences(fingerprint: string): Promise<void> {
    try {
      const { silences } = await api.silences();
      s.silences = silencesFor(silences, fingerprint);
    } catch {
      s.silences = [];
    }
  }

  async function load(): Promise<void> {
    const wanted = id.value;
    Object.assign(s, {
      alert: null,
      timeline: [],
      loading: true,
      notFound: false,
      error: '',
      events: null,
      eventsError: '',
      series: null,
      seriesError: '',
      silences: [],
      form: null,
      actionError: '',
      done: '',
    });
    try {
      const d = await api.alert(wanted);
      if (id.value !== wanted) return;
      s.alert = d.alert;
      s.timeline = mergeTimeline(d.timeline, []);
      void loadSilences(d.alert.fingerprint);
    } catch (e) {
      if (id.value !== wanted) return;
      if (e instanceof ApiFailure && (e.statusCode === 404 || e.statusCode === 403)) s.notFound = true;
      else s.error = errorText(e);
      s.loading = false;
      return;
    }
    s.loading = false;
    api
      .alertEvents(wanted)
      .then((r) => {
        if (id.value !== wanted) return;
        s.events = r.events;
        s.eventsSource = r.source;
      })
      .catch((e) => {
        if (id.value === wanted) s.eventsError = errorText(e);
      });
    api
      .alertSeries(wanted)
      .then((r) => {
        if (id.value !== wanted) return;
        s.seriesWindow = r.window;
        s.series = r.points.map(fromRow).sort((a, b) => a.start - b.start);
      })
      .catch((e) => {
        if (id.value === wanted) s.seriesError = errorText(e);
      });
  }

  const off = onAlertChange((c) => {
    if (c.alert.id !== id.value) return;
    const prev = s.alert;
    s.timeline = mergeTimeline(s.timeline, [entryFromChange(c, prev)]);
    setAlert(c.alert);
  });
  onBeforeUnmount(off);
  watch(id, () => void load(), { immediate: true });

  function openForm(f: FormName | null): void {
    s.form = s.form === f ? null : f;
    s.actionError = '';
    s.done = '';
    s.note = '';
    s.text = '';
    if (f === 'assign') s.department = s.alert?.assignee ?? '';
    if (f === 'silence') s.duration = '2h';
  }

  async function perform(action: ActionName, body: object): Promise<void> {
    if (!s.alert || s.busy) return;
    s.busy = true;
    s.actionError = '';
    s.done = '';
    try {
      setAlert(await act(s.alert.id, action, body));
      s.form = null;
      s.done = t('detail.done');
      await reloadDetail().catch(() => undefined);
    } catch (e) {
      s.actionError = errorText(e);
    } finally {
      s.busy = false;
    }
  }

  async function ack(): Promise<void> {
    s.form = null;
    await perform('ack', {});
  }

  /** Submit the open form (the `action-confirm` button). */
  async function confirm(): Promise<void> {
    const a = s.alert;
    if (!a || !s.form) return;
    const note = s.note.trim();
    const text = s.text.trim();
    const need = (v: string) => {
      if (v) return true;
      s.actionError = t('detail.required');
      return false;
    };
    switch (s.form) {
      case 'assign':
        if (need(s.department))
          await perform('assign', note ? { department: s.department, note } : { department: s.department });
        return;
      case 'comment':
        if (need(text)) await perform('comment', { text });
        return;
      case 'escalate':
        if (need(text)) await perform('escalate', { note: text });
        return;
      case 'resolve':
        if (need(text)) await perform('resolve', { feedback: text });
        return;
      case 'silence': {
        if (!need(text)) return;
        if (!(SILENCE_DURATIONS as readonly string[]).includes(s.duration)) s.duration = '2h';
        s.busy = true;
        s.actionError = '';
        try {
          await api.silence(a.fingerprint, a.area, text, s.duration);
          s.form = null;
          s.done = t('detail.done');
          await Promise.all([loadSilences(a.fingerprint), reloadDetail().catch(() => undefined)]);
        } catch (e) {
          s.actionError = errorText(e);
        } finally {
          s.busy = false;
        }
        return;
      }
    }
  }

  async function unsilence(silenceId: string): Promise<void> {
    if (!s.alert) return;
    s.actionError = '';
    try {
      await api.unsilence(silenceId);
      await Promise.all([loadSilences(s.alert.fingerprint), reloadDetail().catch(() => undefined)]);
    } catch (e) {
      s.actionError = errorText(e);
    }
  }

  return { s, load, openForm, ack, confirm, unsilence };
}
