import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MANIFEST, RECORDS, type RunManifest } from '../../record/index.js';
import { findMetric, type MetricDef } from '../../stats/index.js';
import { scoredCheckNames } from '../../contracts/checks.js';
import type { CellStats } from '../../contracts/summary.js';
import { writeFileAtomic } from '../../util/atomic-write.js';
import type { HistoryRun } from './scan.js';
import { decodeValues, encodeValues, type EncodedValues } from './row-values-file.js';

/**
 * What `history` keeps of each run it has read, in `<out>/runs/`: the run's manifest, its cells' figures on the
 * history's metrics and its per-row values, a few kilobytes where the run's journal is megabytes. Kept between
 * nights (the nightly recipe keeps the --out folder), it spares reading every old run's journal again: only the new
 * nights are read. A run is found again by what it is now: its run.json's bytes, and the size and time of its
 * records.jsonl and summary.json, so a run resumed or reported since is read afresh.
 */
const FORMAT = 'evalrun-history-run/3';

interface Cached extends EncodedValues {
  format: typeof FORMAT;
  key: string;
  /** The history's metrics when this was written: another choice of metrics reads the run afresh. */
  wanted: string[];
  manifest: RunManifest;
  recorded: number;
  judged: boolean;
  not_judged?: string;
  cells: CellStats[];
}

/** The key of a run as its directories stand now; shards of one run give one key. */
export async function runKey(dirs: readonly string[]): Promise<string> {
  const h = createHash('sha256');
  for (const dir of dirs) {
    h.update(await readFile(join(dir, MANIFEST)));
    for (const file of [RECORDS, 'summary.json']) {
      const s = await stat(join(dir, file)).catch(() => undefined);
      h.update(s ? `${file} ${s.size} ${s.mtimeMs}\n` : `${file} -\n`);
    }
  }
  return h.digest('hex').slice(0, 32);
}

/** The fields of a cell history reads: its counts, served models, and each metric with its interval and counts. */
function trimCell(c: CellStats, metrics: readonly MetricDef[]): CellStats {
  const keep = ['cell', 'model', 'temperature', 'top_p', 'n', 'requests', 'failed_requests', 'choices', 'error_rate', 'latency_p50_ms', 'latency_p95_ms', 'latency_mean_ms', 'prompt_tokens', 'completion_tokens', 'cost_usd', 'served'];
  for (const m of metrics) keep.push(m.name, `${m.name}_low`, `${m.name}_high`, ...(m.count ? [m.count, m.of!] : []));
  const all = c as unknown as Record<string, unknown>;
  return Object.fromEntries(keep.filter((k) => k in all).map((k) => [k, all[k]])) as unknown as CellStats;
}

export async function saveRun(dir: string, key: string, wanted: readonly string[], run: HistoryRun): Promise<void> {
  const metrics = run.metrics;
  const cached: Cached = {
    format: FORMAT,
    key,
    wanted: [...wanted],
    manifest: run.manifest,
    recorded: run.recorded,
    judged: run.judged,
    ...(run.not_judged ? { not_judged: run.not_judged } : {}),
    cells: run.cells.map((c) => trimCell(c, metrics)),
    ...encodeValues(run.side.rowValues, run.cells.length, metrics, run.side.moments),
  };
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(join(dir, `${key}.json`), JSON.stringify(cached));
}

/** The run as it was read before, when `key` is what it is now and the same metrics were wanted; else undefined. */
export async function loadRun(dir: string, key: string, runDir: string, wanted: readonly string[]): Promise<HistoryRun | undefined> {
  let cached: Cached;
  try {
    cached = JSON.parse(await readFile(join(dir, `${key}.json`), 'utf8')) as Cached;
  } catch {
    return undefined;
  }
  if (cached.format !== FORMAT || cached.key !== key || cached.wanted.join(' ') !== wanted.join(' ')) return undefined;
  const m = cached.manifest;
  const checks = (m.evaluation?.checks ?? []).map((c) => c.name);
  const names = cached.metrics;
  const metrics = names.map((n) => findMetric(n, checks, scoredCheckNames(m.evaluation?.checks))).filter((x): x is MetricDef => x !== undefined);
  if (metrics.length !== names.length) return undefined;
  const decoded = decodeValues(cached, m.plan.rows, m.plan.cells.length, metrics);
  if (!decoded) return undefined;
  return {
    dir: runDir,
    manifest: m,
    recorded: cached.recorded,
    judged: cached.judged,
    ...(cached.not_judged ? { not_judged: cached.not_judged } : {}),
    cells: cached.cells,
    metrics,
    side: { rowValues: decoded.rowValues, cells: cached.cells, moments: decoded.moments },
  };
}

/** Removes the copies of runs this history did not read (pruned nights): the folder holds what the history shows. */
export async function pruneRuns(dir: string, used: ReadonlySet<string>): Promise<void> {
  const files = await readdir(dir).catch(() => [] as string[]);
  await Promise.all(files.filter((f) => /^[0-9a-f]{32}\.json$/.test(f) && !used.has(f.slice(0, -'.json'.length))).map((f) => rm(join(dir, f), { force: true })));
}
