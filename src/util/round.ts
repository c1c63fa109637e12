/** `v` to `decimals` decimal places, halves rounded up (Math.round): what reports and records show. */
export function roundTo(v: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(v * f) / f;
}

/** As roundTo, with null for no value (null, undefined, NaN, ±Infinity): JSON and CSV show those as empty. */
export function roundOrNull(v: number | null | undefined, decimals: number): number | null {
  return v === null || v === undefined || !Number.isFinite(v) ? null : roundTo(v, decimals);
}
