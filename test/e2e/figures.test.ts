/**
 * Figures a user acts on, against a scripted loopback server: usage details kept as sent and priced (cached
 * input), real retries with `n_mode: repeat`.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanEnv, runMain } from '../helpers/cli.js';
import { readRunDir } from '../helpers/run-dir.js';
import { choice, completion, startShapeServer, type ShapeAnswer, type ShapeRequest, type ShapeServer } from '../helpers/shape-server.js';
import { useTempDirs, writeTree } from '../helpers/tmp.js';

const tempDir = useTempDirs();
const env = cleanEnv({ OPENAI_API_KEY: 'sk-test-figures' });
let server: ShapeServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function setup(answer: (req: ShapeRequest) => ShapeAnswer, rows: string[], extra: string[] = []): Promise<{ config: string; out: string; dir: string }> {
  server = await startShapeServer(answer);
  const dir = await tempDir();
  const files = await writeTree(dir, {
    'data.jsonl': rows.map((r) => JSON.stringify({ id: r, text: r })).join('\n') + '\n',
    'evalrun.yaml': [
      'name: figures',
      'dataset: data.jsonl',
      'id_column: id',
      'messages:',
      '  - role: user',
      '    content: "{{text}}"',
      'concurrency: 1',
      `provider:\n  base_url: ${server.url}`,
      ...extra,
    ].join('\n'),
  });
  return { config: files['evalrun.yaml']!, out: join(dir, 'run'), dir };
}

describe('usage details', () => {
  it('keeps prompt_tokens_details and completion_tokens_details as sent, counts cached and reasoning tokens, and prices cached input at its price', async () => {
    const usage = {
      prompt_tokens: 2000,
      completion_tokens: 400,
      total_tokens: 2400,
      prompt_tokens_details: { cached_tokens: 1536, audio_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 350, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
    };
    const { config, out } = await setup(() => ({ body: completion([choice(0, 'ok')], usage, 'gpt-4o-mini') }), ['a', 'b'], ['params:', '  model: gpt-4o-mini']);
    const cli = await runMain(['run', config, '--out', out, '--quiet'], env);
    expect(cli.stderr).toBe('');
    expect(cli.code).toBe(0);
    const run = await readRunDir(out);
    for (const r of run.records as unknown as Array<{ usage: unknown }>) expect(r.usage).toEqual(usage);
    expect(run.choices.map((r) => [r['cached_tokens'], r['reasoning_tokens']])).toEqual([
      ['1536', '350'],
      ['1536', '350'],
    ]);
    expect(run.stats[0]).toMatchObject({ prompt_tokens: '4000', cached_tokens: '3072', reasoning_tokens: '700' });
    const summary = run.summary as unknown as { totals: Record<string, number>; cost: Record<string, any>; cells: Array<Record<string, number>> };
    expect(summary.totals).toMatchObject({ cached_tokens: 3072, reasoning_tokens: 700 });
    // gpt-4o-mini: $0.15 input, $0.075 cached input, $0.60 output per 1M tokens.
    const perRequest = (464 * 0.15 + 1536 * 0.075 + 400 * 0.6) / 1e6;
    expect(summary.cost['cost_usd']).toBeCloseTo(2 * perRequest, 6);
    expect(summary.cost['billed_cached_tokens']).toBe(3072);
    expect(summary.cost['by_model'][0]).toMatchObject({ model: 'gpt-4o-mini', cached_tokens: 3072, cached_input_per_1m: 0.075 });
    expect(summary.cells[0]!['cost_usd']).toBeCloseTo(2 * perRequest, 6);
    expect(summary.cells[0]!['cost_per_1k_rows']).toBeCloseTo(1000 * perRequest, 6);
  });

  it('reports a cached count larger than prompt_tokens as an anomaly and prices those tokens as uncached', async () => {
    const usage = { prompt_tokens: 100, completion_tokens: 10, total_tokens: 110, prompt_tokens_details: { cached_tokens: 500 } };
    const { config, out } = await setup(() => ({ body: completion([choice(0, 'ok')], usage, 'gpt-4o-mini') }), ['a'], ['params:', '  model: gpt-4o-mini']);
    await runMain(['run', config, '--out', out, '--quiet'], env);
    const summary = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8')) as { anomalies: { examples: Array<{ message: string }> }; totals: Record<string, number>; cost: { cost_usd: number } };
    expect(summary.anomalies.examples[0]!.message).toMatch(/cached_tokens 500 is not an integer within prompt_tokens: priced as uncached/);
    expect(summary.totals['cached_tokens']).toBe(0);
    expect(summary.cost.cost_usd).toBeCloseTo((100 * 0.15 + 10 * 0.6) / 1e6, 12);
  });
});

describe('n_mode: repeat counts real retries', () => {
  it('with no retry, retries are 0 and each choice shows its own request`s attempts; a retried part counts once', async () => {
    let calls = 0;
    const { config, out } = await setup(
      () => {
        calls++;
        // The 4th single-choice request fails once (a 500), then succeeds: one real retry in the whole run.
        if (calls === 4) return { status: 500, headers: { 'retry-after-ms': '1' }, body: { error: { message: 'try again' } } };
        return { body: completion([choice(0, 'ok')]) };
      },
      ['a', 'b', 'c', 'd'],
      ['params:', '  model: m', '  n: 3', 'n_mode: repeat', 'retry: { max_attempts: 3 }'],
    );
    const cli = await runMain(['run', config, '--out', out, '--quiet'], env);
    expect(cli.code).toBe(0);
    const run = await readRunDir(out);
    expect(run.stats[0]!['retries']).toBe('1');
    expect((run.summary as unknown as { totals: { retries: number } }).totals.retries).toBe(1);
    const attempts = run.choices.map((r) => r['attempts']);
    expect(attempts.filter((a) => a === '1')).toHaveLength(11);
    expect(attempts.filter((a) => a === '2')).toHaveLength(1);
  });
});

describe('secrets: one rule for plan --show and the run files', () => {
  const KEY = 'sk-configured-5a1f9e2c7d3b8a64';
  const OTHER = 'sk-live-0123456789abcdefABCDEF';

  it('the configured key is in no file of the run even when a dataset row holds it; other key-shaped text is kept as data, in plan --show too', async () => {
    // The server echoes the prompt as its answer, cut by max_tokens, so the choice fails and the record keeps its input.
    const { config, out } = await setup((req) => ({ body: completion([choice(0, `you said: ${req.prompt}`, { finish_reason: 'length' })]) }), ['a', `key ${KEY} and ${OTHER}`], ['params:', '  model: m']);
    const keyEnv = cleanEnv({ OPENAI_API_KEY: KEY });
    const cli = await runMain(['run', config, '--out', out], keyEnv);
    expect(cli.code, cli.stderr).toBe(0);
    expect(`${cli.stdout}${cli.stderr}`).not.toContain(KEY);
    const { readdirSync, readFileSync, statSync } = await import('node:fs');
    const files = readdirSync(out).filter((f) => statSync(join(out, f)).isFile());
    expect(files).toEqual(expect.arrayContaining(['records.jsonl', 'choices.csv', 'report.html', 'summary.md', 'run.json']));
    for (const f of files) expect(readFileSync(join(out, f), 'utf8'), f).not.toContain(KEY);
    const records = readFileSync(join(out, 'records.jsonl'), 'utf8');
    expect(records).toContain(`key [REDACTED] and ${OTHER}`);
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toContain(OTHER);
    const plan = await runMain(['plan', config, '--show', '2', '--json'], keyEnv);
    expect(plan.stdout).not.toContain(KEY);
    expect(plan.stdout).toContain(`key [REDACTED] and ${OTHER}`);
  });
});

describe('true messages on the synchronous path (misbehaving servers of our own)', () => {
  /** A raw loopback server: `handle` gets the request number (1-based) and writes what it likes. */
  async function rawServer(handle: (n: number, res: import('node:http').ServerResponse) => void): Promise<{ url: string; count: () => number; close: () => Promise<void> }> {
    const { createServer } = await import('node:http');
    let n = 0;
    const s = createServer((req, res) => {
      req.resume();
      req.on('end', () => handle(++n, res));
    });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    return {
      url: `http://127.0.0.1:${(s.address() as { port: number }).port}/v1`,
      count: () => n,
      close: () => new Promise<void>((r) => { s.closeAllConnections(); s.close(() => r()); }),
    };
  }

  async function runAgainst(url: string, rows: number, extra: string[] = []): Promise<{ cli: Awaited<ReturnType<typeof runMain>>; out: string }> {
    const dir = await tempDir();
    const files = await writeTree(dir, {
      'data.jsonl': Array.from({ length: rows }, (_, i) => JSON.stringify({ id: `r${i}`, text: `t${i}` })).join('\n') + '\n',
      'evalrun.yaml': ['name: msgs', 'dataset: data.jsonl', 'id_column: id', 'messages:', '  - role: user', '    content: "{{text}}"', 'params:', '  model: m', 'concurrency: 1', `provider:\n  base_url: ${url}`, ...extra].join('\n'),
    });
    const out = join(dir, 'run');
    return { cli: await runMain(['run', files['evalrun.yaml']!, '--out', out], env), out };
  }

  it('a 200 text/html login page: the run stops at once, naming the content type and showing the start of the body', async () => {
    const page = '<!DOCTYPE html><html><head><title>Sign in - Corp SSO</title></head><body>Please log in</body></html>';
    const s = await rawServer((_, res) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page));
    try {
      const { cli } = await runAgainst(s.url, 5, ['retry: { max_attempts: 3 }']);
      expect(cli.code).toBe(5);
      expect(cli.stderr).toContain('text/html');
      expect(cli.stderr).toContain('<title>Sign in - Corp SSO</title>');
      expect(cli.stderr).not.toContain('no choices array');
      // Stopped at the first such answer: no retries; at most the next request was already on its way (of 5 × 3).
      expect(s.count()).toBeLessThanOrEqual(2);
    } finally {
      await s.close();
    }
  });

  it('a non-JSON answer after good ones is recorded with its content type and the start of its body', async () => {
    const s = await rawServer((n, res) => {
      if (n === 2) res.writeHead(200, { 'content-type': 'text/html' }).end('<html>maintenance</html>');
      else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(completion([choice(0, 'ok')])));
    });
    try {
      const { cli, out } = await runAgainst(s.url, 3, ['retry: { max_attempts: 1 }']);
      expect(cli.code).toBe(1);
      const records = (await readFile(join(out, 'records.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { error: { message: string } | null });
      const failed = records.find((r) => r.error)!;
      expect(failed.error!.message).toMatch(/content-type text\/html.*<html>maintenance<\/html>/);
    } finally {
      await s.close();
    }
  });

  it('a body cut mid-stream after good answers says the answer was cut, not that the server cannot be reached', async () => {
    const s = await rawServer((n, res) => {
      const body = JSON.stringify(completion([choice(0, 'ok')]));
      if (n <= 3) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(body);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(body.length) });
      res.write(body.slice(0, 20));
      setTimeout(() => res.socket?.destroy(), 5);
    });
    try {
      const { cli, out } = await runAgainst(s.url, 4, ['retry: { max_attempts: 1 }']);
      const said = `${cli.stdout}${cli.stderr}`;
      expect(said).not.toMatch(/cannot reach|check that the server is running/);
      const records = (await readFile(join(out, 'records.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { error: { message: string } | null });
      expect(records).toHaveLength(4);
      expect(records.find((r) => r.error)!.error!.message).toMatch(/the answer was cut off before its end/);
    } finally {
      await s.close();
    }
  });

  it('an answer cut after a 200 may have been billed: it is not sent again unless --retry-errors asks', async () => {
    let cuts = 0;
    const s = await rawServer((n, res) => {
      const body = JSON.stringify(completion([choice(0, 'ok')]));
      if (n <= 3) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(body);
        return;
      }
      cuts++;
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(body.length) });
      res.write(body.slice(0, 20));
      setTimeout(() => res.socket?.destroy(), 5);
    });
    try {
      const { out } = await runAgainst(s.url, 4, ['retry: { max_attempts: 3 }']);
      const records = (await readFile(join(out, 'records.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { attempts: number; error: { message: string } | null });
      const cut = records.find((r) => r.error)!;
      expect(cuts).toBe(1);
      expect(cut.attempts).toBe(1);
      expect(cut.error!.message).toMatch(/it may have been billed, so it is not sent again automatically \(--retry-errors sends it\)/);
    } finally {
      await s.close();
    }
  });

  it('a timeout names the limit and the setting to change', async () => {
    const s = await rawServer((_, res) => {
      setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(completion([choice(0, 'ok')]))), 400);
    });
    try {
      const { out } = await runAgainst(s.url, 1, ['retry: { max_attempts: 1 }', 'timeout_s: 0.2']);
      const record = JSON.parse((await readFile(join(out, 'records.jsonl'), 'utf8')).trim()) as { error: { kind: string; message: string } };
      expect(record.error.kind).toBe('timeout');
      expect(record.error.message).toMatch(/no answer within 0\.2 s \(timeout_s: 0\.2\)/);
      expect(record.error.message).toMatch(/raise timeout_s/);
    } finally {
      await s.close();
    }
  });
});
