/**
 * Sliding 60 s windows for rpm/tpm limits and for the perMinuteMax statistic. A queue of (time, amount) with a
 * running sum keeps each arrival O(1) amortised even at thousands of requests per second.
 */
import { errorBody } from './errors.js';
import type { SimulatedReply } from './types.js';

export const WINDOW_MS = 60_000;

export class SlidingWindow {
  private times: number[] = [];
  private amounts: number[] = [];
  private head = 0;
  private total = 0;
  private readonly windowMs: number;

  constructor(windowMs: number = WINDOW_MS) {
    this.windowMs = windowMs;
  }

  /** Sum of amounts still inside the window at `now`. */
  used(now: number): number {
    const cutoff = now - this.windowMs;
    while (this.head < this.times.length && (this.times[this.head] as number) <= cutoff) {
      this.total -= this.amounts[this.head] as number;
      this.head++;
    }
    if (this.head > 4096 && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head);
      this.amounts = this.amounts.slice(this.head);
      this.head = 0;
    }
    return this.total;
  }

  add(now: number, amount: number): void {
    this.used(now);
    this.times.push(now);
    this.amounts.push(amount);
    this.total += amount;
  }

  /** Milliseconds until `used` drops to `target` or below (0 if it already has). */
  msUntilUsedAtMost(now: number, target: number): number {
    let sum = this.used(now);
    if (sum <= target) return 0;
    if (target <= 0) return Math.max(1, (this.times[this.times.length - 1] as number) + this.windowMs - now); // O(1) for headers
    for (let i = this.head; i < this.times.length && sum > target; i++) {
      sum -= this.amounts[i] as number;
      if (sum <= target) return Math.max(1, (this.times[i] as number) + this.windowMs - now);
    }
    return 0;
  }
}

/** OpenAI's duration style: "20ms", "1s", "8.64s", "6m0s". */
export function formatDuration(ms: number): string {
  const whole = Math.max(0, Math.ceil(ms));
  if (whole < 1000) return `${whole}ms`;
  if (whole < 60_000) return `${Number((whole / 1000).toFixed(3))}s`;
  return `${Math.floor(whole / 60_000)}m${Number(((whole % 60_000) / 1000).toFixed(3))}s`;
}

export interface LimitDecision {
  /** Set when the request is refused. */
  reject?: SimulatedReply;
  limitedBy?: 'requests' | 'tokens';
  headers: Record<string, string>;
}

/** Admits or refuses a request against rpm/tpm; admitted requests are charged to both windows. */
export class RateLimiter {
  private readonly requests: SlidingWindow;
  private readonly tokens: SlidingWindow;
  private readonly rpm: number | undefined;
  private readonly tpm: number | undefined;

  constructor(rpm: number | undefined, tpm: number | undefined, windowMs: number = WINDOW_MS) {
    this.rpm = rpm;
    this.tpm = tpm;
    this.requests = new SlidingWindow(windowMs);
    this.tokens = new SlidingWindow(windowMs);
  }

  get active(): boolean {
    return this.rpm !== undefined || this.tpm !== undefined;
  }

  /** Current headers, charging nothing. Reset times are until the window is empty, as OpenAI documents them. */
  headers(now: number): Record<string, string> {
    const h: Record<string, string> = {};
    if (this.rpm !== undefined) {
      const used = this.requests.used(now);
      h['x-ratelimit-limit-requests'] = String(this.rpm);
      h['x-ratelimit-remaining-requests'] = String(Math.max(0, this.rpm - used));
      h['x-ratelimit-reset-requests'] = formatDuration(this.requests.msUntilUsedAtMost(now, 0));
    }
    if (this.tpm !== undefined) {
      const used = this.tokens.used(now);
      h['x-ratelimit-limit-tokens'] = String(this.tpm);
      h['x-ratelimit-remaining-tokens'] = String(Math.max(0, this.tpm - used));
      h['x-ratelimit-reset-tokens'] = formatDuration(this.tokens.msUntilUsedAtMost(now, 0));
    }
    return h;
  }

  admit(now: number, model: string, tokens: number): LimitDecision {
    if (this.rpm !== undefined) {
      const used = this.requests.used(now);
      if (used + 1 > this.rpm) {
        const wait = this.requests.msUntilUsedAtMost(now, this.rpm - 1);
        return this.refuse(now, 'requests', `requests per min (RPM): Limit ${this.rpm}, Used ${used}, Requested 1. Please try again in ${formatDuration(wait)}.`, wait, model);
      }
    }
    if (this.tpm !== undefined) {
      if (tokens > this.tpm) {
        return this.refuse(now, 'tokens', `tokens per min (TPM): Limit ${this.tpm}, Requested ${tokens}. The input or output tokens must be reduced in order to run successfully.`, undefined, model, 'Request too large');
      }
      const used = this.tokens.used(now);
      if (used + tokens > this.tpm) {
        const wait = this.tokens.msUntilUsedAtMost(now, this.tpm - tokens);
        return this.refuse(now, 'tokens', `tokens per min (TPM): Limit ${this.tpm}, Used ${used}, Requested ${tokens}. Please try again in ${formatDuration(wait)}.`, wait, model);
      }
    }
    this.requests.add(now, 1);
    this.tokens.add(now, tokens);
    return { headers: this.headers(now) };
  }

  private refuse(now: number, type: 'requests' | 'tokens', detail: string, waitMs: number | undefined, model: string, lead = 'Rate limit reached'): LimitDecision {
    const headers = this.headers(now);
    const message = `${lead} for ${model} in organization org-evalrun-sim on ${detail} Visit https://platform.openai.com/account/rate-limits to learn more.`;
    const extra: Record<string, string> = waitMs === undefined ? {} : { 'retry-after-ms': String(Math.ceil(waitMs)) };
    return {
      headers,
      limitedBy: type,
      reject: { status: 429, headers: extra, body: errorBody({ message, type, param: null, code: 'rate_limit_exceeded' }) },
    };
  }
}
