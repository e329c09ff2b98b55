// Dense integer numbers for a fixed set of string ids (the org registry's devices and nodes),
// looked up on the ingest and window hot paths.
//
// Why not a Map: a V8 Map of some 30,000 string keys costs several dependent cache misses
// per get (bucket, entry chain, the stored key string, then the value), and on the benchmark
// machine that came to about 1 µs per event — as much as parsing the event itself. Here a
// lookup hashes the id (FNV-1a over its UTF-16 units), probes one typed array whose slot holds
// the hash, number and key position, and compares the id with its copy in one contiguous
// buffer: two misses at most. The set never changes after construction, like the OrgTree.

const SLOT = 4; // hash, number + 1 (0: empty), key start, key length

export class IdIndex {
  /** Number → id, in insertion order. */
  readonly ids: readonly string[];
  private readonly slots: Int32Array;
  private readonly mask: number;
  private readonly chars: Uint16Array;

  constructor(ids: readonly string[]) {
    this.ids = ids;
    let capacity = 8;
    while (capacity < ids.length * 2) capacity *= 2;
    this.mask = capacity - 1;
    this.slots = new Int32Array(capacity * SLOT);
    let total = 0;
    for (const id of ids) total += id.length;
    this.chars = new Uint16Array(total);
    let at = 0;
    for (let n = 0; n < ids.length; n++) {
      const id = ids[n]!;
      if (this.indexOf(id) >= 0) throw new Error(`IdIndex: duplicate id "${id}"`);
      const h = hash(id);
      let s = h & this.mask;
      while (this.slots[s * SLOT + 1] !== 0) s = (s + 1) & this.mask;
      const b = s * SLOT;
      this.slots[b] = h;
      this.slots[b + 1] = n + 1;
      this.slots[b + 2] = at;
      this.slots[b + 3] = id.length;
      for (let i = 0; i < id.length; i++) this.chars[at++] = id.charCodeAt(i);
    }
  }

  get size(): number {
    return this.ids.length;
  }

  /** The id's number, or -1 when it is not in the set. */
  indexOf(id: string): number {
    const h = hash(id);
    const len = id.length;
    const slots = this.slots;
    for (let s = h & this.mask; ; s = (s + 1) & this.mask) {
      const b = s * SLOT;
      const n = slots[b + 1]!;
      if (n === 0) return -1;
      if (slots[b] === h && slots[b + 3] === len) {
        const start = slots[b + 2]!;
        let i = 0;
        while (i < len && this.chars[start + i] === id.charCodeAt(i)) i++;
        if (i === len) return n - 1;
      }
    }
  }
}

function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h | 0;
}
