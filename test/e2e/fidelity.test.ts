/**
 * A run's files hold exactly what the server sent: a scripted loopback server answers each odd shape (indexes out
 * of order, missing, out of range or repeated; a server that ignores n; bad usage; refusals; logprobs; custom and
 * legacy tool calls), and the run's choices.csv, records.jsonl, stats.csv, summary.json, junit.xml, console and
 * exit code are checked against it. `n_mode: repeat` gets n samples from a server that ignores n.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, runMain, type CliResult } from '../helpers/cli.js';
import type { CsvRow } from '../helpers/csv.js';
import { readRunDir, type RunDir } from '../helpers/run-dir.js';
import { choice, completion, startShapeServer, type ShapeAnswer, type ShapeRequest, type ShapeServer } from '../helpers/shape-server.js';
import { useTempDirs, writeTree } from '../helpers/tmp.js';

const tempDir = useTempDirs();
const env = cleanEnv({ OPENAI_API_KEY: 'sk-test-shape' });

const J = (o: unknown) => JSON.stringify(o);
const LOGPROBS = { content: [{ token: '{', logprob: -0.5, bytes: [123], top_logprobs: [] }, { token: '}', logprob: -1.5, bytes: [125], top_logprobs: [] }], refusal: null };

/** What the server answers to each row (the row's text is its shape's name); n is 2 in the config. */
const SHAPES: Record<string, () => unknown> = {
  ordered: () => completion([choice(0, J({ v: 'a' })), choice(1, J({ v: 'b' }))]),
  out_of_order: () => completion([choice(1, J({ v: 'B' })), choice(0, J({ v: 'A' }))]),
  // The case: index 1 is missing and index 2 is out of range for n = 2.
  missing: () => completion([choice(2, J({ v: 'two' })), choice(0, J({ v: 'zero' }))]),
  extra: () => completion([choice(0, J({ v: 'x0' })), choice(1, J({ v: 'x1' })), choice(1, J({ v: 'dup' })), choice(3, J({ v: 'x3' }))]),
  ignores_n: () => completion([choice(0, J({ v: 'only' }))]),
  no_choices: () => completion([]),
  bad_usage: () => completion([choice(0, J({ v: 'u0' })), choice(1, J({ v: 'u1' }))], { prompt_tokens: -5, completion_tokens: 2.5, total_tokens: 'x' }),
  refusal: () => completion([choice(0, null, { message: { refusal: 'I cannot help with that.' } }), choice(1, null, { message: { refusal: 'No.' } })]),
  logprobs: () => completion([choice(0, J({ v: 'l0' }), { logprobs: LOGPROBS }), choice(1, J({ v: 'l1' }), { logprobs: { content: [{ token: 'x', logprob: -3, bytes: null, top_logprobs: [] }], refusal: null } })]),
  tools: () =>
    completion([
      choice(0, null, { finish_reason: 'tool_calls', message: { tool_calls: [{ id: 'call_1', type: 'custom', custom: { name: 'grep', input: 'needle in haystack' } }] } }),
      choice(1, null, { finish_reason: 'function_call', message: { function_call: { name: 'lookup', arguments: '{"id":7}' } } }),
    ]),
};
const ROWS = Object.keys(SHAPES);

function answerByShape(req: ShapeRequest): ShapeAnswer {
  const shape = SHAPES[req.prompt];
  return shape ? { body: shape() } : { status: 400, body: { error: { message: `unknown shape ${req.prompt}` } } };
}

async function writeRun(server: ShapeServer, extra = ''): Promise<{ dir: string; config: string; out: string }> {
  const dir = await tempDir();
  const files = await writeTree(dir, {
    'data.jsonl': ROWS.map((r) => J({ id: r, text: r })).join('\n') + '\n',
    'evalrun.yaml': [
      'name: shapes',
      'dataset: data.jsonl',
      'id_column: id',
      'messages:',
      '  - role: system',
      '    content: Answer in json.',
      '  - role: user',
      '    content: "{{text}}"',
      'params:',
      '  model: shape-model',
      '  n: 2',
      '  logprobs: true',
      '  response_format: { type: json_object }',
      'concurrency: 2',
      'retry: { max_attempts: 1 }',
      `provider:\n  base_url: ${server.url}`,
      extra,
    ].join('\n'),
  });
  return { dir, config: files['evalrun.yaml']!, out: join(dir, 'run') };
}

describe('a run records exactly what the server sent', () => {
  let server: ShapeServer;
  let cli: CliResult;
  let run: RunDir;
  let records: Array<Record<string, any>>;
  let runDir: string;
  const rows = (shape: string): CsvRow[] => run.choices.filter((r) => r['row_id'] === shape);
  const record = (shape: string) => records.find((r) => r['row_id'] === shape)!;

  beforeAll(async () => {
    server = await startShapeServer(answerByShape);
    const { config, out } = await writeRun(server, 'gates:\n  - { metric: refusal_rate, max: 0.5 }');
    runDir = out;
    cli = await runMain(['run', config, '--out', out], env);
    run = await readRunDir(out);
    records = (await readFile(join(out, 'records.jsonl'), 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
  }, 60_000);
  afterAll(() => server.close());

  it('has exactly rows × n choice lines, choice k being the server choice with index k', () => {
    expect(server.requests).toHaveLength(ROWS.length);
    expect(run.choices).toHaveLength(ROWS.length * 2);
    for (const shape of ROWS) expect(rows(shape).map((r) => r['choice_index']), shape).toEqual(['0', '1']);
    expect(rows('out_of_order').map((r) => r['content'])).toEqual([J({ v: 'A' }), J({ v: 'B' })]);
    expect(rows('extra').map((r) => r['content'])).toEqual([J({ v: 'x0' }), J({ v: 'x1' })]);
  });

  it('makes a missing index an error row that says which indexes came, and keeps the out-of-range choice in the record', () => {
    const [zero, one] = rows('missing');
    expect(zero!['content']).toBe(J({ v: 'zero' }));
    expect(one!['finish_reason']).toBe('error');
    expect(one!['content']).toBe('');
    expect(one!['error']).toBe('the server returned no choice with index 1 (it returned indexes 2, 0)');
    const r = record('missing');
    expect(r['extra_choices']).toEqual([choice(2, J({ v: 'two' }))]);
    expect(r['anomalies']).toEqual([{ kind: 'extra_choice', message: 'choice index 2 is outside 0..1 (n = 2); kept in extra_choices' }]);
    expect(rows('no_choices').map((x) => x['error'])).toEqual([
      'the server returned no choice with index 0 (it returned no choices)',
      'the server returned no choice with index 1 (it returned no choices)',
    ]);
  });

  it("suggests n_mode repeat when the server answered one choice for n = 2", () => {
    const [first, second] = rows('ignores_n');
    expect(first!['content']).toBe(J({ v: 'only' }));
    expect(second!['error']).toContain('the server returned no choice with index 1 (it returned index 0)');
    expect(second!['error']).toContain("set 'n_mode: repeat'");
  });

  it('keeps repeated and extra indexes in records.jsonl and counts them in summary.json and on the console', () => {
    const r = record('extra');
    expect(r['extra_choices']).toEqual([choice(1, J({ v: 'dup' })), choice(3, J({ v: 'x3' }))]);
    expect(r['anomalies'].map((a: { kind: string }) => a.kind)).toEqual(['duplicate_index', 'extra_choice']);
    expect(run.summary['anomalies']).toMatchObject({ requests: 3, extra_choice: 2, duplicate_index: 1, no_index: 0, bad_usage: 1 });
    expect(cli.stderr.match(/^anomalies:/gm)).toHaveLength(1);
    expect(cli.stderr).toContain('2 choices beyond n, 1 repeated choice index, 1 request with unusable usage (counted as absent) in 3 requests');
  });

  it('counts missing choices as failures everywhere: stats, summary, progress, junit and the exit code', async () => {
    expect(cli.code).toBe(1);
    const stats = run.stats[0]!;
    // missing: 1, ignores_n: 1, no_choices: 2
    expect(stats['error']).toBe('4');
    expect(Number(stats['error_rate'])).toBeCloseTo(4 / 20);
    expect(stats['failed_requests']).toBe('3');
    expect(run.summary.recorded).toMatchObject({ failed_requests: 3, failed_choices: 4 });
    expect(cli.stderr).toMatch(/progress: 10\/10 requests .* errors 3$/m);
    expect(cli.stderr).toContain('3 requests failed after all attempts or lacked choices they asked for (4 choices');
    const junit = await readFile(join(runDir, 'junit.xml'), 'utf8');
    expect(junit).toMatch(/name="no failed requests">\s*<failure message="3 requests failed/);
  });

  it('treats negative, fractional or non-number usage as absent and says so once', () => {
    const r = record('bad_usage');
    expect(r['usage']).toBeNull();
    expect(r['anomalies']).toEqual([
      { kind: 'bad_usage', message: 'usage prompt_tokens -5, completion_tokens 2.5, total_tokens "x": not a non-negative integer, so this request\'s usage is treated as absent' },
    ]);
    expect(rows('bad_usage')[0]!['prompt_tokens']).toBe('');
    const good = ROWS.filter((s) => s !== 'bad_usage');
    expect(run.stats[0]!['prompt_tokens']).toBe(String(10 * good.length));
    expect(run.summary['totals']).toMatchObject({ prompt_tokens: 10 * good.length, completion_tokens: 5 * good.length });
    for (const row of run.choices) expect(Number(row['prompt_tokens'] || 0)).toBeGreaterThanOrEqual(0);
  });

  it('makes refusals their own outcome, outside the JSON validity denominators', () => {
    expect(rows('refusal').map((r) => [r['refusal'], r['json_valid'], r['finish_reason']])).toEqual([
      ['I cannot help with that.', '', 'stop'],
      ['No.', '', 'stop'],
    ]);
    const s = run.stats[0]!;
    expect(s['refusal']).toBe('2');
    expect(Number(s['refusal_rate'])).toBeCloseTo(2 / 20);
    // Answered content rows: 20 - 4 errors - 2 refusals - 2 tool answers = 12, all valid JSON.
    expect(s['json_checked']).toBe('12');
    expect(s['json_valid_rate']).toBe('1');
    expect(cli.stdout).toMatch(/^cell\s.*\berror\s+other\s+refusal\b/m);
    // A metric like the others: an interval, and gates may use it.
    expect(Number(s['refusal_rate_low'])).toBeLessThan(0.1);
    expect((run.summary['gates'] as { results: Array<{ metric: string; passed: boolean; value: number }> }).results).toEqual([
      expect.objectContaining({ metric: 'refusal_rate', passed: true, value: 0.1 }),
    ]);
  });

  it('keeps logprobs as sent and reports their mean per choice and per cell', () => {
    const r = record('logprobs');
    expect(r['choices'][0].logprobs).toEqual(LOGPROBS);
    expect(rows('logprobs').map((x) => Number(x['logprob_mean']))).toEqual([-1, -3]);
    expect(rows('ordered')[0]!['logprob_mean']).toBe('');
    expect(Number(run.stats[0]!['logprob_mean'])).toBe(-2);
  });

  it('records a custom tool call by its own name and input, and a legacy function_call, counted under other', () => {
    const [custom, legacy] = rows('tools');
    expect(JSON.parse(custom!['tool_calls']!)).toEqual([{ id: 'call_1', type: 'custom', name: 'grep', arguments: 'needle in haystack' }]);
    expect(JSON.parse(legacy!['tool_calls']!)).toEqual([{ id: null, type: 'function_call', name: 'lookup', arguments: '{"id":7}' }]);
    expect(legacy!['finish_reason']).toBe('function_call');
    expect(legacy!['json_valid']).toBe('');
    expect(run.stats[0]!['other']).toBe('1');
    expect(Number(run.stats[0]!['other_rate'])).toBeCloseTo(1 / 20);
    // The console's rates add up to 100% with the other column.
    const header = cli.stdout.split('\n').find((l) => l.startsWith('cell'))!.trim().split(/\s+/);
    const line = cli.stdout.split('\n').find((l) => l.startsWith('shape-model'))!.trim().split(/\s+/);
    const at = (h: string) => parseFloat(line[header.indexOf(h)]!);
    expect(at('stop') + at('length') + at('filter') + at('tools') + at('error') + at('other')).toBeCloseTo(100, 5);
  });
});

describe('n_mode: repeat', () => {
  it('sends n single-choice requests (seed + k) and records them as choices 0..n-1 of one record', async () => {
    let count = 0;
    // A server that ignores n, like Ollama: always one choice.
    const server = await startShapeServer((req) => ({ body: completion([choice(0, J({ v: `sample-${req.body.seed}-${count++}` }))]) }));
    try {
      const { config, out } = await writeRun(server, 'n_mode: repeat\nseed: 1');
      const yaml = await readFile(config, 'utf8');
      await writeTree(join(config, '..'), { 'evalrun.yaml': yaml.replace('  n: 2', '  n: 3\n  seed: 40') });
      const cli = await runMain(['run', config, '--out', out, '--quiet'], env);
      expect(cli.stderr).toBe('');
      expect(cli.code).toBe(0);
      expect(server.requests).toHaveLength(ROWS.length * 3);
      for (const r of server.requests) expect(r.body.n).toBeUndefined();
      const run = await readRunDir(out);
      expect(run.records).toHaveLength(ROWS.length);
      expect(run.choices).toHaveLength(ROWS.length * 3);
      const first = run.records.find((r) => r.row_id === ROWS[0])! as unknown as Record<string, any>;
      const seeds = server.requests.filter((r) => r.prompt === ROWS[0]).map((r) => r.body.seed);
      expect(seeds).toEqual([40, 41, 42]);
      expect(first['choices'].map((c: { index: number }) => c.index)).toEqual([0, 1, 2]);
      expect(first['choices'].map((c: { content: string }) => JSON.parse(c.content).v.split('-')[1])).toEqual(['40', '41', '42']);
      expect(first['parts'].map((p: { usage: unknown }) => p.usage)).toEqual(Array(3).fill({ prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 }));
      expect(first['usage']).toEqual({ prompt_tokens: 30, completion_tokens: 15, total_tokens: 45 });
      expect(run.summary.recorded.failed_requests).toBe(0);
    } finally {
      await server.close();
    }
  }, 60_000);

  it('makes a part that failed after its attempts an error choice of that index, and keeps the others', async () => {
    const seen = new Map<string, number>();
    // The second request of each row's set of 3 fails (parts of a set are sent one after the other).
    const server = await startShapeServer((req) => {
      const k = seen.get(req.prompt) ?? 0;
      seen.set(req.prompt, k + 1);
      return k === 1 ? { status: 500, body: { error: { message: 'boom', type: 'server_error' } } } : { body: completion([choice(0, J({ v: k }))]) };
    });
    try {
      const { config, out } = await writeRun(server, 'n_mode: repeat');
      const yaml = await readFile(config, 'utf8');
      await writeTree(join(config, '..'), { 'evalrun.yaml': yaml.replace('  n: 2', '  n: 3') });
      const cli = await runMain(['run', config, '--out', out, '--quiet'], env);
      expect(cli.code).toBe(1);
      const run = await readRunDir(out);
      expect(run.choices).toHaveLength(ROWS.length * 3);
      const mine = run.choices.filter((r) => r['row_id'] === ROWS[0]);
      expect(mine.map((r) => r['finish_reason'])).toEqual(['stop', 'error', 'stop']);
      expect(mine[1]!['error']).toBe('request 2 of the 3 (n_mode repeat) failed: 500: boom');
      expect(run.summary.recorded).toMatchObject({ failed_requests: ROWS.length, failed_choices: ROWS.length });
    } finally {
      await server.close();
    }
  }, 60_000);

  it('keeps the n answers apart in the response cache, so a rerun replays n different samples', async () => {
    let count = 0;
    const server = await startShapeServer(() => ({ body: completion([choice(0, J({ v: count++ }))]) }));
    try {
      const { config, dir } = await writeRun(server, 'n_mode: repeat\ncache: cache');
      const first = await runMain(['run', config, '--out', join(dir, 'a'), '--quiet'], env);
      const sent = server.requests.length;
      const second = await runMain(['run', config, '--out', join(dir, 'b'), '--quiet'], env);
      expect([first.code, second.code]).toEqual([0, 0]);
      expect(sent).toBe(ROWS.length * 2);
      expect(server.requests).toHaveLength(sent);
      const [a, b] = [await readRunDir(join(dir, 'a')), await readRunDir(join(dir, 'b'))];
      expect(b.choices.map((r) => r['content'])).toEqual(a.choices.map((r) => r['content']));
      expect(new Set(a.choices.map((r) => r['content'])).size).toBe(ROWS.length * 2);
    } finally {
      await server.close();
    }
  }, 60_000);

  it('shows the HTTP requests it will send in evalrun plan, with the prompt counted once per choice', async () => {
    const server = await startShapeServer(answerByShape);
    try {
      const { config } = await writeRun(server, 'n_mode: repeat');
      const native = await writeRun(server);
      const [plan, nativePlan] = [await runMain(['plan', config, '--json'], env), await runMain(['plan', native.config, '--json'], env)];
      const p = JSON.parse(plan.stdout) as { requests: number; http_requests: number; cost: { prompt_tokens: number } };
      const q = JSON.parse(nativePlan.stdout) as typeof p;
      expect(p.requests).toBe(ROWS.length);
      expect(p.http_requests).toBe(ROWS.length * 2);
      expect(q.http_requests).toBe(ROWS.length);
      expect(p.cost.prompt_tokens).toBe(2 * q.cost.prompt_tokens);
      expect(server.requests).toHaveLength(0);
    } finally {
      await server.close();
    }
  });

  it('refuses an unknown n_mode with the key it is at', async () => {
    const server = await startShapeServer(answerByShape);
    try {
      const { config, out } = await writeRun(server, 'n_mode: loop');
      const cli = await runMain(['run', config, '--out', out, '--quiet'], env);
      expect(cli.code).toBe(3);
      expect(cli.stderr).toMatch(/evalrun\.yaml:\d+:\d+ n_mode/);
      expect(server.requests).toHaveLength(0);
    } finally {
      await server.close();
    }
  });
});
