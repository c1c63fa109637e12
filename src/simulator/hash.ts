/**
 * Cheap deterministic hashing. Determinism matters more than quality here, and crypto hashes cost far more
 * than the ~0.1 ms per request budget allows, so this is FNV-1a finished with murmur3's avalanche step.
 */

export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export function hashString(s: string, seed = 0): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return fmix32(h);
}

/** Combine two 32-bit values; small, close inputs (choice 0, 1, 2…) still give unrelated outputs. */
export function mix(a: number, b: number): number {
  const hb = fmix32((b ^ 0x9e3779b9) >>> 0);
  return fmix32((a ^ (hb + 0x7f4a7c15 + (a << 6) + (a >>> 2))) >>> 0);
}

/** Fold any JS number (e.g. a 64-bit request `seed`) into 32 bits. */
export function foldNumber(n: number): number {
  if (!Number.isFinite(n)) return hashString(String(n));
  const lo = n >>> 0;
  const hi = Math.floor(n / 4294967296) >>> 0;
  return mix(lo, hi);
}

/** Uniform in [0, 1). */
export function unit(h: number): number {
  return h / 4294967296;
}

export function hexOf(h: number, length: number): string {
  let out = '';
  let x = h;
  while (out.length < length) {
    out += x.toString(16).padStart(8, '0');
    x = mix(x, out.length);
  }
  return out.slice(0, length);
}
