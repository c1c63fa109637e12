import { describe, expect, it } from 'vitest';
import { startSimulator, type SimulatorOptions, type SimulatorStats } from '../../../src/simulator/index.js';
import { formatDuration, SlidingWindow, WINDOW_MS } from '../../../src/simulator/rate-limit.js';
import { expectSpecValid, validateError } from './spec.js';

const body = (i: number, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `Request ${i}` }], ...extra });

async function withSim(options: SimulatorOptions, fn: (url: string, stats: SimulatorStats) => Promise<void>): Promise<void> {
  const sim = await startSimulator(options);
  try {
    await fn(sim.url, sim.stats);
  } finally {
    await sim.close();
  }
}

const post = (url: string, b: string) => fetch(`${url}/chat/completions`, { method: 'POST', body: b });

describe('sliding window', () => {
  it('counts amounts inside the last 60 s and says when room frees up', () => {
    const w = new SlidingWindow();
    w.add(0, 1);
    w.add(10_000, 2);
    w.add(20_000, 3);
    expect(w.used(30_000)).toBe(6);
    expect(w.msUntilUsedAtMost(30_000, 3)).toBe(40_000); // after the first two leave at 60 s and 70 s
    expect(w.used(WINDOW_MS + 5_000)).toBe(5);
    expect(w.used(WINDOW_MS + 20_000)).toBe(0);
    expect(w.msUntilUsedAtMost(WINDOW_MS + 20_000, 0)).toBe(0);
  });

  it('formats durations like the API', () => {
    expect(formatDuration(20)).toBe('20ms');
    expect(formatDuration(1000)).toBe('1s');
    expect(formatDuration(8640)).toBe('8.64s');
    expect(formatDuration(360_000)).toBe('6m0s');
    expect(formatDuration(61_500)).toBe('1m1.5s');
  });
});

describe('rpm / tpm limits over HTTP', () => {
  it('answers 429 with x-ratelimit headers once rpm is used up, and tracks perMinuteMax', async () => {
    await withSim({ rpm: 5 }, async (url, stats) => {
      for (let i = 0; i < 5; i++) {
        const res = await post(url, body(i));
        expect(res.status).toBe(200);
        expect(res.headers.get('x-ratelimit-limit-requests')).toBe('5');
        expect(res.headers.get('x-ratelimit-remaining-requests')).toBe(String(4 - i));
        expect(res.headers.get('x-ratelimit-reset-requests')).toMatch(/^(\d+ms|[\d.]+s|\d+m[\d.]+s)$/);
        await res.text();
      }
      const res = await post(url, body(5));
      expect(res.status).toBe(429);
      const json = (await res.json()) as { error: { type: string; code: string; message: string } };
      expectSpecValid(validateError, json);
      expect(json.error).toMatchObject({ type: 'requests', code: 'rate_limit_exceeded' });
      expect(json.error.message).toMatch(/^Rate limit reached for gpt-4o-mini .* on requests per min \(RPM\): Limit 5, Used 5, Requested 1\./);
      expect(res.headers.get('x-ratelimit-remaining-requests')).toBe('0');
      const wait = Number(res.headers.get('retry-after-ms'));
      expect(wait).toBeGreaterThan(55_000);
      expect(wait).toBeLessThanOrEqual(60_000);
      await (await post(url, body(6))).text();
      expect(stats.perMinuteMax).toBe(7); // arrivals, refused ones included
      expect(stats.faults['rpm_limited']).toBe(2);
      expect(stats.byStatus).toMatchObject({ '200': 5, '429': 2 });
      const models = await fetch(`${url}/models`);
      expect(models.headers.get('x-ratelimit-remaining-requests')).toBe('0'); // reported, not charged
    });
  });

  it('charges prompt + max_tokens * n against tpm', async () => {
    await withSim({ tpm: 100 }, async (url, stats) => {
      // prompt: ceil(9/4) + 4 = 7 tokens
      const big = await post(url, body(1, { max_tokens: 50, n: 2 }));
      expect(big.status).toBe(429);
      const bigJson = (await big.json()) as { error: { type: string; message: string } };
      expect(bigJson.error.type).toBe('tokens');
      expect(bigJson.error.message).toMatch(/^Request too large for gpt-4o-mini .*Limit 100, Requested 107\./);
      expect(big.headers.get('retry-after-ms')).toBeNull(); // waiting will not help
      const first = await post(url, body(2, { max_tokens: 60 }));
      expect(first.status).toBe(200);
      expect(first.headers.get('x-ratelimit-remaining-tokens')).toBe('33');
      await first.text();
      const second = await post(url, body(3, { max_tokens: 60 }));
      expect(second.status).toBe(429);
      expect(((await second.json()) as { error: { type: string } }).error.type).toBe('tokens');
      expect(Number(second.headers.get('retry-after-ms'))).toBeGreaterThan(55_000);
      expect(stats.faults['tpm_limited']).toBe(2);
    });
  });

  it('records concurrency and the busiest minute', async () => {
    await withSim({ latency: 30 }, async (url, stats) => {
      const statuses = await Promise.all(Array.from({ length: 20 }, async (_, i) => (await post(url, body(i))).status));
      expect(statuses.every((s) => s === 200)).toBe(true);
      expect(stats.maxInFlight).toBeGreaterThan(1);
      expect(stats.perMinuteMax).toBe(20);
      expect(stats.inFlight).toBe(0);
    });
  });
});
