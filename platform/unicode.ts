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
  const stack: [unknown, string][] = [[value, '']];
  while (stack.length > 0) {
    const [v, path] = stack.pop()!;
    if (typeof v === 'string') {
      if (LONE_SURROGATE.test(v)) return path || '(value)';
    } else if (typeof v === 'object' && v !== null) {
      for (const [k, child] of Object.entries(v)) {
        const at = path ? `${path}.${wellFormed(k)}` : wellFormed(k);
        if (LONE_SURROGATE.test(k)) return at;
        stack.push([child, at]);
      }
    }
  }
  return undefined;
}
