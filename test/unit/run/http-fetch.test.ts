import { createServer, type IncomingHttpHeaders, type ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { Agent, Response as UndiciResponse, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpFetch, type ExchangeHooks } from '../../../src/run/http-fetch.js';

let server: Server;
let base: string;
/** Requests the server holds unanswered (`?hang=1`), and what it received. */
const hanging: ServerResponse[] = [];
const seen: IncomingHttpHeaders[] = [];
let arrived: (() => void) | undefined;

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(req.headers);
    req.resume();
    req.on('end', () => {
      const q = new URL(req.url ?? '/', 'http://x').searchParams;
      if (q.has('hang')) {
        hanging.push(res);
        arrived?.();
        return;
      }
      const status = Number(q.get('status') ?? 200);
      setTimeout(() => {
        if (status === 204) {
          res.writeHead(204, { 'x-request-id': 'req_204' }).end();
          return;
        }
        res.writeHead(status, { 'content-type': 'application/json', 'x-request-id': 'req_1', 'set-cookie': ['a=1', 'b=2'] });
        res.end(JSON.stringify({ status, id: 'c1', object: 'chat.completion', created: 0, model: 'm', choices: [] }));
      }, 30);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => {
  server.closeAllConnections();
  return new Promise<void>((r) => server.close(() => r()));
});

const waitForHanging = (n: number) => new Promise<void>((r) => (arrived = () => hanging.length >= n && r()));

describe('createHttpFetch', () => {
  it("frees the slot of a 2xx answer once it has arrived, with the exchange's time, as a real Response", async () => {
    const http = createHttpFetch(2);
    const answered: number[] = [];
    const init: RequestInit & ExchangeHooks = { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' }, onAnswered: (ms) => answered.push(ms) };
    const res = await http.fetch(`${base}/v1/chat/completions`, init);
    // undici's exported Response, not an imitation: the SDK may read any part of it.
    expect(res).toBeInstanceOf(UndiciResponse);
    expect(res.status).toBe(200);
    expect(res.ok).toBe(true);
    expect(res.headers.get('x-request-id')).toBe('req_1');
    expect(res.headers.get('set-cookie')).toBe('a=1, b=2');
    expect(await res.json()).toMatchObject({ status: 200 });
    expect(answered).toHaveLength(1);
    // The server answers 30 ms after the request's last byte: the timing covers that wait.
    expect(answered[0]).toBeGreaterThanOrEqual(29);
    await http.close();
  });

  it('reads a body as a standard Response does, whichever way it is read, and only once', async () => {
    const http = createHttpFetch(1);
    const get = () => http.fetch(`${base}/v1/x`, { method: 'POST', body: '{}' });
    const a = await get();
    expect(a.bodyUsed).toBe(false);
    const copy = a.clone();
    expect(copy).toBeInstanceOf(UndiciResponse);
    const text = await a.text();
    expect(a.bodyUsed).toBe(true);
    await expect(a.text()).rejects.toThrow(TypeError);
    await expect(a.json()).rejects.toThrow(TypeError);
    expect(() => a.clone()).toThrow(TypeError);
    // A read body is a used body to every reader, the stream included.
    expect(a.body?.locked).toBe(true);
    await expect(a.arrayBuffer()).rejects.toThrow(TypeError);
    expect(await copy.json()).toEqual(JSON.parse(text));
    // The other readers get the same bytes.
    const b = await get();
    expect(new TextDecoder().decode(await b.arrayBuffer())).toBe(text);
    expect(b.bodyUsed).toBe(true);
    const c = await get();
    const chunks: Uint8Array[] = [];
    for await (const chunk of c.body as unknown as AsyncIterable<Uint8Array>) chunks.push(chunk);
    expect(Buffer.concat(chunks).toString('utf8')).toBe(text);
    await expect(c.text()).rejects.toThrow(TypeError);
    expect(await (await get()).blob().then((bl) => bl.text())).toBe(text);
    await http.close();
  });

  it('keeps the slot of an error answer for the caller to release after classifying it', async () => {
    const http = createHttpFetch(2);
    let answered = 0;
    const init: RequestInit & ExchangeHooks = { method: 'POST', body: '{}', onAnswered: () => answered++ };
    const res = await http.fetch(`${base}/v1/chat/completions?status=401`, init);
    expect(res.status).toBe(401);
    expect(res.ok).toBe(false);
    expect(await res.text()).toContain('"status":401');
    expect(answered).toBe(0);
    await http.close();
  });

  it('answers a 204 with no body', async () => {
    const http = createHttpFetch(1);
    const res = await http.fetch(`${base}/v1/x?status=204`, { method: 'DELETE' });
    expect(res.status).toBe(204);
    expect(res.body).toBeNull();
    expect(res.headers.get('x-request-id')).toBe('req_204');
    await http.close();
  });

  it('ends every request in flight on destroy (the hard stop), as connection errors', async () => {
    const http = createHttpFetch(4);
    const before = hanging.length;
    const arrivedBoth = waitForHanging(before + 2);
    const a = http.fetch(`${base}/v1/chat/completions?hang=1`, { method: 'POST', body: '{}' });
    const b = http.fetch(`${base}/v1/chat/completions?hang=1`, { method: 'POST', body: '{}' });
    await arrivedBoth;
    http.destroy();
    const settled = await Promise.allSettled([a, b]);
    for (const s of settled) expect(s).toMatchObject({ status: 'rejected', reason: { name: 'TypeError', message: 'fetch failed' } });
    // close() after a destroy is a no-op, not a second failure.
    await http.close();
  });

  it("ends a request when its signal aborts (the SDK's timeout), as an AbortError", async () => {
    const http = createHttpFetch(1);
    const before = hanging.length;
    const arrivedOne = waitForHanging(before + 1);
    const controller = new AbortController();
    const p = http.fetch(`${base}/v1/chat/completions?hang=1`, { method: 'POST', body: '{}', signal: controller.signal });
    await arrivedOne;
    controller.abort();
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    http.destroy();
  });

  it('keeps nothing between fetches made by different factories', async () => {
    // Each provider has its own pool and URL cache: one of them closed must not affect the other.
    const one = createHttpFetch(1);
    const two = createHttpFetch(1);
    await one.fetch(`${base}/v1/a`, { method: 'POST', body: '{}' });
    one.destroy();
    const res = await two.fetch(`${base}/v1/a?status=201`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(201);
    await two.close();
  });
});

describe('the openai SDK over createHttpFetch', () => {
  const body = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'hi' }] };
  async function sentHeaders(fetch: typeof globalThis.fetch, fetchOptions?: Record<string, unknown>): Promise<IncomingHttpHeaders> {
    const client = new OpenAI({ apiKey: 'sk-test', baseURL: `${base}/v1`, organization: 'org-1', maxRetries: 0, fetch, ...(fetchOptions ? { fetchOptions } : {}) });
    const { data, request_id } = await client.chat.completions.create(body, { headers: { 'x-extra': 'yes' } }).withResponse();
    expect(data.id).toBe('c1');
    expect(request_id).toBe('req_1');
    // The retry count and timeout headers vary by nothing here, but the SDK's version string and the like are kept.
    const { host: _h, connection: _c, ...headers } = seen.at(-1)!;
    return headers;
  }

  it("sends the very headers the SDK sends through undici's own fetch, and reads the answer", async () => {
    const http = createHttpFetch(2);
    const ours = await sentHeaders(http.fetch);
    const agent = new Agent({ connections: 2 });
    const reference = await sentHeaders(undiciFetch as unknown as typeof fetch, { dispatcher: agent });
    // undici's fetch adds its own fetch-spec headers; every header the SDK set must arrive unchanged.
    for (const name of ['accept-encoding', 'sec-fetch-mode', 'accept-language']) delete reference[name];
    expect(ours).toEqual(reference);
    expect(ours).toMatchObject({ authorization: 'Bearer sk-test', 'openai-organization': 'org-1', 'x-extra': 'yes', 'content-type': 'application/json' });
    await http.close();
    await agent.close();
  });
});
