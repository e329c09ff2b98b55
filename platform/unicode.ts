// Strings the store can keep. JSON may carry half a surrogate pair as an escape ("\ud800"): it
// is not Unicode, ClickHouse refuses the whole insert holding it (every other row in that batch
// fails with it), and one stored in an id comes back changed.

/** An unpaired UTF-16 surrogate: in `u` mode the class matches unpaired halves only. */
export const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** `s` with unpaired surrogates replaced by U+FFFD: safe to store and to echo. */
export function wellFormed(s: string): string {
  return s.replace(/[\uD800-\uDFFF]/gu, '\uFFFD');
}

/**
 * The dotted path of the first string in `value` (a value or a key, at any depth) holding an
 * unpaired surrogate, or undefined. Iterative: a body nested deep cannot overflow the stack.
 */
export function illFormedPath(value: unknown): string | undefined {
  if (typeof value === 'string') return LONE_SURROGATE.test(value) ? '(value)' : undefined;
  // Objects to visit, with their paths; a path is built only for an object or a hit (this runs
  // on every ingested record).
  const stack: [object, string][] = typeof value === 'object' && value !== null ? [[value, '']] : [];
  while (stack.length > 0) {
    const [o, path] = stack.pop()!;
    for (const k in o) {
      const v = (o as Record<string, unknown>)[k];
      const isObject = typeof v === 'object' && v !== null;
      if (!LONE_SURROGATE.test(k) && !isObject && !(typeof v === 'string' && LONE_SURROGATE.test(v)))
        continue;
      const at = path ? `${path}.${wellFormed(k)}` : wellFormed(k);
      if (!isObject) return at;
      stack.push([v, at]);
    }
  }
  return undefined;
}
