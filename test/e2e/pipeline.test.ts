/**
 * The whole pipeline through the CLI (`main()` in-process) against the built-in simulator: config → dataset → plan →
 * run → check → record → report, judged only by the files a user gets. `plan` and the installed command also run
 * as the built dist/bin.js in a child process.
 */
import { readFileSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { beforeAll, describe, expect, it } from 'vitest';
import { CONTENT_FILTER_TRIGGER } from '../../src/simulator/index.js';
import { BIN, cleanEnv, ROOT, runCli, runMain, STACK_LINE, type CliResult } from '../helpers/cli.js';
import {
  expectChecksAgree,
  expectChoicesMatchRecords,
  expectStatsMatchChoices,
  independentValidator,
  readRunDir,
  RUN_FILES,
  type RunDir,
} from '../helpers/run-dir.js';
import { useTempDirs, writeTree } from '../helpers/tmp.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
const config = (name: string) => join(FIXTURES, 'configs', name);
const tempDir = useTempDirs();

interface Run {
  cli: CliResult;
  dir: string;
  out: RunDir;
}

const runs: Record<'json' | 'tools' | 'text' | 'demo', Run> = {} as never;

beforeAll(async () => {
  const base = await tempDir('evalrun-e2e-');
  const specs = {
    json: [config('sim-json.yaml')],
    tools: [config('sim-tools.yaml'), '--simulate'],
    text: [config('sim-text.yaml')],
    demo: [join(ROOT, 'datasets/demo/evalrun.yaml')],
  } as const;
  await Promise.all(
    Object.entries(specs).map(async ([key, [file, ...extra]]) => {
      const dir = join(base, key);
      const cli = await runMain(['run', file!, '--out', dir, '--quiet', ...extra]);
      if (cli.code !== 0) throw new Error(`evalrun run ${file} exited ${cli.code}:\n${cli.stderr}`);
      runs[key as keyof typeof runs] = { cli, dir, out: await readRunDir(dir) };
    }),
  );
}, 60_000);

const tickets = readFileSync(join(FIXTURES, 'datasets/tickets.csv'), 'utf8');

describe('evalrun run (on the simulator)', () => {
  it('exits 0 with the summary table on stdout, nothing on stderr under --quiet, and writes the five files', async () => {
    for (const [key, run] of Object.entries(runs)) {
      expect(run.cli.code, key).toBe(0);
      expect(run.cli.stderr, key).toBe('');
      expect(run.cli.stdout, key).toMatch(/^cell\s+choices\s+stop\s+length\s+filter/);
      // The line names every file the run wrote, and only those.
      const listed = new RegExp(`^Results in ${run.dir}: (.*)$`, 'm').exec(run.cli.stdout)?.[1]?.split(', ');
      const names = await readdir(run.dir);
      expect(listed?.sort(), key).toEqual([...names].sort());
      expect(names, key).toEqual(expect.arrayContaining([...RUN_FILES]));
      expect(names.filter((n) => n.includes('.tmp-')), key).toEqual([]);
      expect(run.out.manifest, key).toMatchObject({ status: 'complete', exit_code: 0 });
      expect(run.out.summary, key).toMatchObject({ status: 'complete', complete: true });
    }
  });

  it('writes rows × Σn choice rows and one record per request', () => {
    const expected = { json: [5, 8, 5 * 16], tools: [5, 1, 5 * 2], text: [8, 2, 8 * 2], demo: [36, 24, 36 * 24 * 3] } as const;
    for (const [key, [rows, cells, choices]] of Object.entries(expected)) {
      const { out } = runs[key as keyof typeof runs];
      expect(out.choices, key).toHaveLength(choices);
      expect(out.records, key).toHaveLength(rows * cells);
      expect(out.summary.plan, key).toMatchObject({ rows, requests: rows * cells, choices });
      expect(out.summary.recorded, key).toMatchObject({ requests: rows * cells, choices, failed_requests: 0 });
    }
  });

  it('makes every stats.csv count equal the count from choices.csv, per cell', () => {
    for (const [key, run] of Object.entries(runs)) {
      expect(run.out.stats.length, key).toBe(run.out.manifest.plan.cells.length);
      expectStatsMatchChoices(run.out.stats, run.out.choices);
    }
  });

  it('writes, while running, the same reports that `evalrun report` derives from records.jsonl afterwards', async () => {
    // A fresh run builds its reports as records come in; `report` reads them back from the journal. Same files.
    const derived = async (dir: string) => {
      const files: Record<string, string> = {};
      for (const name of (await readdir(dir)).sort()) {
        if (name === 'records.jsonl' || name === 'run.json') continue;
        files[name] = readFileSync(join(dir, name), 'utf8').replace(/"generated_at":"[^"]*"/, '"generated_at":""');
      }
      return files;
    };
    for (const key of ['json', 'demo'] as const) {
      const { dir } = runs[key];
      const live = await derived(dir);
      const report = await runMain(['report', dir]);
      expect(report.code, report.stderr).toBe(0);
      const after = await derived(dir);
      expect(Object.keys(live), key).toEqual(Object.keys(after));
      expect(Object.keys(live), key).toEqual(expect.arrayContaining(['choices.csv', 'stats.csv', 'summary.json', 'report.html']));
      for (const name of Object.keys(live)) expect(live[name] === after[name], `${key}: ${name} differs`).toBe(true);
    }
  });

  it('writes the same content to choices.csv as to records.jsonl', () => {
    for (const run of Object.values(runs)) expectChoicesMatchRecords(run.out.choices, run.out.records);
  });

  it("agrees with an independent ajv on json_valid and schema_valid (sim-json)", () => {
    const { out } = runs.json;
    const jsonCells = new Set(out.manifest.plan.cells.filter((c) => c.json_mode).map((c) => c.id));
    expect(jsonCells.size).toBe(8);
    const verdicts = expectChecksAgree(out.choices, jsonCells, independentValidator(join(FIXTURES, 'schemas/ticket.schema.json')));
    // both outcomes occur, so the comparison means something
    expect(verdicts.valid).toBeGreaterThan(0);
    expect(verdicts.invalid).toBeGreaterThan(0);
  });

  it('agrees with an independent ajv on json_valid and schema_valid (demo)', () => {
    const { out } = runs.demo;
    const jsonCells = new Set(out.manifest.plan.cells.map((c) => c.id));
    const verdicts = expectChecksAgree(out.choices, jsonCells, independentValidator(join(ROOT, 'datasets/demo/triage.schema.json')));
    expect(verdicts.valid).toBeGreaterThan(0);
    expect(out.choices.some((c) => c['json_valid'] === 'true' && c['schema_valid'] === 'false')).toBe(true);
  });

  it("ends answers with finish_reason 'length' when max_tokens is tiny, and only then", () => {
    const { out } = runs.json;
    const answered = out.choices.filter((c) => c['finish_reason'] !== 'content_filter');
    const tiny = answered.filter((c) => c['cell']!.endsWith('/max_tokens=3'));
    const roomy = answered.filter((c) => c['cell']!.endsWith('/max_tokens=200'));
    expect(tiny).toHaveLength(4 * 8);
    expect(new Set(tiny.map((c) => c['finish_reason']))).toEqual(new Set(['length']));
    expect(tiny.every((c) => c['json_valid'] === 'false')).toBe(true);
    expect(new Set(roomy.map((c) => c['finish_reason']))).toEqual(new Set(['stop']));
  });

  it("gives finish_reason 'content_filter' to every choice of the row carrying the simulator's trigger, and to no other", () => {
    expect(tickets).toContain(CONTENT_FILTER_TRIGGER);
    for (const key of ['json', 'demo'] as const) {
      const { out } = runs[key];
      const flagged = key === 'json' ? 'T-5' : 'T-1036';
      const filtered = out.choices.filter((c) => c['finish_reason'] === 'content_filter');
      expect(new Set(filtered.map((c) => c['row_id'])), key).toEqual(new Set([flagged]));
      expect(filtered.length, key).toBe(out.choices.filter((c) => c['row_id'] === flagged).length);
      expect(filtered.every((c) => c['content'] === ''), key).toBe(true);
    }
  });

  it('shows tool_calls_rate in summary.md and report.html when the model called tools, and not otherwise', async () => {
    const md = await readFile(join(runs.tools.dir, 'summary.md'), 'utf8');
    const header = md.split('\n').find((l) => l.startsWith('| cell |'))!.split(' | ');
    const col = header.indexOf('tool calls');
    expect(col).toBeGreaterThan(0);
    const row = md.split('\n').find((l) => l.startsWith('| gpt-4o-mini'))!.split(' | ');
    expect(row[col]).toBe('100.0%');
    expect(await readFile(join(runs.json.dir, 'summary.md'), 'utf8')).not.toContain('tool calls');
    // report.html's cells table follows the same rule (src/report/seen-rates.ts).
    const htmlMetrics = async (dir: string) => {
      const html = await readFile(join(dir, 'report.html'), 'utf8');
      const data = JSON.parse(/<script type="application\/json" id="evalrun-data">([\s\S]*?)<\/script>/.exec(html)![1]!) as { metrics: Array<{ name: string }> };
      return data.metrics.map((m) => m.name);
    };
    expect(await htmlMetrics(runs.tools.dir)).toContain('tool_calls_rate');
    expect(await htmlMetrics(runs.json.dir)).not.toContain('tool_calls_rate');
  });

  it("records required tool calls: finish_reason tool_calls and a tool_calls column of {name, arguments}", () => {
    const { out } = runs.tools;
    const tool = (readFileSync(config('sim-tools.yaml'), 'utf8').match(/name: (route_ticket)/) ?? [])[1];
    expect(tool).toBe('route_ticket');
    const validateArgs = new Ajv({ strict: false }).compile({
      type: 'object',
      properties: { team: { type: 'string', enum: ['billing', 'support', 'security'] }, urgent: { type: 'boolean' } },
      required: ['team', 'urgent'],
      additionalProperties: false,
    });
    for (const c of out.choices) {
      expect(c['finish_reason']).toBe('tool_calls');
      expect(c['content']).toBe('');
      expect(c['json_valid']).toBe('');
      const calls = JSON.parse(c['tool_calls']!) as Array<{ name: string; arguments: string }>;
      expect(calls).toHaveLength(1);
      expect(calls[0]!.name).toBe('route_ticket');
      expect(validateArgs(JSON.parse(calls[0]!.arguments)), calls[0]!.arguments).toBe(true);
    }
    expect(out.stats[0]).toMatchObject({ tool_calls: '10', tool_calls_rate: '1' });
    expect(out.manifest).toMatchObject({ provider: { kind: 'simulator' } });
  });

  it('leaves JSON checks empty for text answers and prefixes row ids with the dataset file when there are two', () => {
    const { out } = runs.text;
    expect(out.choices.every((c) => c['json_valid'] === '' && c['schema_valid'] === '')).toBe(true);
    expect(new Set(out.choices.map((c) => c['row_id']))).toEqual(
      new Set(['tickets.csv:1', 'tickets.csv:2', 'tickets.csv:3', 'tickets.csv:4', 'tickets.csv:5', 'tickets.jsonl:1', 'tickets.jsonl:2', 'tickets.jsonl:3']),
    );
    expect(out.stats.map((s) => s['json_checked'])).toEqual(['0', '0']);
  });

  it('orders choices.csv in plan order: row by row, each over every cell, choices in index order', () => {
    const { out } = runs.json;
    const cellOrder = out.manifest.plan.cells.map((c) => c.id);
    const keys = out.choices.map((c) => [Number(c['row_id']!.slice(2)), cellOrder.indexOf(c['cell']!), Number(c['choice_index'])]);
    const sorted = [...keys].sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]! || a[2]! - b[2]!);
    expect(keys).toEqual(sorted);
  });
});

describe('evalrun plan (built CLI)', () => {
  it('prints rows, cells, requests and choices, and sends nothing', async () => {
    let hits = 0;
    const server = createServer((_req, res) => {
      hits++;
      res.writeHead(500).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const dir = await tempDir();
    const yaml = readFileSync(config('sim-json.yaml'), 'utf8')
      .replace('provider: simulator', `provider:\n  base_url: http://127.0.0.1:${port}/v1`)
      .replaceAll('../datasets/', `${join(FIXTURES, 'datasets')}/`)
      .replaceAll('../schemas/', `${join(FIXTURES, 'schemas')}/`);
    const files = await writeTree(dir, { 'evalrun.yaml': yaml });
    try {
      // The built bin for the table (its tokenizer thread starts before the CLI loads); --json is the same command.
      const [plain, json] = await Promise.all([runCli(['plan', files['evalrun.yaml']!], { cwd: dir, env: cleanEnv() }), runMain(['plan', files['evalrun.yaml']!, '--json'])]);
      expect(plain.code).toBe(0);
      expect(plain.stderr).toBe('');
      const lines = plain.stdout.split('\n');
      expect(lines[0]).toBe('sim-json: 5 rows × 8 cells');
      // cell, n, requests, choices (further columns may follow)
      expect(plain.stdout).toMatch(/^gpt-4o-mini\/t0\/n3\/max_tokens=200\s+3\s+5\s+15(\s|$)/m);
      expect(plain.stdout).toMatch(/^cell\s+n\s+requests\s+choices(\s|$)/m);
      expect(plain.stdout).toContain('total: 40 requests, 80 choices (nothing was sent)');
      expect(json.code).toBe(0);
      expect(JSON.parse(json.stdout)).toMatchObject({ name: 'sim-json', rows: 5, requests: 40, choices: 80 });
      expect(hits).toBe(0);
      expect(await readdir(dir)).toEqual(['evalrun.yaml']);
    } finally {
      server.close();
    }
  });

  it('fails like run does on bad input, with no stack trace', async () => {
    const r = await runMain(['plan', config('bad-schema.yaml')]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('is not a valid JSON Schema');
    expect(r.stderr).not.toMatch(STACK_LINE);
  });
});

describe('the installed command', () => {
  it('is an executable file with a node shebang, as npx and npm\'s bin links run it', () => {
    // A fresh clone builds dist/ at `npm install`; tsc writes files without the execute bit.
    expect(statSync(BIN).mode & 0o111).toBe(0o111);
    expect(readFileSync(BIN, 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
    const r = spawnSync(BIN, ['--version'], { encoding: 'utf8' });
    expect(r.error).toBeUndefined();
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});
