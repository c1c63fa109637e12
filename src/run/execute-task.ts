import OpenAI from 'openai';
import { ApiFatalError } from '../errors.js';
import type { ChoiceCheck, ToolCall } from '../check/index.js';
import { gradedParts } from '../check/index.js';
import type { Task } from '../contracts/plan.js';
import type { Anomaly, ChoiceRecord, RequestError, RequestPart, RequestRecord } from '../record/index.js';
import type { ResponseCache } from './cache.js';
import { addUsage, usageDetails } from '../record/index.js';
import { redactUrl } from '../util/redact.js';
import { answerCutMessage, answerCutOf, isUnreachable, systemErrorOf, unreachableMessage, type SystemError } from './connection-error.js';
import type { ExchangeHooks } from './http-fetch.js';
import type { Slots } from './run-plan.js';
import { retryDelayMs, shouldRetry, sleep as realSleep, type AttemptFailure, type RetryPolicy } from './retry.js';

export interface ExecuteDeps {
  client: OpenAI;
  /** The run's HTTP request slots (concurrency): one is held per attempt, from before sending until the answer is in. */
  slots: Slots;
  retry: RetryPolicy;
  timeoutMs: number;
  /**
   * Check one choice for its cell: its content (JSON + schema; NOT_CHECKED outside JSON mode) unless `gradeContent`
   * is false, its tool calls' arguments, and the configured checks.
   */
  check: (task: Task, content: string | null, toolCalls?: readonly ToolCall[] | null, gradeContent?: boolean, nothing?: boolean) => ChoiceCheck;
  redact: (text: string) => string;
  /** Aborted on a hard stop (a second Ctrl-C, or the grace period after the first ran out): nothing more is recorded. */
  signal: AbortSignal;
  /** Called after every attempt, for pool-wide pacing (rate limits) and progress. */
  onAttempt?: (outcome: { status: number | undefined; headers: Headers | undefined; retrying: boolean }) => void;
  /** Waits before every attempt (rate limiting); resolves false when the run is stopping. */
  beforeAttempt?: (task: Task) => Promise<boolean>;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<boolean>;
  random?: () => number;
  /** Off unless the user asks: a hit replays a recorded answer instead of drawing a new sample. */
  cache?: ResponseCache | undefined;
  /** 'repeat': n single-choice requests instead of one request with n choices (servers that ignore n). */
  nMode?: 'native' | 'repeat' | undefined;
  /** Shared by the run's requests: whether any of them has had an HTTP answer yet (see `Reachability`). */
  reach?: Reachability | undefined;
}

/**
 * Until some request of the run has had an HTTP answer (any status), a connection failure most likely means the
 * server cannot be reached at all (wrong port, host, certificate): the run stops like on a 401 instead of retrying
 * every request. Once something has answered, a failed connection is a blip and is retried as before.
 */
export interface Reachability {
  answered: boolean;
  /** Some request of the run has had a usable chat completion: until then a non-JSON answer stops the run. */
  usable?: boolean;
}

/** The most of a server's error text a record keeps: a proxy's HTML page must not fill choices.csv. */
export const MAX_ERROR_CHARS = 2000;

/** The SDK's per-request options for its fetch: evalrun's fetch reads its hooks from them. */
type FetchOptions = NonNullable<NonNullable<Parameters<OpenAI['chat']['completions']['create']>[1]>['fetchOptions']>;

/** 401, 403, 404: the key, the access or the model is wrong: no later request can succeed either. */
const FATAL = new Set([401, 403, 404]);

/** Which of a planned request's HTTP exchanges is going on: the only one, or part k of an `n_mode: repeat` set. */
interface Clock {
  t0: number;
  startedAt: Date;
  sent: boolean;
}

type Exchange =
  | { ok: true; data: OpenAI.ChatCompletion; status: number; requestId: string | null; attempts: number; latency: number; cached: boolean }
  | { ok: false; error: RequestError; attempts: number; latency: number };

/**
 * One chat completion with n choices, retried by our policy. Never throws for a per-request problem: a failure
 * after all attempts becomes a record with `error`. Throws ApiFatalError when the whole run must stop; returns
 * undefined when aborted, so the request stays unrecorded and a resume sends it again.
 */
export async function executeTask(task: Task, deps: ExecuteDeps): Promise<RequestRecord | undefined> {
  if (deps.nMode === 'repeat' && task.cell.n > 1) return repeatTask(task, deps);
  // Reset when the first request is sent: time spent waiting for a slot is the scheduler's, not the request's.
  const clock: Clock = { t0: performance.now(), startedAt: new Date(), sent: false };
  const x = await exchange(task, task.body, task.body, clock, deps);
  if (!x) return undefined;
  if (!x.ok) return failedRecord(task, x.error, { attempts: x.attempts, latency: x.latency, ...clock });
  const record = successRecord(task, x.data, { attempts: x.attempts, latency: x.latency, t0: clock.t0, startedAt: clock.startedAt, status: x.status, requestId: x.requestId }, deps);
  return x.cached ? Object.assign(record, { cached: true }) : record;
}

/**
 * `n_mode: repeat`: n single-choice requests for a server that ignores `n` (Ollama, llama.cpp), sent one after the
 * other, recorded as one record whose choice k is request k's answer. With a `seed` in the request, request k
 * sends seed + k, so the samples differ and stay reproducible. Stopped part-way, nothing is recorded and a resume
 * sends the whole set again (the response cache, when on, replays the parts already answered).
 */
async function repeatTask(task: Task, deps: ExecuteDeps): Promise<RequestRecord | undefined> {
  const n = task.cell.n;
  const clock: Clock = { t0: performance.now(), startedAt: new Date(), sent: false };
  const parts: RequestPart[] = [];
  const choices: ChoiceRecord[] = [];
  const anomalies: Anomaly[] = [];
  const extra: unknown[] = [];
  let attempts = 0;
  let latency = 0;
  let usage: RequestRecord['usage'] | undefined;
  let usageKnown = true;
  let model: string | null | undefined;
  let fingerprint: string | null | undefined;
  let lastError: RequestError | undefined;
  for (let k = 0; k < n; k++) {
    const body = repeatBody(task.body, k);
    // Without a seed the n bodies are the same: the cache must still keep n different answers.
    const cacheKey = Object.assign({}, body, { 'evalrun:repeat': k });
    const x = await exchange(Object.assign({}, task, { body }), body, cacheKey, clock, deps);
    if (!x) return undefined;
    attempts += x.attempts;
    latency += x.latency;
    if (!x.ok) {
      lastError = x.error;
      parts.push({ attempts: x.attempts, latency_ms: round(x.latency), http_status: x.error.status, request_id: null, completion_id: null, error: x.error });
      choices.push(missingChoice(k, repeatFailure(k, n, x.error)));
      continue;
    }
    parts.push({
      attempts: x.attempts,
      latency_ms: round(x.latency),
      http_status: x.status,
      request_id: x.requestId,
      completion_id: x.data.id ?? null,
      ...(x.cached ? { cached: true } : {}),
      usage: null,
      error: null,
    });
    model ??= x.data.model ?? null;
    fingerprint ??= fingerprintOf(x.data);
    const keyed = keyChoices(Object.assign({}, task, { cell: Object.assign({}, task.cell, { n: 1 }) }), x.data.choices, deps);
    const c = keyed.choices[0]!;
    choices.push(Object.assign(c, { index: k }));
    for (const a of keyed.anomalies) anomalies.push(Object.assign(a, { message: `request ${k + 1} of ${n}: ${a.message}` }));
    extra.push(...keyed.extra);
    const u = usageOf(x.data.usage, anomalies, `request ${k + 1} of ${n}: `);
    parts[parts.length - 1]!.usage = u;
    if (u === null) usageKnown = false;
    else usage = usage ? addUsage(usage, u) : u;
  }
  const okFirst = parts.find((p) => p.error === null);
  if (!okFirst) return Object.assign(failedRecord(task, lastError!, { attempts, latency, ...clock }), { parts });
  return makeRecord(task, { attempts, latency, ...clock }, {
    http_status: okFirst.http_status,
    request_id: okFirst.request_id,
    completion_id: okFirst.completion_id,
    model: model ?? null,
    system_fingerprint: fingerprint ?? null,
    // A part without usage leaves the sum unknown: a partial sum would undercount.
    usage: usageKnown ? (usage ?? null) : null,
    choices,
    error: null,
    ...(parts.every((p) => p.cached || p.error) ? { cached: true } : {}),
    ...(anomalies.length ? { anomalies } : {}),
    ...(extra.length ? { extra_choices: extra } : {}),
    parts,
  });
}

/** Request k of an `n_mode: repeat` set: one choice, and seed + k when the request has a seed. */
export function repeatBody(body: Task['body'], k: number): Task['body'] {
  const out: Task['body'] = { ...body };
  delete out['n'];
  if (typeof out['seed'] === 'number') out['seed'] = out['seed'] + k;
  return out;
}

/** What a failed choice of an `n_mode: repeat` record says. */
export function repeatFailure(k: number, n: number, error: Pick<RequestError, 'status' | 'kind' | 'message'>): string {
  return `request ${k + 1} of the ${n} (n_mode repeat) failed: ${error.status ?? error.kind}: ${error.message}`;
}

/** One HTTP exchange (with its retries), or its cached answer; undefined when the run is stopping. */
async function exchange(task: Task, body: Task['body'], cacheKey: unknown, clock: Clock, deps: ExecuteDeps): Promise<Exchange | undefined> {
  const sleep = deps.sleep ?? realSleep;
  let attempts = 0;
  let latency = 0;
  let lastError: RequestError | undefined;
  const hit = await deps.cache?.get(cacheKey);
  if (hit) {
    if (deps.reach) deps.reach.usable = true;
    return { ok: true, data: hit.data as OpenAI.ChatCompletion, status: hit.status, requestId: hit.request_id, attempts: 0, latency: hit.latency_ms, cached: true };
  }
  while (attempts < deps.retry.maxAttempts) {
    const release = await deps.slots.acquire();
    if (!release) return undefined;
    let failure: AttemptFailure;
    try {
      if (deps.beforeAttempt && !(await deps.beforeAttempt(task))) return undefined;
      if (deps.signal.aborted) return undefined;
      if (!clock.sent) {
        clock.sent = true;
        clock.startedAt = new Date();
        clock.t0 = performance.now();
      }
      attempts++;
      const a0 = performance.now();
      // A successful answer gives its slot back as soon as its last byte is in (see http-fetch), so the next request
      // is sent before this one is parsed, checked and recorded. Errors keep the slot until they are classified: a
      // fatal 401 halts the slots before anything else can be sent.
      // A body that is not OpenAI's error envelope is lost inside the SDK's APIError: the fetch hands it over here.
      let errorBody: string | undefined;
      let answeredMs: number | undefined;
      // The server has answered as soon as the answer's bytes are in, before the SDK reads them: requests failing
      // meanwhile must not take the server for unreachable.
      const hooks: ExchangeHooks = {
        onAnswered: (ms) => {
          answeredMs = ms;
          if (deps.reach) deps.reach.answered = true;
          release();
        },
        onErrorBody: (text) => {
          errorBody = text;
          if (deps.reach) deps.reach.answered = true;
        },
      };
      // No signal is given to the SDK: it would add a listener per request (and never remove it). A hard stop ends
      // the requests in flight by closing the HTTP pool instead (Provider.abortInFlight); deps.signal then says why.
      try {
        const { data, response, request_id } = await deps.client.chat.completions
          .create(body as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming, { timeout: deps.timeoutMs, maxRetries: 0, fetchOptions: hooks as FetchOptions })
          .withResponse();
        // The time the server took, from the request's first byte to the answer's last: not the SDK's own work.
        latency = answeredMs ?? performance.now() - a0;
        release();
        if (deps.reach) deps.reach.answered = true;
        if (!Array.isArray(data?.choices)) {
          const type = response.headers.get('content-type') ?? 'none';
          const json = /\bjson\b/i.test(type);
          const body = typeof data === 'string' ? data : (JSON.stringify(data) ?? String(data));
          const start = bounded(deps.redact(body.trim().replace(/\s+/g, ' ')), BODY_START_CHARS);
          lastError = {
            kind: 'invalid_response',
            status: response.status,
            type: null,
            code: null,
            message: `the server answered ${response.status} with content-type ${type}, not a chat completion${json ? ' (no choices array)' : ''}; its body begins: ${start}`,
          };
          failure = { status: undefined, headers: response.headers };
          // Before any usable answer, a page that is not JSON (a login page, a proxy's) will not change on retry,
          // nor for the next request: the run stops like on an unreachable server; this request stays unrecorded.
          if (!json && deps.reach && !deps.reach.usable) {
            deps.onAttempt?.({ status: undefined, headers: undefined, retrying: false });
            const fatal = new ApiFatalError(
              `${requestUrl(deps.client.baseURL)} ${lastError.message}\nNo request of this run has had a usable answer: the base URL most likely points at a web page (a login or proxy page) rather than an OpenAI-compatible API. Fix OPENAI_BASE_URL / provider.base_url (it usually ends in /v1).\nNothing more was sent; resume the run with --resume once it is fixed.`,
              response.status,
            );
            deps.slots.halt(fatal);
            throw fatal;
          }
        } else {
          if (deps.reach) deps.reach.usable = true;
          deps.onAttempt?.({ status: response.status, headers: response.headers, retrying: false });
          const requestId = request_id ?? null;
          if (deps.cache) await deps.cache.put(cacheKey, { status: response.status, request_id: requestId, latency_ms: round(latency), data });
          return { ok: true, data, status: response.status, requestId, attempts, latency, cached: false };
        }
      } catch (e) {
        if (e instanceof ApiFatalError) throw e;
        latency = performance.now() - a0;
        if (e instanceof OpenAI.APIUserAbortError || deps.signal.aborted) return undefined;
        const classified = classify(e, deps.redact, errorBody, deps.timeoutMs);
        // Headers arrived before the body broke off: the server did answer.
        if (answerCutOf(e) && deps.reach) deps.reach.answered = true;
        lastError = classified.error;
        failure = classified.failure;
        if (failure.status !== undefined && deps.reach) deps.reach.answered = true;
        if (failure.status !== undefined && FATAL.has(failure.status)) {
          deps.onAttempt?.({ status: failure.status, headers: failure.headers, retrying: false });
          const fatal = new ApiFatalError(fatalMessage(classified.error, task, requestUrl(deps.client.baseURL)), failure.status);
          deps.slots.halt(fatal);
          throw fatal;
        }
        const sys = classified.system;
        // A refused connection (or one that failed on every attempt) before anything answered: stop the run now;
        // this request stays unrecorded, so --resume sends it again.
        if (sys && deps.reach && !deps.reach.answered && (isUnreachable(sys.code) || attempts >= deps.retry.maxAttempts)) {
          deps.onAttempt?.({ status: undefined, headers: undefined, retrying: false });
          const fatal = new ApiFatalError(unreachableMessage(deps.client.baseURL, sys, attempts), undefined, { cause: e });
          deps.slots.halt(fatal);
          throw fatal;
        }
      }
    } finally {
      release();
    }
    const retrying = attempts < deps.retry.maxAttempts && shouldRetry(failure);
    deps.onAttempt?.({ status: failure.status, headers: failure.headers, retrying });
    if (!retrying) break;
    if (!(await sleep(retryDelayMs(failure, attempts, deps.retry, deps.random), deps.signal))) return undefined;
  }
  return { ok: false, error: lastError ?? { kind: 'connection', status: null, type: null, code: null, message: 'no attempt was made' }, attempts, latency };
}

function failedRecord(task: Task, error: RequestError, m: { attempts: number; latency: number; t0: number; startedAt: Date }): RequestRecord {
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

/** The same "failing" the report's failing-choices list uses (collector.ts): anything a reader would look into. */
export function choiceFails(c: ChoiceRecord): boolean {
  if (c.error !== undefined || c.tool_args_valid === false) return true;
  if (c.finish_reason !== 'stop' && c.finish_reason !== 'tool_calls') return true;
  if (c.json_valid === false || c.schema_valid === false) return true;
  return Object.values(c.checks ?? {}).some((v) => v === false);
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
    latency_ms: m.latency === null ? null : round(m.latency),
    elapsed_ms: round(performance.now() - m.t0),
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

/** Shared with the batch executor, which builds the same record from an output line. */
export function successRecord(task: Task, data: OpenAI.ChatCompletion, meta: AttemptMeta, deps: Pick<ExecuteDeps, 'check'>): RequestRecord {
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
function fingerprintOf(data: OpenAI.ChatCompletion): string | null {
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
function usageOf(u: unknown, anomalies: Anomaly[], prefix: string): RequestRecord['usage'] {
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
function keyChoices(task: Task, raw: unknown[], deps: Pick<ExecuteDeps, 'check'>): { choices: ChoiceRecord[]; extra: unknown[]; anomalies: Anomaly[] } {
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

function missingChoice(index: number, error: string): ChoiceRecord {
  return { index, finish_reason: null, content: null, refusal: null, tool_calls: null, json_valid: null, schema_valid: null, schema_errors: [], error };
}

type AnyToolCall = { id?: unknown; type?: string; function?: { name?: unknown; arguments?: unknown }; custom?: { name?: unknown; input?: unknown } };

function toChoice(task: Task, c: OpenAI.ChatCompletion.Choice, index: number, deps: Pick<ExecuteDeps, 'check'>): ChoiceRecord {
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

function classify(
  e: unknown,
  redact: (t: string) => string,
  errorBody: string | undefined,
  timeoutMs: number,
): { error: RequestError; failure: AttemptFailure; system?: SystemError } {
  if (e instanceof OpenAI.APIConnectionTimeoutError) {
    const s = timeoutMs / 1000;
    const message = `no answer within ${s} s (timeout_s: ${s}), so the attempt was given up; if the server is just slow (a long answer, a loaded local model), raise timeout_s in the config`;
    return { error: { kind: 'timeout', status: null, type: null, code: null, message }, failure: { status: undefined, headers: undefined } };
  }
  if (e instanceof OpenAI.APIConnectionError) {
    // "fetch failed" alone tells the user nothing: the system error under it says refused, not found, certificate.
    const system = systemErrorOf(e);
    const cut = answerCutOf(e);
    if (cut) {
      // Not a system error for the unreachable-server rule: the server answered, then the body broke off.
      return { error: { kind: 'connection', status: null, type: null, code: system?.code ?? null, message: bounded(redact(answerCutMessage(cut, system))) }, failure: { status: undefined, headers: undefined } };
    }
    const cause = system ? `${system.code}${system.message !== system.code ? ` (${system.message})` : ''}` : (e.cause as Error | undefined)?.message;
    return {
      error: { kind: 'connection', status: null, type: null, code: system?.code ?? null, message: bounded(redact(`connection error${cause ? `: ${cause}` : ''}`)) },
      failure: { status: undefined, headers: undefined },
      ...(system ? { system } : {}),
    };
  }
  if (e instanceof OpenAI.APIError) {
    const envelope: unknown = e.error;
    const said = envelope && typeof envelope === 'object' ? (envelope as { message?: unknown }).message : undefined;
    let message: string;
    if (typeof said === 'string') message = said;
    // `{"error": "text"}`, as several OpenAI-compatible servers answer.
    else if (typeof envelope === 'string') message = envelope;
    // Not OpenAI's envelope (a gateway's problem+json, a proxy's HTML page): the SDK would say "(no body)"; the
    // server's own explanation is kept instead.
    else if (errorBody !== undefined && errorBody.trim() !== '') message = `${e.status ?? 'error'} (not an OpenAI error body): ${errorBody.trim().replace(/\s+/g, ' ')}`;
    else message = e.message;
    return {
      error: { kind: 'http', status: e.status ?? null, type: e.type ?? null, code: e.code ?? null, message: bounded(redact(message)) },
      failure: { status: e.status, headers: e.headers },
    };
  }
  // A 200 whose body is not JSON surfaces as a SyntaxError from the SDK's parser: a server fault, worth a retry.
  return {
    error: { kind: 'invalid_response', status: null, type: null, code: null, message: bounded(redact(`unreadable response: ${(e as Error)?.message ?? String(e)}`)) },
    failure: { status: undefined, headers: undefined },
  };
}

/** How much of an unexpected 2xx body a message shows: enough to recognise a login page or a proxy's. */
const BODY_START_CHARS = 300;

/** Redacted after the cut would leave half a secret: callers redact first, then bound. */
function bounded(text: string, max = MAX_ERROR_CHARS): string {
  return text.length > max ? `${text.slice(0, max)}… (${text.length - max} more characters)` : text;
}

/** The chat completions URL the SDK posts to, credentials hidden. */
function requestUrl(baseUrl: string): string {
  return redactUrl(`${baseUrl.replace(/\/+$/, '')}/chat/completions`);
}

function fatalMessage(err: RequestError, task: Task, url: string): string {
  const what =
    err.status === 401
      ? 'the API key was rejected'
      : err.status === 403
        ? 'the key has no access to this model or endpoint'
        : notFound(String(task.body.model), url);
  return `The API answered ${err.status}: ${what}. Server said: ${err.message}\nNothing more was sent; every finished request is kept.`;
}

/** A 404 is either the model or the URL: the message names the URL tried and says which /v1 it probably lacks. */
function notFound(model: string, url: string): string {
  let v1 = '';
  try {
    const base = new URL(url);
    const path = base.pathname.replace(/\/chat\/completions$/, '');
    if (!/(^|\/)v1(\/|$)/.test(path)) {
      base.pathname = `${path.replace(/\/+$/, '')}/v1`;
      base.search = '';
      v1 = ` Its base URL has no /v1: OpenAI-compatible servers usually serve ${base.toString()}, so set OPENAI_BASE_URL or provider.base_url to that.`;
    }
  } catch {
    // an unparsable URL: the plain hints below still apply
  }
  return (
    `nothing found at POST ${url}. Either the model name '${model}' is wrong or not available to this key, ` +
    `or the base URL is wrong (a base URL without /v1 is the usual cause).${v1}`
  );
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
