import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { STATS_COLUMNS } from '../../../src/report/report-pass.js';
import { writeReports } from '../../../src/report/write-reports.js';
import { CHOICE_COLUMNS } from '../../../src/report/choice-rows.js';
import type { RequestRecord } from '../../../src/record/types.js';
import { readCsvFile, type CsvRow } from '../../helpers/csv.js';
import { expectStatsMatchChoices } from '../../helpers/run-dir.js';
import { failedRecord, makeCell, makeChoice, makeManifest, makeRecord, writeRunDir } from '../../helpers/records.js';
import { useTempDirs } from '../../helpers/tmp.js';
import type { Summary } from '../../../src/contracts/summary.js';

const tempDir = useTempDirs();

const cells = [
  makeCell('gpt-4o-mini/t0/n2', { model: 'gpt-4o-mini', temperature: 0, n: 2 }, { json_mode: true }),
  makeCell('gpt-4o-mini/t1/n1', { model: 'gpt-4o-mini', temperature: 1, n: 1 }),
];
const tricky = 'He said "hi", then left;\nnew line, 两步验证 🙏 café';
const formula = '=SUM(A1:A9)';
const rows = 3;

/** 3 rows × 2 cells, written out of order, with one failed request, one filtered choice and one short answer. */
function records(): RequestRecord[] {
  const json = (content: string, valid: boolean, schemaValid: boolean | null) =>
    ({ content, json_valid: valid, schema_valid: schemaValid, schema_errors: schemaValid === false ? ['/priority must be equal to one of the allowed values'] : [] });
  return [
    makeRecord(1, { cell: cells[1]!.id, row_id: 'T-1', choices: [makeChoice(0, { content: tricky })], usage: { prompt_tokens: 7, completion_tokens: 11, total_tokens: 18 } }),
    makeRecord(0, {
      cell: cells[0]!.id,
      row_id: 'T-1',
      latency_ms: 40,
      choices: [makeChoice(0, json('{"a":1}', true, true)), makeChoice(1, { ...json('{"a":', false, false), finish_reason: 'length' })],
      usage: { prompt_tokens: 20, completion_tokens: 30, total_tokens: 50 },
    }),
    failedRecord(2, { cell: cells[0]!.id, row_id: 'T-2' }),
    makeRecord(3, { cell: cells[1]!.id, row_id: 'T-2', latency_ms: 60, choices: [makeChoice(0, { content: formula })], usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 } }),
    makeRecord(4, {
      cell: cells[0]!.id,
      row_id: 'T-3',
      attempts: 2,
      latency_ms: 80,
      choices: [makeChoice(0, { ...json('{"b":2}', true, false) }), makeChoice(1, { finish_reason: 'content_filter', content: null, json_valid: false, schema_valid: false, schema_errors: ['(not valid JSON)'] })],
      usage: { prompt_tokens: 20, completion_tokens: 9, total_tokens: 29 },
    }),
    makeRecord(5, {
      cell: cells[1]!.id,
      row_id: 'T-3',
      latency_ms: 20,
      choices: [makeChoice(0, { finish_reason: 'tool_calls', content: null, tool_calls: [{ name: 'route', arguments: '{"team":"billing, EU"}' }] })],
      usage: { prompt_tokens: 6, completion_tokens: 4, total_tokens: 10 },
    }),
  ];
}

let dir: string;
let summary: Summary;
let choices: CsvRow[];
let stats: CsvRow[];

beforeAll(async () => {
  dir = join(await tempDir(), 'run');
  await writeRunDir(dir, makeManifest(cells, rows), records());
  summary = await writeReports(dir);
  choices = await readCsvFile(join(dir, 'choices.csv'));
  stats = await readCsvFile(join(dir, 'stats.csv'));
});

describe('writeReports', () => {
  it('writes choices.csv, stats.csv and summary.json next to the records, leaving no temp files', async () => {
    const names = await readdir(dir);
    expect(names).toEqual(expect.arrayContaining(['choices.csv', 'records.jsonl', 'run.json', 'stats.csv', 'summary.json']));
    expect(names.filter((n) => n.includes('.tmp-'))).toEqual([]);
    // the documented columns come first, in order (later columns may follow)
    const header = (await readFile(join(dir, 'choices.csv'), 'utf8')).split('\n')[0]!.split(',');
    expect(header.slice(0, CHOICE_COLUMNS.length)).toEqual([...CHOICE_COLUMNS]);
    expect(Object.keys(stats[0]!).slice(0, STATS_COLUMNS.length)).toEqual([...STATS_COLUMNS]);
  });

  it('has rows × Σn choice rows, in plan order', () => {
    expect(choices).toHaveLength(rows * (2 + 1));
    expect(choices.map((c) => `${c['row_id']}/${c['cell']}/${c['choice_index']}`)).toEqual([
      'T-1/gpt-4o-mini/t0/n2/0',
      'T-1/gpt-4o-mini/t0/n2/1',
      'T-1/gpt-4o-mini/t1/n1/0',
      'T-2/gpt-4o-mini/t0/n2/0',
      'T-2/gpt-4o-mini/t0/n2/1',
      'T-2/gpt-4o-mini/t1/n1/0',
      'T-3/gpt-4o-mini/t0/n2/0',
      'T-3/gpt-4o-mini/t0/n2/1',
      'T-3/gpt-4o-mini/t1/n1/0',
    ]);
  });

  it('round-trips content with commas, quotes, newlines and non-ASCII through csv-parse', () => {
    expect(choices[2]!['content']).toBe(tricky);
    expect(JSON.parse(choices[8]!['tool_calls']!)).toEqual([{ name: 'route', arguments: '{"team":"billing, EU"}' }]);
  });

  it("prefixes formula-like content with ' (escape_formulas) so spreadsheets do not run it", () => {
    expect(choices[5]!['content']).toBe(`'${formula}`);
  });

  it('writes booleans as true/false and nulls as empty cells', () => {
    expect(choices[0]).toMatchObject({ json_valid: 'true', schema_valid: 'true', schema_errors: '', refusal: '' });
    expect(choices[2]).toMatchObject({ json_valid: '', schema_valid: '' });
    expect(choices[3]).toMatchObject({ finish_reason: 'error', error: '500: The server had an error', content: '' });
  });

  it('makes every stats.csv count equal the matching count in choices.csv', () => {
    expectStatsMatchChoices(stats, choices);
  });

  it('computes the per-cell figures', () => {
    expect(stats[0]).toMatchObject({
      cell: 'gpt-4o-mini/t0/n2',
      requests: '3',
      failed_requests: '1',
      choices: '6',
      stop: '2',
      length: '1',
      content_filter: '1',
      error: '2',
      retries: '3', // 2 from the failed request's 3 attempts, 1 from row T-3
      json_checked: '4',
      json_valid: '2',
      json_valid_rate: '0.5',
      latency_p50_ms: '60', // 40 and 80; the failed request is left out
    });
    expect(stats[1]).toMatchObject({ cell: 'gpt-4o-mini/t1/n1', temperature: '1', stop: '2', tool_calls: '1', json_checked: '0', json_valid_rate: '' });
  });

  it('sums the run in summary.json, matching what was returned', async () => {
    const onDisk = JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8')) as Summary;
    expect(onDisk).toEqual(summary);
    expect(summary).toMatchObject({
      name: 'synthetic',
      complete: true,
      plan: { rows: 3, requests: 6, choices: 9, cells: 2 },
      recorded: { requests: 6, choices: 9, failed_requests: 1 },
      totals: { prompt_tokens: 20 + 7 + 5 + 20 + 6, completion_tokens: 30 + 11 + 3 + 9 + 4, retries: 3, cached: 0 },
    });
  });

  it('reports an incomplete run when records are missing, and writes only what is recorded', async () => {
    const partial = join(await tempDir(), 'run');
    await writeRunDir(partial, makeManifest(cells, rows, { status: 'interrupted' }), records().filter((r) => r.seq !== 3));
    const s = await writeReports(partial);
    expect(s.complete).toBe(false);
    expect(s.status).toBe('interrupted');
    expect(s.recorded).toMatchObject({ requests: 5, choices: 8 });
    expect(await readCsvFile(join(partial, 'choices.csv'))).toHaveLength(8);
  });

  it('counts choices beyond n in records written before keying as anomalies, not rows', async () => {
    const legacy = await tempDir();
    const one = [makeCell('m/n2', { model: 'm', n: 2 })];
    await writeRunDir(legacy, makeManifest(one, 1), [
      makeRecord(0, { cell: 'm/n2', row_id: 'T-1', choices: [makeChoice(0, { content: 'a' }), makeChoice(1, { content: 'b' }), makeChoice(1, { content: 'b2' }), makeChoice(4, { content: 'e' })] }),
    ]);
    const s = await writeReports(legacy);
    expect((await readCsvFile(join(legacy, 'choices.csv'))).map((r) => r['content'])).toEqual(['a', 'b']);
    expect(s.anomalies).toMatchObject({ requests: 1, extra_choice: 1, duplicate_index: 1 });
  });

  it('refuses a directory that is not a run', async () => {
    await expect(writeReports(await tempDir())).rejects.toThrow(/run\.json not found: .* is not an evalrun run directory/);
  });
});
