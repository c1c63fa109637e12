/**
 * `evalrun plan --show N`: the first N requests exactly as `run` sends them (checked against what a loopback server
 * receives from `run`), with the key and configured header/query values redacted wherever they appear; and
 * `plan --json` carrying each cell's parameters.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, runMain } from '../helpers/cli.js';
import { useTempDirs, writeTree } from '../helpers/tmp.js';

const tempDir = useTempDirs();
const KEY = 'sk-canary-plan-show-4242';
const HEADER_SECRET = 'hdr-secret-value-99';
const received: Array<{ body: Record<string, unknown>; headers: IncomingMessage['headers'] }> = [];
const server = createServer((req, res) => {
  let text = '';
  req.setEncoding('utf8').on('data', (d: string) => (text += d));
  req.on('end', () => {
    const body = JSON.parse(text) as Record<string, unknown>;
    received.push({ body, headers: req.headers });
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        id: `chatcmpl-${received.length}`, object: 'chat.completion', created: 1, model: body['model'],
        choices: [{ index: 0, message: { role: 'assistant', content: 'ok', refusal: null }, finish_reason: 'stop', logprobs: null }],
        usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 },
      }),
    );
  });
});
let dir = '';
let file = '';
const env = () => cleanEnv({ OPENAI_API_KEY: KEY });

beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  dir = await tempDir('evalrun-plan-show-');
  const files = await writeTree(dir, {
    'rows.csv': `id,question\nq1,What is 2+2?\nq2,"Is my key ${KEY} safe?"\nq3,Name a colour\n`,
    'evalrun.yaml': `name: show
dataset: rows.csv
id_column: id
messages:
  - { role: system, content: "Answer briefly. Literal \\\\{{braces}} stay." }
  - { role: user, content: "{{question}}" }
params:
  model: gpt-4o-mini
  user: ${KEY}
grid:
  temperature: [0, 1]
  seed: [1, 2]
provider:
  base_url: http://127.0.0.1:${port}/v1
  headers: { X-Team-Token: ${HEADER_SECRET} }
concurrency: 1
retry: { max_attempts: 1 }
`,
  });
  file = files['evalrun.yaml']!;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('evalrun plan --show N', () => {
  it('prints the first N requests with their bodies as run sends them, secrets redacted', async () => {
    const r = await runMain(['plan', file, '--show', '3'], env());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toContain(KEY);
    expect(r.stdout).not.toContain(HEADER_SECRET);
    expect(r.stdout).toContain('Authorization: Bearer [REDACTED]');
    expect(r.stdout).toContain('X-Team-Token: [REDACTED]');
    const heads = r.stdout.split('\n').filter((l) => l.startsWith('request '));
    expect(heads).toEqual([
      'request 1 of 12: row q1, cell gpt-4o-mini/t0/seed=1',
      'request 2 of 12: row q1, cell gpt-4o-mini/t0/seed=2',
      'request 3 of 12: row q1, cell gpt-4o-mini/t1/seed=1',
    ]);
    expect(r.stdout).toMatch(/^POST http:\/\/127\.0\.0\.1:\d+\/v1\/chat\/completions$/m);
    // No limit is said as such, not "at most no limit".
    expect(r.stdout).not.toContain('at most no limit');
    expect(r.stdout).toContain('completion with no upper bound');

    // The same requests, rendered by `run` and received by the server, are what plan showed.
    const json = JSON.parse((await runMain(['plan', file, '--show', '5', '--json'], env())).stdout);
    expect(json.requests_shown).toHaveLength(5);
    expect(json.requests_shown[3].row_id).toBe('q1');
    expect(json.requests_shown[4].row_id).toBe('q2');
    const run = await runMain(['run', file, '--out', join(dir, 'out'), '--quiet'], env());
    expect(run.code, run.stderr).toBe(0);
    expect(received).toHaveLength(12);
    for (let i = 0; i < 5; i++) {
      const sent = JSON.parse(JSON.stringify(received[i]!.body).split(KEY).join('[REDACTED]'));
      expect(json.requests_shown[i].body).toEqual(sent);
    }
    expect(received[0]!.body['messages']).toEqual([
      { role: 'system', content: 'Answer briefly. Literal {{braces}} stay.' },
      { role: 'user', content: 'What is 2+2?' },
    ]);
    expect(received[0]!.headers['x-team-token']).toBe(HEADER_SECRET);
    expect(json.requests_shown[0].headers['X-Team-Token']).toBe('[REDACTED]');
    // The key in the dataset row and in a parameter is redacted in the display only.
    expect(JSON.stringify(json)).not.toContain(KEY);
    expect(JSON.stringify(json.requests_shown[4].body)).toContain('Is my key [REDACTED] safe?');
  });

  it('puts each cell\'s parameters in plan --json', async () => {
    const json = JSON.parse((await runMain(['plan', file, '--json'], env())).stdout);
    expect(json.cells.map((c: { id: string }) => c.id)).toEqual([
      'gpt-4o-mini/t0/seed=1', 'gpt-4o-mini/t0/seed=2', 'gpt-4o-mini/t1/seed=1', 'gpt-4o-mini/t1/seed=2',
    ]);
    expect(json.cells[2].params).toEqual({ model: 'gpt-4o-mini', user: '[REDACTED]', temperature: 1, seed: 1 });
    expect(json.cells[1].params.seed).toBe(2);
    expect(json.requests_shown).toBeUndefined();
  });

  it('refuses a --show that is not a count', async () => {
    const r = await runMain(['plan', file, '--show', '-1'], env());
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--show must be a whole number');
  });
});
