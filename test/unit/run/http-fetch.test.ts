import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { answerTiming, createHttpFetch, type ExchangeHooks } from '../../../src/run/http-fetch.js';

let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const status = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('status') ?? 200);
    setTimeout(() => {
      res.writeHead(status, { 'content-type': 'application/json', 'x-request-id': 'req_1' });
      res.end(JSON.stringify({ status }));
    }, 30);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('createHttpFetch', () => {
  it('frees the slot of a 2xx answer once it has arrived, and times the exchange', async () => {
    const http = createHttpFetch(2);
    let answered = 0;
    const init: RequestInit & ExchangeHooks = { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' }, onAnswered: () => answered++ };
    const res = await http.fetch(`${base}/v1/chat/completions`, init);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 200 });
    expect(res.headers.get('x-request-id')).toBe('req_1');
    expect(answered).toBe(1);
    expect(answerTiming(res)).toBeGreaterThanOrEqual(29);
    await http.close();
  });

  it('keeps the slot of an error answer for the caller to release after classifying it', async () => {
    const http = createHttpFetch(2);
    let answered = 0;
    const init: RequestInit & ExchangeHooks = { method: 'POST', body: '{}', onAnswered: () => answered++ };
    const res = await http.fetch(`${base}/v1/chat/completions?status=401`, init);
    expect(res.status).toBe(401);
    expect(res.ok).toBe(false);
    expect(answered).toBe(0);
    expect(answerTiming(res)).toBeGreaterThanOrEqual(29);
    await http.close();
  });
});
