import type { ChoiceGrades } from '../contracts/checks.js';
import type { JudgeCallKey } from '../contracts/judge.js';
/**
 * The contract between running and reporting: one line of `records.jsonl` per finished request. Any executor
 * (this one, a future Batch API mode, a shard) writes these; every report is derived from them alone.
 */
export interface RequestRecord {
  /** Record format version. */
  v: 1;
  /** Plan position: row index × cells + cell index. Identifies the request for resume and orders outputs. */
  seq: number;
  cell: string;
  row_id: string;
  /** Attempts made (1 = no retry). */
  attempts: number;
  /** Latency of the last attempt, ms; null for a Batch API answer (a batch has no per-request latency). */
  latency_ms: number | null;
  /** From the first attempt's start to the end, retries and waits included, ms. */
  elapsed_ms: number;
  started_at: string;
  http_status: number | null;
  request_id: string | null;
  completion_id: string | null;
  /** The model the server says answered (may carry a version suffix). */
  model: string | null;
  /**
   * The response's `system_fingerprint`: the backend configuration that answered (it changes when the provider
   * changes the model behind the name). null when the server sent none or sent something that is not a string;
   * absent in records written before it was kept.
   */
  system_fingerprint?: string | null;
  /**
   * As the server sent it (its three counts checked), details included: `prompt_tokens_details.cached_tokens` (priced
   * at the cached-input price) and `completion_tokens_details.reasoning_tokens`. Read the details through usage.ts.
   */
  usage: Usage | null;
  choices: ChoiceRecord[];
  /** Set when the request failed after all attempts; then `choices` is empty. */
  error: RequestError | null;
  /** True when the answer came from the response cache, not a new (billed) request. */
  cached?: boolean;
  /** The Batch API batch that answered this request (billed at half the list price); absent for a synchronous one. */
  batch_id?: string;
  /**
   * What the server sent that does not fit the request: a choice index repeated or outside 0..n-1, a choice with no
   * index, usage that is not a non-negative integer. Absent when there was nothing odd. Counted in summary.json.
   */
  anomalies?: Anomaly[];
  /** Choices the server sent beyond the one kept per index (repeated or out-of-range indexes), exactly as sent. */
  extra_choices?: unknown[];
  /**
   * `n_mode: repeat`: the n single-choice requests this record's choices came from, in choice order (choice k from
   * part k). The record's attempts, latency and usage are their sums; request_id and completion_id are part 0's.
   */
  parts?: RequestPart[];
  /**
   * The dataset row's values (long texts cut), only on a request with a failing choice or that failed: the report
   * shows failing choices with their input, and records are all it reads.
   */
  input?: Record<string, unknown>;
  /**
   * 'pending': the answer is recorded and its judge calls are not all answered yet (a later line of this seq holds
   * the verdicts; a resume sends the missing calls). Absent: nothing left to judge.
   */
  judging?: 'pending';
  /** What the judge calls about this request's choices used, per judge model (judgments.jsonl holds each call). */
  judge_usage?: JudgeUsage[];
  /** judgments.jsonl only: the judge's call this record answers (the graded seq, choice, check, vote and order). */
  judge?: JudgeCallKey;
}

export interface JudgeUsage {
  model: string;
  /** Calls whose answers were used, and how many of them came from the response cache. */
  calls: number;
  cached: number;
  /** Every call's usage summed (the cost of judging, per row); `billed`: without the cached calls (what was paid). */
  usage: Usage;
  billed: Usage;
  /**
   * These calls went through the Batch API (billed at the batch price), whatever way the answer they grade went.
   * Absent in records made before judges were batched: they went the answer's way.
   */
  batch?: boolean;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details?: unknown;
  completion_tokens_details?: unknown;
  [key: string]: unknown;
}

export interface Anomaly {
  kind: 'extra_choice' | 'duplicate_index' | 'no_index' | 'bad_usage';
  message: string;
}

export interface RequestPart {
  attempts: number;
  latency_ms: number;
  http_status: number | null;
  request_id: string | null;
  completion_id: string | null;
  cached?: boolean;
  /** This request's usage as checked (null: none, or unusable); the record's usage is their sum. */
  usage?: RequestRecord['usage'];
  error: RequestError | null;
}

/** A choice as records.jsonl keeps it: what the server sent for it, and how it was graded (ChoiceGrades). */
export interface ChoiceRecord extends ChoiceGrades {
  /** 0..n-1: choice k is the server's choice with index k (never its position in the answer). */
  index: number;
  finish_reason: string | null;
  content: string | null;
  refusal: string | null;
  /**
   * As the server sent them; `id` is the call id (absent in records written before it was kept). A custom tool call
   * is {type: 'custom', name, arguments: its input}; a legacy `message.function_call` is {type: 'function_call', name,
   * arguments}; any other type is kept as its JSON.
   */
  tool_calls: Array<{ id?: string | null; name: string; arguments: string; type?: string }> | null;
  /** The choice's `logprobs` exactly as the server sent them (present when the request asked for logprobs). */
  logprobs?: unknown;
  /**
   * Set when the server returned no choice with this index (or, with n_mode repeat, its request failed): the
   * choice is a failure, finish_reason 'error' in choices.csv.
   */
  error?: string;
}

/**
 * The error code of a request a batch ran (and may have billed) whose answer could not be read: no output file, a
 * file gone, a line missing or unreadable after downloading again. Never sent again unless --retry-errors.
 */
export const BATCH_RESULT_LOST = 'batch_result_lost';

export interface RequestError {
  /**
   * http: the server answered with an error status; connection / timeout: no answer; invalid: unusable body;
   * batch: the Batch API gave the request no answer (`code` says why: batch_expired, batch_cancelled, …).
   */
  kind: 'http' | 'connection' | 'timeout' | 'invalid_response' | 'aborted' | 'batch';
  status: number | null;
  type: string | null;
  code: string | null;
  message: string;
}
