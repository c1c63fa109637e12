import { basename } from 'node:path';
import type { Config } from '../contracts/config.js';
import { canonicalJson, sha256 } from '../util/canonical-json.js';
import type { Cell } from '../contracts/plan.js';

/**
 * Bumped when a change to evalrun makes the same config and data give other requests or other records (how
 * messages are rendered, how cells are expanded, how rows are numbered, what a record holds): shards made by such
 * versions cannot be merged. Versions that leave plans alone keep it, so shards of them merge.
 */
export const PLAN_FORMAT = 1;

/**
 * A hash of everything that shapes the requests and the records graded from their answers: every cell's request
 * parameters, the message template, the datasets' bytes, row count and id scheme, the schema and checks graded into
 * the records, n_mode, the seed, and the plan format. Not what may differ between the machines that run the shards:
 * paths, concurrency, retries, rate limits, the provider's URL, gates and prices (those judge, not produce, records).
 */
export function planFingerprint(config: Config, cells: readonly Cell[], datasetHash: string, rows: number): string {
  return sha256(
    canonicalJson({
      plan_format: PLAN_FORMAT,
      cells: cells.map((c) => ({ id: c.id, params: c.params, n: c.n, json_mode: c.jsonMode })),
      messages: config.messages ?? null,
      id_column: config.idColumn ?? null,
      // Row ids of several datasets are prefixed with the files' names: the names shape the records, the folders do not.
      datasets: config.datasets.map((d) => basename(d)),
      dataset_hash: datasetHash,
      rows,
      schema: config.schema ?? null,
      checks: config.checks?.length ? config.checks : null,
      n_mode: config.nMode === 'repeat' ? 'repeat' : 'native',
      seed: config.seed ?? null,
    }),
  ).slice(0, 16);
}
