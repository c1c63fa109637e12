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
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number } | null;
  choices: ChoiceRecord[];
  /** Set when the request failed after all attempts; then `choices` is empty. */
  error: RequestError | null;
  /** True when the answer came from the response cache, not a new (billed) request. */
  cached?: boolean;
}

export interface ChoiceRecord {
  index: number;
  finish_reason: string | null;
  content: string | null;
  refusal: string | null;
  /** As the server sent them; `id` is the call id (absent in records written before it was kept). */
  tool_calls: Array<{ id?: string | null; name: string; arguments: string }> | null;
  json_valid: boolean | null;
  schema_valid: boolean | null;
  schema_errors: string[];
  /** Each configured check's outcome (see `checks:`); null or absent: not graded (a tool call, a failed request). */
  checks?: Record<string, boolean | null>;
  /** Every tool call names a configured tool and its arguments satisfy its `parameters`; null/absent: no tool calls. */
  tool_args_valid?: boolean | null;
}

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
