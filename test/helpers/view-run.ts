/**
 * A run directory written directly (no requests sent) for the viewer's tests: a dataset, its config, run.json and
 * records.jsonl, where every answer, verdict and finish_reason follows from the row number by the rules below, so a
 * test can say which rows a filter must find. Optionally large, to page through.
 */
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { hashFiles } from '../../src/dataset/load.js';
import { writeTree } from './tmp.js';

export const GEN_CELLS = ['gpt-4o-mini/t0/p1/n1', 'gpt-4o-mini/t0.7/p1/n1', 'gpt-4o-mini/t1.4/p1/n1'];
export const NEEDLE_ROW = 1234;
export const NEEDLE = 'needle-zebra';
export const HOSTILE_REASON = 'too terse <img src=x onerror=window.__xss=9>';

/** The rules the generated run follows, row i, cell c (0-based). */
export const gen = {
  id: (i: number) => `q${i}`,
  text: (i: number) => (i === NEEDLE_ROW ? `my ${NEEDLE} is broken` : `ticket number ${i}: where is my order?`),
  content: (i: number, c: number) => (c === 1 && i % 7 === 0 ? `Sorry, order ${i} ships on Monday.` : `Order ${i} ships on Friday.`),
  finish: (i: number, c: number) => (c === 2 && i % 11 === 0 ? 'length' : 'stop'),
  /** The `says_sorry` check. */
  sorry: (i: number, c: number) => gen.content(i, c).startsWith('Sorry'),
  /** A judge-like check with a score and a reason on cell 2 only (the fields #24 adds). */
  judge: (i: number, c: number) => (c === 2 ? i % 3 !== 0 : null),
};

export async function makeGeneratedRun(base: string, rows: number): Promise<string> {
  let csv = 'id,text\n';
  for (let i = 0; i < rows; i++) csv += `${gen.id(i)},"${gen.text(i)}"\n`;
  const files = await writeTree(base, {
    'rows.csv': csv,
    'evalrun.yaml': `name: generated
dataset: rows.csv
id_column: id
messages:
  - { role: user, content: "{{text}}" }
params: { model: gpt-4o-mini }
grid:
  temperature: [0, 0.7, 1.4]
provider: simulator
checks:
  - { name: says_sorry, type: contains, expected: sorry, ignore_case: true }
`,
  });
  const dir = join(base, 'run');
  const cells = GEN_CELLS.map((id, k) => ({ id, params: { model: 'gpt-4o-mini', temperature: [0, 0.7, 1.4][k] }, n: 1, json_mode: false }));
  const requests = rows * cells.length;
  const manifest = {
    format: 'evalrun-run/1',
    name: 'generated',
    config_file: files['evalrun.yaml'],
    run_hash: 'test',
    config_hash: 'test',
    dataset_hash: await hashFiles([files['rows.csv']!]),
    status: 'complete',
    started_at: '2026-12-01T00:00:00.000Z',
    ended_at: '2026-12-01T00:10:00.000Z',
    exit_code: 0,
    versions: { evalrun: '0.1.0', node: process.version, openai_sdk: 'test' },
    provider: { kind: 'simulator', base_url: 'simulator' },
    plan: { rows, requests, choices: requests, cells },
    sessions: [{ started_at: '2026-12-01T00:00:00.000Z', ended_at: '2026-12-01T00:10:00.000Z', status: 'complete', recorded: requests }],
    schema_file: null,
    evaluation: { checks: [{ name: 'says_sorry', type: 'contains' }, { name: 'judge', type: 'judge' }], compare: { baseline: null, metrics: null, alpha: 0.05 }, gates: [], pricing: {} },
  };
  await writeTree(dir, { 'run.json': JSON.stringify(manifest, null, 2) });
  const out = createWriteStream(join(dir, 'records.jsonl'));
  for (let seq = 0; seq < requests; seq++) {
    const i = Math.floor(seq / cells.length);
    const c = seq % cells.length;
    const judge = gen.judge(i, c);
    const choice = {
      index: 0,
      finish_reason: gen.finish(i, c),
      content: gen.content(i, c),
      refusal: null,
      tool_calls: null,
      json_valid: null,
      schema_valid: null,
      schema_errors: [],
      checks: { says_sorry: gen.sorry(i, c), judge },
      ...(judge !== null ? { check_scores: { judge: judge ? 0.75 : 0.25 }, check_reasons: { judge: HOSTILE_REASON } } : {}),
    };
    const record = {
      v: 1, seq, cell: cells[c]!.id, row_id: gen.id(i), attempts: 1, latency_ms: 100 + c, elapsed_ms: 100 + c, started_at: manifest.started_at,
      http_status: 200, request_id: `req-${seq}`, completion_id: `c-${seq}`, model: 'gpt-4o-mini',
      usage: { prompt_tokens: 20, completion_tokens: 8 + c, total_tokens: 28 + c, prompt_tokens_details: { cached_tokens: 16, audio_tokens: 0 } },
      choices: [choice], error: null,
    };
    if (!out.write(`${JSON.stringify(record)}\n`)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return dir;
}
