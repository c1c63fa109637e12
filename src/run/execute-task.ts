import OpenAI from 'openai';
import { ApiFatalError } from '../errors.js';
import type { ChoiceChecker } from '../check/index.js';
import type { Task } from '../contracts/plan.js';
import type { Anomaly, ChoiceRecord, RequestError, RequestPart, RequestRecord } from '../record/index.js';
import type { ResponseCache } from './cache.js';
import { addUsage } from '../record/index.js';
import { answerCutOf, isUnreachable, unreachableMessage } from './connection-error.js';
import type { ExchangeHooks } from './http-fetch.js';
import type { Slots } from './run-plan.js';
import { retryDelayMs, shouldRetry, sleep as realSleep, type AttemptFailure, type RetryPolicy } from './retry.js';
import { failedRecord, fingerprintOf, keyChoices, makeRecord, missingChoice, successRecord, usageOf } from './answer-record.js';
import { roundTo } from '../util/round.js';
import { BODY_START_CHARS, bounded, classifyApiError, FATAL, fatalMessage, requestUrl } from './api-error.js';

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
  check: ChoiceChecker;
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

/** The SDK's per-request options for its fetch: evalrun's fetch reads its hooks from them. */
type FetchOptions = NonNullable<NonNullable<Parameters<OpenAI['chat']['completions']['create']>[1]>['fetchOptions']>;

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
      parts.push({ attempts: x.attempts, latency_ms: roundTo(x.latency, 1), http_status: x.error.status, request_id: null, completion_id: null, error: x.error });
      choices.push(missingChoice(k, repeatFailure(k, n, x.error)));
      continue;
    }
    parts.push({
      attempts: x.attempts,
      latency_ms: roundTo(x.latency, 1),
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
      let answeredStatus: number | undefined;
      // The server has answered as soon as the answer's bytes are in, before the SDK reads them: requests failing
      // meanwhile must not take the server for unreachable.
      const hooks: ExchangeHooks = {
        onAnswered: (ms, status) => {
          answeredMs = ms;
          answeredStatus = status;
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
          if (deps.cache) await deps.cache.put(cacheKey, { status: response.status, request_id: requestId, latency_ms: roundTo(latency, 1), data });
          return { ok: true, data, status: response.status, requestId, attempts, latency, cached: false };
        }
      } catch (e) {
        if (e instanceof ApiFatalError) throw e;
        latency = performance.now() - a0;
        if (e instanceof OpenAI.APIUserAbortError || deps.signal.aborted) return undefined;
        const classified = classifyApiError(e, deps.redact, errorBody, deps.timeoutMs, answeredStatus);
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

