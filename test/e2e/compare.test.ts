/**
 * Comparisons on the simulator, through the CLI (`main()` in-process): within a run, a clearly worse cell
 * (temperature 1.9) is marked significant and a cell that differs only by noise (the same temperature with another
 * request `seed`: other random draws, the same quality) is not; between runs, a real regression (max_tokens cut)
 * fails --fail-on-regression, and a rerun with another simulator seed does not.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runMain, type CliResult } from '../helpers/cli.js';
import { readCsvFile, type CsvRow } from '../helpers/csv.js';
import { useTempDirs, writeTree } from '../helpers/tmp.js';

const tempDir = useTempDirs();
const DEMO = join(ROOT, 'datasets/demo');

function config(over: { maxTokens?: number; seed?: number; idColumn?: boolean; model?: string; temperatures?: string } = {}): string {
  return `name: triage-compare
dataset: ${join(DEMO, 'tickets.csv')}
${over.idColumn === false ? '' : 'id_column: ticket_id\n'}messages:
  - role: system
    content: Triage the ticket. Answer with a JSON object with category, priority, summary and needs_human.
  - role: user
    content: "{{subject}}: {{body}}"
params:
  model: ${over.model ?? 'gpt-4o-mini'}
  max_tokens: ${over.maxTokens ?? 200}
  response_format: { type: json_object }
grid:
  temperature: ${over.temperatures ?? '[0.7, 1.9]'}
  seed: [1, 2]
  n: [3]
schema: ${join(DEMO, 'triage.schema.json')}
provider: simulator
seed: ${over.seed ?? 0}
checks:
  - { name: category_matches, type: equals, pointer: /category, expected: { column: label } }
`;
}

let base = '';
const runs: Record<string, { cli: CliResult; dir: string }> = {};

beforeAll(async () => {
  base = await tempDir('evalrun-compare-');
  const files = await writeTree(base, {
    'a.yaml': config(),
    'cut.yaml': config({ maxTokens: 12 }),
    'reseeded.yaml': config({ seed: 11 }),
    'no-ids.yaml': config({ idColumn: false, maxTokens: 12 }),
    'other-model.yaml': config({ model: 'gpt-4.1-mini' }),
    'other-grid.yaml': config({ model: 'gpt-4.1-mini', temperatures: '[0.2, 1.0]' }),
  });
  await Promise.all(
    Object.entries(files).map(async ([name, file]) => {
      const dir = join(base, name.replace('.yaml', ''));
      const cli = await runMain(['run', file, '--out', dir, '--quiet']);
      runs[name.replace('.yaml', '')] = { cli, dir };
    }),
  );
}, 60_000);

const BASELINE = 'gpt-4o-mini/t0.7/n3/seed=1';
const NOISE = 'gpt-4o-mini/t0.7/n3/seed=2';
const HOT = 'gpt-4o-mini/t1.9/n3/seed=1';
const find = (rows: CsvRow[], cell: string, metric: string) => rows.find((r) => r['cell'] === cell && r['metric'] === metric)!;

describe('within a run: each cell against the baseline, paired over rows', () => {
  it('marks the high-temperature cell significantly worse and the near-duplicate cell not at all', async () => {
    expect(runs['a']!.cli.code, runs['a']!.cli.stderr).toBe(0);
    const rows = await readCsvFile(join(runs['a']!.dir, 'comparison.csv'));
    expect(new Set(rows.map((r) => r['baseline']))).toEqual(new Set([BASELINE]));
    const hot = find(rows, HOT, 'schema_valid_rate');
    // 36 rows, less the one the simulator's content filter empties (no JSON to judge, so no pair).
    expect(hot).toMatchObject({ significant: 'true', change: 'worse', pairs: '35' });
    expect(Number(hot['diff'])).toBeLessThan(-0.3);
    expect(Number(hot['p_adjusted'])).toBeLessThan(0.05);
    expect(Number(hot['diff_high'])).toBeLessThan(0);
    expect(find(rows, HOT, 'json_valid_rate')['significant']).toBe('true');
    const noise = rows.filter((r) => r['cell'] === NOISE);
    expect(noise.map((r) => r['metric']).sort()).toEqual(['category_matches_pass_rate', 'error_rate', 'json_valid_rate', 'length_rate', 'schema_valid_rate']);
    expect(noise.filter((r) => r['significant'] === 'true')).toEqual([]);
  });

  it('puts the same comparison in summary.json, and the diff equals the difference of the paired means', async () => {
    const summary = JSON.parse(await readFile(join(runs['a']!.dir, 'summary.json'), 'utf8'));
    const csv = await readCsvFile(join(runs['a']!.dir, 'comparison.csv'));
    expect(summary.comparison.baseline).toBe(BASELINE);
    expect(summary.comparison.rows).toHaveLength(csv.length);
    for (const r of summary.comparison.rows) expect(r.diff).toBeCloseTo(r.value - r.baseline_value, 3);
    expect(summary.comparison.method).toMatch(/sign-flip permutation/);
  });

  it('shows it on the terminal', () => {
    const out = runs['a']!.cli.stdout;
    expect(out).toContain(`Compared with ${BASELINE}`);
    const line = (cell: string) => out.split('\n').find((l) => l.startsWith(`${cell} `) && l.includes('pp'))!;
    expect(line(HOT)).toMatch(/−\d+\.\dpp ▼/);
    expect(line(NOISE)).not.toMatch(/[▼▲]/);
  });
});

describe('evalrun compare RUN_A RUN_B', () => {
  it('finds a real regression (max_tokens cut) and fails with --fail-on-regression', async () => {
    const r = await runMain(['compare', runs['a']!.dir, runs['cut']!.dir, '--fail-on-regression']);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toContain('paired over 36 dataset rows');
    expect(r.stdout).toMatch(/length_rate\s+gpt-4o-mini\/t0\.7\/n3\/seed=1\s+0\.0%\s+\d+\.\d%\s+\+\d+\.\dpp ▼/);
    expect(r.stdout).toMatch(/length_rate .* worse/);
    expect(r.stderr).toContain('significant regressions');
  });

  it('does not call noise a regression: the same settings with another seed pass', async () => {
    const r = await runMain(['compare', runs['a']!.dir, runs['reseeded']!.dir, '--fail-on-regression']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).not.toContain('worse');
  });

  it('gives machine-readable JSON with intervals, and falls back to an unpaired test without common row ids', async () => {
    const paired = JSON.parse((await runMain(['compare', runs['a']!.dir, runs['cut']!.dir, '--json', '--metric', 'length_rate'])).stdout);
    expect(paired.metrics).toEqual(['length_rate']);
    expect(paired.common_rows).toBe(36);
    const row = paired.rows.find((x: { cell: string }) => x.cell === BASELINE);
    expect(row.method).toBe('sign-flip-exact');
    expect(row.diff_low).toBeGreaterThan(0);
    const r = await runMain(['compare', runs['a']!.dir, runs['no-ids']!.dir, '--json', '--metric', 'length_rate']);
    const unpaired = JSON.parse(r.stdout);
    expect(unpaired.common_rows).toBe(0);
    expect(unpaired.rows[0].method).toBe('two-proportion-z');
    expect(unpaired.rows[0].pairs).toBe(0);
    expect(unpaired.rows[0].significant).toBe(true);
  });

  it('rejects an unknown --metric with a suggestion (exit 2) and a directory that is not a run (exit 6)', async () => {
    const bad = await runMain(['compare', runs['a']!.dir, runs['cut']!.dir, '--metric', 'length']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("did you mean 'length_rate'?");
    const notRun = await runMain(['compare', runs['a']!.dir, base]);
    expect(notRun.code).toBe(6);
    expect(notRun.stderr).toContain('not an evalrun run directory');
  });
});

describe('evalrun compare across different cell ids', () => {
  const OTHER = (id: string) => id.replace('gpt-4o-mini', 'gpt-4.1-mini');

  it('pairs a model-A run with a model-B run on the parameters that are equal, and says what differs', async () => {
    const r = await runMain(['compare', runs['a']!.dir, runs['other-model']!.dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('4 cells matched on parameters, paired over 36 dataset rows');
    expect(r.stdout).toContain('setting aside what differs between the runs: model "gpt-4o-mini" (A) vs "gpt-4.1-mini" (B)');
    expect(r.stdout).not.toContain('Only in');
    const json = JSON.parse((await runMain(['compare', runs['a']!.dir, runs['other-model']!.dir, '--json', '--metric', 'length_rate'])).stdout);
    expect(json.pairs).toHaveLength(4);
    expect(json.pairs).toContainEqual({ a: HOT, b: OTHER(HOT), matched_by: 'params' });
    const row = json.rows.find((x: { baseline: string }) => x.baseline === HOT);
    expect(row.cell).toBe(`${HOT} → ${OTHER(HOT)}`);
    expect(row.pairs).toBeGreaterThan(30);
  });

  it('says clearly when nothing pairs (exit 2), and --map pairs cells by hand', async () => {
    const none = await runMain(['compare', runs['a']!.dir, runs['other-grid']!.dir]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('Nothing to compare: no cell of run A pairs with a cell of run B');
    expect(none.stderr).toContain(`Run A (triage-compare) has: ${BASELINE}, `);
    expect(none.stderr).toContain('Run B (triage-compare) has: gpt-4.1-mini/t0.2/n3/seed=1, ');
    expect(none.stderr).toContain('--map A_CELL=B_CELL');
    const mapped = await runMain(['compare', runs['a']!.dir, runs['other-grid']!.dir, '--map', `${HOT}=gpt-4.1-mini/t1/n3/seed=1`, '--json']);
    expect(mapped.code, mapped.stderr).toBe(0);
    const json = JSON.parse(mapped.stdout);
    expect(json.pairs).toEqual([{ a: HOT, b: 'gpt-4.1-mini/t1/n3/seed=1', matched_by: 'map' }]);
    expect(json.only_in_a).toHaveLength(3);
    expect(new Set(json.rows.map((x: { cell: string }) => x.cell))).toEqual(new Set([`${HOT} → gpt-4.1-mini/t1/n3/seed=1`]));
  });

  it('lets --map override id matching, and names a cell that does not exist', async () => {
    const r = await runMain(['compare', runs['a']!.dir, runs['reseeded']!.dir, '--map', `${BASELINE}=${NOISE}`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('3 cell pairs (2 by id, 1 by --map)');
    expect(r.stdout).toContain(`${BASELINE} → ${NOISE}`);
    expect(r.stdout).toContain(`Only in A (not compared): ${NOISE}`);
    expect(r.stdout).toContain(`Only in B (not compared): ${BASELINE}`);
    // Repeatable, and before the run directories too (the flag does not swallow them).
    const swapped = await runMain(['compare', '--map', `${BASELINE}=${NOISE}`, '--map', `${NOISE}=${BASELINE}`, runs['a']!.dir, runs['reseeded']!.dir, '--json']);
    expect(swapped.code, swapped.stderr).toBe(0);
    expect(JSON.parse(swapped.stdout).pairs.filter((p: { matched_by: string }) => p.matched_by === 'map')).toEqual([
      { a: BASELINE, b: NOISE, matched_by: 'map' },
      { a: NOISE, b: BASELINE, matched_by: 'map' },
    ]);
    const bad = await runMain(['compare', runs['a']!.dir, runs['reseeded']!.dir, '--map', `gpt-4o-mini/t0.7/n3/sed=1=${NOISE}`]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("run A has no cell 'gpt-4o-mini/t0.7/n3/sed=1' (did you mean 'gpt-4o-mini/t0.7/n3/seed=1'?)");
  });
});
