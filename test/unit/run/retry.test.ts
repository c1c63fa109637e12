import { describe, expect, it } from 'vitest';
import { retryDelayMs, serverAskedDelayMs, shouldRetry, withRetry } from '../../../src/run/retry.js';

const policy = { maxAttempts: 5, maxWaitMs: 60_000 };
const h = (init: Record<string, string>) => new Headers(init);

describe('shouldRetry', () => {
  it('retries 408, 409, 429 and every 5xx, and failures with no response', () => {
    for (const status of [408, 409, 429, 500, 502, 503, 504]) expect(shouldRetry({ status, headers: h({}) })).toBe(true);
    expect(shouldRetry({ status: undefined, headers: undefined })).toBe(true);
  });
  it('does not retry 400 or 422', () => {
    expect(shouldRetry({ status: 400, headers: h({}) })).toBe(false);
    expect(shouldRetry({ status: 422, headers: h({}) })).toBe(false);
  });
  it('obeys x-should-retry either way', () => {
    expect(shouldRetry({ status: 400, headers: h({ 'x-should-retry': 'true' }) })).toBe(true);
    expect(shouldRetry({ status: 503, headers: h({ 'x-should-retry': 'false' }) })).toBe(false);
  });
});

describe('retryDelayMs', () => {
  it('honours retry-after-ms before retry-after', () => {
    expect(retryDelayMs({ status: 429, headers: h({ 'retry-after-ms': '250', 'retry-after': '9' }) }, 1, policy)).toBe(250);
  });
  it('reads retry-after in seconds and as an HTTP date', () => {
    expect(serverAskedDelayMs(h({ 'retry-after': '3' }))).toBe(3000);
    const now = Date.parse('2026-11-26T10:00:00Z');
    expect(serverAskedDelayMs(h({ 'retry-after': 'Thu, 26 Nov 2026 10:00:05 GMT' }), () => now)).toBe(5000);
  });
  it('caps a long server-asked wait at max_wait_s', () => {
    expect(retryDelayMs({ status: 429, headers: h({ 'retry-after': '3600' }) }, 1, { maxAttempts: 3, maxWaitMs: 2000 })).toBe(2000);
  });
  it('backs off exponentially with up to 25% jitter, capped at 8 s', () => {
    const none = () => 0;
    const full = () => 1;
    expect(retryDelayMs({ status: 500, headers: h({}) }, 1, policy, none)).toBe(500);
    expect(retryDelayMs({ status: 500, headers: h({}) }, 3, policy, none)).toBe(2000);
    expect(retryDelayMs({ status: 500, headers: h({}) }, 3, policy, full)).toBe(1500);
    expect(retryDelayMs({ status: 500, headers: h({}) }, 10, policy, none)).toBe(8000);
  });
});

describe('withRetry (the one policy of chat completions and Batch API calls)', () => {
  const policy = { maxAttempts: 4, maxWaitMs: 60_000 };
  const failure = (e: unknown) => (e instanceof Failure ? { status: e.status, headers: e.headers } : undefined);
  class Failure extends Error {
    readonly status: number | undefined;
    readonly headers: Headers | undefined;
    constructor(status: number | undefined, headers?: Headers) {
      super(`status ${status}`);
      this.status = status;
      this.headers = headers;
    }
  }
  function fails(...errors: unknown[]) {
    let calls = 0;
    return { fn: async () => (calls < errors.length ? Promise.reject(errors[calls++]) : (calls++, 'ok')), calls: () => calls };
  }

  it('tries a transient failure again, waiting what the server asks (Retry-After) else backoff with jitter', async () => {
    const waits: number[] = [];
    const f = fails(new Failure(429, new Headers({ 'retry-after': '7' })), new Failure(503), new Failure(undefined));
    const r = await withRetry(f.fn, failure, { policy, sleep: async (ms) => void waits.push(ms), random: () => 1 });
    expect(r).toBe('ok');
    expect(f.calls()).toBe(4);
    expect(waits).toEqual([7000, 750, 1500]);
  });

  it('throws at once what the policy refuses: a 400, x-should-retry: false, a failure it does not know', async () => {
    for (const e of [new Failure(400), new Failure(500, new Headers({ 'x-should-retry': 'false' })), new Error('a bug')]) {
      const f = fails(e);
      await expect(withRetry(f.fn, failure, { policy, sleep: async () => undefined })).rejects.toBe(e);
      expect(f.calls()).toBe(1);
    }
  });

  it('gives up after max_attempts, and at once when the run is stopping', async () => {
    const f = fails(...Array.from({ length: 10 }, () => new Failure(500)));
    await expect(withRetry(f.fn, failure, { policy, sleep: async () => undefined })).rejects.toBeInstanceOf(Failure);
    expect(f.calls()).toBe(4);
    const stopped = new AbortController();
    stopped.abort();
    const g = fails(new Failure(500));
    await expect(withRetry(g.fn, failure, { policy, signal: stopped.signal, sleep: async () => undefined })).rejects.toBeInstanceOf(Failure);
    expect(g.calls()).toBe(1);
  });
});
