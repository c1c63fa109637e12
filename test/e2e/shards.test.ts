/**
 * Shards and merge through the CLI on a seeded simulator: a run split K ways (K = 1, 2, 3, 7 over 23 rows, which no
 * K > 1 divides) and merged gives the unsharded run's outputs byte for byte, timings and ids aside; merge refuses a
 * missing, repeated, foreign or unfinished shard with exit code 4 and names it; --partial says so everywhere; a
 * shard killed with -9 and resumed merges like the rest.
 */
import { spawn } from 'node:child_process';
import { cp, readFile, readdir, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from '../../src/simulator/index.js';
import { BIN, cleanEnv, runMain, STACK_LINE } from '../helpers/cli.js';
import { parse } from 'csv-parse/sync';
import { useTempDirs, writeTree } from '../helpers/tmp.js';

const tempDir = useTempDirs();
const ROWS = 23;
const CELLS = 4;
const REQUESTS = ROWS * CELLS;
const SEED = 11;
const schema = {
  type: 'object',
  required: ['label', 'score'],
  properties: { label: { enum: ['a', 'b', 'c'] }, score: { type: 'integer', minimum: 0, maximum: 9 } },
};

const config = (dataset: string, extra = '') => `name: sharded
dataset: ${dataset}
id_column: id
messages:
  - { role: system, content: "Reply with a json object with label and score." }
  - { role: user, content: "{{text}}" }
params: { max_tokens: 60, response_format: { type: json_object } }
grid: { model: [gpt-4o-mini, gpt-4.1-mini], temperature: [0, 1.3], n: [2] }
schema: schema.json
concurrency: 6
checks:
  - { name: label_a, type: equals, pointer: /label, expected: a }
gates:
  - { metric: error_rate, max: 0.05 }
  - { metric: schema_valid_rate, min: 0.999 }
${extra}`;

let base = '';
let cfg = '';
let sim: RunningSimulator;
let env: NodeJS.ProcessEnv;
let baseline = '';
let baselineCode: number | null = null;

function rows(n: number): string {
  return `${Array.from({ length: n }, (_, i) => JSON.stringify({ id: `r${i}`, text: `item ${i}: "quoted", comma, ünïcode` })).join('\n')}\n`;
}

async function seqs(dir: string): Promise<number[]> {
  const text = await readFile(join(dir, 'records.jsonl'), 'utf8');
  return text.split('\n').filter((l) => l.trim()).map((l) => (JSON.parse(l) as { seq: number }).seq);
}

const TIMING = /latency|^started_at$|^ended_at$|^request_id$|^elapsed_ms$|^generated_at$/;

/** A CSV without its timing and id columns. */
function csvWithout(text: string): string[][] {
  const [header, ...body] = parse(text, { bom: true }) as string[][];
  const keep = header!.map((h, i) => (TIMING.test(h) ? -1 : i)).filter((i) => i >= 0);
  return [header!, ...body].map((r) => keep.map((i) => r[i]!));
}

/** summary.json without timings (latency columns, start and end) and without what a comparison of latencies says. */
function summaryWithout(text: string): unknown {
  return JSON.parse(text, (key, value: unknown) => {
    if (TIMING.test(key)) return undefined;
    if (value && typeof value === 'object' && typeof (value as { metric?: unknown }).metric === 'string' && /latency/.test((value as { metric: string }).metric)) return undefined;
    return value;
  });
}

/** summary.md with the p50 ms column (a timing) blanked. */
function markdownWithout(text: string): string {
  const lines = text.split('\n');
  const header = lines.find((l) => l.startsWith('| cell |'));
  const col = header ? header.split(' | ').indexOf('p50 ms') : -1;
  return lines.map((l) => (col > 0 && l.startsWith('| ') ? l.split(' | ').map((c, i) => (i === col ? '·' : c)).join(' | ') : l)).join('\n');
}

async function expectSameOutputs(merged: string, whole: string): Promise<void> {
  const read = (d: string, f: string) => readFile(join(d, f), 'utf8');
  for (const f of ['choices.csv', 'stats.csv', 'comparison.csv']) expect(csvWithout(await read(merged, f)), f).toEqual(csvWithout(await read(whole, f)));
  expect(summaryWithout(await read(merged, 'summary.json'))).toEqual(summaryWithout(await read(whole, 'summary.json')));
  expect(await read(merged, 'junit.xml')).toBe(await read(whole, 'junit.xml'));
  expect(markdownWithout(await read(merged, 'summary.md'))).toBe(markdownWithout(await read(whole, 'summary.md')));
  // The records themselves: the same requests, in plan order.
  const records = (d: string) => read(d, 'records.jsonl').then((t) => t.trim().split('\n').map((l) => summaryWithout(l) as { seq: number }).sort((a, b) => a.seq - b.seq));
  expect(await records(merged)).toEqual(await records(whole));
}

/** Runs shard I/K of a config into a directory of its own. */
async function runShard(i: number, k: number, cfgFile = cfg): Promise<string> {
  const out = join(await tempDir(`evalrun-shard-${i}of${k}-`), 'run');
  const r = await runMain(['run', cfgFile, '--shard', `${i}/${k}`, '--out', out, '--quiet'], env);
  // A shard's verdict is its own share's: the gate result may be 0 or 1, never another code.
  expect([0, 1], r.stderr).toContain(r.code);
  return out;
}

const shardSets = new Map<number, Promise<string[]>>();

/**
 * The fixture's plan run as K shards, by whichever test needs them first. The tests only read them: one that changes
 * a shard changes a copy.
 */
function shardsOf(k: number): Promise<string[]> {
  let set = shardSets.get(k);
  if (!set) {
    set = (async () => {
      const dirs: string[] = [];
      for (let i = 1; i <= k; i++) dirs.push(await runShard(i, k));
      return dirs;
    })();
    shardSets.set(k, set);
  }
  return set;
}

async function copies(dirs: string[]): Promise<string[]> {
  const into = await tempDir('evalrun-shard-copies-');
  return Promise.all(
    dirs.map(async (d, i) => {
      const copy = join(into, `shard-${i + 1}`);
      await cp(d, copy, { recursive: true });
      return copy;
    }),
  );
}

beforeAll(async () => {
  base = await tempDir('evalrun-shards-');
  await writeTree(base, { 'rows.jsonl': rows(ROWS), 'schema.json': JSON.stringify(schema), 'evalrun.yaml': config('rows.jsonl') });
  cfg = join(base, 'evalrun.yaml');
  sim = await startSimulator({ seed: SEED, schema });
  env = cleanEnv({ OPENAI_BASE_URL: sim.url, OPENAI_API_KEY: 'sk-test' });
  baseline = join(base, 'whole');
  const r = await runMain(['run', cfg, '--out', baseline, '--quiet'], env);
  baselineCode = r.code;
  // The fixture's schema_valid_rate gate fails (temperature 1.3 breaks some JSON): merges must exit 1 like the run.
  expect(r.code, r.stderr).toBe(1);
  expect(await readFile(join(baseline, 'junit.xml'), 'utf8')).toContain('type="GateFailure"');
});

afterAll(async () => {
  await sim?.close();
});

describe('evalrun run --shard and evalrun merge', () => {
  it.each([1, 2, 3, 7])('K = %i: every request in exactly one balanced shard, rows whole; the merge equals the unsharded run', async (k) => {
    const dirs = await shardsOf(k);
    const all: number[] = [];
    const sizes: number[] = [];
    for (const [i, d] of dirs.entries()) {
      const mine = await seqs(d);
      all.push(...mine);
      const rowsOf = new Set(mine.map((s) => Math.floor(s / CELLS)));
      sizes.push(rowsOf.size);
      // Every cell of each of its rows: a row is never split between shards.
      expect(mine.length, `shard ${i + 1}/${k}`).toBe(rowsOf.size * CELLS);
      const manifest = JSON.parse(await readFile(join(d, 'run.json'), 'utf8')) as { shard: { index: number; count: number; requests: number }; plan: { requests: number }; status: string };
      expect(manifest.shard).toMatchObject({ index: i + 1, count: k, requests: mine.length });
      expect(manifest.plan.requests).toBe(REQUESTS);
      expect(manifest.status).toBe('complete');
      const summary = JSON.parse(await readFile(join(d, 'summary.json'), 'utf8')) as { complete: boolean; shard: unknown };
      expect(summary.complete).toBe(true);
    }
    expect(all.sort((a, b) => a - b)).toEqual(Array.from({ length: REQUESTS }, (_, i) => i));
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);

    const out = join(base, `merged-${k}`);
    // Any order on the command line: the merge orders shards by their index.
    const r = await runMain(['merge', ...[...dirs].reverse(), '--out', out], env);
    expect(r.code, r.stderr).toBe(baselineCode);
    expect(r.stdout).toContain(`Merged ${k} of ${k} shards`);
    await expectSameOutputs(out, baseline);
    const manifest = JSON.parse(await readFile(join(out, 'run.json'), 'utf8')) as { status: string; shard?: unknown; merged: { partial: boolean; shards: Array<{ shard: string; recorded: number }> }; sessions: Array<{ shard: string }> };
    expect(manifest.status).toBe('complete');
    expect(manifest.shard).toBeUndefined();
    expect(manifest.merged.partial).toBe(false);
    expect(manifest.merged.shards.map((s) => s.shard)).toEqual(dirs.map((_, i) => `${i + 1}/${k}`));
    expect(manifest.sessions.map((s) => s.shard)).toEqual(dirs.map((_, i) => `${i + 1}/${k}`));
    // Merged records are in plan order.
    expect(await seqs(out)).toEqual(Array.from({ length: REQUESTS }, (_, i) => i));
    expect(existsSync(join(out, 'report.html'))).toBe(true);
  }, 60_000);

  it("merges shards whatever order their journals are in (an executor such as the Batch API writes results in the server's order)", async () => {
    const dirs = await copies(await shardsOf(3));
    for (const d of dirs) {
      const lines = (await readFile(join(d, 'records.jsonl'), 'utf8')).trim().split('\n');
      // Reversed, then interleaved: far from plan order.
      const shuffled = lines.reverse().map((l, i) => ({ l, k: (i * 7) % lines.length })).sort((a, b) => a.k - b.k).map((x) => x.l);
      await writeFile(join(d, 'records.jsonl'), `${shuffled.join('\n')}\n`);
    }
    const out = join(base, 'merged-shuffled');
    const r = await runMain(['merge', ...dirs, '--out', out], env);
    expect(r.code, r.stderr).toBe(baselineCode);
    await expectSameOutputs(out, baseline);
    expect(await seqs(out)).toEqual(Array.from({ length: REQUESTS }, (_, i) => i));
  }, 60_000);

  it('evalrun report and evalrun compare work on a merged directory', async () => {
    const dirs = await shardsOf(2);
    const out = join(base, 'merged-report');
    expect((await runMain(['merge', ...dirs, '--out', out], env)).code).toBe(baselineCode);
    const before = await readFile(join(out, 'choices.csv'), 'utf8');
    const report = await runMain(['report', out], env);
    expect(report.code, report.stderr).toBe(baselineCode);
    expect(await readFile(join(out, 'choices.csv'), 'utf8')).toBe(before);
    await expectSameOutputs(out, baseline);
    const compare = await runMain(['compare', baseline, out], env);
    expect(compare.stderr).not.toMatch(STACK_LINE);
    expect(compare.code, compare.stderr).toBe(0);
  }, 60_000);

  it('a shard says its gates are judged after evalrun merge, in every output; compare on a shard refuses and names merge', async () => {
    const out = join(await tempDir('evalrun-shard-gates-'), 'run');
    const r = await runMain(['run', cfg, '--shard', '1/2', '--out', out], env);
    const said = `${r.stdout}\n${r.stderr}`;
    expect(said).toContain('gates are judged after `evalrun merge`');
    expect(said).not.toMatch(/incomplete|Resume it/);
    const summary = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8')) as { status: string; complete: boolean; gates: { status: string; reason: string } };
    expect(summary).toMatchObject({ status: 'complete', complete: true, gates: { status: 'not_judged' } });
    expect(summary.gates.reason).toBe('Gates not judged in shard 1/2: gates are judged after `evalrun merge` joins every shard.');
    const md = await readFile(join(out, 'summary.md'), 'utf8');
    expect(md).toContain('gates are judged after `evalrun merge`');
    expect(md).not.toContain('incomplete');
    const junit = await readFile(join(out, 'junit.xml'), 'utf8');
    expect(junit).toContain('gates (not judged in a shard: judged after evalrun merge)');
    expect(junit).not.toContain('incomplete');
    for (const args of [[out, baseline], [baseline, out]]) {
      const compare = await runMain(['compare', ...args], env);
      expect(compare.code).toBe(2);
      expect(compare.stderr).toContain(`${out} is shard 1/2 of a run, not a whole run`);
      expect(compare.stderr).toContain('evalrun merge');
      expect(compare.stderr).not.toMatch(/resume/i);
    }
  }, 60_000);

  it('merge prints no warning (no listener is left behind per drain)', async () => {
    // Enough records that the merged journal's stream fills and drains many times over (past the 10 listeners Node
    // warns at): 40 rows × 16 choices write more than 150 rows × 2 would, in a quarter of the requests.
    const dir = await tempDir('evalrun-merge-warning-');
    await writeTree(dir, { 'rows.jsonl': rows(40), 'schema.json': JSON.stringify(schema), 'evalrun.yaml': config('rows.jsonl').replace('n: [2]', 'n: [16]') });
    const dirs = [join(dir, 's1'), join(dir, 's2')];
    for (const [i, d] of dirs.entries()) expect([0, 1]).toContain((await runMain(['run', join(dir, 'evalrun.yaml'), '--shard', `${i + 1}/2`, '--out', d, '--quiet'], env)).code);
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    try {
      const r = await runMain(['merge', ...dirs, '--out', join(dir, 'merged')], env);
      expect(r.stderr).not.toMatch(/Warning/);
      // Warnings are emitted on a later tick.
      await new Promise((resolve) => setTimeout(resolve, 20));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings).toEqual([]);
  }, 60_000);

  it('plan --shard shows each share; the shares add up to the plan', async () => {
    let requests = 0;
    for (let i = 1; i <= 3; i++) {
      const r = await runMain(['plan', cfg, '--shard', `${i}/3`, '--json'], env);
      expect(r.code, r.stderr).toBe(0);
      const plan = JSON.parse(r.stdout) as { requests: number; rows: number; shard: { index: number; rows: [number, number] } };
      expect(plan.shard.index).toBe(i);
      expect(plan.requests).toBe(plan.rows * CELLS);
      requests += plan.requests;
    }
    expect(requests).toBe(REQUESTS);
    const text = await runMain(['plan', cfg, '--shard', '3/3'], env);
    expect(text.stdout).toContain('shard 3/3: rows 16–23 of 23');
    const bad = await runMain(['plan', cfg, '--shard', '4/3'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--shard must be I/K');
  });
});

describe('evalrun merge refuses', () => {
  let three: string[] = [];
  beforeAll(async () => {
    three = await shardsOf(3);
  }, 60_000);

  async function refused(args: string[], code = 4): Promise<string> {
    const out = join(base, `refused-${Math.random().toString(36).slice(2)}`);
    const r = await runMain(['merge', ...args, '--out', out], env);
    expect(r.code, r.stderr).toBe(code);
    expect(r.stderr).not.toMatch(STACK_LINE);
    // Nothing is written when a shard is refused.
    expect(existsSync(out)).toBe(false);
    return r.stderr;
  }

  it('a missing shard', async () => {
    const err = await refused([three[0]!, three[2]!]);
    expect(err).toContain('shard 2/3 missing');
    expect(err).toContain('--partial');
  });

  it('a shard given twice', async () => {
    const copy = join(base, 'copy-of-1');
    await cp(three[0]!, copy, { recursive: true });
    const err = await refused([three[0]!, ...three.slice(1), copy]);
    expect(err).toContain('shard 1/3 is given twice');
    expect(err).toContain(copy);
  });

  it('shards of another plan: another dataset, another config, another shard count', async () => {
    const other = await tempDir('evalrun-other-');
    await writeTree(other, {
      'rows.jsonl': rows(ROWS).replace('item 5', 'item five'),
      'schema.json': JSON.stringify(schema),
      'evalrun.yaml': config('rows.jsonl'),
      'hotter.yaml': config('rows.jsonl').replace('temperature: [0, 1.3]', 'temperature: [0, 1.4]'),
    });
    const dataShard = await runShard(2, 3, join(other, 'evalrun.yaml'));
    let err = await refused([three[0]!, dataShard!, three[2]!]);
    expect(err).toContain(`${dataShard} (shard 2/3)`);
    expect(err).toContain('different plans');
    const configShard = await runShard(3, 3, join(other, 'hotter.yaml'));
    err = await refused([three[0]!, three[1]!, configShard!]);
    expect(err).toContain(`${configShard} (shard 3/3)`);
    const half = (await shardsOf(2))[1];
    err = await refused([three[0]!, half!, three[2]!]);
    expect(err).toContain(`${half} (shard 2/2)`);
    expect(err).toContain('one of 2 shards');
  }, 60_000);

  it('a directory that is not a shard', async () => {
    const err = await refused([baseline, ...three]);
    expect(err).toContain(`cannot merge ${baseline}: it is not a shard`);
  });

  it('a shard whose records do not match its run.json', async () => {
    const torn = join(base, 'torn-2');
    await cp(three[1]!, torn, { recursive: true });
    const lines = (await readFile(join(torn, 'records.jsonl'), 'utf8')).trim().split('\n');
    await writeFile(join(torn, 'records.jsonl'), `${lines.slice(0, -3).join('\n')}\n`);
    const err = await refused([three[0]!, torn, three[2]!]);
    expect(err).toContain(`${torn} (shard 2/3) is unfinished`);
  });

  it("a shard whose journal holds another shard's records", async () => {
    const mixed = join(base, 'mixed-3');
    await cp(three[2]!, mixed, { recursive: true });
    const foreign = (await readFile(join(three[0]!, 'records.jsonl'), 'utf8')).split('\n')[0]!;
    await writeFile(join(mixed, 'records.jsonl'), `${await readFile(join(mixed, 'records.jsonl'), 'utf8')}${foreign}\n`);
    const err = await refused([three[0]!, three[1]!, mixed]);
    expect(err).toContain(`cannot merge ${mixed} (shard 3/3)`);
    expect(err).toContain('not a record of this run');
  });

  it('--partial merges what is there and every output says it is partial', async () => {
    const out = join(base, 'partial');
    const r = await runMain(['merge', three[0]!, three[2]!, '--out', out, '--partial'], { ...env, GITHUB_STEP_SUMMARY: join(base, 'step.md') });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain('PARTIAL merge: shard 2/3 missing');
    const summary = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8')) as { status: string; complete: boolean; partial: { missing: string[] }; recorded: { requests: number } };
    expect(summary).toMatchObject({ status: 'partial', complete: false, partial: { missing: ['2/3'], unfinished: [] } });
    const present = (await seqs(three[0]!)).length + (await seqs(three[2]!)).length;
    expect(summary.recorded.requests).toBe(present);
    expect(await readFile(join(out, 'summary.md'), 'utf8')).toContain('PARTIAL merge: shard 2/3 missing');
    expect(await readFile(join(base, 'step.md'), 'utf8')).toContain('PARTIAL merge: shard 2/3 missing');
    const junit = await readFile(join(out, 'junit.xml'), 'utf8');
    expect(junit).toMatch(/<testcase classname="evalrun\.run\.sharded" name="run complete">\s*<failure message="PARTIAL merge: shard 2\/3 missing/);
    const html = await readFile(join(out, 'report.html'), 'utf8');
    expect(html).toContain('"partial":{"missing":["2/3"]');
    const manifest = JSON.parse(await readFile(join(out, 'run.json'), 'utf8')) as { status: string; merged: { partial: boolean; missing: string[] } };
    expect(manifest).toMatchObject({ status: 'partial', merged: { partial: true, missing: ['2/3'] } });
    // evalrun report keeps saying so.
    const report = await runMain(['report', out], env);
    expect(report.code).toBe(1);
    expect(await readFile(join(out, 'summary.md'), 'utf8')).toContain('PARTIAL merge');
  });

  it('a partial merge is completed by resuming it as a whole run', async () => {
    const out = join(base, 'partial-then-resumed');
    expect((await runMain(['merge', three[0]!, three[2]!, '--out', out, '--partial'], env)).code).toBe(1);
    const resumed = await runMain(['run', cfg, '--out', out, '--resume', '--quiet'], env);
    expect(resumed.code, resumed.stderr).toBe(baselineCode);
    const summary = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8')) as { status: string; complete: boolean; partial?: unknown };
    expect(summary).toMatchObject({ status: 'complete', complete: true });
    expect(summary.partial).toBeUndefined();
    await expectSameOutputs(out, baseline);
  });

  it('resuming a shard directory as another shard', async () => {
    const [first] = await copies([three[0]!]);
    const r = await runMain(['run', cfg, '--shard', '2/3', '--out', first!, '--resume', '--quiet'], env);
    expect(r.code).toBe(6);
    expect(r.stderr).toContain('it holds shard 1/3; resume it with --shard 1/3');
  });
});

describe('a shard killed with -9', () => {
  it('is refused as unfinished, merges with --partial, and after --resume merges into the unsharded result', async () => {
    const dirs = await shardsOf(3);
    const slow = await startSimulator({ seed: SEED, schema, latency: 30 });
    const slowEnv = cleanEnv({ OPENAI_BASE_URL: slow.url, OPENAI_API_KEY: 'sk-test' });
    const killedDir = join(base, 'killed-2');
    try {
      const child = spawn(process.execPath, [BIN, 'run', cfg, '--shard', '2/3', '--out', killedDir, '--quiet'], { env: slowEnv, stdio: 'ignore' });
      const closed = new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_code, signal) => resolve(signal)));
      const records = join(killedDir, 'records.jsonl');
      for (let t0 = Date.now(); !(existsSync(records) && readFileSync(records, 'utf8').split('\n').length > 5); ) {
        if (Date.now() - t0 > 15_000) throw new Error('the shard wrote no records');
        await new Promise((r) => setTimeout(r, 10));
      }
      child.kill('SIGKILL');
      expect(await closed).toBe('SIGKILL');
    } finally {
      await slow.close();
    }
    const shards = [dirs[0]!, killedDir, dirs[2]!];
    const refusedOut = join(base, 'killed-refused');
    const refused = await runMain(['merge', ...shards, '--out', refusedOut], env);
    expect(refused.code, refused.stderr).toBe(4);
    const recorded = readFileSync(join(killedDir, 'records.jsonl'), 'utf8').split('\n').filter((l) => l.endsWith('}')).length;
    expect(refused.stderr).toContain(`${killedDir} (shard 2/3) is unfinished: status running, ${recorded} of ${(await seqs(dirs[1]!)).length} requests recorded`);
    expect(refused.stderr).toContain(`--shard 2/3 --out ${killedDir} --resume`);
    expect(existsSync(refusedOut)).toBe(false);

    const partial = await runMain(['merge', ...shards, '--out', join(base, 'killed-partial'), '--partial'], env);
    expect(partial.code, partial.stderr).toBe(1);
    expect(partial.stderr).toContain('PARTIAL merge: shard 2/3 unfinished');

    const resumed = await runMain(['run', cfg, '--shard', '2/3', '--out', killedDir, '--resume', '--quiet'], env);
    expect([0, 1], resumed.stderr).toContain(resumed.code);
    const out = join(base, 'killed-merged');
    const merged = await runMain(['merge', ...shards, '--out', out], env);
    expect(merged.code, merged.stderr).toBe(baselineCode);
    await expectSameOutputs(out, baseline);
    expect((await readdir(out)).filter((n) => /\.(tmp|live)-/.test(n))).toEqual([]);
  }, 60_000);
});
