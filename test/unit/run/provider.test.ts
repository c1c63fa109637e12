import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../../src/config/resolve.js';
import { parseConfigText } from '../../../src/config/load.js';
import { openEndpoint } from '../../../src/app/endpoint.js';
import { ApiFatalError } from '../../../src/errors.js';
import { openProvider, type Endpoint } from '../../../src/run/provider.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const body = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'hi' }] };

function config(provider: unknown) {
  const text = JSON.stringify({ name: 't', dataset: 'x.jsonl', messages: [{ role: 'user', content: 'hi' }], grid: { model: ['gpt-4o-mini'] }, provider, seed: 7 });
  return resolveConfig(parseConfigText(text, join(ROOT, 'evalrun.yaml')), {});
}

let server: Server;
let base: string;
const held: ServerResponse[] = [];
let onHeld: (() => void) | undefined;

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url?.includes('/hang/')) {
        held.push(res);
        onHeld?.();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'x-request-id': 'req_9' });
      res.end(JSON.stringify({ id: 'c1', object: 'chat.completion', created: 0, model: 'm', choices: [], echo: req.headers.authorization }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => {
  server.closeAllConnections();
  return new Promise<void>((r) => server.close(() => r()));
});

describe('the run does not special-case the simulator', () => {
  it('imports nothing from src/simulator anywhere under src/run', () => {
    const dir = join(ROOT, 'src/run');
    const files = (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts'));
    const importers = files.filter((f) => /simulator/.test(readFileSync(join(dir, f), 'utf8').match(/(?:from|import\()\s*['"][^'"]+['"]/g)?.join('\n') ?? ''));
    expect(importers).toEqual([]);
  });

  it('starts the simulator for `provider: simulator` and gives the run only its base URL', async () => {
    const { endpoint, close } = await openEndpoint(config('simulator'));
    expect(endpoint).toMatchObject({ kind: 'simulator', cacheKey: 'evalrun-simulator:7' });
    expect(endpoint.baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    const provider = await openProvider(endpoint, { concurrency: 2, timeoutMs: 10_000 });
    expect(provider.kind).toBe('simulator');
    expect(provider.shownBaseUrl).toBe(endpoint.baseUrl);
    // Its port changes every run; cached answers are keyed by what decides them.
    expect(provider.cacheKeyUrl).toBe('evalrun-simulator:7');
    const completion = await provider.client.chat.completions.create({ ...body, n: 2 });
    expect(completion.choices).toHaveLength(2);
    await provider.close();
    await close();
    // Closing the endpoint stops the simulator: nothing listens there any more.
    const after = await openProvider(endpoint, { concurrency: 1, timeoutMs: 10_000 });
    await expect(after.client.chat.completions.create(body)).rejects.toBeInstanceOf(OpenAI.APIConnectionError);
    await after.close();
  });

  it('resolves an OpenAI-compatible server from the config and the environment, without starting anything', async () => {
    const { endpoint, close } = await openEndpoint(config({ base_url: `${base}/v1`, headers: { 'x-team': 'secret-team-header' } }), { env: { OPENAI_API_KEY: 'sk-live-123456' } });
    expect(endpoint).toMatchObject({ kind: 'openai', baseUrl: `${base}/v1`, apiKey: 'sk-live-123456', headers: { 'x-team': 'secret-team-header' } });
    expect(endpoint.secrets).toEqual(expect.arrayContaining(['sk-live-123456', 'secret-team-header']));
    await close();
  });

  it('refuses to run against OpenAI without a key, and lets a local server go without one', async () => {
    await expect(openEndpoint(config('openai'), { env: {} })).rejects.toBeInstanceOf(ApiFatalError);
    const local = await openEndpoint(config({ base_url: `${base}/v1` }), { env: {} });
    expect(local.endpoint.apiKey).toBe('sk-no-key-required');
  });
});

describe('openProvider', () => {
  const endpoint = (extra: Partial<Endpoint> = {}): Endpoint => ({ kind: 'openai', baseUrl: `${base}/v1`, apiKey: 'sk-secret-abcdef', secrets: ['sk-secret-abcdef'], ...extra });

  it('sends through the SDK to the base URL, hides the secrets it was given, and keys the cache by the shown URL', async () => {
    const provider = await openProvider(endpoint({ baseUrl: `http://user:pw@127.0.0.1:${new URL(base).port}/v1` }), { concurrency: 2, timeoutMs: 10_000 });
    expect(provider.shownBaseUrl).not.toContain('pw');
    expect(provider.cacheKeyUrl).toBe(provider.shownBaseUrl);
    const { data, request_id } = await provider.client.chat.completions.create(body).withResponse();
    expect(request_id).toBe('req_9');
    const echoed = (data as unknown as { echo: string }).echo;
    expect(echoed).toBe('Bearer sk-secret-abcdef');
    expect(provider.redact(`server said ${echoed}`)).toBe('server said Bearer [REDACTED]');
    await provider.close();
  });

  it('ends the requests in flight on abortInFlight (the hard stop): the SDK reports them as connection errors', async () => {
    const provider = await openProvider(endpoint({ baseUrl: `${base}/hang/v1` }), { concurrency: 4, timeoutMs: 60_000 });
    const before = held.length;
    const arrived = new Promise<void>((r) => (onHeld = () => held.length >= before + 3 && r()));
    const calls = Array.from({ length: 3 }, () => provider.client.chat.completions.create(body));
    await arrived;
    provider.abortInFlight();
    const settled = await Promise.allSettled(calls);
    for (const s of settled) {
      expect(s.status).toBe('rejected');
      expect((s as PromiseRejectedResult).reason).toBeInstanceOf(OpenAI.APIConnectionError);
    }
    await provider.close();
  });
});
