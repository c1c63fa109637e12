import { OutputError, UsageError } from '../errors.js';
import type { Row } from '../contracts/dataset.js';

/** `--shard I/K`: the I-th (1-based) of K shards. */
export interface ShardSpec {
  index: number;
  count: number;
}

/** What one shard runs: a contiguous range of dataset rows, every cell of each, with their global plan positions. */
export interface ShardRange extends ShardSpec {
  /** First row (0-based) and one past the last. */
  rows: [start: number, end: number];
  /** seq of the shard's first request (row start × cells); its requests are first_seq … first_seq + requests − 1. */
  first_seq: number;
  requests: number;
  choices: number;
}

export function parseShard(text: string): ShardSpec {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!(Number.isSafeInteger(index) && Number.isSafeInteger(count) && count >= 1 && index >= 1 && index <= count)) {
    throw new UsageError(`--shard must be I/K with 1 ≤ I ≤ K, e.g. --shard 2/5 for the second of five shards (got '${text}')`);
  }
  return { index, count };
}

export const shardName = (s: ShardSpec): string => `${s.index}/${s.count}`;

/**
 * The split: shard i of K takes rows ⌊(i−1)·R/K⌋ … ⌊i·R/K⌋−1, with every cell of each row. So every request is in
 * exactly one shard, shard sizes differ by at most one row (every row has the same requests: one per cell), a row's
 * cells stay together (paired comparisons see both sides), and each shard's records are one contiguous run of
 * seqs, which makes the merge a concatenation of the shards in order. Contiguous ranges rather than round-robin:
 * rows cost about the same (same cells, same n), and the concatenation keeps the merge sequential on disk.
 */
export function shardRange(spec: ShardSpec, rows: number, cells: ReadonlyArray<{ n: number }>): ShardRange {
  const start = Math.floor(((spec.index - 1) * rows) / spec.count);
  const end = Math.floor((spec.index * rows) / spec.count);
  const perRowChoices = cells.reduce((s, c) => s + c.n, 0);
  return Object.assign({}, spec, {
    rows: [start, end] as [number, number],
    first_seq: start * cells.length,
    requests: (end - start) * cells.length,
    choices: (end - start) * perRowChoices,
  });
}

/** The shard's rows from the stream of all rows, stopping once past its range (the rest is not even read). */
export async function* shardRows(rows: AsyncIterable<Row>, range: ShardRange): AsyncGenerator<Row> {
  const [start, end] = range.rows;
  if (start >= end) return;
  for await (const row of rows) {
    if (row.index >= end) return;
    if (row.index >= start) yield row;
  }
}

/** A resumed directory must be resumed as what it was started as: the same shard, or no shard. */
export function checkShardResume(dir: string, recorded: ShardRange | undefined, asked: ShardRange | undefined): void {
  if (!recorded && !asked) return;
  if (recorded && asked && recorded.index === asked.index && recorded.count === asked.count) return;
  const was = recorded ? `shard ${shardName(recorded)}` : 'a whole run (no --shard)';
  const now = asked ? `--shard ${shardName(asked)}` : 'no --shard';
  const fix = recorded ? `resume it with --shard ${shardName(recorded)}` : 'resume it without --shard';
  throw new OutputError(`cannot resume ${dir} with ${now}: it holds ${was}; ${fix}, or start a new run in another --out.`, 'EVALRUN_RESUME_MISMATCH');
}

// The text is shared with the reports (a shard's summary.md), which may not import the plan stage.
export { shardRowsText } from '../util/shard-rows-text.js';
