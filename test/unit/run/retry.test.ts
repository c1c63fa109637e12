import { describe, expect, it } from 'vitest';
import { retryDelayMs, serverAskedDelayMs, shouldRetry } from '../../../src/run/retry.js';

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
