import type { ManifestCell } from '../record/index.js';
import { roundOrNull } from '../util/round.js';
import type { CellStats } from '../contracts/summary.js';

/** finish_reason values counted in their own columns; anything else lands in `other`. */
export const FINISH_REASONS = ['stop', 'length', 'content_filter', 'tool_calls', 'error'] as const;
export type FinishReason = (typeof FINISH_REASONS)[number];

/** Per-request latencies in a growable typed array: 8 bytes a request, no per-request objects. */
export class LatencySamples {
  private data = new Float64Array(256);
  size = 0;
  push(v: number): void {
    if (this.size === this.data.length) {
      const next = new Float64Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.size++] = v;
  }
  /** Linear interpolation between closest ranks (R type 7, NumPy's default). */
  percentiles(ps: number[]): Array<number | null> {
    if (this.size === 0) return ps.map(() => null);
    const sorted = this.data.slice(0, this.size).sort();
    return ps.map((p) => {
      const h = (sorted.length - 1) * p;
      const lo = Math.floor(h);
      const hi = Math.min(lo + 1, sorted.length - 1);
      return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
    });
  }
  mean(): number | null {
    if (this.size === 0) return null;
    let s = 0;
    for (let i = 0; i < this.size; i++) s += this.data[i]!;
    return s / this.size;
  }
  /** Count, mean and sample variance: the unpaired latency comparison and the interval of the mean need them. */
  moments(): { n: number; mean: number; variance: number } {
    const mean = this.mean() ?? NaN;
    let ss = 0;
    for (let i = 0; i < this.size; i++) ss += (this.data[i]! - mean) ** 2;
    return { n: this.size, mean, variance: this.size > 1 ? ss / (this.size - 1) : NaN };
  }
}

export class CellAccumulator {
  requests = 0;
  failedRequests = 0;
  choices = 0;
  reasons: Record<FinishReason | 'other', number> = { stop: 0, length: 0, content_filter: 0, tool_calls: 0, error: 0, other: 0 };
  jsonChecked = 0;
  jsonValid = 0;
  schemaChecked = 0;
  schemaValid = 0;
  toolArgsChecked = 0;
  toolArgsValid = 0;
  promptTokens = 0;
  completionTokens = 0;
  retries = 0;
  refusals = 0;
  logprobSum = 0;
  logprobCount = 0;
  cached = 0;
  latencies = new LatencySamples();
  readonly cell: ManifestCell;
  constructor(cell: ManifestCell) {
    this.cell = cell;
  }

  /** `failed`: some choice of the request is an error; `answered`: the server answered (its latency counts). */
  addRequest(r: { attempts: number; latency_ms: number | null; failed: boolean; answered?: boolean; prompt_tokens: number; completion_tokens: number; cached?: boolean }): void {
    this.requests++;
    if (r.failed) this.failedRequests++;
    // A batch answer has no latency of its own: it counts as a request but not as a latency sample.
    if ((r.answered ?? !r.failed) && r.latency_ms !== null) this.latencies.push(r.latency_ms);
    // A cached answer records attempts 0: it is counted apart, never as a negative retry.
    if (r.cached) this.cached++;
    else this.retries += Math.max(0, r.attempts - 1);
    this.promptTokens += r.prompt_tokens;
    this.completionTokens += r.completion_tokens;
  }

  addChoice(c: { finish_reason: string; json_valid: boolean | null; schema_valid: boolean | null; tool_args_valid?: boolean | null; refusal?: boolean; logprob_mean?: number | null }): void {
    this.choices++;
    if (c.refusal) this.refusals++;
    if (typeof c.logprob_mean === 'number') {
      this.logprobSum += c.logprob_mean;
      this.logprobCount++;
    }
    const key = (FINISH_REASONS as readonly string[]).includes(c.finish_reason) ? (c.finish_reason as FinishReason) : 'other';
    this.reasons[key]++;
    if (c.json_valid !== null) {
      this.jsonChecked++;
      if (c.json_valid) this.jsonValid++;
    }
    if (c.schema_valid !== null) {
      this.schemaChecked++;
      if (c.schema_valid) this.schemaValid++;
    }
    if (typeof c.tool_args_valid === 'boolean') {
      this.toolArgsChecked++;
      if (c.tool_args_valid) this.toolArgsValid++;
    }
  }

  result(): CellStats {
    const rate = (k: number, of: number) => (of > 0 ? k / of : null);
    const [p50, p95] = this.latencies.percentiles([0.5, 0.95]);
    const p = this.cell.params;
    return {
      cell: this.cell.id,
      model: String(p['model']),
      temperature: typeof p['temperature'] === 'number' ? p['temperature'] : null,
      top_p: typeof p['top_p'] === 'number' ? p['top_p'] : null,
      n: this.cell.n,
      requests: this.requests,
      failed_requests: this.failedRequests,
      choices: this.choices,
      stop: this.reasons.stop,
      length: this.reasons.length,
      content_filter: this.reasons.content_filter,
      tool_calls: this.reasons.tool_calls,
      error: this.reasons.error,
      other: this.reasons.other,
      stop_rate: rate(this.reasons.stop, this.choices),
      length_rate: rate(this.reasons.length, this.choices),
      content_filter_rate: rate(this.reasons.content_filter, this.choices),
      tool_calls_rate: rate(this.reasons.tool_calls, this.choices),
      error_rate: rate(this.reasons.error, this.choices),
      other_rate: rate(this.reasons.other, this.choices),
      refusal: this.refusals,
      refusal_rate: rate(this.refusals, this.choices),
      logprob_mean: this.logprobCount ? this.logprobSum / this.logprobCount : null,
      json_checked: this.jsonChecked,
      json_valid: this.jsonValid,
      json_valid_rate: rate(this.jsonValid, this.jsonChecked),
      schema_checked: this.schemaChecked,
      schema_valid: this.schemaValid,
      schema_valid_rate: rate(this.schemaValid, this.schemaChecked),
      latency_p50_ms: roundOrNull(p50, 1),
      latency_p95_ms: roundOrNull(p95, 1),
      latency_mean_ms: roundOrNull(this.latencies.mean(), 1),
      tool_args_checked: this.toolArgsChecked,
      tool_args_valid: this.toolArgsValid,
      tool_args_valid_rate: rate(this.toolArgsValid, this.toolArgsChecked),
      prompt_tokens: this.promptTokens,
      completion_tokens: this.completionTokens,
      retries: this.retries,
      cached: this.cached,
    };
  }
}
