/**
 * `evalrun history` through the CLI (`main()` in-process) over nightly runs on the simulator: identical runs drift
 * nowhere; a server that silently answers worse from one run on is found at that run, on its cells and metrics, and
 * not before; a prompt edit is attributed to the config; a new snapshot behind the same model name (with the same
 * config) to the provider; an incomplete run is shown but never judged; --fail-on-drift exits 1 only on a worse drift
 * of the newest run.
 */
import { cp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runMain } from '../helpers/cli.js';
import { readCsvFile } from '../helpers/csv.js';
import { useTempDirs, writeTree } from '../helpers/tmp.js';
import type { HistoryJson } from '../../src/report/history/write.js';

const tempDir = useTempDirs();
const DEMO = join(ROOT, 'datasets/demo');
const MINI = 'gpt-4o-mini/t0.7/n3';
const BIG = 'gpt-4.1-mini/t0.7/n3';

/** The nightly job's config; `served` is what the simulated provider serves this night. */
function config(over: { served?: string; prompt?: string } = {}): string {
  return `name: nightly
dataset: ${join(DEMO, 'tickets.csv')}
id_column: ticket_id
messages:
  - role: system
    content: ${over.prompt ?? 'Triage the ticket. Answer with a JSON object with category, priority, summary and needs_human.'}
  - role: user
    content: "{{subject}}: {{body}}"
params: { max_tokens: 200, response_format: { type: json_object } }
grid:
  model: [gpt-4o-mini, gpt-4.1-mini]
  temperature: [0.7]
  n: [3]
schema: ${join(DEMO, 'triage.schema.json')}
provider: { simulator: { served: ${over.served ?? '{}'} } }
checks:
  - { name: category_matches, type: equals, pointer: /category, expected: { column: label } }
`;
}

/** gpt-4.1-mini answers worse, under the same name and fingerprint: nothing in the answers says so. */
const SILENT = '{ gpt-4.1-mini: { invalid_json: 0.6 } }';
/** …and then gpt-4o-mini moves to a new snapshot (new model string and fingerprint) that also answers worse. */
const NEW_SNAPSHOT = '{ gpt-4.1-mini: { invalid_json: 0.6 }, gpt-4o-mini: { model: gpt-4o-mini-2026-12-01, system_fingerprint: fp_new, invalid_json: 0.6 } }';

let base = '';
const dirs: Record<string, string> = {};

async function history(args: string[]): Promise<{ code: number; stdout: string; stderr: string; json: HistoryJson; out: string }> {
  const out = await tempDir('evalrun-history-out-');
  const r = await runMain(['history', ...args, '--out', out]);
  const json = r.code === 0 || r.code === 1 ? (JSON.parse(await readFile(join(out, 'history.json'), 'utf8')) as HistoryJson) : (undefined as unknown as HistoryJson);
  return { code: r.code ?? -1, stdout: r.stdout, stderr: r.stderr, json, out };
}

const driftsTo = (h: HistoryJson, dir: string, against = 'previous') => {
  const i = h.runs.findIndex((r) => r.dir === dir);
  return h.transitions.filter((t) => t.to === i && t.against === against).flatMap((t) => t.drifts);
};

beforeAll(async () => {
  base = await tempDir('evalrun-history-');
  const files = await writeTree(base, {
    'base.yaml': config(),
    'silent.yaml': config({ served: SILENT }),
    'snapshot.yaml': config({ served: NEW_SNAPSHOT }),
    'prompt.yaml': config({ prompt: 'Triage the ticket. Answer with a JSON object. EVALRUN_FILTER_ME' }),
  });
  // One after the other: history orders runs by their start.
  const nights: Array<[string, string]> = [
    ['n1', 'base'], ['n2', 'base'], ['n3', 'base'], ['n4', 'silent'], ['n5', 'silent'], ['n6', 'snapshot'], ['p7', 'prompt'],
  ];
  for (const [name, cfg] of nights) {
    dirs[name] = join(base, 'runs', name);
    const r = await runMain(['run', files[`${cfg}.yaml`]!, '--out', dirs[name]!, '--quiet']);
    if (r.code !== 0 && r.code !== 1) throw new Error(`${name}: exit ${r.code}: ${r.stderr}`);
  }
  // A night killed half-way, after n3: half its records, no summary.json, status interrupted, served the worse model.
  const inc = join(base, 'inc', 'n3b');
  await cp(dirs['n4']!, inc, { recursive: true });
  const lines = (await readFile(join(inc, 'records.jsonl'), 'utf8')).split('\n').filter(Boolean);
  await writeFile(join(inc, 'records.jsonl'), `${lines.slice(0, lines.length / 2).join('\n')}\n`);
  await rm(join(inc, 'summary.json'));
  const manifest = JSON.parse(await readFile(join(inc, 'run.json'), 'utf8')) as { status: string; started_at: string };
  const n3 = JSON.parse(await readFile(join(dirs['n3']!, 'run.json'), 'utf8')) as { started_at: string };
  manifest.status = 'interrupted';
  manifest.started_at = new Date(Date.parse(n3.started_at) + 1).toISOString();
  await writeFile(join(inc, 'run.json'), JSON.stringify(manifest));
  dirs['inc'] = inc;
}, 120_000);

describe('records and summary.json keep what the server says it is', () => {
  it('records the response model and system_fingerprint; summary.json counts them per cell', async () => {
    const record = JSON.parse((await readFile(join(dirs['n6']!, 'records.jsonl'), 'utf8')).split('\n')[0]!) as Record<string, unknown>;
    expect(record['system_fingerprint']).toMatch(/^fp_/);
    const summary = JSON.parse(await readFile(join(dirs['n6']!, 'summary.json'), 'utf8')) as { cells: Array<{ cell: string; served: unknown }> };
    const served = Object.fromEntries(summary.cells.map((c) => [c.cell, c.served]));
    expect(served[MINI]).toEqual({ models: [{ model: 'gpt-4o-mini-2026-12-01', requests: 36 }], system_fingerprints: [{ system_fingerprint: 'fp_new', requests: 36 }] });
    expect(served[BIG]).toEqual({ models: [{ model: 'gpt-4.1-mini', requests: 36 }], system_fingerprints: [{ system_fingerprint: 'fp_evalrun_sim', requests: 36 }] });
  });
});

describe('evalrun history', () => {
  it('finds no drift between identical runs, and states their noise floor', async () => {
    const h = await history([dirs['n1']!, dirs['n2']!, dirs['n3']!]);
    expect(h.code).toBe(0);
    expect(h.json.runs.map((r) => r.judged)).toEqual([true, true, true]);
    expect(h.json.transitions).toHaveLength(2);
    for (const t of h.json.transitions) {
      expect(t.test).toBe('paired');
      expect(t.changes).toEqual([]);
      expect(t.compared).toBeGreaterThan(0);
      expect(t.drifts).toEqual([]);
    }
    const floor = h.json.noise_floor.find((n) => n.metric === 'json_valid_rate')!;
    expect(floor.transitions).toBe(2);
    expect(floor.max_abs_diff).toBe(0);
    expect(h.stdout).toContain('No worse drift in the newest run');
    expect(h.stdout).toContain('Noise floor');
    expect(await readFile(join(h.out, 'history.md'), 'utf8')).toContain('typical 95% half-width');
    // The half-widths are of (1 − α) intervals: the header says the level they are at.
    const strict = await history([dirs['n1']!, dirs['n2']!, dirs['n3']!, '--alpha', '0.01']);
    expect(await readFile(join(strict.out, 'history.md'), 'utf8')).toContain('typical 99% half-width');
    // history.html's tables and bands say the same level, worked out by the same rule.
    expect(await readFile(join(strict.out, 'history.html'), 'utf8')).toContain('"level":"99%"');
    expect(await readFile(join(h.out, 'history.html'), 'utf8')).toContain('"level":"95%"');
  });

  it('finds a silent degradation at the run it starts, on the degraded cells and metrics only, and not before', async () => {
    const h = await history([join(base, 'runs', 'n[1-5]'), '--fail-on-drift']);
    expect(h.json.runs.map((r) => r.dir)).toEqual(['n1', 'n2', 'n3', 'n4', 'n5'].map((n) => dirs[n]));
    expect(driftsTo(h.json, dirs['n2']!)).toEqual([]);
    expect(driftsTo(h.json, dirs['n3']!)).toEqual([]);
    const at4 = driftsTo(h.json, dirs['n4']!);
    expect(new Set(at4.map((d) => d.cell))).toEqual(new Set([BIG]));
    expect(at4.map((d) => d.metric)).toContain('json_valid_rate');
    for (const d of at4) {
      expect(d.change).toBe('worse');
      expect(d.test).toBe('paired');
      expect(d.diff!).toBeLessThan(0);
      expect(d.diff_high!).toBeLessThan(0);
      expect(d.p_adjusted!).toBeLessThan(0.05);
      expect(d.attributed_to).toBe('nothing_visible');
    }
    // The run after keeps the degradation: no drift against it.
    expect(driftsTo(h.json, dirs['n5']!)).toEqual([]);
    expect(h.code).toBe(0);
    const csv = await readCsvFile(join(h.out, 'history.csv'));
    const row = csv.find((r) => r['run_dir'] === dirs['n4'] && r['cell'] === BIG && r['metric'] === 'json_valid_rate')!;
    expect(row['vs_previous']).toBe('worse');
    expect(Number(row['value'])).toBeLessThan(0.7);
    expect(Number(row['n'])).toBeGreaterThan(0);
    expect(csv.find((r) => r['run_dir'] === dirs['n4'] && r['cell'] === MINI && r['metric'] === 'json_valid_rate')!['vs_previous']).toBe('same');
  });

  it('judges a transition as compare judges the same two runs: the same p-values, verdicts and intervals', async () => {
    const h = await history([dirs['n3']!, dirs['n4']!]);
    const metrics = h.json.metrics.map((m) => m.name);
    const c = JSON.parse((await runMain(['compare', dirs['n3']!, dirs['n4']!, '--json', ...metrics.flatMap((m) => ['--metric', m])])).stdout) as {
      rows: Array<{ metric: string; cell: string; p_value: number | null; p_adjusted: number | null; change: string; diff: number | null; diff_low: number | null; diff_high: number | null }>;
    };
    const csv = await readCsvFile(join(h.out, 'history.csv'));
    const mine = csv.filter((r) => r['run_dir'] === dirs['n4']);
    expect(c.rows.length).toBeGreaterThan(0);
    expect(mine.length).toBe(c.rows.length);
    const drifts = h.json.transitions[0]!.drifts;
    for (const row of c.rows) {
      const line = mine.find((r) => r['cell'] === row.cell && r['metric'] === row.metric)!;
      expect(line['vs_previous'], `${row.metric} ${row.cell}`).toBe(row.change);
      expect(line['vs_previous_p_adjusted'] === '' ? null : Number(line['vs_previous_p_adjusted'])).toBe(row.p_adjusted);
      const drift = drifts.find((d) => d.cell === row.cell && d.metric === row.metric);
      expect(drift === undefined, `${row.metric} ${row.cell}`).toBe(row.change === 'same');
      if (drift) expect([drift.p_value, drift.diff, drift.diff_low, drift.diff_high]).toEqual([row.p_value, row.diff, row.diff_low, row.diff_high]);
    }
    expect(drifts.length).toBeGreaterThan(0);
  });

  it('--fail-on-drift exits 1 when the newest run drifted worse, and 0 when it did not', async () => {
    const worse = await history([dirs['n1']!, dirs['n3']!, dirs['n4']!, '--fail-on-drift']);
    expect(worse.code).toBe(1);
    expect(worse.stderr).toMatch(/worse drift.*--fail-on-drift.*exit code 1/);
    expect(worse.json.latest.worse.length).toBeGreaterThan(0);
    const without = await history([dirs['n1']!, dirs['n3']!, dirs['n4']!]);
    expect(without.code).toBe(0);
    const steady = await history([dirs['n4']!, dirs['n5']!, '--fail-on-drift']);
    expect(steady.code).toBe(0);
  });

  it('compares every run with a pinned --baseline too', async () => {
    const h = await history([dirs['n4']!, dirs['n5']!, '--baseline', dirs['n1']!, '--fail-on-drift']);
    expect(h.code).toBe(1);
    expect(driftsTo(h.json, dirs['n5']!)).toEqual([]);
    const vsBaseline = driftsTo(h.json, dirs['n5']!, 'baseline');
    expect(new Set(vsBaseline.map((d) => d.cell))).toEqual(new Set([BIG]));
    expect(h.json.baseline?.dir).toBe(dirs['n1']);
    // The baseline given among the runs too is not compared with itself.
    const among = await history([dirs['n1']!, dirs['n4']!, '--baseline', dirs['n1']!]);
    expect(among.json.transitions.map((t) => [t.from, t.to, t.against])).toEqual([
      [0, 1, 'previous'],
      [-1, 1, 'baseline'],
    ]);
  });

  it('attributes a drift under a new served model, with the same config, to the provider', async () => {
    const h = await history([dirs['n5']!, dirs['n6']!]);
    const t = h.json.transitions[0]!;
    expect(t.changes.map((c) => c.what)).toEqual(['served_model', 'system_fingerprint']);
    expect(t.changes[0]!.cells).toEqual([MINI]);
    expect(t.changes[0]!.detail).toContain('gpt-4o-mini → gpt-4o-mini-2026-12-01');
    const drifts = driftsTo(h.json, dirs['n6']!);
    expect(new Set(drifts.map((d) => d.cell))).toEqual(new Set([MINI]));
    for (const d of drifts) expect(d.attributed_to).toBe('provider');
    expect(h.stdout).toContain('the provider changed the model');
  });

  it('attributes a drift after a prompt edit to the config', async () => {
    const h = await history([dirs['n1']!, dirs['p7']!, '--metric', 'content_filter_rate', '--metric', 'json_valid_rate']);
    const t = h.json.transitions[0]!;
    expect(t.changes.map((c) => c.what)).toEqual(['prompt', 'config']);
    const drifts = driftsTo(h.json, dirs['p7']!);
    expect(drifts.filter((d) => d.metric === 'content_filter_rate').map((d) => d.cell).sort()).toEqual([BIG, MINI].sort());
    for (const d of drifts) {
      expect(d.attributed_to).toBe('config');
      expect(d.because).toContain('you changed the prompt text');
    }
  });

  it('compares a run whose dataset changed unpaired, latency included, whether read afresh or from what it kept', async () => {
    const dir = join(base, 'runs', 'fewer');
    const rows = (await readFile(join(DEMO, 'tickets.csv'), 'utf8')).trimEnd().split('\n');
    const files = await writeTree(join(base, 'fewer-cfg'), { 'tickets.csv': `${rows.slice(0, -6).join('\n')}\n`, 'fewer.yaml': config().replace(join(DEMO, 'tickets.csv'), join(base, 'fewer-cfg', 'tickets.csv')) });
    const r = await runMain(['run', files['fewer.yaml']!, '--out', dir, '--quiet']);
    expect([0, 1]).toContain(r.code);
    const out = await tempDir('evalrun-history-fewer-');
    // latency_mean_ms is not among the demo's compared metrics, so not in row-values.json: the journals are read.
    for (const pass of ['cold', 'kept']) {
      expect((await runMain(['history', dirs['n3']!, dir, '--out', out, '--metric', 'latency_mean_ms', '--metric', 'json_valid_rate'])).code, pass).toBe(0);
      const h = JSON.parse(await readFile(join(out, 'history.json'), 'utf8')) as HistoryJson;
      expect(h.transitions[0]!.test).toBe('unpaired');
      const csv = (await readCsvFile(join(out, 'history.csv'))).filter((x) => x['run_dir'] === dir);
      expect(csv.length).toBe(4);
      for (const line of csv) {
        expect(line['vs_previous_test'], `${pass} ${line['metric']} ${line['cell']}`).toBe('unpaired');
        // Judged, not skipped: the latency and score moments are kept on every path, not only the journal's.
        expect(line['vs_previous_p_adjusted'], `${pass} ${line['metric']} ${line['cell']}`).not.toBe('');
      }
      expect((await readdir(join(out, 'runs'))).length, pass).toBe(2);
    }
  });

  it('shows an incomplete run but never judges it', async () => {
    const h = await history([dirs['n1']!, dirs['n2']!, dirs['n3']!, dirs['inc']!, '--fail-on-drift']);
    expect(h.code).toBe(0);
    const inc = h.json.runs.find((r) => r.dir === dirs['inc'])!;
    expect(inc.judged).toBe(false);
    expect(inc.not_judged).toMatch(/status interrupted: 36 of 72 requests recorded/);
    // Shown: its figures come from the records (it has no summary.json), degraded as they are.
    const big = inc.cells.find((c) => c.cell === BIG)!;
    expect(big.metrics['json_valid_rate']!.value!).toBeLessThan(0.7);
    expect(h.json.transitions.some((t) => t.to === inc.index || t.from === inc.index)).toBe(false);
    expect(h.json.latest).toMatchObject({ judged: false });
    expect(h.stdout).toContain('Newest run not judged');
    expect(h.stderr).toContain('--fail-on-drift judges complete runs only');
  });

  it('reads again only what changed: a second history over the same runs uses what the first kept, with the same result', async () => {
    // Runs with their own row-values.json are read from it and need no kept copy.
    const own = await tempDir('evalrun-history-own-kept-');
    expect((await runMain(['history', dirs['n1']!, dirs['n4']!, '--out', own])).code).toBe(0);
    expect(await readdir(join(own, 'runs')).catch(() => [])).toHaveLength(0);
    // Runs without one (written before it existed) are read from their journals, and kept.
    const out = await tempDir('evalrun-history-kept-');
    const [c1, copy, c4] = ['n1', 'n3', 'n4'].map((n) => join(base, `kept-${n}`));
    for (const [from, to] of [[dirs['n1']!, c1!], [dirs['n3']!, copy!], [dirs['n4']!, c4!]] as const) {
      await cp(from, to, { recursive: true, preserveTimestamps: true });
      await rm(join(to, 'row-values.json'));
    }
    const runs = [c1!, copy!, c4!, dirs['inc']!];
    const strip = (text: string) => JSON.stringify({ ...(JSON.parse(text) as HistoryJson), generated_at: '' });
    expect((await runMain(['history', ...runs, '--out', out])).code).toBe(0);
    const before = strip(await readFile(join(out, 'history.json'), 'utf8'));
    const csv = await readFile(join(out, 'history.csv'), 'utf8');
    // The three complete runs are kept; the interrupted one is not (it may be resumed).
    expect(await readdir(join(out, 'runs'))).toHaveLength(3);
    // The kept copy is what is read: the copy's journal overwritten with garbage of the same size and time changes nothing.
    const journal = join(copy!, 'records.jsonl');
    const { size, mtime } = await stat(journal);
    await writeFile(journal, `${'x'.repeat(size - 1)}\n`);
    await utimes(journal, mtime, mtime);
    expect((await runMain(['history', ...runs, '--out', out])).code).toBe(0);
    expect(strip(await readFile(join(out, 'history.json'), 'utf8'))).toBe(before);
    expect(await readFile(join(out, 'history.csv'), 'utf8')).toBe(csv);
    // A run changed since (resumed, reported again: its run.json differs) is read afresh.
    const manifest = JSON.parse(await readFile(join(copy!, 'run.json'), 'utf8')) as { sessions: unknown[] };
    manifest.sessions.push(manifest.sessions[0]);
    await writeFile(join(copy!, 'run.json'), JSON.stringify(manifest));
    const afresh = await runMain(['history', ...runs, '--out', out]);
    expect(afresh.code).not.toBe(0);
    expect(afresh.stderr).toContain(`${journal}:1`);
    // Copies of runs no longer given (nights pruned) are removed.
    expect((await runMain(['history', c1!, c4!, '--out', out])).code).toBe(0);
    expect(await readdir(join(out, 'runs'))).toHaveLength(2);
  });

  it("reads a run's own row-values.json instead of its journal while it describes the journal, with the same result", async () => {
    const copies = [join(base, 'own-3'), join(base, 'own-4')];
    await cp(dirs['n3']!, copies[0]!, { recursive: true, preserveTimestamps: true });
    await cp(dirs['n4']!, copies[1]!, { recursive: true, preserveTimestamps: true });
    const strip = (text: string) => JSON.stringify({ ...(JSON.parse(text) as HistoryJson), generated_at: '' });
    const once = async () => {
      const out = await tempDir('evalrun-history-own-');
      const r = await runMain(['history', ...copies, '--out', out]);
      return { r, json: r.code === 0 ? strip(await readFile(join(out, 'history.json'), 'utf8')) : '', csv: r.code === 0 ? await readFile(join(out, 'history.csv'), 'utf8') : '' };
    };
    const fromFile = await once();
    expect(fromFile.r.code, fromFile.r.stderr).toBe(0);
    // Not read: the journals overwritten with garbage of the same size and time change nothing.
    const journal = join(copies[1]!, 'records.jsonl');
    const original = await readFile(journal);
    const { mtime } = await stat(journal);
    await writeFile(journal, `${'x'.repeat(original.length - 1)}\n`);
    await utimes(journal, mtime, mtime);
    const unread = await once();
    expect(unread.json).toBe(fromFile.json);
    expect(unread.csv).toBe(fromFile.csv);
    // A journal written since the file (resumed, appended) is read: here, the garbage.
    const later = new Date(Date.now() + 60_000);
    await utimes(journal, later, later);
    const stale = await once();
    expect(stale.r.code).not.toBe(0);
    expect(stale.r.stderr).toContain(`${journal}:1`);
    // Without the files, the journals give the same history.
    await writeFile(journal, original);
    for (const dir of copies) await rm(join(dir, 'row-values.json'));
    const fromJournal = await once();
    expect(fromJournal.r.code, fromJournal.r.stderr).toBe(0);
    expect(fromJournal.json).toBe(fromFile.json);
    expect(fromJournal.csv).toBe(fromFile.csv);
  });

  it('merges the shards of a night before reading it', async () => {
    const nightly = join(base, 'shard-config.yaml');
    await writeFile(nightly, config());
    for (const i of [1, 2]) {
      const r = await runMain(['run', nightly, '--shard', `${i}/2`, '--out', join(base, 'sharded', `shard-${i}`), '--quiet']);
      expect(r.code).toBe(0);
    }
    const h = await history([dirs['n3']!, join(base, 'sharded', 'shard-*')]);
    expect(h.code).toBe(0);
    expect(h.json.runs).toHaveLength(2);
    const merged = h.json.runs[1]!;
    expect(merged.dir).toBe(`${join(base, 'sharded')} (shards 1, 2 of 2)`);
    expect(merged).toMatchObject({ judged: true, recorded_requests: 72, planned_requests: 72 });
    expect(h.json.transitions[0]!.drifts).toEqual([]);
    // One shard alone is a partial night: shown, not judged.
    const alone = await history([dirs['n3']!, join(base, 'sharded', 'shard-1')]);
    expect(alone.json.runs[1]).toMatchObject({ judged: false });
    expect(alone.json.runs[1]!.not_judged).toMatch(/partial merge.*2\/2/);
  });

  it('refuses runs of different evaluations, and names what it was given', async () => {
    const other = join(base, 'other');
    await cp(dirs['n1']!, other, { recursive: true });
    const m = JSON.parse(await readFile(join(other, 'run.json'), 'utf8')) as { name: string };
    m.name = 'something-else';
    await writeFile(join(other, 'run.json'), JSON.stringify(m));
    const r = await runMain(['history', dirs['n1']!, other, '--out', await tempDir()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("'nightly'");
    expect(r.stderr).toContain("'something-else'");
  });
});
