import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkJsonOutput, NOT_CHECKED } from '../../../../src/check/json-output.js';
import type { Task } from '../../../../src/contracts/plan.js';
import { inputLine } from '../../../../src/run/batch/build-files.js';
import { lineOutcome, parseOutputLine } from '../../../../src/run/batch/parse-line.js';
import type { BatchOutputLine } from '../../../../src/run/batch/types.js';
import { successRecord } from '../../../../src/run/answer-record.js';
import { startSimulator, type RunningSimulator } from '../../../../src/simulator/index.js';
import { cell, task } from './tasks.js';

const deps = {
  check: (t: Task, content: string | null) => (t.cell.jsonMode ? checkJsonOutput(content, undefined) : NOT_CHECKED),
  redact: (s: string) => s.replaceAll('sk-secret', '***'),
};
const startedAt = new Date('2026-12-01T10:00:00.000Z');
const now = new Date('2026-12-01T10:30:00.000Z');

function parsed(line: unknown): BatchOutputLine {
  const p = parseOutputLine(JSON.stringify(line));
  if (!p.ok) throw new Error(p.problem);
  return p.line;
}

const httpLine = (status: number, error: Record<string, unknown>) => parsed({
  id: 'batch_req_1', custom_id: 'seq-4', response: { status_code: status, request_id: 'req_9', body: { error: { type: 'invalid_request_error', param: null, code: null, ...error } } }, error: null,
});

describe('lineOutcome: an output line of the simulator becomes the record the sync executor would write', () => {
  let sim: RunningSimulator;
  let client: OpenAI;
  beforeAll(async () => {
    sim = await startSimulator({ seed: 2, batch: { duration_ms: 50 } });
    client = new OpenAI({ baseURL: sim.url, apiKey: 'x', maxRetries: 0 });
  });
  afterAll(() => sim.close());

  it('answers: same choices, checks and usage as successRecord on the sync answer; latency_ms null', async () => {
    const t = task(4, cell(1, 'gpt-4o-mini', true, 2), 'Reply in JSON: is this great?', { response_format: { type: 'json_object' }, n: 2 });
    const file = await client.files.create({ file: await toFile(Buffer.from(inputLine(t)), 'p.jsonl'), purpose: 'batch' });
    let b = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    while (b.status !== 'completed') {
      await new Promise((r) => setTimeout(r, 20));
      b = await client.batches.retrieve(b.id);
    }
    const text = await (await client.files.content(b.output_file_id!)).text();
    const p = parseOutputLine(text.trim());
    expect(p.ok && p.seq).toBe(4);
    const out = lineOutcome(t, (p as { line: BatchOutputLine }).line, { attempts: 2, startedAt, now }, deps);
    expect(out.kind).toBe('answered');
    const sync = await client.chat.completions.create(t.body as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming);
    const expected = successRecord(t, sync, { attempts: 2, latency: null, t0: 0, startedAt, status: 200, requestId: 'x' }, deps);
    expect(out.record.choices).toEqual(expected.choices);
    expect(out.record.choices).toHaveLength(2);
    expect(out.record.choices[0]!.json_valid).toBe(true);
    expect(out.record.usage).toEqual(expected.usage);
    expect(out.record).toMatchObject({ v: 1, seq: 4, cell: t.cell.id, row_id: 'r4', attempts: 2, latency_ms: null, http_status: 200, error: null, started_at: startedAt.toISOString() });
    expect(out.record.request_id).toMatch(/^req_/);
    expect(Object.keys(out.record)).toEqual(Object.keys(expected));
    expect(out.record.elapsed_ms).toBeGreaterThanOrEqual(30 * 60 * 1000);
  });
});

describe('lineOutcome: failures', () => {
  const t = task(4, cell(0, 'gpt-4o-mini'));
  const meta = { attempts: 1, startedAt, now };

  it('a 4xx line is final, with the API message, type and code', () => {
    const out = lineOutcome(t, httpLine(400, { message: "Invalid 'temperature': 7 (key sk-secret)", param: 'temperature', code: 'invalid_value' }), meta, deps);
    expect(out.kind).toBe('final');
    expect(out.record).toMatchObject({ http_status: 400, request_id: 'req_9', choices: [], latency_ms: null });
    expect(out.record.error).toEqual({ kind: 'http', status: 400, type: 'invalid_request_error', code: 'invalid_value', message: "Invalid 'temperature': 7 (key ***)" });
  });

  it('429 and 5xx lines are retryable', () => {
    for (const status of [429, 500, 503]) {
      const out = lineOutcome(t, httpLine(status, { message: `failed ${status}` }), meta, deps);
      expect(out.kind, String(status)).toBe('retryable');
      expect(out.record.error).toMatchObject({ kind: 'http', status, message: `failed ${status}` });
    }
    expect(lineOutcome(t, httpLine(404, { message: 'no such model' }), meta, deps).kind).toBe('final');
  });

  it('lines with no response (expired, cancelled, server error) are retryable batch errors', () => {
    for (const code of ['batch_expired', 'batch_cancelled', 'server_error']) {
      const out = lineOutcome(t, parsed({ id: 'b', custom_id: 'seq-4', response: null, error: { code, message: `m ${code}` } }), meta, deps);
      expect(out.kind).toBe('retryable');
      expect(out.record.error).toEqual({ kind: 'batch', status: null, type: null, code, message: `m ${code}` });
      expect(out.record.http_status).toBeNull();
    }
  });

  it('a 200 without choices is an invalid response, not a success, and final: the provider ran it and may have billed it', () => {
    const out = lineOutcome(t, parsed({ id: 'b', custom_id: 'seq-4', response: { status_code: 200, request_id: 'r', body: { object: 'chat.completion' } }, error: null }), meta, deps);
    expect(out.kind).toBe('final');
    expect(out.record.error?.kind).toBe('invalid_response');
  });
});

describe('parseOutputLine trusts nothing', () => {
  it('reports what is wrong with a line', () => {
    const problem = (text: string) => {
      const p = parseOutputLine(text);
      return p.ok ? '' : p.problem;
    };
    expect(problem('{"id":')).toMatch(/^not JSON/);
    expect(problem('[1]')).toBe('not a JSON object');
    expect(problem('{"id":"b","response":null,"error":{"code":"x","message":"m"}}')).toBe('no custom_id');
    expect(problem('{"id":"b","custom_id":"request-1","response":null,"error":{"code":"x","message":"m"}}')).toMatch(/was not sent by evalrun/);
    expect(problem('{"id":"b","custom_id":"seq-1","response":null,"error":null}')).toMatch(/exactly one of response and error/);
    expect(problem('{"id":"b","custom_id":"seq-1","response":{"status_code":"200"},"error":null}')).toMatch(/integer status_code/);
    expect(problem('{"id":"b","custom_id":"seq-1","response":null,"error":{"code":"x"}}')).toMatch(/error has no message/);
  });
});
