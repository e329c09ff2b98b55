// The board's filters: kept across page changes and reloads of the tab (sessionStorage).
import { reactive, watch } from 'vue';
import { type BoardFilters, EMPTY_FILTERS } from '../lib/board.ts';

const KEY = 'gw.boardFilters';

function saved(): BoardFilters {
  try {
    const raw = sessionStorage.getItem(KEY);
    if (raw) {
      const v = JSON.parse(raw) as Partial<BoardFilters>;
      const out = { ...EMPTY_FILTERS };
      for (const k of Object.keys(out) as (keyof BoardFilters)[])
        if (typeof v[k] === 'string') out[k] = v[k] as string;
      return out;
    }
  } catch {
    // ignore a broken value
  }
  return { ...EMPTY_FILTERS };
}

export const boardFilters = reactive<BoardFilters>(saved());

watch(boardFilters, (f) => {
  try {
    sessionStorage.setItem(KEY, JSON.stringify(f));
  } catch {
    // not persisted
  }
});

export function clearFilters(): void {
  Object.assign(boardFilters, EMPTY_FILTERS);
}
