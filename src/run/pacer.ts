import type { Task } from '../contracts/plan.js';
import { sleep as realSleep } from './retry.js';

export interface PacerOptions {
  rpm: number | undefined;
  tpm: number | undefined;
  /** One budget per model (OpenAI's limits are per model) instead of one for the whole provider. */
  perModel: boolean;
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<boolean>;
}

/**
 * Spaces requests so a configured rpm/tpm is never exceeded in any 60 s window, and slows the whole pool when the
 * server says it is near or over its limit. Requests are spaced evenly (a GCRA with no burst), not sent in bursts:
 * OpenAI enforces limits over sub-minute slices, so a burst of a minute's budget draws 429s even when the minute's
 * total is within the limit. The 2% margin absorbs timer jitter between our clock and the server's.
 */
interface Budget {
  nextRequest: number;
  nextToken: number;
  /** When the waiting turn was due: lateness is measured against it. */
  scheduled: number;
  /** How late a turn may be granted and still keep the schedule: half the last gap. */
  tolerance: number;
  /** The last turn granted or waiting: turns are handed out in order. */
  queue: Promise<boolean>;
}

export class Pacer {
  private readonly budgets = new Map<string, Budget>();
  private pausedUntil = 0;
  private readonly requestGapMs: number;
  private readonly tokenGapMs: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<boolean>;
  private readonly perModel: boolean;
  /** Requests the pool paused for a server's 429 or exhausted budget headers. */
  pauses = 0;

  constructor(options: PacerOptions) {
    const margin = 0.98;
    this.requestGapMs = options.rpm ? 60_000 / (options.rpm * margin) : 0;
    this.tokenGapMs = options.tpm ? 60_000 / (options.tpm * margin) : 0;
    this.perModel = options.perModel;
    this.now = options.now ?? (() => performance.now());
    this.sleep = options.sleep ?? realSleep;
  }

  get limited(): boolean {
    return this.requestGapMs > 0 || this.tokenGapMs > 0;
  }

  /**
   * Waits for this request's turn; false when the run is stopping. Turns are granted one at a time per budget, each
   * at least one gap after the previous grant as measured when it is granted, so a stalled event loop (a GC pause,
   * a busy CPU) can delay requests but never bunch them up afterwards.
   */
  acquire(task: Task, signal: AbortSignal): Promise<boolean> {
    if (!this.limited && this.pausedUntil <= this.now()) return Promise.resolve(!signal.aborted);
    const key = this.perModel ? task.body.model : '';
    let b = this.budgets.get(key);
    if (!b) this.budgets.set(key, (b = { nextRequest: 0, nextToken: 0, scheduled: 0, tolerance: 0, queue: Promise.resolve(true) }));
    const budget = b;
    const turn = budget.queue.then(() => this.grant(budget, estimateTokens(task), signal));
    budget.queue = turn;
    return turn;
  }

  private async grant(b: Budget, cost: number, signal: AbortSignal): Promise<boolean> {
    for (;;) {
      if (signal.aborted) return false;
      const now = this.now();
      const at = Math.max(now, this.pausedUntil, b.nextRequest, b.nextToken);
      if (at <= now) {
        // A timer that fired a little late keeps the schedule (else every grant would lose the timer's lateness and
        // the rate would fall ~10% short); after a real stall the schedule restarts from now, so nothing bunches.
        const late = now - b.scheduled;
        const from = late >= 0 && late <= b.tolerance ? b.scheduled : now;
        b.nextRequest = from + this.requestGapMs;
        b.nextToken = from + cost * this.tokenGapMs;
        b.scheduled = Math.max(b.nextRequest, b.nextToken);
        b.tolerance = (b.scheduled - from) / 2;
        return true;
      }
      b.scheduled = at;
      if (!(await this.sleep(at - now, signal))) return false;
    }
  }

  /** Learn from a response: a 429 pauses the whole pool; a budget near zero pauses it until the reset. */
  observe(status: number | undefined, headers: Headers | undefined, retryAfterMs: number | undefined): void {
    const now = this.now();
    if (status === 429) {
      this.pause(now + (retryAfterMs ?? 1000));
      return;
    }
    if (!headers) return;
    const remaining = headers.get('x-ratelimit-remaining-requests');
    if (remaining !== null && Number(remaining) <= 0) {
      const reset = parseDuration(headers.get('x-ratelimit-reset-requests'));
      if (reset !== undefined) this.pause(now + reset);
    }
    const tokens = headers.get('x-ratelimit-remaining-tokens');
    if (tokens !== null && Number(tokens) <= 0) {
      const reset = parseDuration(headers.get('x-ratelimit-reset-tokens'));
      if (reset !== undefined) this.pause(now + reset);
    }
  }

  private pause(until: number): void {
    if (until > this.pausedUntil) {
      this.pausedUntil = until;
      this.pauses++;
    }
  }
}

/** What a request may cost against a tokens-per-minute limit: its prompt (≈4 characters a token) and max output. */
export function estimateTokens(task: Task): number {
  let chars = 0;
  for (const m of task.body.messages) chars += typeof m.content === 'string' ? m.content.length : JSON.stringify(m.content ?? '').length;
  const maxOut = Number(task.body['max_completion_tokens'] ?? task.body['max_tokens'] ?? 0);
  const n = Number(task.body['n'] ?? 1);
  return Math.ceil(chars / 4) + 4 * task.body.messages.length + maxOut * n;
}

/** OpenAI's reset durations: "1s", "6m0s", "20ms", "1h2m3.5s". */
export function parseDuration(text: string | null): number | undefined {
  if (!text) return undefined;
  let ms = 0;
  let matched = false;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)) {
    matched = true;
    const v = Number(m[1]);
    ms += m[2] === 'h' ? v * 3_600_000 : m[2] === 'm' ? v * 60_000 : m[2] === 's' ? v * 1000 : v;
  }
  if (!matched && Number.isFinite(Number(text))) return Number(text) * 1000;
  return matched ? ms : undefined;
}
