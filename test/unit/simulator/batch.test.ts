import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI, { APIError, toFile } from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator, type SimulatorOptions } from '../../../src/simulator/index.js';
import { expectSpecValid, specValidator } from './spec.js';

const validateBatch = specValidator('Batch');
const validateOutputLine = specValidator('BatchRequestOutputChatCompletions');
const validateInputLine = specValidator('BatchRequestInputChatCompletions');

let sim: RunningSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

/** The Batch API's clock in these tests: the wall clock plus what a test moved it on by. */
let ahead = 0;
const clock = () => Date.now() + ahead;

async function start(options: SimulatorOptions = {}, now: () => number = clock): Promise<OpenAI> {
  sim = await startSimulator({ ...options, batch: { duration_ms: 200, ...options.batch } }, { now });
  return new OpenAI({ baseURL: sim.url, apiKey: 'x', maxRetries: 0 });
}

/** The spec marks the optional Batch fields non-nullable while the API sends null: null counts as absent. */
function dropNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(dropNulls);
  if (typeof v !== 'object' || v === null) return v;
  return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== null).map(([k, x]) => [k, dropNulls(x)]));
}

const line = (i: number, body: Record<string, unknown> = {}) => ({
  custom_id: `seq-${i}`,
  method: 'POST',
  url: '/v1/chat/completions',
  body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: `Say hello ${i}.` }], ...body },
});

async function submit(client: OpenAI, lines: unknown[], metadata: Record<string, string> = { evalrun_run: 'run-1', evalrun_part: '1' }) {
  const text = lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n';
  const file = await client.files.create({ file: await toFile(Buffer.from(text), 'part-1.jsonl'), purpose: 'batch' });
  return client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h', metadata });
}

const FINAL = new Set(['completed', 'failed', 'expired', 'cancelled']);

/** Polls until the batch is final: every 20 ms, or, given `tick` (which moves a fake clock on), at once after it. */
async function settle(client: OpenAI, id: string, seen?: string[], tick?: () => void): Promise<OpenAI.Batch> {
  for (;;) {
    const b = await client.batches.retrieve(id);
    expectSpecValid(validateBatch, dropNulls(b));
    if (seen && seen[seen.length - 1] !== b.status) seen.push(b.status);
    if (FINAL.has(b.status)) return b;
    if (tick) tick();
    else await new Promise((r) => setTimeout(r, 20));
  }
}

async function readLines(client: OpenAI, fileId: string | null | undefined): Promise<Array<Record<string, any>>> {
  if (!fileId) return [];
  const text = await (await client.files.content(fileId)).text();
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>);
}

describe('simulator Files API through the openai SDK', () => {
  it('uploads a .jsonl file (multipart), retrieves it, serves its content, lists and deletes it', async () => {
    const client = await start();
    const text = `${JSON.stringify(line(1))}\n`;
    expectSpecValid(validateInputLine, line(1));
    const f = await client.files.create({ file: await toFile(Buffer.from(text), 'part-1.jsonl'), purpose: 'batch' });
    expect(f).toMatchObject({ object: 'file', purpose: 'batch', filename: 'part-1.jsonl', bytes: Buffer.byteLength(text) });
    expect((await client.files.retrieve(f.id)).id).toBe(f.id);
    expect(await (await client.files.content(f.id)).text()).toBe(text);
    const listed = [];
    for await (const x of client.files.list({ purpose: 'batch' })) listed.push(x.id);
    expect(listed).toEqual([f.id]);
    expect(await client.files.delete(f.id)).toEqual({ id: f.id, object: 'file', deleted: true });
    await expect(client.files.retrieve(f.id)).rejects.toMatchObject({ status: 404 });
  });

  it('refuses a batch file that is not .jsonl or too large', async () => {
    const client = await start({ batch: { max_file_bytes: 100 } });
    await expect(client.files.create({ file: await toFile(Buffer.from('{}\n'), 'x.json'), purpose: 'batch' })).rejects.toMatchObject({ status: 400, code: 'invalid_file_format' });
    await expect(client.files.create({ file: await toFile(Buffer.alloc(200, 'a'), 'x.jsonl'), purpose: 'batch' })).rejects.toMatchObject({ status: 400, code: 'file_too_large' });
  });
});

describe('simulator Batch API through the openai SDK', () => {
  it('runs a batch validating → in_progress → finalizing → completed; lines match the spec and sync answers', async () => {
    // A clock that moves 100 ms a poll and no other way: every phase is seen, however loaded the machine.
    let t = Date.now();
    const client = await start({ seed: 5, batch: { duration_ms: 1500 } }, () => t);
    const lines = Array.from({ length: 6 }, (_, i) => line(i));
    const created = await submit(client, lines);
    expect(created.status).toBe('validating');
    expect(created.metadata).toEqual({ evalrun_run: 'run-1', evalrun_part: '1' });
    const seen: string[] = [];
    const done = await settle(client, created.id, seen, () => (t += 100));
    expect(seen).toEqual(['validating', 'in_progress', 'finalizing', 'completed']);
    expect(done.request_counts).toEqual({ total: 6, completed: 6, failed: 0 });
    expect(done.error_file_id).toBeNull();
    expect(done.model).toBe('gpt-4o-mini');
    const out = await readLines(client, done.output_file_id);
    for (const l of out) expectSpecValid(validateOutputLine, l);
    expect(out.map((l) => l['custom_id']).sort()).toEqual(lines.map((l) => l.custom_id).sort());
    // The output order is not the input order: clients must match by custom_id.
    expect(out.map((l) => l['custom_id'])).not.toEqual(lines.map((l) => l.custom_id));
    // The same completion code as a synchronous request: the same content for the same body.
    const sync = await client.chat.completions.create(lines[2]!.body as OpenAI.ChatCompletionCreateParamsNonStreaming);
    const batched = out.find((l) => l['custom_id'] === 'seq-2')!;
    expect(batched['response'].body.choices[0].message.content).toBe(sync.choices[0]?.message.content);
    expect(sim!.stats.batchLines).toBe(6);
    expect(Object.values(sim!.stats.batchComputed)).toEqual([1, 1, 1, 1, 1, 1]);
  });

  it('runs a batch in the background, in slices: it finishes with nobody polling', async () => {
    const client = await start({ batch: { duration_ms: 50 } });
    const created = await submit(client, Array.from({ length: 2500 }, (_, i) => line(i)));
    // Waits on the counter, not on HTTP: the lines are answered without a single poll.
    const polls = sim!.stats.requests;
    while (sim!.stats.batchLines < 2500) await new Promise((r) => setTimeout(r, 10));
    expect(sim!.stats.requests).toBe(polls);
    const done = await settle(client, created.id);
    expect(done.status).toBe('completed');
    expect(done.request_counts).toEqual({ total: 2500, completed: 2500, failed: 0 });
    expect(Object.keys(sim!.stats.batchComputed)).toHaveLength(2500);
  });

  it('answers invalid requests with 400 lines and, when every line fails, has no output file', async () => {
    const client = await start();
    const created = await submit(client, [line(1, { temperature: 7 }), line(2, { n: 0 })]);
    const done = await settle(client, created.id);
    expect(done.status).toBe('completed');
    expect(done.output_file_id).toBeNull();
    expect(done.request_counts).toEqual({ total: 2, completed: 0, failed: 2 });
    const errs = await readLines(client, done.error_file_id);
    expect(errs).toHaveLength(2);
    for (const l of errs) {
      expectSpecValid(validateOutputLine, l);
      expect(l['error']).toBeNull();
      expect(l['response'].status_code).toBe(400);
      expect(typeof l['response'].body.error.message).toBe('string');
    }
  });

  it('fails some lines on demand: 429/500/503 with an error body, others with error and no response', async () => {
    const client = await start({ batch: { duration_ms: 20, faults: { rate_limit: 0.25, server_error: 0.2, reset: 0.2 } } });
    const lines = Array.from({ length: 40 }, (_, i) => line(i));
    const done = await settle(client, (await submit(client, lines)).id);
    expect(done.status).toBe('completed');
    const out = await readLines(client, done.output_file_id);
    const errs = await readLines(client, done.error_file_id);
    for (const l of [...out, ...errs]) expectSpecValid(validateOutputLine, l);
    expect(out.length + errs.length).toBe(40);
    expect(done.request_counts).toEqual({ total: 40, completed: out.length, failed: errs.length });
    const statuses = new Set(errs.map((l) => l['response']?.status_code ?? l['error'].code));
    expect(statuses).toContain(429);
    expect(statuses).toContain(500);
    expect(statuses).toContain('server_error');
    for (const l of errs.filter((x) => x['response'] === null)) expect(l['error'].message).toMatch(/no response/);
    // The sync executor's fault sequence carries over: resubmitting the failed lines eventually answers them all.
    let pending = errs.map((l) => lines.find((x) => x.custom_id === l['custom_id'])!);
    for (let round = 0; round < 10 && pending.length > 0; round++) {
      const b = await settle(client, (await submit(client, pending)).id);
      const failed = new Set((await readLines(client, b.error_file_id)).map((l) => l['custom_id'] as string));
      pending = pending.filter((l) => failed.has(l.custom_id));
    }
    expect(pending).toEqual([]);
  });

  it('expires a batch half-way: finished lines in the output file, the rest batch_expired', async () => {
    const client = await start({ batch: { expire: { times: 1, after: 0.5 } } });
    const done = await settle(client, (await submit(client, Array.from({ length: 10 }, (_, i) => line(i)))).id);
    expect(done.status).toBe('expired');
    expect(done.expired_at).not.toBeNull();
    const out = await readLines(client, done.output_file_id);
    const errs = await readLines(client, done.error_file_id);
    expect(out).toHaveLength(5);
    expect(errs).toHaveLength(5);
    for (const l of errs) {
      expectSpecValid(validateOutputLine, l);
      expect(l).toMatchObject({ response: null, error: { code: 'batch_expired' } });
    }
    expect(done.request_counts).toEqual({ total: 10, completed: 5, failed: 5 });
    // Only the finished half was computed; the next batch (times: 1) completes.
    expect(sim!.stats.batchLines).toBe(5);
    expect((await settle(client, (await submit(client, [line(99)])).id)).status).toBe('completed');
  });

  it('fails validation with token_limit_exceeded the first time and accepts the resubmission', async () => {
    const client = await start({ batch: { fail_validation: { times: 1 } } });
    const first = await settle(client, (await submit(client, [line(1)])).id);
    expect(first.status).toBe('failed');
    expect(first.failed_at).not.toBeNull();
    expect(first.output_file_id).toBeNull();
    expect(first.errors?.data?.[0]).toMatchObject({ code: 'token_limit_exceeded', line: null });
    expect(first.errors?.data?.[0]?.message).toMatch(/Enqueued token limit/);
    expect(sim!.stats.batchLines).toBe(0);
    const second = await settle(client, (await submit(client, [line(1)])).id);
    expect(second.status).toBe('completed');
  });

  it('fails validation on bad lines with their line numbers (duplicate custom_id, bad JSON, two models)', async () => {
    const client = await start();
    const done = await settle(client, (await submit(client, [line(1), line(1), '{not json', line(3, { model: 'gpt-4o' })])).id);
    expect(done.status).toBe('failed');
    expect(done.errors?.data?.map((e) => [e.code, e.line])).toEqual([
      ['duplicate_custom_id', 2],
      ['invalid_json_line', 3],
      ['mismatched_model', 4],
    ]);
  });

  it('cancels: cancelling → cancelled, finished lines kept, the rest in the error file', async () => {
    const client = await start({ batch: { duration_ms: 2000 } });
    const b = await submit(client, Array.from({ length: 50 }, (_, i) => line(i)));
    let cur = b;
    while (cur.request_counts?.completed === 0 || cur.status !== 'in_progress') {
      await new Promise((r) => setTimeout(r, 20));
      cur = await client.batches.retrieve(b.id);
    }
    const cancelling = await client.batches.cancel(b.id);
    expect(cancelling.status).toBe('cancelling');
    expect(cancelling.cancelling_at).not.toBeNull();
    const done = await settle(client, b.id);
    expect(done.status).toBe('cancelled');
    const out = await readLines(client, done.output_file_id);
    const errs = await readLines(client, done.error_file_id);
    expect(out.length).toBeGreaterThan(0);
    expect(out.length).toBeLessThan(50);
    expect(out.length + errs.length).toBe(50);
    for (const l of errs) expect(l).toMatchObject({ response: null, error: { code: 'batch_cancelled' } });
    expect(sim!.stats.batchLines).toBe(out.length);
    const again = await client.batches.cancel(b.id);
    expect(again.status).toBe('cancelled');
  });

  it('lists batches newest first with after/limit pagination and their metadata', async () => {
    const client = await start();
    const ids: string[] = [];
    for (let part = 1; part <= 5; part++) ids.push((await submit(client, [line(part)], { evalrun_run: 'run-7', evalrun_part: String(part) })).id);
    const page = await client.batches.list({ limit: 2 });
    expect(page.data.map((b) => b.id)).toEqual([ids[4], ids[3]]);
    expect(page.has_more).toBe(true);
    const next = await client.batches.list({ limit: 2, after: ids[3]! });
    expect(next.data.map((b) => b.id)).toEqual([ids[2], ids[1]]);
    const all: OpenAI.Batch[] = [];
    for await (const b of client.batches.list({ limit: 2 })) all.push(b);
    expect(all.map((b) => b.metadata?.['evalrun_part'])).toEqual(['5', '4', '3', '2', '1']);
    for (const b of all) expectSpecValid(validateBatch, dropNulls(b));
  });

  it('rejects bad create parameters and unknown ids', async () => {
    const client = await start();
    const f = await client.files.create({ file: await toFile(Buffer.from(`${JSON.stringify(line(1))}\n`), 'a.jsonl'), purpose: 'batch' });
    const bad = (p: Record<string, unknown>) =>
      client.batches.create({ input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h', ...p } as OpenAI.BatchCreateParams);
    await expect(bad({ input_file_id: 'file-nope' })).rejects.toMatchObject({ status: 400 });
    await expect(bad({ completion_window: '1h' })).rejects.toMatchObject({ status: 400 });
    await expect(bad({ metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])) })).rejects.toMatchObject({ status: 400 });
    await expect(client.batches.retrieve('batch_nope')).rejects.toBeInstanceOf(APIError);
    const done = await settle(client, (await bad({})).id);
    await expect(client.batches.cancel(done.id)).rejects.toMatchObject({ status: 409 });
  });
});

describe('simulator state on disk', () => {
  it('keeps files and batches in state_dir: a simulator started again finds them, running batches finish', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'evalrun-sim-state-'));
    try {
      let client = await start({ state_dir: dir, batch: { duration_ms: 200 } });
      const done = await settle(client, (await submit(client, [line(1), line(2)])).id);
      const running = await submit(client, [line(3), line(4), line(5)]);
      await sim!.close();
      sim = undefined;
      // A new process on the same folder: the finished batch and its files, and the running one, which goes on.
      client = await start({ state_dir: dir, batch: { duration_ms: 200 } });
      expect((await client.batches.retrieve(done.id)).status).toBe('completed');
      expect((await readLines(client, done.output_file_id)).map((l) => l['custom_id']).sort()).toEqual(['seq-1', 'seq-2']);
      const later = await settle(client, running.id);
      expect(later.request_counts).toEqual({ total: 3, completed: 3, failed: 0 });
      expect((await readLines(client, later.output_file_id)).map((l) => l['custom_id']).sort()).toEqual(['seq-3', 'seq-4', 'seq-5']);
      // Nothing of a file is held in memory: the content is on disk in the folder.
      expect((await readdir(join(dir, 'files'))).filter((n) => n.endsWith('.jsonl')).length).toBeGreaterThanOrEqual(4);
      // Batch files expire in 30 days; result files honour output_expires_after (3600 s at least).
      const input = await client.files.retrieve(done.input_file_id);
      expect(input.expires_at! - input.created_at).toBe(30 * 24 * 3600);
      const f = await client.files.create({ file: await toFile(Buffer.from(`${JSON.stringify(line(9))}\n`), 'p.jsonl'), purpose: 'batch' });
      const params = { input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h' } as const;
      await expect(client.batches.create({ ...params, output_expires_after: { anchor: 'created_at', seconds: 60 } })).rejects.toMatchObject({ status: 400 });
      const short = await settle(client, (await client.batches.create({ ...params, output_expires_after: { anchor: 'created_at', seconds: 3600 } })).id);
      const out = await client.files.retrieve(short.output_file_id!);
      expect(out.expires_at! - out.created_at).toBe(3600);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('slow: the batches it picks by creation order take its duration, and keep it when the simulator starts again', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'evalrun-sim-state-'));
    const HOUR_MS = 3_600_000;
    try {
      let client = await start({ state_dir: dir, batch: { duration_ms: 20, slow: { skip: 1, times: 1, duration_ms: HOUR_MS } } });
      const [first, second, third] = [await submit(client, [line(1)]), await submit(client, [line(2)]), await submit(client, [line(3)])];
      expect((await settle(client, first!.id)).status).toBe('completed');
      expect((await settle(client, third!.id)).status).toBe('completed');
      // Its first tenth, six minutes, is spent validating.
      expect((await client.batches.retrieve(second!.id)).status).toBe('validating');
      await sim!.close();
      sim = undefined;
      // Started again without the option: the second batch keeps the hour it was created with.
      client = await start({ state_dir: dir, batch: { duration_ms: 20 } });
      await new Promise((r) => setTimeout(r, 100));
      expect((await client.batches.retrieve(second!.id)).status).toBe('validating');
      ahead += HOUR_MS;
      expect((await settle(client, second!.id)).request_counts).toEqual({ total: 1, completed: 1, failed: 0 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('simulator options', () => {
  it('rejects unknown keys, naming the key and a suggestion', async () => {
    await expect(startSimulator({ batch: { duraton_ms: 5 } } as unknown as SimulatorOptions)).rejects.toThrow(/batch\.duraton_ms: unknown key 'duraton_ms' \(did you mean 'duration_ms'\?\)/);
    await expect(startSimulator({ faults: { rate_limt: 0.1 } } as unknown as SimulatorOptions)).rejects.toThrow(/faults\.rate_limt: unknown key/);
    await expect(startSimulator({ latncy: 5 } as unknown as SimulatorOptions)).rejects.toThrow(/latncy: unknown key 'latncy' \(did you mean 'latency'\?\)/);
    await expect(startSimulator({ batch: { duration_ms: 'fast' } } as unknown as SimulatorOptions)).rejects.toThrow(/batch\.duration_ms: expected a number/);
  });
});
