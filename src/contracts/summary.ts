/**
 * summary.json's shape: what every report (Markdown, JUnit, HTML, the console), the gates and the merge read.
 * Types only (and one accessor), so any stage may depend on it without importing the report stage that writes it.
 */
import type { ComparisonRow } from '../stats/index.js';
import type { PickCost } from '../stats/index.js';
import type { GateSpec, JudgeRecordSpec } from './evaluation.js';

/** How a run ended (run.json's `status`); 'partial': a merge of shards (`evalrun merge --partial`) that lacks some. */
export type RunStatus = 'running' | 'complete' | 'interrupted' | 'stopped' | 'failed' | 'partial';

export interface Summary {
  name: string;
  status: RunStatus;
  complete: boolean;
  /** Present only when the run is incomplete: what is missing and what to do, for every report to say. */
  incomplete?: string | undefined;
  started_at: string;
  ended_at: string | null;
  provider: { kind: string; base_url: string };
  plan: { rows: number; requests: number; choices: number; cells: number };
  /** This run is one shard of the plan (`--shard I/K`): `complete` means its share is recorded. */
  shard?: { index: number; count: number; rows: [number, number]; requests: number };
  /** A merge of shards made with `--partial` that lacks some (missing: not given; unfinished: given, not done). */
  partial?: { missing: string[]; unfinished: string[] };
  /**
   * failed_requests: requests with at least one failed choice (failed after all attempts, or a choice index missing
   * from the answer); failed_choices: choices.csv rows with finish_reason 'error'. Either above 0 is exit code 1.
   * batch_results_lost: requests a batch ran (and may have billed) whose answer could not be read (error code
   * batch_result_lost), among failed_requests; sent again only with --retry-errors.
   */
  recorded: { requests: number; choices: number; failed_requests: number; failed_choices?: number; batch_results_lost?: number };
  /** What servers sent that did not fit the request (see `anomalies` in records.jsonl); absent when nothing was odd. */
  anomalies?: AnomalySection;
  totals: { prompt_tokens: number; completion_tokens: number; cached_tokens: number; reasoning_tokens: number; retries: number; cached: number };
  /** The grid's axes (parameters that differ between cells) and the column each cell's value is in. */
  axes?: Array<{ param: string; column: string }>;
  cells: CellStats[];
  /** Names of the configured checks (columns check_<name>, metrics <name>_pass_rate). */
  checks?: string[];
  /** The checks among them that yield scores (columns <name>_score, <name>_reason; metrics <name>_score_mean, <name>_unscored_rate). */
  scored_checks?: string[];
  /** The judge checks' judges as run.json pins them (model, parameters, rubric hash); absent without judges. */
  judges?: JudgeRecordSpec[];
  /** Every cell against the baseline cell, paired over rows (absent with a single cell). */
  comparison?: ComparisonSection | undefined;
  gates?: GateSection;
  /** Billed tokens and their cost at the run's prices. */
  cost?: CostSection;
  /** Which cell to pick: the quality-cost frontier (`pick:` in the config). */
  pick?: PickSection;
  /** Each check with human labels: its agreement with people over all cells (per cell: `<check>_kappa` in cells). */
  agreement?: AgreementSection;
}

export interface AnomalySection {
  /** Requests with at least one anomaly. */
  requests: number;
  /** Choices beyond n or with an index outside 0..n-1 (kept in extra_choices, not in choices.csv). */
  extra_choice: number;
  /** Choices whose index repeated an earlier one (kept in extra_choices). */
  duplicate_index: number;
  /** Choices with no valid index, taken at their position. */
  no_index: number;
  /** Requests whose usage was negative, fractional or not a number: counted as absent. */
  bad_usage: number;
  /** Batch result lines that were unreadable, named no request of their batch, or named one twice (not recorded). */
  batch_lines?: number;
  /** The first few of those, as run.json's batch parts keep them. */
  batch_line_examples?: string[];
  /** The first few messages, as in records.jsonl. */
  examples: Array<{ seq: number; cell: string; row_id: string; message: string }>;
}

export interface CellStats {
  cell: string;
  model: string;
  temperature: number | null;
  top_p: number | null;
  n: number;
  requests: number;
  /** Requests with at least one failed choice: failed after all attempts, or a choice index missing from the answer. */
  failed_requests: number;
  choices: number;
  stop: number;
  length: number;
  content_filter: number;
  tool_calls: number;
  error: number;
  other: number;
  stop_rate: number | null;
  length_rate: number | null;
  content_filter_rate: number | null;
  tool_calls_rate: number | null;
  error_rate: number | null;
  other_rate: number | null;
  /** Choices the model refused (`message.refusal`), whatever their finish_reason; never JSON-checked. */
  refusal: number;
  refusal_rate: number | null;
  /** Mean over the cell's choices of each choice's mean token logprob; null when no logprobs were returned. */
  logprob_mean: number | null;
  /** Choices checked as JSON: answered choices of a JSON-mode cell. */
  json_checked: number;
  json_valid: number;
  json_valid_rate: number | null;
  schema_checked: number;
  schema_valid: number;
  schema_valid_rate: number | null;
  latency_p50_ms: number | null;
  latency_p95_ms: number | null;
  latency_mean_ms: number | null;
  /** Choices with tool calls, and those whose every call names a configured tool with valid arguments. */
  tool_args_checked: number;
  tool_args_valid: number;
  tool_args_valid_rate: number | null;
  prompt_tokens: number;
  completion_tokens: number;
  /** Prompt tokens the server reported as cached (`prompt_tokens_details.cached_tokens`), priced at the cached-input price. */
  cached_tokens: number;
  /** Completion tokens spent reasoning (`completion_tokens_details.reasoning_tokens`); part of completion_tokens. */
  reasoning_tokens: number;
  /** Attempts beyond the first, over requests actually sent (a cached answer made no attempt). */
  retries: number;
  /** Requests answered from the response cache (--cache): not sent, not billed, not new samples. */
  cached: number;
  /** Cost of this cell's billed (not cached) usage at the run's prices; null when the model's price is unknown. */
  cost_usd?: number | null;
  /** USD per 1,000 dataset rows at this setting (all recorded usage); null when the model's price is unknown. */
  cost_per_1k_rows?: number | null;
  tokens_per_1k_rows?: number | null;
  /** On the quality-cost frontier of `pick:` (no other cell is both better and cheaper). */
  frontier?: boolean;
  /**
   * What the server said answered the cell's answered requests, in order of first appearance: each distinct response
   * `model` and `system_fingerprint` (null: the server sent none) with how many requests carried it.
   */
  served?: ServedSection;
  /** 95% interval of every rate (Wilson) and of latency_mean_ms (t): `<metric>_low`, `<metric>_high`. */
  [interval: `${string}_low` | `${string}_high`]: number | null | undefined;
  /** Per check: choices graded, choices passed, and the pass rate. */
  [checkCount: `${string}_checked` | `${string}_pass`]: number | undefined;
  [checkRate: `${string}_pass_rate`]: number | null | undefined;
  /**
   * Per scored check: choices answered, unscored, scored; the unscored rate (of the answered) and the mean score of
   * the scored, each with its interval.
   */
  [scoreCount: `${string}_answered` | `${string}_unscored` | `${string}_scored`]: number | undefined;
  [scoreValue: `${string}_unscored_rate` | `${string}_score_mean`]: number | null | undefined;
  /**
   * Per check with human labels (`human: { column }`): κ with people (interval in `_kappa_low`/`_kappa_high`) and the
   * share of exact agreement over `_kappa_n` pairs; `_kappa_unscored`: labelled choices the check gave no verdict;
   * `_kappa_note`: why κ is undefined (null when it is defined).
   */
  [kappa: `${string}_kappa` | `${string}_agreement`]: number | null | undefined;
  [kappaCount: `${string}_kappa_n` | `${string}_kappa_unscored`]: number | undefined;
  [kappaNote: `${string}_kappa_note`]: string | null | undefined;
}

/** A check's agreement with human labels, per cell (as stats.csv's `<check>_…` columns) or over all cells pooled. */
export interface AgreementStats {
  kappa: number | null;
  kappa_low: number | null;
  kappa_high: number | null;
  /** Choices with both a human label and a verdict: the pairs κ is computed over. */
  kappa_n: number;
  /** Labelled choices the check left without a verdict (unscored, not graded): excluded from κ, counted here. */
  kappa_unscored: number;
  /** The share of pairs in exactly the same category. */
  agreement: number | null;
  /** Why κ is undefined; null when it is defined. */
  kappa_note: string | null;
}

/** summary.json's `agreement`: per check with human labels, κ over every cell's labelled choices pooled. */
export interface AgreementSection {
  [check: string]: AgreementStats & { scale: string; weights: 'none' | 'quadratic' };
}

export interface ServedSection {
  models: Array<{ model: string | null; requests: number }>;
  system_fingerprints: Array<{ system_fingerprint: string | null; requests: number }>;
}

/** A stats field by name (metric names come from the config, so they are strings, not keys of CellStats). */
export function field(c: CellStats, key: string): unknown {
  return (c as unknown as Record<string, unknown>)[key];
}

export interface GateResult {
  /** The gate's name, or its description (`schema_valid_rate >= 0.95 [gpt-4o-mini/*] on low bound`). */
  gate: string;
  metric: string;
  cell: string;
  /** The point value of the metric. */
  value: number | null;
  /** What was judged: the point value or the interval's bound. */
  judged: number | null;
  bound: GateSpec['bound'];
  min: number | null;
  max: number | null;
  passed: boolean;
  message: string;
}

export interface GateSection {
  /**
   * `not_judged` when the run is incomplete: a gate judged on part of the rows says nothing about the run, so neither
   * a pass nor a failure is reported (the run's own exit code says it is incomplete).
   */
  status: 'judged' | 'not_judged';
  /** Why the gates were not judged, for the user. */
  reason?: string;
  /** The gates that were not judged, by description. */
  not_judged?: string[];
  passed: number;
  failed: number;
  results: GateResult[];
}

export interface ComparisonSection {
  /** The cell every other cell is compared with (within a run), or run A's label (between runs). */
  baseline: string;
  alpha: number;
  metrics: string[];
  method: string;
  rows: ComparisonRow[];
}

export interface CostSection {
  currency: 'USD';
  prices_as_of: string;
  /** Tokens of requests actually sent in this run (cached answers excluded). */
  billed_prompt_tokens: number;
  billed_completion_tokens: number;
  /** Of billed_prompt_tokens, those the server reported as cached (priced at the cached-input price). */
  billed_cached_tokens: number;
  /** null when a model's price is unknown: a partial sum would read as the whole bill. */
  cost_usd: number | null;
  /** The sum over models whose price is known. */
  known_cost_usd: number;
  unknown_models: string[];
  by_model: Array<{
    model: string;
    prompt_tokens: number;
    cached_tokens: number;
    completion_tokens: number;
    input_per_1m: number | null;
    /** The cached-input price (the input price when the model has no cache discount). */
    cached_input_per_1m: number | null;
    output_per_1m: number | null;
    cost_usd: number | null;
  }>;
  /** The built-in simulator answered: nothing was billed; the figures are what OpenAI would charge. */
  simulated: boolean;
  /**
   * Some answers came through the Batch API: those are priced at half the list price (the per-1M prices shown are
   * the list prices). A run resumed in the other mode holds both kinds; the batch_ counts say how many tokens were
   * billed at the batch price.
   */
  batch?: boolean;
  batch_prompt_tokens?: number;
  batch_completion_tokens?: number;
  /**
   * The judge calls, apart from the answers (whose tokens and cost the fields above hold): calls used (cached ones
   * among them), tokens billed and their cost, by judge model. Absent without judge checks.
   */
  judges?: {
    calls: number;
    cached_calls: number;
    billed_prompt_tokens: number;
    billed_completion_tokens: number;
    cost_usd: number | null;
    by_model: Array<{ model: string; calls: number; cached_calls: number; prompt_tokens: number; completion_tokens: number; cost_usd: number | null }>;
  };
}

/** summary.json's `pick`: the metric, the cost, and the frontier ("best at each price"), cheapest first. */
export interface PickSection {
  metric: string;
  /** 'higher': the metric is maximised; 'lower': minimised (error_rate, say). */
  direction: 'higher' | 'lower';
  cost: PickCost;
  /** Set when the configured cost could not be used (a model with no price): what was used instead, and why. */
  note?: string;
  /** Cell ids on the frontier, cheapest first: each buys more quality than the one before. */
  frontier: string[];
  /** The frontier with each cell's metric and cost, in the same order. */
  best_at_each_price: Array<{ cell: string; metric: number; cost: number }>;
  /** Cells with no value of the metric or the cost (nothing measured): on no frontier. */
  not_placed: string[];
  /**
   * The cell to pick: the cheapest whose metric the rows show to be at most `margin` worse than the best cell's (the
   * far end of its interval, paired over rows, the same test and Holm correction as `compare`, across the cells
   * compared with the best); else the best. Absent when nothing could be tested; `recommended_note` says why.
   */
  recommended?: PickRecommendation;
  recommended_note?: string;
}

export interface PickRecommendation {
  cell: string;
  metric: number;
  cost: number;
  /** The cell with the best metric (the cheapest of those tied), which every other cell was tested against. */
  best: { cell: string; metric: number; cost: number };
  alpha: number;
  /** `pick.margin`: how much worse than the best a cheaper cell may be shown to be at most (absent in older runs). */
  margin?: number;
  /** Cells tested against the best (the Holm family): the placed cells cheaper than the best. */
  compared: number;
  /** When the best is recommended over cheaper cells: the one closest to the margin, and how much worse it may be. */
  nearest?: { cell: string; worse_by: number };
  /** The recommended cell against the best (absent when it is the best): the test's figures, as in comparison.csv. */
  test?: { diff: number | null; diff_low: number | null; diff_high: number | null; p_value: number | null; p_adjusted: number | null; pairs: number; method: string };
}
