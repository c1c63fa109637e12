import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { formatBar, formatDuration, formatLogLine, progressReporter } from '../../../src/cli/progress.js';
import type { Io } from '../../../src/cli/io.js';
import type { RequestRecord } from '../../../src/record/types.js';

function fakeIo(isTTY: boolean, columns = 100): Io & { errText: () => string } {
  let err = '';
  return { out: () => {}, err: (t) => void (err += t), isTTY, env: {}, columns, errText: () => err };
}
const plan = { rows: 10, cells: [{ id: 'a', n: 1, requests: 10, choices: 10 }, { id: 'b', n: 1, requests: 10, choices: 10 }], requests: 20, choices: 20 };
const record = (error = false) => ({ choices: [], error: error ? { kind: 'http', status: 500, type: null, code: null, message: 'x' } : null }) as unknown as RequestRecord;

describe('progress formatting', () => {
  it('formats durations', () => {
    expect([formatDuration(7), formatDuration(205), formatDuration(3729), formatDuration(NaN)]).toEqual(['0:07', '3:25', '1:02:09', '–']);
  });

  it('draws a bar with done/total, rate, ETA, retries and errors, never wider than the terminal', () => {
    const line = formatBar({ done: 50, total: 200, elapsedMs: 10_000, retries: 3, errors: 1 }, 100);
    expect(line).toMatch(/^\[█+░+\]  25%  50\/200 requests  5\.0\/s  ETA 0:30  retries 3  errors 1$/);
    const filled = (line.match(/█/g) ?? []).length;
    const empty = (line.match(/░/g) ?? []).length;
    expect(Math.abs(filled / (filled + empty) - 0.25)).toBeLessThanOrEqual(0.5 / (filled + empty));
    expect(formatBar({ done: 1, total: 2, elapsedMs: 1, retries: 0, errors: 0 }, 40).length).toBeLessThanOrEqual(39);
  });

  it('writes a plain log line without control characters', () => {
    expect(formatLogLine({ done: 5, total: 20, elapsedMs: 5000, retries: 0, errors: 2 })).toBe('progress: 5/20 requests (25.0%)  1.0/s  ETA 0:15  retries 0  errors 2');
  });
});

describe('progressReporter', () => {
  beforeEach(() => void vi.useFakeTimers());
  afterEach(() => void vi.useRealTimers());

  it('on a TTY redraws one line in place and ends it with a newline', () => {
    const io = fakeIo(true);
    let now = 0;
    const p = progressReporter(io, { quiet: false, now: () => now });
    p.onStart!({ dir: '/tmp/run', plan, alreadyRecorded: 0, config: {} as never });
    for (let i = 0; i < 10; i++) p.onRecord!(record(i === 3));
    p.onAttempt!({ status: 429, retrying: true });
    now = 2000;
    vi.advanceTimersByTime(400);
    const text = io.errText();
    expect(text).toContain('20 requests, 20 choices');
    expect(text).toContain('\r\x1b[2K[');
    expect(text).toContain('10/20 requests  5.0/s  ETA 0:02  retries 1  errors 1');
    p.done();
    p.done(); // idempotent: the run command calls it on every path
    expect(io.errText().endsWith('errors 1\n')).toBe(true);
    expect(io.errText().split('\n').filter((l) => l.includes('10/20')).length).toBe(1);
  });

  it('counts a request with a missing choice as an error', () => {
    const io = fakeIo(false);
    const p = progressReporter(io, { quiet: false, now: () => 0 });
    p.onStart!({ dir: '/tmp/run', plan, alreadyRecorded: 0, config: {} as never });
    p.onRecord!({ choices: [{ index: 0 }, { index: 1, error: 'the server returned no choice with index 1 (it returned index 0)' }], error: null } as unknown as RequestRecord);
    p.onRecord!(record());
    p.done();
    expect(io.errText()).toMatch(/2\/20 requests .* errors 1$/m);
  });

  it('without a TTY prints a plain line every interval, no escape codes', () => {
    const io = fakeIo(false);
    let now = 0;
    const p = progressReporter(io, { quiet: false, intervalMs: 5000, now: () => now });
    p.onStart!({ dir: '/tmp/run', plan, alreadyRecorded: 5, config: {} as never });
    p.onRecord!(record());
    now = 5000;
    vi.advanceTimersByTime(5000);
    now = 10_000;
    vi.advanceTimersByTime(5000);
    p.done();
    const lines = io.errText().split('\n').filter((l) => l.startsWith('progress:'));
    expect(lines).toEqual([
      'progress: 1/15 requests (6.7%)  0.2/s  ETA 1:10  retries 0  errors 0',
      'progress: 1/15 requests (6.7%)  0.1/s  ETA 2:20  retries 0  errors 0',
      'progress: 1/15 requests (6.7%)  0.1/s  ETA 2:20  retries 0  errors 0',
    ]);
    expect(io.errText()).toContain('5 already recorded, resuming');
    expect(io.errText()).not.toContain('\x1b');
  });

  it('prints nothing with --quiet', () => {
    const io = fakeIo(true);
    const p = progressReporter(io, { quiet: true });
    p.onStart?.({ dir: '/tmp/run', plan, alreadyRecorded: 0, config: {} as never });
    vi.advanceTimersByTime(10_000);
    p.done();
    expect(io.errText()).toBe('');
  });
});

describe('batch progress', () => {
  beforeEach(() => void vi.useFakeTimers());
  afterEach(() => void vi.useRealTimers());
  const batch = (completed: number, done: number) => ({ byStatus: { in_progress: 2 - completed, ...(completed ? { completed } : {}) }, done, failed: 1, pending: 20 - done, waitingS: 75 });

  it('without a TTY: one line per change, and no request-rate lines once batches are reported', () => {
    const io = fakeIo(false);
    const p = progressReporter(io, { quiet: false, intervalMs: 1000, now: () => 0 });
    p.onStart!({ dir: '/tmp/run', plan, alreadyRecorded: 0, config: {} as never });
    p.onBatchProgress!(batch(0, 0));
    p.onBatchProgress!(batch(1, 10));
    vi.advanceTimersByTime(5000);
    p.done();
    const lines = io.errText().split('\n').filter((l) => l.startsWith('batches:'));
    expect(lines).toEqual([
      'batches: 2 in_progress  requests: 0 done, 1 failed, 20 in batches  waiting 1:15',
      'batches: 1 in_progress, 1 completed  requests: 10 done, 1 failed, 10 in batches  waiting 1:15',
    ]);
    expect(io.errText()).not.toMatch(/^progress:/m);
  });

  it('on a TTY: redrawn in place, ended with a newline', () => {
    const io = fakeIo(true);
    const p = progressReporter(io, { quiet: false, now: () => 0 });
    p.onStart!({ dir: '/tmp/run', plan, alreadyRecorded: 0, config: {} as never });
    p.onBatchProgress!(batch(1, 10));
    p.done();
    expect(io.errText()).toContain('\r\x1b[2Kbatches: 1 in_progress, 1 completed');
    expect(io.errText().endsWith('10 in batches  waiting 1:15\n')).toBe(true);
  });
});
