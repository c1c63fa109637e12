import { describe, expect, it } from 'vitest';
import { Pacer, estimateTokens, parseDuration } from '../../../src/run/pacer.js';
import type { Task } from '../../../src/contracts/plan.js';

function task(model = 'm', content = 'x'.repeat(400), maxTokens = 100, n = 1): Task {
  return {
    seq: 0,
    row: { id: '1', index: 0, vars: {}, messages: undefined, source: { file: 'f', line: 1 } },
    cell: { id: 'c', index: 0, params: {}, n, jsonMode: false },
    body: { model, messages: [{ role: 'user', content }], max_tokens: maxTokens, n },
  };
}

/** A clock that advances only when the pacer sleeps, recording when each request would be sent. */
function fakeTime() {
  let now = 0;
  return {
    now: () => now,
    sleep: async (ms: number) => {
      now += ms;
      return true;
    },
    set: (t: number) => (now = t),
  };
}

describe('Pacer', () => {
  it('never lets more than rpm requests into any 60 s window, and keeps close to the limit', async () => {
    const t = fakeTime();
    const pacer = new Pacer({ rpm: 120, tpm: undefined, perModel: false, now: t.now, sleep: t.sleep });
    const sent: number[] = [];
    const signal = new AbortController().signal;
    for (let i = 0; i < 600; i++) {
      await pacer.acquire(task(), signal);
      sent.push(t.now());
    }
    let worst = 0;
    for (let i = 0, j = 0; i < sent.length; i++) {
      while (sent[i]! - sent[j]! >= 60_000) j++;
      worst = Math.max(worst, i - j + 1);
    }
    expect(worst).toBeLessThanOrEqual(120);
    const rate = (sent.length - 1) / ((sent.at(-1)! - sent[0]!) / 60_000);
    expect(rate).toBeGreaterThan(0.95 * 120);
  });

  it('does not bunch requests up after a stall: grants stay a gap apart in real time', async () => {
    let now = 0;
    let stalls = 0;
    // Every third wait oversleeps by 300 ms, as a busy event loop would.
    const sleep = async (ms: number) => {
      now += ms + (++stalls % 3 === 0 ? 300 : 0);
      return true;
    };
    const pacer = new Pacer({ rpm: 600, tpm: undefined, perModel: false, now: () => now, sleep });
    const signal = new AbortController().signal;
    const granted: number[] = [];
    await Promise.all(Array.from({ length: 50 }, () => pacer.acquire(task(), signal).then(() => granted.push(now))));
    const gap = 60_000 / (600 * 0.98);
    for (let i = 1; i < granted.length; i++) expect(granted[i]! - granted[i - 1]!).toBeGreaterThanOrEqual(gap - 1e-9);
  });

  it('keeps the rate when every timer fires a little late, still never exceeding the limit in a window', async () => {
    let now = 0;
    // Timers fire 1 ms late, as they do under load: without correction 12,000/min would lose ~17%.
    const sleep = async (ms: number) => {
      now += ms + 1;
      return true;
    };
    const pacer = new Pacer({ rpm: 12_000, tpm: undefined, perModel: false, now: () => now, sleep });
    const signal = new AbortController().signal;
    const sent: number[] = [];
    for (let i = 0; i < 24_000; i++) {
      await pacer.acquire(task(), signal);
      sent.push(now);
    }
    const perMinute = (sent.length - 1) / ((sent.at(-1)! - sent[0]!) / 60_000);
    expect(perMinute).toBeGreaterThan(0.95 * 12_000);
    let worst = 0;
    for (let i = 0, j = 0; i < sent.length; i++) {
      while (sent[i]! - sent[j]! >= 60_000) j++;
      worst = Math.max(worst, i - j + 1);
    }
    expect(worst).toBeLessThanOrEqual(12_000);
  });

  it('spaces requests by their token cost under a tpm limit', async () => {
    const t = fakeTime();
    const pacer = new Pacer({ rpm: undefined, tpm: 60_000, perModel: false, now: t.now, sleep: t.sleep });
    const signal = new AbortController().signal;
    const cost = estimateTokens(task());
    await pacer.acquire(task(), signal);
    const first = t.now();
    await pacer.acquire(task(), signal);
    expect(t.now() - first).toBeCloseTo((cost * 60_000) / (60_000 * 0.98), 5);
  });

  it('keeps one budget per model when per_model is set', async () => {
    const t = fakeTime();
    const pacer = new Pacer({ rpm: 60, tpm: undefined, perModel: true, now: t.now, sleep: t.sleep });
    const signal = new AbortController().signal;
    await pacer.acquire(task('a'), signal);
    await pacer.acquire(task('b'), signal);
    expect(t.now()).toBe(0);
    await pacer.acquire(task('a'), signal);
    expect(t.now()).toBeGreaterThan(1000);
  });

  it('pauses the whole pool after a 429 for the time the server asked', async () => {
    const t = fakeTime();
    const pacer = new Pacer({ rpm: undefined, tpm: undefined, perModel: false, now: t.now, sleep: t.sleep });
    pacer.observe(429, new Headers(), 1500);
    await pacer.acquire(task(), new AbortController().signal);
    expect(t.now()).toBe(1500);
    expect(pacer.pauses).toBe(1);
  });

  it('slows down before the limit when the budget headers say it is spent', async () => {
    const t = fakeTime();
    const pacer = new Pacer({ rpm: undefined, tpm: undefined, perModel: false, now: t.now, sleep: t.sleep });
    pacer.observe(200, new Headers({ 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '2s' }), undefined);
    await pacer.acquire(task(), new AbortController().signal);
    expect(t.now()).toBe(2000);
    pacer.observe(200, new Headers({ 'x-ratelimit-remaining-requests': '57', 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '6m0s' }), undefined);
    await pacer.acquire(task(), new AbortController().signal);
    expect(t.now()).toBe(2000 + 360_000);
  });

  it('answers false at once when the run is stopping', async () => {
    const pacer = new Pacer({ rpm: 1, tpm: undefined, perModel: false });
    const stop = new AbortController();
    stop.abort();
    expect(await pacer.acquire(task(), stop.signal)).toBe(false);
  });
});

describe('parseDuration', () => {
  it("reads OpenAI's reset durations", () => {
    expect(parseDuration('20ms')).toBe(20);
    expect(parseDuration('1s')).toBe(1000);
    expect(parseDuration('6m0s')).toBe(360_000);
    expect(parseDuration('1h2m3.5s')).toBe(3_723_500);
    expect(parseDuration(null)).toBeUndefined();
  });
});
