/**
 * What the user sees when the server cannot be reached, answers in its own error format, or is the wrong URL; and
 * the report figures that used to come out wrong (cached answers, formula escaping). Every run is the CLI
 * (`main()` in-process) against the simulator or a loopback server of the test's own.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { simulateCompletion, startSimulator } from '../../src/simulator/index.js';
import { cleanEnv, runMain, STACK_LINE } from '../helpers/cli.js';
import { parseCsv } from '../helpers/csv.js';
import { useTempDirs, writeTree } from '../helpers/tmp.js';

const tempDir = useTempDirs();
const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => (s.closeAllConnections(), s.close(() => r())))));
});

const ROWS = 10;

/** A config of ROWS rows × 2 cells for an OpenAI-compatible server (the env gives the URL), default retries. */
async function project(extra = '', ids?: string[]): Promise<{ dir: string; config: string }> {
  const dir = await tempDir('evalrun-errors-');
  const rowIds = ids ?? Array.from({ length: ROWS }, (_, i) => `r${i}`);
  const rows = rowIds.map((id, i) => JSON.stringify({ id, text: `ticket ${i}: my invoice is wrong` }));
  const files = await writeTree(dir, {
    'rows.jsonl': `${rows.join('\n')}\n`,
    'evalrun.yaml': [
      'name: errors',
      'dataset: rows.jsonl',
      'id_column: id',
      'messages: [{ role: user, content: "{{text}}" }]',
      'params: { model: gpt-4o-mini, max_tokens: 40 }',
      'grid: { temperature: [0, 1] }',
      'concurrency: 2',
      extra,
    ].join('\n'),
  });
  return { dir, config: files['evalrun.yaml']! };
}

function jsonl(file: string): Array<Record<string, unknown>> {
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A loopback server answering with the simulator's model, or with what `override` returns for a request. */
async function loopback(
  override?: (body: Record<string, unknown>, req: IncomingMessage, res: ServerResponse) => boolean,
): Promise<{ server: Server; port: number; served: { count: number } }> {
  const served = { count: 0 };
  const server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (raw += c));
    req.on('end', () => {
      const body = JSON.parse(raw) as Record<string, unknown>;
      served.count++;
      if (override?.(body, req, res)) return;
      const reply = simulateCompletion(body, { seed: 1 });
      res.writeHead(reply.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(reply.body));
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as { port: number }).port, served };
}

describe('a server that cannot be reached', () => {
  it('stops the run at once with exit 5, naming host, port and ECONNREFUSED; run.json says stopped', async () => {
    const { dir, config } = await project();
    const port = await closedPort();
    const out = join(dir, 'out');
    // Retrying each of the 20 requests 5 times with backoff takes ~40 s; the old behaviour would hit this timeout.
    const r = await runMain(['run', config, '--out', out, '--quiet'], cleanEnv({ OPENAI_BASE_URL: `http://127.0.0.1:${port}/v1`, OPENAI_API_KEY: 'sk-test' }));
    expect(r.code, r.stderr).toBe(5);
    expect(r.stderr).toContain(`cannot reach http://127.0.0.1:${port}/v1 (host 127.0.0.1, port ${port}): ECONNREFUSED`);
    expect(r.stderr).toMatch(/Start the server|fix the port/);
    expect(r.stderr).toContain('--resume');
    expect(r.stderr).not.toMatch(STACK_LINE);
    const manifest = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')) as { status: string; exit_code: number };
    expect(manifest.status).toBe('stopped');
    expect(manifest.exit_code).toBe(5);
    // Nothing was answered, so nothing is recorded: a resume sends every request.
    expect(jsonl(join(out, 'records.jsonl'))).toHaveLength(0);
  }, 20_000);

  it('still retries a connection blip once the server has answered, and completes', async () => {
    const { dir, config } = await project('retry: { max_attempts: 20, max_wait_s: 0.1 }');
    let down = false;
    let blips = 0;
    const { server, port } = await loopback((body, _req, res) => {
      const reply = simulateCompletion(body, { seed: 1 });
      res.writeHead(reply.status, { 'content-type': 'application/json' });
      // After the 4th answer the server goes away for a moment (port closed, connections dropped), then comes back.
      res.end(JSON.stringify(reply.body), () => {
        if (down || ++blips !== 4) return;
        down = true;
        server.close();
        server.closeAllConnections();
        setTimeout(() => server.listen(port, '127.0.0.1', () => (down = false)), 400);
      });
      return true;
    });
    const out = join(dir, 'out');
    const r = await runMain(['run', config, '--out', out, '--quiet'], cleanEnv({ OPENAI_BASE_URL: `http://127.0.0.1:${port}/v1`, OPENAI_API_KEY: 'sk-test' }));
    expect(r.code, r.stderr).toBe(0);
    const records = jsonl(join(out, 'records.jsonl'));
    expect(records).toHaveLength(ROWS * 2);
    expect(records.every((x) => x['error'] === null)).toBe(true);
    // The requests sent while the port was closed were retried, not fatal.
    expect(records.some((x) => (x['attempts'] as number) > 1)).toBe(true);
  }, 30_000);

  it("records a failed connection's system error, not only 'fetch failed'", async () => {
    // Once something answered, a refused connection is retried, then recorded with its cause.
    const { dir, config } = await project('retry: { max_attempts: 2, max_wait_s: 0 }');
    const { server, port } = await loopback((body, _req, res) => {
      const reply = simulateCompletion(body, { seed: 1 });
      res.writeHead(reply.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(reply.body), () => {
        server.close();
        server.closeAllConnections();
      });
      return true;
    });
    const out = join(dir, 'out');
    const r = await runMain(['run', config, '--out', out, '--quiet'], cleanEnv({ OPENAI_BASE_URL: `http://127.0.0.1:${port}/v1`, OPENAI_API_KEY: 'sk-test' }));
    expect(r.code, r.stderr).toBe(1);
    const failed = jsonl(join(out, 'records.jsonl')).filter((x) => x['error'] !== null);
    // The server closes after its first answer; a request sent alongside it may still have been answered.
    expect(failed.length).toBeGreaterThanOrEqual(ROWS * 2 - 2);
    for (const f of failed) {
      const error = f['error'] as { kind: string; code: string; message: string };
      expect(error.kind).toBe('connection');
      expect(error.code).toBe('ECONNREFUSED');
      expect(error.message).toContain('ECONNREFUSED');
    }
  }, 30_000);
});

describe('error answers that are not OpenAI-shaped', () => {
  it("keeps a gateway's application/problem+json 422 body in the error text, bounded and redacted", async () => {
    const key = 'sk-canary-5e1d0c9b8a7f6e5d';
    const { dir, config } = await project();
    const { port } = await loopback((body, req, res) => {
      if (!JSON.stringify(body['messages']).includes('ticket 3:')) return false;
      res.writeHead(422, { 'content-type': 'application/problem+json' });
      res.end(
        JSON.stringify({
          type: 'https://gateway.example/problems/quota',
          title: 'Unprocessable Entity',
          status: 422,
          detail: `Tenant policy forbids this prompt for key ${String(req.headers.authorization)}`,
          trace: 'x'.repeat(6000),
        }),
      );
      return true;
    });
    const out = join(dir, 'out');
    const r = await runMain(['run', config, '--out', out, '--quiet'], cleanEnv({ OPENAI_BASE_URL: `http://127.0.0.1:${port}/v1`, OPENAI_API_KEY: key }));
    expect(r.code, r.stderr).toBe(1);
    const failed = jsonl(join(out, 'records.jsonl')).filter((x) => x['error'] !== null);
    expect(failed).toHaveLength(2);
    for (const f of failed) {
      const error = f['error'] as { status: number; message: string };
      expect(error.status).toBe(422);
      expect(error.message).toContain('Tenant policy forbids this prompt');
      expect(error.message).toContain('Unprocessable Entity');
      expect(error.message).not.toContain('no body');
      expect(error.message).toContain('[REDACTED]');
      expect(error.message).not.toContain(key);
      expect(error.message.length).toBeLessThan(2100);
      expect(error.message).toMatch(/more characters\)$/);
    }
    const rows = parseCsv(readFileSync(join(out, 'choices.csv'), 'utf8')).filter((c) => c['finish_reason'] === 'error');
    expect(rows).toHaveLength(2);
    expect(rows[0]!['error']).toContain('Tenant policy forbids this prompt');
    expect(readFileSync(join(out, 'choices.csv'), 'utf8')).not.toContain(key);
  }, 30_000);
});

describe('a base URL without /v1', () => {
  it('stops on the 404 naming the URL tried, the model and the missing /v1; the simulator suggests /v1 itself', async () => {
    const sim = await startSimulator({});
    try {
      const { dir, config } = await project();
      const base = sim.url.replace(/\/v1$/, '');
      const r = await runMain(['run', config, '--out', join(dir, 'out'), '--quiet'], cleanEnv({ OPENAI_BASE_URL: base, OPENAI_API_KEY: 'sk-test' }));
      expect(r.code, r.stderr).toBe(5);
      expect(r.stderr).toContain(`POST ${base}/chat/completions`);
      expect(r.stderr).toContain("model name 'gpt-4o-mini'");
      expect(r.stderr).toContain(`${base}/v1`);
      // The simulator's own 404 text, passed on as "Server said".
      expect(r.stderr).toContain('did you mean POST /v1/chat/completions');
      expect(r.stderr).not.toMatch(STACK_LINE);
    } finally {
      await sim.close();
    }
  }, 20_000);
});

describe('choices.csv formula escaping', () => {
  it('writes numeric row ids as they are and escapes only formula-like text', async () => {
    const { dir, config } = await project('provider: simulator', ['-2', '=cmd', '+1', '-1.5e3', '@home', '-x']);
    const out = join(dir, 'out');
    const r = await runMain(['run', config, '--out', out, '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    const ids = new Set(parseCsv(readFileSync(join(out, 'choices.csv'), 'utf8')).map((c) => c['row_id']));
    expect(ids).toEqual(new Set(['-2', "'=cmd", '+1', '-1.5e3', "'@home", "'-x"]));
  }, 20_000);
});

describe('a run answered from the response cache', () => {
  it('counts cached answers on their own: stats.csv, summary.json, summary.md and the console; no negative retries', async () => {
    const { dir, config } = await project('provider: simulator');
    // The default cache folder comes from the environment main() is given (EVALRUN_CACHE_DIR).
    const env = cleanEnv({ EVALRUN_CACHE_DIR: join(dir, 'cache') });
    const first = await runMain(['run', config, '--out', join(dir, 'one'), '--quiet', '--cache'], env);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).not.toContain('response cache');
    const second = await runMain(['run', config, '--out', join(dir, 'two'), '--quiet', '--cache'], env);
    expect(second.code, second.stderr).toBe(0);
    const out = join(dir, 'two');
    const stats = parseCsv(readFileSync(join(out, 'stats.csv'), 'utf8'));
    expect(stats).toHaveLength(2);
    for (const s of stats) {
      expect(s['cached']).toBe(String(ROWS));
      expect(s['retries']).toBe('0');
      // Every count and rate is non-negative; the t-interval's low end of the mean latency may not be (latencies that
      // vary widely on a loaded machine), so it is left out.
      for (const [k, v] of Object.entries(s)) if (k !== 'latency_mean_ms_low' && v !== '' && !Number.isNaN(Number(v))) expect(Number(v), k).toBeGreaterThanOrEqual(0);
    }
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as { totals: { retries: number; cached: number } };
    expect(summary.totals).toMatchObject({ retries: 0, cached: ROWS * 2 });
    expect(readFileSync(join(out, 'summary.md'), 'utf8')).toContain(`${ROWS * 2} answered from the cache`);
    expect(second.stdout).toContain(`${ROWS * 2} of ${ROWS * 2} requests were answered from the response cache`);
    const firstSummary = JSON.parse(readFileSync(join(dir, 'one', 'summary.json'), 'utf8')) as { totals: { cached: number } };
    expect(firstSummary.totals.cached).toBe(0);
  }, 30_000);
});
