/**
 * Never pay twice when a batch's creation gets no answer: the server may have created it all the same (a proxy or the
 * network dropped the answer). evalrun must look it up by its metadata and adopt it, not create a second batch.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from '../../src/simulator/index.js';
import type { RunManifest } from '../../src/record/manifest.js';
import { cleanEnv, runMain } from '../helpers/cli.js';
import { useTempDirs, writeTree } from '../helpers/tmp.js';

const tempDir = useTempDirs();
const ROWS = 6;
const REQUESTS = ROWS * 2;

let sim: RunningSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

it('adopts the batch whose creation answer was lost instead of creating another one', async () => {
  const base = await tempDir('evalrun-lost-create-');
  const rows = Array.from({ length: ROWS }, (_, i) => JSON.stringify({ id: `r${i}`, text: `item ${i}` })).join('\n');
  await writeTree(base, {
    'rows.jsonl': `${rows}\n`,
    'evalrun.yaml': `name: lost-create
dataset: rows.jsonl
id_column: id
messages:
  - { role: user, content: "Reply with a json object: {{text}}" }
params: { max_tokens: 40, response_format: { type: json_object } }
grid: { model: [gpt-4o-mini], temperature: [0, 1] }
retry: { max_attempts: 3, max_wait_s: 1 }
batch: { poll_s: 0.05 }
`,
  });
  sim = await startSimulator({ seed: 3, batch: { duration_ms: 50, lose_create_answer: { times: 1 } } });
  const out = join(base, 'out');
  const r = await runMain(['run', join(base, 'evalrun.yaml'), '--out', out, '--quiet'], cleanEnv({ OPENAI_BASE_URL: sim.url, OPENAI_API_KEY: 'sk-test' }));
  expect(r.code, r.stderr).toBe(0);
  // One batch exists at the provider: the one whose answer was lost, adopted.
  const listed = (await (await fetch(`${sim.url}/batches`, { headers: { authorization: 'Bearer sk-test' } })).json()) as { data: Array<{ id: string }> };
  expect(listed.data).toHaveLength(1);
  const parts = (JSON.parse(await readFile(join(out, 'run.json'), 'utf8')) as RunManifest).batch!.parts;
  expect(parts.map((p) => p.batch_id)).toEqual([listed.data[0]!.id]);
  // Each request computed (paid for) once, and each recorded once.
  expect(Object.keys(sim.stats.batchComputed)).toHaveLength(REQUESTS);
  expect(Object.values(sim.stats.batchComputed).every((n) => n === 1)).toBe(true);
  const records = (await readFile(join(out, 'records.jsonl'), 'utf8')).trim().split('\n');
  expect(records).toHaveLength(REQUESTS);
});
