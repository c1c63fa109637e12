/** "rows 4–6 of 10" (1-based, inclusive), or "no rows" for a shard of a split with more shards than rows. */
export function shardRowsText(rows: readonly [number, number], total: number): string {
  return rows[1] > rows[0] ? `rows ${rows[0] + 1}–${rows[1]} of ${total}` : `no rows (${total} rows do not reach this shard)`;
}
