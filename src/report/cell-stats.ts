import type { ManifestCell, RequestRecord } from '../record/index.js';
import { addRecordBilled, cachedTokens, reasoningTokens } from '../record/index.js';
import { addBilled, billedCostUsd, emptyBilled, priceFor, type BilledTokens, type Price } from '../contracts/prices.js';
import { roundOrNull, roundTo } from '../util/round.js';
import type { CellStats } from '../contracts/summary.js';
import { extendCellStats } from './cell-extras.js';
import type { ChoiceRow } from './choice-rows.js';
import { SCALE_POINTS, type HumanCheck, type JudgeScale } from '../contracts/checks.js';
import { scaleCategory } from '../contracts/human-label.js';

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

export interface ScoreCounts {
  answered: number;
  unscored: number;
  scored: number;
  sum: number;
  sumSq: number;
}

/**
 * A check's agreement with human labels in one cell: a k × k table of counts (row: the label's category, column:
 * the verdict's, row-major), and the labelled choices the check left without a verdict (excluded from the table).
 */
export interface AgreementCounts {
  scale: JudgeScale;
  k: number;
  counts: number[];
  unscored: number;
}

export function scoreMoments(c: ScoreCounts | undefined): { n: number; mean: number; variance: number } {
  if (!c || c.scored === 0) return { n: 0, mean: NaN, variance: NaN };
  const mean = c.sum / c.scored;
  // Sum of squares about the mean, never below 0 (float rounding on identical scores).
  const ss = Math.max(0, c.sumSq - c.scored * mean * mean);
  return { n: c.scored, mean, variance: c.scored > 1 ? ss / (c.scored - 1) : NaN };
}

/**
 * Everything one cell's statistics need, taken one record at a time: counts, latencies, check counts and billed
 * tokens. The report pass (hence the live report and `merge`) and `compare` feed it the same way, through
 * ReportCollector, so a number means the same in stats.csv, summary.json and a comparison between runs.
 */
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
  cachedTokens = 0;
  reasoningTokens = 0;
  retries = 0;
  refusals = 0;
  logprobSum = 0;
  logprobCount = 0;
  cached = 0;
  latencies = new LatencySamples();
  /** Answered requests by the model and system_fingerprint the server said answered them (null: none said). */
  private readonly servedModels = new Map<string | null, number>();
  private readonly fingerprints = new Map<string | null, number>();
  /** Per configured check: choices graded and passed (from the rows' `check_<name>` columns). */
  readonly checks: Record<string, { checked: number; pass: number }>;
  /** Per scored check: choices answered, left unscored, scored, and the sum and sum of squares of the scores. */
  readonly scores: Record<string, ScoreCounts>;
  /** Tokens of what was sent: cached answers, and the cached parts of an n_mode repeat record, were not billed. */
  readonly billed = emptyBilled();
  /**
   * Every recorded usage, cached answers included, each priced by how it was sent (batch or not, cached prompt
   * tokens): what the setting costs per row (`cost_per_1k_rows`), not what this run paid.
   */
  readonly priced = emptyBilled();
  /** The judge calls about this cell's choices, by judge model: kept apart from the answers' tokens and cost. */
  readonly judges = new Map<string, JudgeTokens>();
  readonly cell: ManifestCell;
  /** The rows' check columns and the counts they go to, in step: no per-row lookups or allocations. */
  private readonly checkColumns: string[];
  private readonly checkCounts: Array<{ checked: number; pass: number }>;
  private readonly scoreColumns: Array<{ check: string; score: string; counts: ScoreCounts }>;
  /** Per check with human labels: its agreement table (the report pools the cells' tables for the overall κ). */
  readonly agreement: Record<string, AgreementCounts>;
  private readonly humanColumns: Array<{ check: string; score: string; human: string; counts: AgreementCounts }>;
  /** The run has judge checks: stats get the judge_* columns. */
  private readonly judged: boolean;
  constructor(cell: ManifestCell, checks: readonly string[] = [], scored: readonly string[] = [], human: readonly HumanCheck[] = [], judged = false) {
    this.cell = cell;
    this.judged = judged;
    this.checkColumns = checks.map((c) => `check_${c}`);
    this.checkCounts = checks.map(() => ({ checked: 0, pass: 0 }));
    this.checks = Object.fromEntries(checks.map((c, i) => [c, this.checkCounts[i]!]));
    this.scoreColumns = scored.map((c) => ({ check: `check_${c}`, score: `${c}_score`, counts: { answered: 0, unscored: 0, scored: 0, sum: 0, sumSq: 0 } }));
    this.scores = Object.fromEntries(scored.map((c, i) => [c, this.scoreColumns[i]!.counts]));
    this.humanColumns = human.map((h) => {
      const k = SCALE_POINTS[h.scale];
      return { check: `check_${h.name}`, score: `${h.name}_score`, human: `${h.name}_human`, counts: { scale: h.scale, k, counts: new Array<number>(k * k).fill(0), unscored: 0 } };
    });
    this.agreement = Object.fromEntries(human.map((h, i) => [h.name, this.humanColumns[i]!.counts]));
  }

  /** Count, mean and sample variance of a scored check's scores (the unpaired comparison between runs needs them). */
  scoreMoments(check: string): { n: number; mean: number; variance: number } {
    return scoreMoments(this.scores[check]);
  }

  /** One request: its record and its choices.csv rows (`choiceRows`, with the check columns filled in). */
  add(record: RequestRecord, rows: ReadonlyArray<ChoiceRow & Record<string, unknown>>): void {
    this.requests++;
    // A missing choice fails the request too, not only an error for the whole request.
    if (rows.some((r) => r.error !== null)) this.failedRequests++;
    // Only an answer has a latency: a failed request's is the time to give up, and a batch answer has none.
    if (record.error === null && record.latency_ms !== null) this.latencies.push(record.latency_ms);
    if (record.error === null) {
      this.servedModels.set(record.model, (this.servedModels.get(record.model) ?? 0) + 1);
      const fp = record.system_fingerprint ?? null;
      this.fingerprints.set(fp, (this.fingerprints.get(fp) ?? 0) + 1);
    }
    // A cached answer records attempts 0: it is counted apart, never as a negative retry.
    if (record.cached === true) this.cached++;
    // n_mode repeat: each part is a request of its own, so its retries are its attempts beyond its first.
    else if (record.parts) for (const p of record.parts) this.retries += p.cached ? 0 : Math.max(0, p.attempts - 1);
    else this.retries += Math.max(0, record.attempts - 1);
    this.promptTokens += record.usage?.prompt_tokens ?? 0;
    this.completionTokens += record.usage?.completion_tokens ?? 0;
    this.cachedTokens += cachedTokens(record.usage);
    this.reasoningTokens += reasoningTokens(record.usage);
    const batch = record.batch_id !== undefined;
    if (record.usage) addBilled(this.priced, record.usage.prompt_tokens, cachedTokens(record.usage), record.usage.completion_tokens, batch);
    addRecordBilled(this.billed, record);
    if (record.judge_usage) {
      for (const j of record.judge_usage) {
        let t = this.judges.get(j.model);
        if (!t) this.judges.set(j.model, (t = { calls: 0, cached: 0, billed: emptyBilled(), priced: emptyBilled() }));
        t.calls += j.calls;
        t.cached += j.cached;
        const judgeBatch = j.batch ?? batch;
        addBilled(t.billed, j.billed.prompt_tokens, cachedTokens(j.billed), j.billed.completion_tokens, judgeBatch);
        addBilled(t.priced, j.usage.prompt_tokens, cachedTokens(j.usage), j.usage.completion_tokens, judgeBatch);
      }
    }
    for (const row of rows) this.addChoice(row);
  }

  private addChoice(row: ChoiceRow & Record<string, unknown>): void {
    this.choices++;
    if (typeof row.refusal === 'string' && row.refusal !== '') this.refusals++;
    if (typeof row.logprob_mean === 'number') {
      this.logprobSum += row.logprob_mean;
      this.logprobCount++;
    }
    const reason = String(row.finish_reason);
    const key = (FINISH_REASONS as readonly string[]).includes(reason) ? (reason as FinishReason) : 'other';
    this.reasons[key]++;
    // Null is "not checked" (a failed choice, a refusal, a text cell): not in the denominator.
    if (row.json_valid !== null) {
      this.jsonChecked++;
      if (row.json_valid) this.jsonValid++;
    }
    if (row.schema_valid !== null) {
      this.schemaChecked++;
      if (row.schema_valid) this.schemaValid++;
    }
    if (typeof row.tool_args_valid === 'boolean') {
      this.toolArgsChecked++;
      if (row.tool_args_valid) this.toolArgsValid++;
    }
    for (let i = 0; i < this.checkColumns.length; i++) {
      const v = row[this.checkColumns[i]!];
      if (typeof v !== 'boolean') continue;
      this.checkCounts[i]!.checked++;
      if (v) this.checkCounts[i]!.pass++;
    }
    // A labelled choice is paired with the verdict on the label's scale: pass/fail from check_<name>, a rating from
    // its score. One the check left without a verdict is counted apart, never paired.
    for (const h of this.humanColumns) {
      const label = row[h.human];
      if (typeof label !== 'number') continue;
      const a = h.counts;
      const pass = row[h.check];
      const verdict = a.scale === 'pass_fail' ? (typeof pass === 'boolean' ? (pass ? 1 : 0) : null) : typeof row[h.score] === 'number' ? (row[h.score] as number) : null;
      if (verdict === null) a.unscored++;
      else a.counts[scaleCategory(label, a.scale) * a.k + scaleCategory(verdict, a.scale)]!++;
    }
    // Unscored is counted among the choices that got an answer: a failed request is error_rate's, not the check's.
    if (key === 'error') return;
    for (const s of this.scoreColumns) {
      s.counts.answered++;
      if (row[s.check] === null) s.counts.unscored++;
      const v = row[s.score];
      if (typeof v === 'number') {
        s.counts.scored++;
        s.counts.sum += v;
        s.counts.sumSq += v * v;
      }
    }
  }

  /** The cell's stats.csv / summary.json figures: counts, rates with their intervals, latency, and billed cost at `prices`. */
  result(prices: Readonly<Record<string, Price>> = {}): CellStats {
    const stats = extendCellStats(this.counts(), this.checks, this.latencies.moments(), this.billed, this.priced, prices, this.scores, this.agreement);
    if (this.judged) Object.assign(stats, judgeStats(this.judges, prices, this.requests));
    stats.served = {
      models: [...this.servedModels].map(([model, requests]) => ({ model, requests })),
      system_fingerprints: [...this.fingerprints].map(([system_fingerprint, requests]) => ({ system_fingerprint, requests })),
    };
    return stats;
  }

  private counts(): CellStats {
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
      cached_tokens: this.cachedTokens,
      reasoning_tokens: this.reasoningTokens,
      retries: this.retries,
      cached: this.cached,
    };
  }
}

/** One judge model's calls about a cell: counted, and their tokens billed (not cached) and priced (all). */
export interface JudgeTokens {
  calls: number;
  cached: number;
  billed: BilledTokens;
  priced: BilledTokens;
}

/** The columns judge checks add to stats.csv, after the others. */
export const JUDGE_STATS_COLUMNS = ['judge_calls', 'judge_prompt_tokens', 'judge_completion_tokens', 'judge_cost_usd', 'judge_cost_per_1k_rows'] as const;

/** A cell's judge figures: calls and tokens of every judge model, the billed cost and the cost per 1,000 rows. */
function judgeStats(judges: ReadonlyMap<string, JudgeTokens>, prices: Readonly<Record<string, Price>>, requests: number): Record<string, number | null> {
  let calls = 0;
  let prompt = 0;
  let completion = 0;
  let cost: number | null = 0;
  let all: number | null = 0;
  for (const [model, t] of judges) {
    calls += t.calls;
    prompt += t.priced.prompt;
    completion += t.priced.completion;
    const price = priceFor(model, prices);
    const billed = billedCostUsd(price, t.billed);
    const priced = billedCostUsd(price, t.priced);
    cost = cost === null || billed === null ? null : cost + billed;
    all = all === null || priced === null ? null : all + priced;
  }
  return { judge_calls: calls, judge_prompt_tokens: prompt, judge_completion_tokens: completion, judge_cost_usd: cost === null ? null : roundTo(cost, 6), judge_cost_per_1k_rows: all === null || requests === 0 ? null : roundTo((all / requests) * 1000, 6) };
}
