import type { WindowResult } from '../../processors/window-result.ts';
import type { WindowField } from '../rules/schema.ts';

/** The value of a window result's field, or null when the window has none. */
export function fieldOf(r: WindowResult, f: WindowField): number | null {
  switch (f) {
    case 'count':
      return r.count;
    case 'sum':
      return r.sum;
    case 'mean':
      return r.count > 0 ? r.mean : null;
    case 'min':
      return r.count > 0 ? r.min : null;
    case 'max':
      return r.count > 0 ? r.max : null;
    case 'p50':
      return r.p50;
    case 'p90':
      return r.p90;
    case 'p99':
      return r.p99;
    case 'distinct':
      return r.distinct;
    case 'last':
      return r.last;
  }
}

/** Fields that only grow while a window is open: provisional results may raise a tier early. */
export const MONOTONE: ReadonlySet<WindowField> = new Set(['count', 'max', 'distinct']);
