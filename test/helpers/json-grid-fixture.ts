/**
 * The fixture the resilience and run-safety tests share: 30 rows × 4 cells (2 models × 2 temperatures), n = 2,
 * json_object with a schema, against the simulator with one seed. Row texts hold quotes, commas and non-ASCII
 * letters, which choices.csv must carry through unchanged.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readFileSync as readFile } from 'node:fs';
import { parse } from 'csv-parse/sync';
import type { RunningSimulator, SimulatorOptions } from '../../src/simulator/index.js';
import { cleanEnv } from './cli.js';
import { withSim as withSimulator } from './run-process.js';

export const ROWS = 30;
export const CELLS = 4;
export const N = 2;
export const REQUESTS = ROWS * CELLS;
export const SEED = 7;
export const schema = {
  type: 'object',
  required: ['label', 'score'],
  additionalProperties: false,
  properties: { label: { enum: ['a', 'b', 'c'] }, score: { type: 'integer', minimum: 0, maximum: 9 } },
};

/**
 * Writes rows.jsonl, schema.json and the config `file` (with `extra` config lines) into `dir`; returns the config's
 * path. `rows`: fewer than ROWS for a test that compares nothing with the full fixture's results.
 */
export function writeFixture(dir: string, options: { file?: string; extra?: string[]; timeoutS?: number; maxWaitS?: number; rows?: number } = {}): string {
  const rows = Array.from({ length: options.rows ?? ROWS }, (_, i) => JSON.stringify({ id: `r${i}`, text: `item ${i}: "quoted", comma, ünïcode` }));
  writeFileSync(join(dir, 'rows.jsonl'), `${rows.join('\n')}\n`);
  writeFileSync(join(dir, 'schema.json'), JSON.stringify(schema));
  const lines = [
    'name: fixture',
    'dataset: rows.jsonl',
    'id_column: id',
    'messages:',
    '  - { role: system, content: "Reply with a json object." }',
    '  - { role: user, content: "{{text}}" }',
    'params: { max_tokens: 60, response_format: { type: json_object } }',
    `grid: { model: [gpt-4o-mini, gpt-4.1-mini], temperature: [0, 1], n: [${N}] }`,
    'schema: schema.json',
    'concurrency: 8',
    `timeout_s: ${options.timeoutS ?? 0.5}`,
    `retry: { max_attempts: 15, max_wait_s: ${options.maxWaitS ?? 0.2} }`,
    ...(options.extra ?? []),
  ];
  const file = join(dir, options.file ?? 'evalrun.yaml');
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

export function envFor(sim: { url: string }, key = 'sk-test-key'): NodeJS.ProcessEnv {
  return cleanEnv({ OPENAI_BASE_URL: sim.url, OPENAI_API_KEY: key });
}

/** choices.csv without what legitimately differs between runs: timing, attempts, request ids. */
export function comparable(dir: string): string[][] {
  const rows = parse(readFile(join(dir, 'choices.csv')), { columns: true }) as Array<Record<string, string>>;
  return rows.map((r) => {
    const { latency_ms: _l, attempts: _a, request_id: _r, ...rest } = r;
    return Object.values(rest);
  });
}

/** A simulator with the fixture's seed and schema. */
export function withSim<T>(options: SimulatorOptions, fn: (sim: RunningSimulator) => Promise<T>): Promise<T> {
  return withSimulator({ seed: SEED, schema, ...options }, fn);
}
