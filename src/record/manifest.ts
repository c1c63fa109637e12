import { renameSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OutputError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import type { EvaluationSpec } from '../contracts/evaluation.js';

/** Which share of the plan a shard ran (`--shard I/K`): the plan's ShardRange as run.json keeps it. */
export interface ManifestShard {
  index: number;
  count: number;
  /** First row (0-based) and one past the last. */
  rows: [start: number, end: number];
  first_seq: number;
  requests: number;
  choices: number;
}

import type { RunStatus } from '../contracts/summary.js';
export type { RunStatus };

export interface ManifestCell {
  id: string;
  params: Record<string, unknown>;
  /** The prompt variant the cell sends (`prompts:` in the config); absent without variants. */
  prompt?: string;
  n: number;
  json_mode: boolean;
}

/** `run.json`: what was run, with what, and how it ended. With records.jsonl it is all a report needs. */
export interface RunManifest {
  format: 'evalrun-run/1';
  name: string;
  config_file: string;
  /** Hash of the config and the datasets' bytes: resume refuses a directory whose hash differs. */
  run_hash: string;
  config_hash: string;
  dataset_hash: string;
  /** Hash of the prompt text (the template, or every variant's templates); absent in runs made before it was kept. */
  prompt_hash?: string;
  status: RunStatus;
  started_at: string;
  ended_at: string | null;
  exit_code: number | null;
  /**
   * The spend limit of the last session (`budget_usd:`, `--max-cost`) and what the run directory had spent when it
   * ended, USD; `stopped: true` when it stopped the run (then `reason` says spent, reserved and the request refused).
   * Absent for a session without a limit.
   */
  budget?: { limit_usd: number; spent_usd: number; stopped: boolean; reason?: string };
  versions: { evalrun: string; node: string; openai_sdk: string };
  provider: { kind: string; base_url: string };
  plan: { rows: number; requests: number; choices: number; cells: ManifestCell[] };
  /** One entry per invocation (the first run, then each resume). */
  sessions: Array<{ started_at: string; ended_at: string | null; status: RunStatus; recorded: number; shard?: string }>;
  /** The prompt variants' message templates, by name (absent without `prompts:`): what each cell's `prompt` sent. */
  prompts?: Record<string, Array<{ role: string; content: string; name?: string }>>;
  /**
   * What shapes the requests besides the cells and the variants: the message template, the id column and n_mode.
   * `evalrun regrade` refuses a config that changes them. Absent in runs made before it was kept.
   */
  request?: { messages: unknown; id_column: string | null; n_mode: 'native' | 'repeat' };
  /** Each `evalrun regrade` of this run: when, with which config, and the config hash it replaced. */
  regrades?: Array<{ at: string; config_file: string; config_hash: string; previous_config_hash: string }>;
  /** The run's JSON Schema, if any, so a report can be rebuilt without the config. */
  schema_file: string | null;
  /** Checks, comparison, gates and prices: how reports judge the run. Absent in runs made before they existed. */
  evaluation?: EvaluationSpec;
  /** Hash of what shapes the requests and records (src/plan/fingerprint.ts): shards merge only when theirs agree. */
  plan_fingerprint?: string;
  /** Set when this directory is one shard (`--shard I/K`): it holds only these rows' requests, under global seqs. */
  shard?: ManifestShard;
  /** Set when this directory was made by `evalrun merge`: where its records came from. */
  merged?: MergeProvenance;
  /** Set when the run sends through the Batch API: its batches, and the price (half the list price). */
  batch?: BatchManifest;
  /**
   * Batch mode with judge checks: the judge calls' batches, sent once the answers they grade are recorded. Same
   * protocol as `batch`, its own run id and parts; a part's seqs are judge call ids (docs/decisions.md).
   */
  judge_batch?: BatchManifest;
}

/** `count` blocks of `width` consecutive plan seqs, each `stride` after the last (src/run/batch/seq-runs.ts). */
export type SeqRun = [first: number, width: number, stride: number, count: number];

/** The Batch API side of a run: what was submitted, so a resume never submits it again (docs/decisions.md). */
export interface BatchManifest {
  /** Sent as the batches' `metadata.evalrun_run`: finds batches created but not recorded (a kill right after create). */
  run_id: string;
  poll_s: number;
  max_requests: number;
  parts: BatchPart[];
}

/**
 * One input file and the batch made of it. `intent`: recorded before the upload, no batch known yet; `submitted`:
 * the batch exists (`batch_id`); `done`: its results are in records.jsonl; `abandoned`: an intent no batch was found
 * for on resume (its requests were submitted again in another part).
 */
export interface BatchPart {
  part: number;
  attempt: number;
  model: string;
  /** The plan seqs in the file, as strided runs [first, width, stride, count] (src/run/batch/seq-runs.ts). */
  seqs: SeqRun[];
  requests: number;
  file: string;
  state: 'intent' | 'submitted' | 'done' | 'abandoned';
  intent_at: string;
  input_file_id?: string;
  batch_id?: string;
  /** The provider's status, as last seen. */
  status?: string;
  created_at?: string;
  ended_at?: string;
  request_counts?: { total: number; completed: number; failed: number };
  /** Seconds spent building the input file (streaming the plan), and reading the results into records.jsonl. */
  build_s?: number;
  ingest_s?: number;
  /** Why the batch failed validation, when it did (`errors.data`). */
  errors?: Array<{ code: string; message: string; line: number | null }>;
  /** Lines in the file when it is not one per request (`n_mode: repeat`: n single-choice lines per request). */
  lines?: number;
  /** The requests' enqueued tokens as evalrun estimates them (prompt ≈ 4 characters a token, plus max_tokens × n). */
  tokens?: number;
  /** How many times this file was refused for the enqueued-token limit (each wait doubles). */
  limit_waits?: number;
  /** Set when evalrun cancelled the batch (`evalrun cancel`); a batch cancelled otherwise stops the run. */
  cancelled_by?: 'evalrun';
  /** When `evalrun cancel --abandon` forgot the batch (the server no longer knew it): its requests were sent again. */
  abandoned_at?: string;
  /** Requests the batch ran whose answer could not be read: recorded as batch_result_lost. */
  lost?: number;
  /** Result lines that were unreadable, named no request of the part, or named one twice (summary.json's anomalies). */
  line_anomalies?: { count: number; examples: string[] };
}

export interface MergeProvenance {
  /** True when shards or some of their requests were missing (`--partial`). */
  partial: boolean;
  /** Shards (I/K) that were not given. */
  missing: string[];
  /** Shards given that had not recorded all their requests. */
  unfinished: string[];
  shards: Array<{ shard: string; dir: string; plan_fingerprint: string; run_hash: string; status: RunStatus; requests: number; recorded: number; provider: RunManifest['provider']; versions: RunManifest['versions'] }>;
}

export const MANIFEST = 'run.json';
export const RECORDS = 'records.jsonl';

export async function readManifest(dir: string): Promise<RunManifest> {
  const file = join(dir, MANIFEST);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new OutputError(`${file} not found: '${dir}' is not an evalrun run directory`, 'EVALRUN_NOT_A_RUN');
  }
  try {
    const m = JSON.parse(text) as RunManifest;
    if (m.format !== 'evalrun-run/1') throw new Error(`unknown format ${String(m.format)}`);
    return m;
  } catch (e) {
    throw new OutputError(`${file} is not readable: ${(e as Error).message}`, 'EVALRUN_NOT_A_RUN');
  }
}

export function writeManifest(dir: string, manifest: RunManifest): Promise<void> {
  return writeFileAtomic(join(dir, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
}

/** For a process about to exit at once (a second Ctrl-C): the same write-then-rename, synchronously. */
export function writeManifestSync(dir: string, manifest: RunManifest): void {
  const file = join(dir, MANIFEST);
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, `${JSON.stringify(manifest, null, 2)}\n`, 'utf8');
    renameSync(tmp, file);
  } catch {
    // Going down anyway: run.json keeps 'running', and a report says the run is incomplete all the same.
  }
}
