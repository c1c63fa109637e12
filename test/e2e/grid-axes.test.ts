/**
 * Every grid axis has its own column, through the CLI (`main()` in-process) on the simulator: a grid over
 * max_tokens, stop and response_format gives choices.csv, stats.csv and summary.json one column per axis with a
 * readable value, so two cells that differ only in max_tokens are never one "default/default" group.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, runMain, type CliResult } from '../helpers/cli.js';
import { readCsvFile, type CsvRow } from '../helpers/csv.js';
import { useTempDirs, writeTree } from '../helpers/tmp.js';

const tempDir = useTempDirs();

const CONFIG = `name: axes
dataset: rows.csv
id_column: id
messages:
  - { role: system, content: "Answer in JSON when asked for json." }
  - { role: user, content: "{{text}}" }
params: { model: gpt-4o-mini }
grid:
  max_tokens: [5, 50]
  stop: [[END, "|"], "."]
  response_format: [{ type: text }, { type: json_object }]
provider: simulator
`;

let dir = '';
let run: CliResult;
let report: CliResult;
let choices: CsvRow[] = [];
let stats: CsvRow[] = [];
let summary: { axes: Array<{ param: string; column: string }>; cells: Array<Record<string, unknown>> };

const AXIS_COLUMNS = ['max_tokens', 'param_stop', 'response_format'];
/** The value each axis column must hold for a cell, read back from its id (`stop=…` is a hash there). */
const expectedFor = (cell: string) => ({
  max_tokens: /max_tokens=5(\/|$)/.test(cell) ? '5' : '50',
  response_format: /response_format=json_object/.test(cell) ? 'json_object' : 'text',
});

beforeAll(async () => {
  const base = await tempDir('evalrun-axes-');
  await writeTree(base, { 'rows.csv': 'id,text\nr1,How do I reset my password?\nr2,Why was I charged twice?\n', 'evalrun.yaml': CONFIG });
  dir = join(base, 'run');
  run = await runMain(['run', join(base, 'evalrun.yaml'), '--out', dir, '--quiet'], cleanEnv());
  choices = await readCsvFile(join(dir, 'choices.csv'));
  stats = await readCsvFile(join(dir, 'stats.csv'));
  summary = JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8'));
}, 60_000);

describe('every grid axis has its own column', () => {
  it('choices.csv has one column per axis, appended, with the readable value of its cell', async () => {
    expect(run.code, run.stderr).toBe(0);
    const header = (await readFile(join(dir, 'choices.csv'), 'utf8')).split('\n')[0]!.split(',');
    expect(header.slice(-3)).toEqual(AXIS_COLUMNS);
    expect(choices).toHaveLength(16);
    for (const c of choices) {
      expect(c).toMatchObject(expectedFor(c['cell']!));
      expect(['["END","|"]', '.']).toContain(c['param_stop']);
    }
    expect(new Set(choices.map((c) => c['param_stop']))).toEqual(new Set(['["END","|"]', '.']));
  });

  it('stats.csv keeps `stop` as the finish_reason count and gives the stop axis param_stop; one row per distinct cell', async () => {
    const header = (await readFile(join(dir, 'stats.csv'), 'utf8')).split('\n')[0]!.split(',');
    expect(header.slice(-3)).toEqual(AXIS_COLUMNS);
    expect(stats).toHaveLength(8);
    for (const s of stats) {
      expect(s).toMatchObject(expectedFor(s['cell']!));
      expect(Number(s['stop'])).toBeGreaterThanOrEqual(0);
    }
    // Every cell has its own combination of axis values: grouping by them never pools two cells.
    expect(new Set(stats.map((s) => AXIS_COLUMNS.map((k) => s[k]).join('|'))).size).toBe(8);
    // Each cell's choices carry the same values as its stats row.
    for (const s of stats) {
      for (const c of choices.filter((x) => x['cell'] === s['cell'])) for (const k of AXIS_COLUMNS) expect(c[k]).toBe(s[k]);
    }
  });

  it('summary.json lists the axes and gives every cell its values', () => {
    expect(summary.axes).toEqual([
      { param: 'max_tokens', column: 'max_tokens' },
      { param: 'stop', column: 'param_stop' },
      { param: 'response_format', column: 'response_format' },
    ]);
    for (const c of summary.cells) {
      const e = expectedFor(String(c['cell']));
      expect(c['max_tokens']).toBe(Number(e.max_tokens));
      expect(c['response_format']).toBe(e.response_format);
      expect(['["END","|"]', '.']).toContain(c['param_stop']);
      expect(typeof c['stop']).toBe('number');
    }
  });

  it('evalrun report derives the same columns from run.json and records.jsonl', async () => {
    const before = await readFile(join(dir, 'choices.csv'), 'utf8');
    const statsBefore = await readFile(join(dir, 'stats.csv'), 'utf8');
    report = await runMain(['report', dir], cleanEnv());
    expect(report.code, report.stderr).toBe(0);
    expect(await readFile(join(dir, 'choices.csv'), 'utf8')).toBe(before);
    expect(await readFile(join(dir, 'stats.csv'), 'utf8')).toBe(statsBefore);
  });
});
