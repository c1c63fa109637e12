import OpenAI from 'openai';
import { describe, expect, it, vi } from 'vitest';
import { simulateCompletion, startSimulator, type SimulatorOptions, type SimulatorStats } from '../../../src/simulator/index.js';
import { latencyMs } from '../../../src/simulator/faults.js';
import { expectSpecValid, validateError } from './spec.js';

type Outcome = number | 'reset' | 'stall' | 'malformed';
const body = (i: number | string) => ({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `Request ${i}` }] });

/** Waits on conditions, not on the clock: a busy machine only makes these waits longer, never wrong. */
const until = (condition: () => void) => vi.waitFor(condition, { timeout: 20_000, interval: 5 });

/** Without a signal the request waits for its answer however late it comes; an abort is read as a stall. */
async function send(url: string, b: unknown, signal?: AbortSignal): Promise<Outcome> {
  try {
    const res = await fetch(`${url}/chat/completions`, {
      method: 'POST',
      body: JSON.stringify(b),
      headers: { 'content-type': 'application/json' },
      signal: signal ?? null,
    });
    const text = await res.text();
    if (res.status !== 200) return res.status;
    try {
      JSON.parse(text);
      return 200;
    } catch {
      return 'malformed';
    }
  } catch (e) {
    const name = (e as Error).name;
    return name === 'AbortError' || name === 'TimeoutError' ? 'stall' : 'reset';
  }
}

/**
 * Sends `bodies` at once. A stalled request never settles, so once every request has either settled or been counted
 * by the server as a stall, the unsettled ones are exactly the stalls: they are aborted and reported as such. No
 * timer decides it, so a slow answer on a loaded machine is never mistaken for a stall.
 */
async function sendBatch(url: string, bodies: unknown[], stats: SimulatorStats): Promise<Outcome[]> {
  const stallsBefore = stats.faults.stall ?? 0;
  const controllers = bodies.map(() => new AbortController());
  const outcomes: (Outcome | undefined)[] = bodies.map(() => undefined);
  let settled = 0;
  const done = bodies.map((b, i) =>
    send(url, b, controllers[i]!.signal).then((o) => {
      outcomes[i] = o;
      settled++;
    }),
  );
  await until(() => expect(settled + (stats.faults.stall ?? 0) - stallsBefore).toBe(bodies.length));
  outcomes.forEach((o, i) => {
    if (o === undefined) controllers[i]!.abort();
  });
  await Promise.all(done);
  return outcomes as Outcome[];
}

function predicted(b: unknown, options: SimulatorOptions, attempt: number): Outcome {
  const r = simulateCompletion(b, { ...options, attempt });
  return r.fault === 'reset' || r.fault === 'stall' || r.fault === 'malformed' ? r.fault : r.status;
}

async function withSim<T>(options: SimulatorOptions, fn: (url: string, stats: SimulatorStats) => Promise<T>): Promise<T> {
  const sim = await startSimulator(options);
  try {
    return await fn(sim.url, sim.stats);
  } finally {
    await sim.close();
  }
}

const all20 = { rate_limit: 0.2, server_error: 0.2, unavailable: 0.2, reset: 0.2, stall: 0.2, malformed: 0.2 };

describe('fault injection', () => {
  it('hits each configured rate (pure, 4000 requests)', () => {
    const N = 4000;
    const tally = (options: SimulatorOptions) => {
      const t: Record<string, number> = {};
      for (let i = 0; i < N; i++) {
        const o = String(predicted(body(i), options, 1));
        t[o] = (t[o] ?? 0) + 1;
      }
      return t;
    };
    const alone = tally({ faults: { server_error: 0.2 } });
    expect((alone['500'] ?? 0) / N).toBeGreaterThan(0.17);
    expect((alone['500'] ?? 0) / N).toBeLessThan(0.23);
    // Independent kinds, first wins: 0.2, 0.16, 0.128, 0.102, 0.082, 0.066 and 0.262 success.
    const mixed = tally({ faults: all20 });
    const expected: Record<string, number> = { '429': 0.2, '500': 0.16, '503': 0.128, reset: 0.1024, stall: 0.0819, malformed: 0.0655, '200': 0.262 };
    for (const [k, p] of Object.entries(expected)) {
      expect((mixed[k] ?? 0) / N, k).toBeGreaterThan(p - 0.035);
      expect((mixed[k] ?? 0) / N, k).toBeLessThan(p + 0.035);
    }
  });

  it('behaves over HTTP exactly as simulateCompletion predicts, and counts faults', async () => {
    const options: SimulatorOptions = { faults: all20, seed: 11 };
    await withSim(options, async (url, stats) => {
      const N = 240;
      const outcomes: Outcome[] = [];
      for (let start = 0; start < N; start += 120) {
        outcomes.push(...(await sendBatch(url, Array.from({ length: 120 }, (_, j) => body(start + j)), stats)));
      }
      const expected = Array.from({ length: N }, (_, i) => predicted(body(i), options, 1));
      expect(outcomes).toEqual(expected);
      const count = (o: Outcome) => outcomes.filter((x) => x === o).length;
      for (const o of [429, 500, 503, 'reset', 'stall', 'malformed', 200] as const) expect(count(o), String(o)).toBeGreaterThan(5);
      expect(stats.faults).toMatchObject({
        rate_limit: count(429), server_error: count(500), unavailable: count(503), reset: count('reset'), stall: count('stall'), malformed: count('malformed'),
      });
      expect(stats.completions).toBe(count(200));
      expect(stats.byStatus['200']).toBe(count(200) + count('malformed'));
      // The server sees the aborted stalls close a little after the client gives up on them.
      await until(() => expect(stats.inFlight).toBe(0));
    });
  });

  it('sends 429 with retry-after-ms (5–50) and spec-valid 429/500/503 bodies', async () => {
    for (const [kind, status, type] of [['rate_limit', 429, 'requests'], ['server_error', 500, 'server_error'], ['unavailable', 503, 'server_error']] as const) {
      await withSim({ faults: { [kind]: 1 } }, async (url) => {
        const res = await fetch(`${url}/chat/completions`, { method: 'POST', body: JSON.stringify(body(kind)) });
        expect(res.status).toBe(status);
        expect(res.headers.get('x-request-id')).toMatch(/^req_/);
        const json = (await res.json()) as { error: { type: string; code: string | null } };
        expectSpecValid(validateError, json);
        expect(json.error.type).toBe(type);
        if (status === 429) {
          expect(json.error.code).toBe('rate_limit_exceeded');
          const wait = Number(res.headers.get('retry-after-ms'));
          expect(wait).toBeGreaterThanOrEqual(5);
          expect(wait).toBeLessThanOrEqual(50);
        }
      });
    }
  });

  it('resets the socket: the SDK sees a connection error', async () => {
    await withSim({ faults: { reset: 1 } }, async (url) => {
      const client = new OpenAI({ baseURL: url, apiKey: 'x', maxRetries: 0 });
      const err = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.APIConnectionError);
      expect(err).not.toBeInstanceOf(OpenAI.APIConnectionTimeoutError);
    });
  });

  it('stalls: the SDK times out, and close() still returns promptly', async () => {
    const sim = await startSimulator({ faults: { stall: 1 } });
    const client = new OpenAI({ baseURL: sim.url, apiKey: 'x', maxRetries: 0, timeout: 200 });
    const err = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIConnectionTimeoutError);
    await until(() => expect(sim.stats.inFlight).toBe(0));
    // No timeout on this one: only close() can end it, so the test would hang (and time out) if close() waited.
    const pending = send(sim.url, body('never'));
    await until(() => expect(sim.stats.inFlight).toBe(1));
    await sim.close();
    expect(await pending).toBe('reset');
  });

  it('sends a truncated 200 body for malformed', async () => {
    await withSim({ faults: { malformed: 1 } }, async (url) => {
      expect(await send(url, body('m'))).toBe('malformed');
    });
  });

  it('lets a retried body succeed, along the same sequence every time', async () => {
    const options: SimulatorOptions = { faults: { rate_limit: 0.4, server_error: 0.4 }, seed: 5 };
    const b = body('retry me');
    const expected: Outcome[] = [];
    for (let k = 1; expected.at(-1) !== 200 && k < 100; k++) expected.push(predicted(b, options, k));
    expect(expected.at(-1)).toBe(200);
    const walk = async (url: string) => {
      const seen: Outcome[] = [];
      while (seen.at(-1) !== 200 && seen.length < 100) seen.push(await send(url, b));
      return seen;
    };
    await withSim(options, async (url) => {
      expect(await walk(url)).toEqual(expected);
      expect(await walk(url)).toEqual(expected); // success forgets the body, so it starts over
    });
    await withSim(options, async (url) => expect(await walk(url)).toEqual(expected));
    // A sequence with at least one failure proves attempts are counted (this seed gives one).
    expect(expected.length).toBeGreaterThan(1);
  });

  it('delays answers by the configured latency', async () => {
    expect(latencyMs(40, 123)).toBe(40);
    for (let h = 0; h < 50; h++) {
      const r = latencyMs({ min_ms: 10, max_ms: 30 }, h * 7919);
      expect(r).toBeGreaterThanOrEqual(10);
      expect(r).toBeLessThanOrEqual(30);
      const m = latencyMs({ mean_ms: 100, jitter_ms: 20 }, h * 7919);
      expect(m).toBeGreaterThanOrEqual(80);
      expect(m).toBeLessThanOrEqual(120);
    }
    expect(latencyMs({ min_ms: 10, max_ms: 30 }, 42)).toBe(latencyMs({ min_ms: 10, max_ms: 30 }, 42));
    await withSim({ latency: 80 }, async (url) => {
      const t0 = performance.now();
      const res = await fetch(`${url}/chat/completions`, { method: 'POST', body: JSON.stringify(body('slow')) });
      expect(res.status).toBe(200);
      expect(performance.now() - t0).toBeGreaterThanOrEqual(75);
      expect(Number(res.headers.get('openai-processing-ms'))).toBeGreaterThanOrEqual(79);
    });
  });
});
