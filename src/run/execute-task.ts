import OpenAI from 'openai';
import { ApiFatalError } from '../errors.js';
import type { ChoiceCheck } from '../check/json-output.js';
import type { Task } from '../plan/types.js';
import type { ChoiceRecord, RequestError, RequestRecord } from '../record/types.js';
import type { ResponseCache } from './cache.js';
import type { ExchangeHooks } from './http-fetch.js';
import type { Slots } from './run-plan.js';
import { retryDelayMs, shouldRetry, sleep as realSleep, type AttemptFailure, type RetryPolicy } from './retry.js';

export interface ExecuteDeps {
  client: OpenAI;
  /** The run's HTTP request slots (concurrency): one is held per attempt, from before sending until the answer is in. */
  slots: Slots;
  retry: RetryPolicy;
  timeoutMs: number;
  /** Check one choice's content for its cell (JSON + schema); NOT_CHECKED outside JSON mode. */
  check: (task: Task, content: string | null) => ChoiceCheck;
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
}

/** The SDK's per-request options for its fetch: evalrun's fetch reads its hooks from them. */
type FetchOptions = NonNullable<NonNullable<Parameters<OpenAI['chat']['completions']['create']>[1]>['fetchOptions']>;

/** 401, 403, 404: the key, the access or the model is wrong: no later request can succeed either. */
const FATAL = new Set([401, 403, 404]);

/**
 * One chat completion with n choices, retried by our policy. Never throws for a per-request problem: a failure
 * after all attempts becomes a record with `error`. Throws ApiFatalError when the whole run must stop; returns
 * undefined when aborted, so the request stays unrecorded and a resume sends it again.
 */
export async function executeTask(task: Task, deps: ExecuteDeps): Promise<RequestRecord | undefined> {
  const sleep = deps.sleep ?? realSleep;
  // Reset when the first request is sent: time spent waiting for a slot is the scheduler's, not the request's.
  let startedAt = new Date();
  let t0 = performance.now();
  let attempts = 0;
  let latency = 0;
  let lastError: RequestError | undefined;
  const hit = await deps.cache?.get(task.body);
  if (hit) {
    const record = successRecord(task, hit.data as OpenAI.ChatCompletion, { attempts: 0, latency: hit.latency_ms, t0, startedAt, status: hit.status, requestId: hit.request_id }, deps);
    return { ...record, cached: true };
  }
  while (attempts < deps.retry.maxAttempts) {
    const release = await deps.slots.acquire();
    if (!release) return undefined;
    let failure: AttemptFailure;
    try {
      if (deps.beforeAttempt && !(await deps.beforeAttempt(task))) return undefined;
      if (deps.signal.aborted) return undefined;
      if (attempts === 0) {
        startedAt = new Date();
        t0 = performance.now();
      }
      attempts++;
      const a0 = performance.now();
      // A successful answer gives its slot back as soon as its last byte is in (see http-fetch), so the next request
      // is sent before this one is parsed, checked and recorded. Errors keep the slot until they are classified: a
      // fatal 401 halts the slots before anything else can be sent.
      let answeredMs: number | undefined;
      const hooks: ExchangeHooks = {
        onAnswered: (ms) => {
          answeredMs = ms;
          release();
        },
      };
      // No signal is given to the SDK: it would add a listener per request (and never remove it). A hard stop ends
      // the requests in flight by closing the HTTP pool instead (Provider.abortInFlight); deps.signal then says why.
      try {
        const { data, response, request_id } = await deps.client.chat.completions
          .create(task.body as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming, { timeout: deps.timeoutMs, maxRetries: 0, fetchOptions: hooks as FetchOptions })
          .withResponse();
        // The time the server took, from the request's first byte to the answer's last: not the SDK's own work.
        latency = answeredMs ?? performance.now() - a0;
        release();
        if (!Array.isArray(data?.choices)) {
          lastError = { kind: 'invalid_response', status: response.status, type: null, code: null, message: 'response has no choices array' };
          failure = { status: undefined, headers: response.headers };
        } else {
          deps.onAttempt?.({ status: response.status, headers: response.headers, retrying: false });
          const meta = { attempts, latency, t0, startedAt, status: response.status, requestId: request_id ?? null };
          if (deps.cache) await deps.cache.put(task.body, { status: response.status, request_id: meta.requestId, latency_ms: round(latency), data });
          return successRecord(task, data, meta, deps);
        }
      } catch (e) {
        latency = performance.now() - a0;
        if (e instanceof OpenAI.APIUserAbortError || deps.signal.aborted) return undefined;
        const classified = classify(e, deps.redact);
        lastError = classified.error;
        failure = classified.failure;
        if (failure.status !== undefined && FATAL.has(failure.status)) {
          deps.onAttempt?.({ status: failure.status, headers: failure.headers, retrying: false });
          const fatal = new ApiFatalError(fatalMessage(classified.error, task), failure.status);
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
  return {
    ...recordHead(task, { attempts, latency, t0, startedAt }),
    http_status: lastError?.status ?? null,
    request_id: null,
    completion_id: null,
    model: null,
    usage: null,
    choices: [],
    error: lastError ?? { kind: 'connection', status: null, type: null, code: null, message: 'no attempt was made' },
  };
}

/** The fields every record starts with, in the order the journal index reads (`v`, then `seq`). */
function recordHead(task: Task, m: { attempts: number; latency: number; t0: number; startedAt: Date }) {
  return {
    v: 1 as const,
    seq: task.seq,
    cell: task.cell.id,
    row_id: task.row.id,
    attempts: m.attempts,
    latency_ms: round(m.latency),
    elapsed_ms: round(performance.now() - m.t0),
    started_at: m.startedAt.toISOString(),
  };
}

interface AttemptMeta {
  attempts: number;
  latency: number;
  t0: number;
  startedAt: Date;
  status: number;
  requestId: string | null;
}

function successRecord(task: Task, data: OpenAI.ChatCompletion, meta: AttemptMeta, deps: ExecuteDeps): RequestRecord {
  return {
    ...recordHead(task, meta),
    http_status: meta.status,
    request_id: meta.requestId,
    completion_id: data.id ?? null,
    model: data.model ?? null,
    usage: data.usage
      ? { prompt_tokens: data.usage.prompt_tokens, completion_tokens: data.usage.completion_tokens, total_tokens: data.usage.total_tokens }
      : null,
    choices: data.choices.map((c, i) => toChoice(task, c, i, deps)),
    error: null,
  };
}

function toChoice(task: Task, c: OpenAI.ChatCompletion.Choice, i: number, deps: ExecuteDeps): ChoiceRecord {
  const message = c.message ?? ({} as OpenAI.ChatCompletionMessage);
  const content = typeof message.content === 'string' ? message.content : null;
  const calls = message.tool_calls?.map((t) =>
    t.type === 'function' ? { name: t.function.name, arguments: t.function.arguments } : { name: t.type, arguments: JSON.stringify(t) },
  );
  // Tool calls answer in arguments, and a filtered answer has no content to judge (it counts as content_filter):
  // the JSON check applies to content answers only.
  const unanswered = (calls?.length && content === null) || (c.finish_reason === 'content_filter' && !content);
  const check = unanswered ? { json_valid: null, schema_valid: null, schema_errors: [] } : deps.check(task, content);
  return {
    index: typeof c.index === 'number' ? c.index : i,
    finish_reason: c.finish_reason ?? null,
    content,
    refusal: message.refusal ?? null,
    tool_calls: calls?.length ? calls : null,
    ...check,
  };
}

function classify(e: unknown, redact: (t: string) => string): { error: RequestError; failure: AttemptFailure } {
  if (e instanceof OpenAI.APIConnectionTimeoutError) {
    return { error: { kind: 'timeout', status: null, type: null, code: null, message: 'request timed out' }, failure: { status: undefined, headers: undefined } };
  }
  if (e instanceof OpenAI.APIConnectionError) {
    const cause = (e.cause as Error | undefined)?.message;
    return {
      error: { kind: 'connection', status: null, type: null, code: null, message: redact(`connection error${cause ? `: ${cause}` : ''}`) },
      failure: { status: undefined, headers: undefined },
    };
  }
  if (e instanceof OpenAI.APIError) {
    const body = e.error as { message?: unknown } | undefined;
    const message = typeof body?.message === 'string' ? body.message : e.message;
    return {
      error: { kind: 'http', status: e.status ?? null, type: e.type ?? null, code: e.code ?? null, message: redact(message) },
      failure: { status: e.status, headers: e.headers },
    };
  }
  // A 200 whose body is not JSON surfaces as a SyntaxError from the SDK's parser: a server fault, worth a retry.
  return {
    error: { kind: 'invalid_response', status: null, type: null, code: null, message: redact(`unreadable response: ${(e as Error)?.message ?? String(e)}`) },
    failure: { status: undefined, headers: undefined },
  };
}

function fatalMessage(err: RequestError, task: Task): string {
  const what =
    err.status === 401
      ? 'the API key was rejected'
      : err.status === 403
        ? 'the key has no access to this model or endpoint'
        : `not found (is the model name '${String(task.body.model)}' right?)`;
  return `The API answered ${err.status}: ${what}. Server said: ${err.message}\nNothing more was sent; every finished request is kept.`;
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
