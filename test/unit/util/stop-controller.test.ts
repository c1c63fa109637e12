import { afterEach, describe, expect, it, vi } from 'vitest';
import { StopController } from '../../../src/util/stop-controller.js';

afterEach(() => vi.useRealTimers());

describe('StopController', () => {
  it('a first abort stops taking tasks, and stops hard once the grace has run out', () => {
    vi.useFakeTimers();
    const first = new AbortController();
    const stops = new StopController({ signal: first.signal, graceMs: 1000 });
    first.abort();
    expect([stops.stop.aborted, stops.abort.aborted]).toEqual([true, false]);
    vi.advanceTimersByTime(999);
    expect(stops.abort.aborted).toBe(false);
    vi.advanceTimersByTime(1);
    expect(stops.abort.aborted).toBe(true);
  });

  it('a second abort stops hard at once, after onHard', () => {
    const first = new AbortController();
    const second = new AbortController();
    const seen: boolean[] = [];
    const stops = new StopController({ signal: first.signal, abortSignal: second.signal, graceMs: 60_000, onHard: () => seen.push(stops.abort.aborted) });
    first.abort();
    second.abort();
    expect(seen).toEqual([false]);
    expect([stops.stop.aborted, stops.abort.aborted]).toEqual([true, true]);
    stops.dispose();
  });

  it('after dispose, the signals no longer stop the run, and the grace timer is gone', () => {
    vi.useFakeTimers();
    const first = new AbortController();
    const second = new AbortController();
    const stops = new StopController({ signal: first.signal, abortSignal: second.signal, graceMs: 10 });
    stops.dispose();
    first.abort();
    second.abort();
    vi.advanceTimersByTime(100);
    expect([stops.stop.aborted, stops.abort.aborted]).toEqual([false, false]);
  });

  it('hard() on its own (a journal that cannot be written) ends everything', () => {
    const stops = new StopController({ graceMs: 10 });
    stops.hard();
    expect([stops.stop.aborted, stops.abort.aborted]).toEqual([true, true]);
  });
});
