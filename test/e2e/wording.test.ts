/**
 * Counts read as English where the user meets them: one request failing and one gate check failing say "1 request
 * failed" and "1 gate check failed" on the terminal, in junit.xml and in summary.md, not "1 requests failed".
 */
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMain, type CliResult } from '../helpers/cli.js';
import { useTempDirs, writeTree } from '../helpers/tmp.js';

const tempDir = useTempDirs();
// Answers every request, except row q2's with a 400 (not retried): exactly one failed request.
const server = createServer((req, res) => {
  let text = '';
  req.setEncoding('utf8').on('data', (d: string) => (text += d));
  req.on('end', () => {
    const body = JSON.parse(text) as { model: string; messages: Array<{ content: string }> };
    if (body.messages.some((m) => m.content.includes('second'))) {
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'bad row', type: 'invalid_request_error', param: null, code: null } }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        id: 'chatcmpl-1', object: 'chat.completion', created: 1, model: body.model,
        choices: [{ index: 0, message: { role: 'assistant', content: 'ok', refusal: null }, finish_reason: 'stop', logprobs: null }],
        usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 },
      }),
    );
  });
});
let run: CliResult;
let out = '';

beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const dir = await tempDir('evalrun-wording-');
  const files = await writeTree(dir, {
    'rows.csv': 'id,text\nq1,first\nq2,second\nq3,third\n',
    'evalrun.yaml': `name: wording
dataset: rows.csv
id_column: id
messages: [{ role: user, content: "{{text}}" }]
params: { model: gpt-4o-mini, max_tokens: 5 }
provider: { base_url: "http://127.0.0.1:${port}/v1" }
retry: { max_attempts: 1 }
gates:
  - { metric: error_rate, max: 0 }
`,
  });
  out = join(dir, 'out');
  run = await runMain(['run', files['evalrun.yaml']!, '--out', out, '--quiet'], { ...process.env, NO_COLOR: '1', OPENAI_API_KEY: 'sk-test-local' });
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('singular counts', () => {
  it('says "1 gate check failed" and "1 request failed" on the terminal', () => {
    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr).toContain('1 gate check failed (see junit.xml); exit code 1.');
    expect(run.stderr).toContain("1 request failed after all attempts or lacked choices they asked for (1 choice with finish_reason 'error' in choices.csv); exit code 1.");
    expect(run.stdout).toContain('Gates: 1 of 1 gate × cell check failed (exit code 1)');
    expect(`${run.stdout}${run.stderr}`).not.toMatch(/\b1 (requests|gate checks|gate × cell checks|failed requests)\b/);
  });

  it('says the same in junit.xml and summary.md', async () => {
    const junit = await readFile(join(out, 'junit.xml'), 'utf8');
    expect(junit).toContain('1 request failed after all attempts');
    const md = await readFile(join(out, 'summary.md'), 'utf8');
    expect(md).toContain('❌ 1 of 1 gate check failed');
    expect(md).toContain('· 1 failed request');
    expect(`${junit}${md}`).not.toMatch(/\b1 (requests|gate checks|failed requests)\b/);
  });

  it('keeps the input row in the record of the failed request only (the report shows it beside the failure)', async () => {
    const records = (await readFile(join(out, 'records.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { row_id: string; input?: unknown });
    expect(records.map((r) => [r.row_id, r.input ?? null]).sort()).toEqual([['q1', null], ['q2', { id: 'q2', text: 'second' }], ['q3', null]]);
  });
});
