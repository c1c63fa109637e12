import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve as resolvePath } from 'node:path';
import { UsageError } from '../errors.js';
import { mergeRuns } from './merge.js';
import { readManifest, type RunManifest } from '../record/index.js';
import { DEFAULT_ALPHA } from '../contracts/evaluation.js';
import { scoredCheckNames } from '../contracts/checks.js';
import { defaultCompareMetrics, findMetric, metricsFor, suggestMetric, METHOD_NOTE, type MetricDef } from '../stats/index.js';
import { suggest } from '../util/suggest.js';
import { globToRegExp } from '../util/glob.js';
import { scanRun, type HistoryRun } from '../report/index.js';
import { loadRun, pruneRuns, runKey, saveRun } from '../report/index.js';
import { NOISE_WINDOW, NoiseFloorCounter, runEntry, transition, type Drift, type HistoryRunEntry, type NoiseFloor, type Transition } from '../report/index.js';
import { historyCsv, HISTORY_FILES, writeHistoryFiles, type HistoryJson } from '../report/index.js';

export interface HistoryOptions {
  /** Run directories or globs of them (a shard's directories are merged first). */
  inputs: string[];
  /** Where history.csv, history.json, history.html and history.md go (default results/<name>-history). */
  out?: string | undefined;
  /** A run every judged run is also compared with. */
  baseline?: string | undefined;
  metrics?: string[] | undefined;
  alpha?: number | undefined;
}

export interface HistoryResult {
  out: string;
  files: readonly string[];
  history: HistoryJson;
  markdown: string;
  /** The newest run's worse drifts (against the run before it, or the baseline): what --fail-on-drift acts on. */
  worse: Drift[];
  warnings: string[];
}

/** One point of the history: a run directory, or the shards of one run (merged before they are read). */
interface Entry {
  dirs: string[];
  manifest: RunManifest;
  label: string;
}

/**
 * `evalrun history`: runs of one evaluation in start order, each compared with the judged run before it (and with a
 * pinned baseline), what changed between them, and the noise floor. Runs are read one at a time, oldest first, and
 * only the previous judged run and the baseline are held (their per-row values): memory does not grow with the
 * number of runs, and a run's records are read once.
 */
export async function historyRuns(options: HistoryOptions): Promise<HistoryResult> {
  const warnings: string[] = [];
  const entries = await collect(options.inputs, warnings);
  if (entries.length === 0) throw new UsageError(`no run directories among ${options.inputs.join(' ')}: give the run directories (or a glob of them) that evalrun run wrote`);
  const names = [...new Set(entries.map((e) => e.manifest.name))];
  if (names.length > 1) {
    throw new UsageError(`these are runs of ${names.length} different evaluations (${names.map((n) => `'${n}': ${entries.filter((e) => e.manifest.name === n).map((e) => e.label).slice(0, 3).join(', ')}`).join('; ')}); run history on one evaluation's runs at a time`);
  }
  entries.sort((a, b) => a.manifest.started_at.localeCompare(b.manifest.started_at) || a.label.localeCompare(b.label));
  const latest = entries.at(-1)!.manifest;
  const latestChecks = (latest.evaluation?.checks ?? []).map((c) => c.name);
  const latestScored = scoredCheckNames(latest.evaluation?.checks);
  const known = metricsFor(latestChecks, latestScored).filter((m) => m.comparable).map((m) => m.name);
  for (const m of options.metrics ?? []) {
    if (!known.includes(m)) {
      const hint = suggestMetric(m, known, suggest);
      throw new UsageError(`--metric ${m}: not a metric of these runs${hint ? ` (did you mean '${hint}'?)` : ''}; choose from ${known.join(', ')}`);
    }
  }
  const wanted = options.metrics?.length ? options.metrics : (latest.evaluation?.compare.metrics ?? defaultCompareMetrics(latestChecks, latestScored));
  const metrics = wanted.map((m) => findMetric(m, latestChecks, latestScored)).filter((m): m is MetricDef => m !== undefined && m.comparable);
  const alpha = options.alpha ?? DEFAULT_ALPHA;
  const out = resolvePath(options.out ?? join('results', `${names[0]}-history`));
  const cache = join(out, 'runs');
  const used = new Set<string>();

  let baseline: { run: KeyedRun; entry: HistoryRunEntry } | undefined;
  if (options.baseline !== undefined) {
    const [b] = await collect([options.baseline], warnings, true);
    if (!b) throw new UsageError(`--baseline ${options.baseline}: not a run directory`);
    if (b.manifest.name !== names[0]) throw new UsageError(`--baseline ${options.baseline} is a run of '${b.manifest.name}', not of '${names[0]}'`);
    const run = await read(b, wanted, cache, used);
    if (!run.judged) throw new UsageError(`--baseline ${options.baseline} cannot be a baseline: ${run.not_judged}. Pin a complete run.`);
    baseline = { run, entry: runEntry(-1, run, metrics, b.label) };
  }

  const runs: HistoryRunEntry[] = [];
  const transitions: Transition[] = [];
  const noise = new NoiseFloorCounter();
  let previous: { run: HistoryRun; index: number } | undefined;
  let csv = '';
  let pending: Promise<KeyedRun> | undefined = read(entries[0]!, wanted, cache, used);
  for (const [index, e] of entries.entries()) {
    const run = await pending!;
    // The next run is read while this one is judged and written: its file reads overlap this run's computing. Two
    // runs' row values at most are held besides the previous and the baseline.
    pending = index + 1 < entries.length ? read(entries[index + 1]!, wanted, cache, used) : undefined;
    // Its failure is thrown where it is awaited; this only keeps it from being reported as unhandled meanwhile.
    pending?.catch(() => undefined);
    const entry = runEntry(index, run, metrics, e.label);
    runs.push(entry);
    const mine: Transition[] = [];
    if (run.judged) {
      // The noise floor's half-widths (an interval per comparison) come from the newest runs only: bounded work.
      const halfWidth = index >= entries.length - NOISE_WINDOW;
      if (previous) mine.push(transition(previous.run, run, previous.index, index, 'previous', metrics, alpha, { halfWidth }));
      // The baseline among the runs is not compared with itself.
      if (baseline && baseline.run.key !== run.key) mine.push(transition(baseline.run, run, -1, index, 'baseline', metrics, alpha));
      previous = { run, index };
    }
    for (const t of mine) noise.add(t);
    transitions.push(...mine);
    csv += historyCsv(entry, metrics, mine, index === 0);
    // Only the row values of the previous judged run are kept; a transition's rows were needed for the CSV only.
    for (const t of mine) t.rows = [];
  }

  const last = runs.at(-1)!;
  const worse = last.judged ? transitions.filter((t) => t.to === last.index).flatMap((t) => t.drifts.filter((d) => d.change === 'worse')) : [];
  const noiseFloor: NoiseFloor[] = noise.result(metrics);
  const history: HistoryJson = {
    format: 'evalrun-history/1',
    name: names[0]!,
    generated_at: new Date().toISOString(),
    alpha,
    metrics: metrics.map((m) => ({ name: m.name, direction: m.direction })),
    method: `Each judged run against the judged run before it${baseline ? ' and against the baseline' : ''}, cell by cell, with evalrun compare's test. ${METHOD_NOTE} When the dataset changed between the two runs, the unpaired test is used and the transition is labelled unpaired.`,
    baseline: baseline?.entry ?? null,
    runs,
    transitions: transitions.map(({ rows: _rows, ...t }) => t),
    noise_floor: noiseFloor,
    latest: { index: last.index, judged: last.judged, ...(last.not_judged ? { not_judged: last.not_judged } : {}), worse },
    warnings,
  };
  const markdown = await writeHistoryFiles(out, history, csv);
  await pruneRuns(cache, used);
  return { out, files: HISTORY_FILES, history, markdown, worse, warnings };
}

/**
 * A run as history reads it: from what an earlier history kept of it in `<out>/runs/` when the run is unchanged
 * since, else from its directory (a shard group merged first, what is there, into a temporary directory), and kept.
 * An unfinished run is not kept: it may yet be resumed.
 */
async function read(e: Entry, metrics: readonly string[], cache: string, used: Set<string>): Promise<KeyedRun> {
  const key = await runKey(e.dirs);
  used.add(key);
  const kept = await loadRun(cache, key, e.label, metrics);
  if (kept) return Object.assign(kept, { key });
  const run = await readDirs(e, metrics);
  if (run.judged && !run.ownValues) await saveRun(cache, key, metrics, run);
  return Object.assign(run, { key });
}

/** A run and the key of its files as they stand (the same run given twice has one key). */
type KeyedRun = HistoryRun & { key: string };

async function readDirs(e: Entry, metrics: readonly string[]): Promise<HistoryRun> {
  if (e.dirs.length === 1 && !e.manifest.shard) return scanRun(e.dirs[0]!, e.manifest, metrics);
  const tmp = await mkdtemp(join(tmpdir(), 'evalrun-history-'));
  try {
    const merged = await mergeRuns({ dirs: e.dirs, out: join(tmp, 'merged'), partial: true });
    const run = await scanRun(merged.dir, merged.manifest, metrics);
    // Kept even when the merge wrote row-values.json: that went with the temporary merge, and merging again costs.
    return { ...run, dir: e.label, ownValues: false };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * The inputs as runs: directories, or globs of them (`runs/*`, quoted so the shell leaves them alone). A directory
 * named explicitly must be a run; one a glob found that is not (the history's own output folder) is skipped with a
 * warning. Shard directories of one run (same folder, plan and shard count) become one entry.
 */
async function collect(inputs: readonly string[], warnings: string[], strict = false): Promise<Entry[]> {
  const found: Array<{ dir: string; explicit: boolean }> = [];
  for (const input of inputs) {
    if (/[*?[]/.test(input)) {
      const dirs = await expandGlob(input);
      if (dirs.length === 0) throw new UsageError(`${input}: no directory matches`);
      for (const dir of dirs) found.push({ dir, explicit: false });
    } else found.push({ dir: input, explicit: true });
  }
  const singles: Entry[] = [];
  const shardGroups = new Map<string, Array<{ dir: string; manifest: RunManifest }>>();
  const seen = new Set<string>();
  for (const { dir, explicit } of found) {
    const abs = resolvePath(dir);
    if (seen.has(abs)) continue;
    seen.add(abs);
    let manifest: RunManifest;
    try {
      manifest = await readManifest(dir);
    } catch (e) {
      if (explicit || strict) throw e;
      warnings.push(`skipped ${dir}: not a run directory (no readable run.json)`);
      continue;
    }
    if (!manifest.shard) {
      singles.push({ dirs: [dir], manifest, label: dir });
      continue;
    }
    const key = `${dirname(abs)}\0${manifest.plan_fingerprint ?? ''}\0${manifest.shard.count}`;
    shardGroups.set(key, [...(shardGroups.get(key) ?? []), { dir, manifest }]);
  }
  for (const group of shardGroups.values()) {
    const indexes = group.map((g) => g.manifest.shard!.index);
    const twice = indexes.find((i, k) => indexes.indexOf(i) !== k);
    if (twice !== undefined) {
      throw new UsageError(
        `shard ${twice}/${group[0]!.manifest.shard!.count} appears twice in ${dirname(group[0]!.dir)} (${group.filter((g) => g.manifest.shard!.index === twice).map((g) => basename(g.dir)).join(', ')}): history takes the shards of one run from one folder; put each run's shards in a folder of its own`,
      );
    }
    group.sort((a, b) => a.manifest.shard!.index - b.manifest.shard!.index);
    const first = group.reduce((a, b) => (a.manifest.started_at <= b.manifest.started_at ? a : b));
    singles.push({ dirs: group.map((g) => g.dir), manifest: first.manifest, label: `${dirname(group[0]!.dir)} (shards ${indexes.sort((a, b) => a - b).join(', ')} of ${group[0]!.manifest.shard!.count})` });
  }
  return singles;
}

/** Directories matching a glob, segment by segment (`*`, `?`, `[abc]` within one path segment), sorted. */
async function expandGlob(pattern: string): Promise<string[]> {
  const absolute = pattern.startsWith('/');
  const segments = pattern.split('/').filter((s, i) => s !== '' || i === 0);
  let bases = [absolute ? '/' : '.'];
  for (const segment of absolute ? segments.slice(1) : segments) {
    const next: string[] = [];
    for (const base of bases) {
      if (!/[*?[]/.test(segment)) {
        const p = join(base, segment);
        if (await stat(p).then((s) => s.isDirectory(), () => false)) next.push(p);
        continue;
      }
      const re = globToRegExp(segment);
      const names = await readdir(base, { withFileTypes: true }).catch(() => []);
      for (const d of names) if (d.isDirectory() && !d.name.startsWith('.') && re.test(d.name)) next.push(join(base, d.name));
    }
    bases = next;
  }
  return bases.sort();
}
