import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { RECORDS } from '../../record/index.js';
import { RowValues, type MetricDef, type Moments } from '../../stats/index.js';
import { writeFileAtomic } from '../../util/atomic-write.js';

/**
 * A run's per-row values as history (and the kept copies of `<out>/runs/`) hold them: per cell and metric, the
 * rows' values as little-endian Float64 in base64, and the moments the unpaired tests need.
 */
export interface EncodedValues {
  /** In `values`' order. */
  metrics: string[];
  row_ids: Array<string | null>;
  /** Per cell, per metric (in `metrics` order): the rows' values as little-endian Float64, base64. */
  values: string[][];
  /** Per cell, per metric: [n, mean, variance] of a latency or score (the unpaired tests' input), null for a rate. */
  moments: Array<Array<[number, number | null, number | null] | null>>;
}

export function encodeValues(rowValues: RowValues, cells: number, metrics: readonly MetricDef[], moments: ((cell: number, metric: MetricDef) => Moments | undefined) | undefined): EncodedValues {
  const all = Array.from({ length: cells }, (_, i) => i);
  return {
    metrics: metrics.map((m) => m.name),
    row_ids: Array.from(rowValues.rowIds, (id) => id ?? null),
    values: all.map((i) =>
      metrics.map((m) => {
        const series = rowValues.series(i, m.name)!;
        return Buffer.from(series.buffer, series.byteOffset, series.byteLength).toString('base64');
      }),
    ),
    moments: all.map((i) =>
      metrics.map((m) => {
        const x = m.kind === 'rate' ? undefined : moments?.(i, m);
        return x ? [x.n, finite(x.mean), finite(x.variance)] : null;
      }),
    ),
  };
}

/** The values of `metrics` (each must be among the encoded ones, else undefined) for a plan of `rows` × `cells`. */
export function decodeValues(encoded: EncodedValues, rows: number, cells: number, metrics: readonly MetricDef[]): { rowValues: RowValues; moments: (cell: number, metric: MetricDef) => Moments | undefined } | undefined {
  const at = metrics.map((m) => encoded.metrics.indexOf(m.name));
  if (at.some((k) => k === -1) || encoded.values.length !== cells || encoded.row_ids.length !== rows) return undefined;
  const rowValues = new RowValues(rows, cells, metrics);
  encoded.row_ids.forEach((id, i) => (rowValues.rowIds[i] = id ?? undefined));
  for (let cell = 0; cell < cells; cell++) {
    for (let j = 0; j < metrics.length; j++) {
      // Copied out of Buffer's shared pool, whose offsets need not be multiples of 8.
      const bytes = Uint8Array.from(Buffer.from(encoded.values[cell]?.[at[j]!] ?? '', 'base64'));
      if (bytes.byteLength !== rows * 8) return undefined;
      rowValues.series(cell, metrics[j]!.name)!.set(new Float64Array(bytes.buffer));
    }
  }
  return {
    rowValues,
    moments: (cell, metric) => {
      const x = encoded.moments[cell]?.[encoded.metrics.indexOf(metric.name)];
      return x ? { n: x[0], mean: x[1] ?? NaN, variance: x[2] ?? NaN } : undefined;
    },
  };
}

/** JSON has no NaN: an empty cell's mean is kept as null. */
function finite(v: number): number | null {
  return Number.isFinite(v) ? v : null;
}

/**
 * `row-values.json` in a run directory: written with summary.json by every report pass (run, resume, report, merge),
 * so `evalrun history` can take a run's per-row values without reading its journal. It names the journal it was
 * computed from (requests counted and bytes), and is taken only while the journal is still that.
 */
export const ROW_VALUES_FILE = 'row-values.json';
const FORMAT = 'evalrun-row-values/1';

interface RowValuesFile extends EncodedValues {
  format: typeof FORMAT;
  /** Requests counted in records.jsonl. */
  recorded: number;
  /** records.jsonl's size when these values were computed from it. */
  journal_bytes: number;
}

export async function writeRowValuesFile(dir: string, recorded: number, encoded: EncodedValues): Promise<void> {
  const journal = await stat(join(dir, RECORDS)).catch(() => undefined);
  const file: RowValuesFile = { format: FORMAT, recorded, journal_bytes: journal?.size ?? 0, ...encoded };
  await writeFileAtomic(join(dir, ROW_VALUES_FILE), JSON.stringify(file));
}

/**
 * The run's row values from row-values.json when it describes records.jsonl as it stands (same size, not written
 * since, `recorded` requests) and holds every metric asked for; else undefined (the journal is then read).
 */
export async function readRowValuesFile(dir: string, recorded: number, rows: number, cells: number, metrics: readonly MetricDef[]): Promise<ReturnType<typeof decodeValues>> {
  const path = join(dir, ROW_VALUES_FILE);
  const [journal, own] = await Promise.all([stat(join(dir, RECORDS)).catch(() => undefined), stat(path).catch(() => undefined)]);
  if (!journal || !own || journal.mtimeMs > own.mtimeMs) return undefined;
  try {
    const file = JSON.parse(await readFile(path, 'utf8')) as RowValuesFile;
    if (file.format !== FORMAT || file.recorded !== recorded || file.journal_bytes !== journal.size) return undefined;
    return decodeValues(file, rows, cells, metrics);
  } catch {
    return undefined;
  }
}
