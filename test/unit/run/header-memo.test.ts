import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoizeRequestHeaders } from '../../../src/run/header-memo.js';
import { createHttpFetch } from '../../../src/run/http-fetch.js';

let server: Server;
let baseURL: string;
const seen: IncomingHttpHeaders[] = [];
const http = createHttpFetch(4);

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(req.headers);
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: 'c1', object: 'chat.completion', created: 0, model: 'm', choices: [] }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});

afterAll(async () => {
  await http.close();
  await new Promise<void>((r) => server.close(() => r()));
});

const body = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'hi' }] };

/** The headers the server received for one request, without the connection's own. */
async function send(client: OpenAI, options: OpenAI.RequestOptions = {}): Promise<IncomingHttpHeaders> {
  await client.chat.completions.create(body, { maxRetries: 0, ...options });
  const { host: _h, connection: _c, ...headers } = seen.at(-1)!;
  return headers;
}

function client(memo: boolean, extra: Partial<ConstructorParameters<typeof OpenAI>[0]> = {}): OpenAI {
  const c = new OpenAI({ apiKey: 'sk-test', baseURL, fetch: http.fetch, organization: 'org-1', ...extra });
  if (memo) expect(memoizeRequestHeaders(c)).toBe(true);
  return c;
}

describe('memoizeRequestHeaders', () => {
  it('is in place on the installed SDK (its private buildHeaders exists): an SDK upgrade that moves it fails here', () => {
    expect(memoizeRequestHeaders(new OpenAI({ apiKey: 'sk-test', baseURL }))).toBe(true);
  });

  it('sends exactly the headers the SDK sends without it, request after request', async () => {
    const plain = await send(client(false, { defaultHeaders: { 'X-Team': 'evals' } }), { timeout: 30_000 });
    const memoized = client(true, { defaultHeaders: { 'X-Team': 'evals' } });
    const first = await send(memoized, { timeout: 30_000 });
    const second = await send(memoized, { timeout: 30_000 });
    expect(first).toEqual(plain);
    expect(second).toEqual(plain);
    expect(plain['authorization']).toBe('Bearer sk-test');
    expect(plain['openai-organization']).toBe('org-1');
    expect(plain['x-team']).toBe('evals');
    expect(plain['x-stainless-timeout']).toBe('30');
  });

  it('keys on what varies: a different timeout, and per-request headers go through the SDK unchanged', async () => {
    const memoized = client(true);
    expect((await send(memoized, { timeout: 30_000 }))['x-stainless-timeout']).toBe('30');
    expect((await send(memoized, { timeout: 90_000 }))['x-stainless-timeout']).toBe('90');
    expect((await send(memoized, { headers: { 'X-Once': '1' } }))['x-once']).toBe('1');
    expect((await send(memoized))['x-once']).toBeUndefined();
  });

  it('a copy each time: changing one request\'s headers does not leak into the next', async () => {
    const memoized = client(true);
    const internals = memoized as unknown as { buildHeaders: (a: unknown) => Promise<Record<string, string>> };
    const args = { options: { timeout: 1000 }, method: 'post', bodyHeaders: { 'content-type': 'application/json' }, retryCount: 0 };
    const a = await internals.buildHeaders(args);
    a['authorization'] = 'Bearer changed';
    const b = await internals.buildHeaders(args);
    expect(b['authorization']).toBe('Bearer sk-test');
  });
});
