/**
 * One way from an answer to a record, for both executors and any request kind: the record's head, a chat
 * completion's choices keyed by index and graded, its usage checked, and the record of a failed request.
 */
import type OpenAI from 'openai';
import type { ChoiceChecker, ToolCall } from '../check/index.js';
import { gradedParts } from '../check/index.js';
import type { Task } from '../contracts/plan.js';
import { failedParts } from '../contracts/failing.js';
import type { Anomaly, ChoiceRecord, RequestError, RequestRecord } from '../record/index.js';
import { usageDetails } from '../record/index.js';
import { roundTo } from '../util/round.js';

export function failedRecord(task: Task, error: RequestError, m: { attempts: number; latency: number; t0: number; startedAt: Date }): RequestRecord {
  return makeRecord(task, m, {
    http_status: error.status,
    request_id: null,
    completion_id: null,
    model: null,
    system_fingerprint: null,
    usage: null,
    choices: [],
    error,
    input: inputOf(task),
  });
}

const MAX_INPUT_TEXT = 1000;

/** The row's values for the report's failing choices; a long text is cut, as the report would not show it whole. */
export function inputOf(task: Task): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(task.row.vars)) {
    const text = typeof v === 'string' ? v : undefined;
    if (text !== undefined) out[key] = text.length > MAX_INPUT_TEXT ? `${text.slice(0, MAX_INPUT_TEXT)}…` : text;
    else {
      const json = JSON.stringify(v) ?? 'null';
      out[key] = json.length > MAX_INPUT_TEXT ? `${json.slice(0, MAX_INPUT_TEXT)}…` : v;
    }
  }
  return out;
}

/** A choice with an error, or failing by the one rule (contracts/failing.ts): its record keeps the row's input. */
export function choiceFails(c: ChoiceRecord): boolean {
  if (c.error !== undefined) return true;
  const checks = c.checks ?? {};
  return failedParts(c, Object.keys(checks), (name) => checks[name]).length > 0;
}

type RecordHead = Pick<RequestRecord, 'v' | 'seq' | 'cell' | 'row_id' | 'attempts' | 'latency_ms' | 'elapsed_ms' | 'started_at'>;

/**
 * A record: the fields every record starts with, in the order the journal index reads (`v`, then `seq`), then the
 * outcome's. Object.assign, not a literal starting with `...head`: on Node 20 (V8 11.3) such a literal gets a new
 * hidden class per object, which costs ~3 KB of allocation per record and survives into the old generation
 * (test/bench/RESULTS.md, third session). A lint rule keeps the pattern out of the per-request code (eslint.config.js).
 */
export function makeRecord(task: Task, m: { attempts: number; latency: number | null; t0: number; startedAt: Date }, outcome: Omit<RequestRecord, keyof RecordHead>): RequestRecord {
  const head: RecordHead = {
    v: 1,
    seq: task.seq,
    cell: task.cell.id,
    row_id: task.row.id,
    attempts: m.attempts,
    latency_ms: m.latency === null ? null : roundTo(m.latency, 1),
    elapsed_ms: roundTo(performance.now() - m.t0, 1),
    started_at: m.startedAt.toISOString(),
  };
  return Object.assign(head, outcome);
}

export interface AttemptMeta {
  attempts: number;
  /** null when the answer has no latency of its own (a Batch API line). */
  latency: number | null;
  t0: number;
  startedAt: Date;
  status: number;
  requestId: string | null;
}

/** The record of a chat completion, from either executor (the batch executor reads it from an output line). */
export function successRecord(task: Task, data: OpenAI.ChatCompletion, meta: AttemptMeta, deps: { check: ChoiceChecker }): RequestRecord {
  const { choices, extra, anomalies } = keyChoices(task, data.choices, deps);
  const usage = usageOf(data.usage, anomalies, '');
  return makeRecord(task, meta, {
    http_status: meta.status,
    request_id: meta.requestId,
    completion_id: data.id ?? null,
    model: data.model ?? null,
    system_fingerprint: fingerprintOf(data),
    usage,
    choices,
    error: null,
    ...(anomalies.length ? { anomalies } : {}),
    ...(extra.length ? { extra_choices: extra } : {}),
    ...(choices.some(choiceFails) ? { input: inputOf(task) } : {}),
  });
}

/** The answer's `system_fingerprint` when it is a string; anything else is no fingerprint. */
export function fingerprintOf(data: OpenAI.ChatCompletion): string | null {
  const f: unknown = data.system_fingerprint;
  return typeof f === 'string' ? f : null;
}

const USAGE_KEYS = ['prompt_tokens', 'completion_tokens', 'total_tokens'] as const;

/**
 * The request's usage as the server sent it (details included), or null when it sent none or any count is not a
 * non-negative integer: a negative or fractional count would turn into negative tokens and costs in every report, so
 * it is reported, not summed. A cached or reasoning count that is not an integer within its total is reported too
 * (the usage is kept; reports count that detail as 0).
 */
export function usageOf(u: unknown, anomalies: Anomaly[], prefix: string): RequestRecord['usage'] {
  if (u === null || u === undefined) return null;
  const o = (typeof u === 'object' ? u : {}) as Record<string, unknown>;
  const bad = USAGE_KEYS.filter((k) => !(Number.isInteger(o[k]) && (o[k] as number) >= 0));
  if (bad.length) {
    const what = bad.map((k) => `${k} ${o[k] === undefined ? 'missing' : JSON.stringify(o[k])}`).join(', ');
    anomalies.push({ kind: 'bad_usage', message: `${prefix}usage ${what}: not a non-negative integer, so this request's usage is treated as absent` });
    return null;
  }
  const usage = { ...o } as NonNullable<RequestRecord['usage']>;
  const details = usageDetails(usage);
  if (details.cached === undefined) anomalies.push({ kind: 'bad_usage', message: `${prefix}usage prompt_tokens_details.cached_tokens ${JSON.stringify((o['prompt_tokens_details'] as Record<string, unknown>)['cached_tokens'])} is not an integer within prompt_tokens: priced as uncached` });
  if (details.reasoning === undefined) anomalies.push({ kind: 'bad_usage', message: `${prefix}usage completion_tokens_details.reasoning_tokens ${JSON.stringify((o['completion_tokens_details'] as Record<string, unknown>)['reasoning_tokens'])} is not an integer within completion_tokens: counted as 0` });
  return usage;
}

/**
 * Choice k is the server's choice with index k, never the choice at position k: a server may answer out of order.
 * A repeated index or one outside 0..n-1 is kept as sent in `extra_choices` and reported; a missing index becomes
 * an error choice that says which indexes came instead.
 */
export function keyChoices(task: Task, raw: unknown[], deps: { check: ChoiceChecker }): { choices: ChoiceRecord[]; extra: unknown[]; anomalies: Anomaly[] } {
  const n = task.cell.n;
  const kept: Array<ChoiceRecord | undefined> = new Array(n);
  const extra: unknown[] = [];
  const anomalies: Anomaly[] = [];
  const seen: unknown[] = [];
  raw.forEach((item, i) => {
    const c = (item && typeof item === 'object' ? item : {}) as OpenAI.ChatCompletion.Choice;
    let index: number = c.index;
    seen.push(c.index);
    if (!Number.isInteger(index)) {
      anomalies.push({ kind: 'no_index', message: `the choice at position ${i} has no valid index (${JSON.stringify(c.index) ?? 'missing'}); taken as index ${i}` });
      index = i;
    }
    if (index < 0 || index >= n) {
      anomalies.push({ kind: 'extra_choice', message: `choice index ${index} is outside 0..${n - 1} (n = ${n}); kept in extra_choices` });
      extra.push(item);
    } else if (kept[index]) {
      anomalies.push({ kind: 'duplicate_index', message: `choice index ${index} was returned more than once; the first is kept, the others are in extra_choices` });
      extra.push(item);
    } else kept[index] = toChoice(task, c, index, deps);
  });
  const choices: ChoiceRecord[] = [];
  for (let k = 0; k < n; k++) {
    const c = kept[k];
    if (c) {
      choices.push(c);
      continue;
    }
    const returned = seen.length ? `it returned ${seen.length === 1 ? 'index' : 'indexes'} ${seen.map((v) => JSON.stringify(v) ?? 'none').join(', ')}` : 'it returned no choices';
    // A server that answers one choice whatever n is ignores n (Ollama, llama.cpp): n_mode repeat is the way out.
    const hint = raw.length === 1 && n > 1 ? `; the server seems to ignore n: set 'n_mode: repeat' to send ${n} single-choice requests instead` : '';
    choices.push(missingChoice(k, `the server returned no choice with index ${k} (${returned})${hint}`));
  }
  return { choices, extra, anomalies };
}

export function missingChoice(index: number, error: string): ChoiceRecord {
  return { index, finish_reason: null, content: null, refusal: null, tool_calls: null, json_valid: null, schema_valid: null, schema_errors: [], error };
}

type AnyToolCall = { id?: unknown; type?: string; function?: { name?: unknown; arguments?: unknown }; custom?: { name?: unknown; input?: unknown } };

function toChoice(task: Task, c: OpenAI.ChatCompletion.Choice, index: number, deps: { check: ChoiceChecker }): ChoiceRecord {
  const message = c.message ?? ({} as OpenAI.ChatCompletionMessage);
  const content = typeof message.content === 'string' ? message.content : null;
  // The call id is kept as the server sent it (null when it sent none): a follow-up turn answers by it.
  const calls: ToolCall[] = [];
  for (const t of (Array.isArray(message.tool_calls) ? message.tool_calls : []) as AnyToolCall[]) {
    const id = typeof t.id === 'string' ? t.id : null;
    if (t.type === 'function' && t.function) calls.push({ id, name: String(t.function.name), arguments: String(t.function.arguments ?? '') });
    else if (t.type === 'custom' && t.custom) calls.push({ id, type: 'custom', name: String(t.custom.name), arguments: String(t.custom.input ?? '') });
    else calls.push({ id, name: String(t.type), arguments: JSON.stringify(t) });
  }
  // The legacy `functions` API answers in message.function_call: still a tool call, not an empty answer.
  const legacy = (message as { function_call?: { name?: unknown; arguments?: unknown } | null }).function_call;
  if (legacy && typeof legacy === 'object') calls.push({ id: null, type: 'function_call', name: String(legacy.name), arguments: String(legacy.arguments ?? '') });
  const refusal = typeof message.refusal === 'string' ? message.refusal : null;
  // A filtered answer or a refusal has nothing to judge (they count as content_filter and refusal). Tool calls answer
  // in arguments: those are validated against the tools, and the JSON check applies to content answers only.
  const graded = gradedParts({ content, refusal, finish_reason: c.finish_reason ?? null, hasToolCalls: calls.length > 0 });
  const check = deps.check(task, content, calls.length ? calls : null, graded.content, graded.nothing);
  return {
    index,
    finish_reason: c.finish_reason ?? null,
    content,
    refusal,
    tool_calls: calls.length ? calls : null,
    ...(c.logprobs !== undefined && c.logprobs !== null ? { logprobs: c.logprobs } : {}),
    ...check,
  };
}

