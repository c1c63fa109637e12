import type { JudgeSimulatorOptions } from './judge.js';
import type { BilledTokens } from '../contracts/prices.js';
import type { ServedModel } from './model.js';
/** Public option and result types of the built-in OpenAI-compatible simulator. */

export type LatencyOption = number | { min_ms: number; max_ms: number } | { mean_ms: number; jitter_ms?: number };

export type { FaultKind } from '../contracts/simulator-options.js';
import type { FaultKind } from '../contracts/simulator-options.js';

/**
 * Probability 0..1 of each fault per admitted request. Kinds fire independently; when several fire, the first of
 * rate_limit, server_error, unavailable, reset, stall, malformed wins.
 */
export type FaultOptions = Partial<Record<FaultKind, number>>;

export interface SimulatorOptions {
  /** Default 0 (ephemeral). */
  port?: number;
  /** Default '127.0.0.1'. */
  host?: string;
  /** Global seed mixed into every request's seed. Default 0. */
  seed?: number;
  /** JSON Schema the "model" aims for in JSON modes; `response_format.json_schema.schema` takes precedence. */
  schema?: object;
  /** Delay before each admitted chat answer, deterministic per request. */
  latency?: LatencyOption;
  faults?: FaultOptions;
  /** Requests per minute over a sliding 60 s window. */
  rpm?: number;
  /** Tokens per minute (prompt estimate + max_tokens * n) over a sliding 60 s window. */
  tpm?: number;
  /**
   * Length of the rpm/tpm window and of `perMinuteMax` (default 60 000 ms). Tests shorten it so a limit is reached
   * in seconds; rpm and tpm then count per window.
   */
  window_ms?: number;
  /** When set, every request needs `Authorization: Bearer <api_key>`. */
  api_key?: string;
  /** After this many chat requests, every request gets 401 (an API key that expires mid-run). */
  fail_auth_after?: number;
  /** Listed by GET /v1/models. */
  models?: string[];
  /** Unknown model in a chat request → 404 model_not_found. */
  strict_models?: boolean;
  /**
   * What the server says answered, by requested model (`*`: any other): the response's `model` and
   * `system_fingerprint`, and `invalid_json`, a probability added to every JSON answer's chance of not being JSON.
   * Changed between runs, it plays a provider that swaps the snapshot behind a model name.
   */
  served?: Record<string, ServedModel>;
  /** The Files and Batch APIs (`/v1/files`, `/v1/batches`): timing, limits and faults. Each batch gets at most one of the batch faults below (expire, cancel_external, unknown_status, overdue, no_output_file, delete_output, drop_lines, odd_lines): several of them spoil successive batches. */
  batch?: BatchSimulatorOptions;
  /**
   * Where the Files and Batch APIs keep their files and batches, so they outlive the process (the run directory's
   * `simulator/` folder for `provider: simulator`). Default: a temporary folder removed when the simulator stops.
   */
  state_dir?: string;
  /** How judge requests are answered (src/simulator/judge.ts): noise, unparseable verdicts, refusals, position bias. */
  judge?: JudgeSimulatorOptions;
}

/** Batch lines are answered like chat requests: `faults` (top level, or `batch.faults`) make some lines fail. */
export interface BatchSimulatorOptions {
  /** How long a batch takes from creation to `completed`, ms (compressed time; default 1000). */
  duration_ms?: number;
  /**
   * Batches that take `duration_ms` instead of the default duration: `times` batches (default all), after skipping
   * the first `skip` created. A batch keeps the duration it was created with, across restarts too. So a test can
   * have one batch still running when it interrupts a run while the batches before and after it finish at once.
   */
  slow?: { times?: number; skip?: number; duration_ms: number };
  /** Line faults for batch lines only; default: the top-level `faults`. 429/500/503 become error lines with a response, reset/stall/malformed lines with `error` and `response: null`. */
  faults?: FaultOptions;
  /** Lines per input file (default 50 000). */
  max_requests?: number;
  /** Bytes per uploaded batch file (default 200 MB). */
  max_file_bytes?: number;
  /** The first `times` (default 1) batches that pass validation fail it instead with `code` (default token_limit_exceeded). */
  fail_validation?: { times?: number; code?: string; message?: string };
  /** Batches expire after answering the fraction `after` (default 0.5) of their lines: `times` batches (default all), after skipping the first `skip` created. */
  expire?: { times?: number; after?: number; skip?: number };
  /**
   * The first `times` (default 1) batch creations are carried out, but their answer never arrives: the connection is
   * closed instead, as when a proxy or the network drops it. The client cannot tell whether the batch exists.
   */
  /** Creations carried out whose answer is lost: the connection closed, or `status` (a gateway's 502) answered. */
  lose_create_answer?: { times?: number; status?: number };
  /** Enqueued tokens per model (prompt estimate + max_tokens × n per line): a batch over it fails validation with token_limit_exceeded, stating the limit. */
  token_limit?: number;
  /** The first download of each of the first result files is spoilt, in this order: `reset` (cut mid-body), `stall` (headers and half the body, then nothing), `html` (a 200 text/html gateway page), `short` (ends early on a line boundary), `cut` (ends mid-line), `server_error` (502). Each value is a count of files; a file downloaded again comes whole. */
  download?: { reset?: number; stall?: number; html?: number; short?: number; cut?: number; server_error?: number };
  /** The first `times` (default 1) batches complete with `output_file_id: null`, though their lines ran. */
  no_output_file?: { times?: number };
  /** The first `times` (default 1) batches' output files are deleted before anyone downloads them (404). */
  delete_output?: { times?: number };
  /** The first `times` (default 1) batches' output files leave out `count` (default 1) of their lines. */
  drop_lines?: { times?: number; count?: number };
  /** The first `times` (default 1) batches are cancelled by someone else after answering the fraction `after` (default 0.5). */
  cancel_external?: { times?: number; after?: number };
  /** The first `times` (default 1) batches show `status` (default `queued`, not one of the API's) while validating. */
  unknown_status?: { times?: number; status?: string };
  /** The first `times` (default 1) batches are created an hour past their `expires_at` and never end. */
  overdue?: { times?: number };
  /** The first `times` (default 1) batches' output files also hold a repeated line, a line for an unknown custom_id and a line that is not JSON. */
  odd_lines?: { times?: number };
}

export interface SimulatorStats {
  /** Every HTTP request received, any route. */
  requests: number;
  /** Chat completions answered 200 with a well-formed body. */
  completions: number;
  byStatus: Record<string, number>;
  maxInFlight: number;
  inFlight: number;
  /** Most chat-completion requests that arrived within any sliding 60 s window (rejected ones included). */
  perMinuteMax: number;
  /** Injected faults by kind, plus `rpm_limited` / `tpm_limited` for 429s from the rpm/tpm limits. */
  faults: Record<string, number>;
  /** Batch lines answered (through the chat completion code), in all batches. */
  batchLines: number;
  /** How many times each batch line was answered, by custom_id: a request resubmitted after it was answered counts 2. */
  batchComputed: Record<string, number>;
  /** How many times each custom_id was submitted in a batch that passed validation (so was to run, and be billed). */
  batchSubmitted: Record<string, number>;
  /**
   * The usage answered 200 (chat completions and batch lines, the latter under `batch`), by requested model: what a
   * provider bills. A test prices it with the price table to check a spend limit from the server's side.
   */
  served: Record<string, BilledTokens>;
}

export interface RunningSimulator {
  /** Base URL including /v1, e.g. http://127.0.0.1:PORT/v1 */
  url: string;
  port: number;
  stats: SimulatorStats;
  close(): Promise<void>;
}

export interface SimulatedReply {
  /** 0 when `fault` is 'reset' or 'stall' (nothing is sent). */
  status: number;
  headers: Record<string, string>;
  /** An object sent as JSON, or a string sent as-is (the 'malformed' fault). */
  body: unknown;
  fault?: FaultKind;
}
