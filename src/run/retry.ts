/**
 * When to try a request again and how long to wait: openai-node's policy (client.ts shouldRetry / retryRequest),
 * owned here so the SDK makes exactly one attempt per call and every attempt is counted in the records.
 */
export interface RetryPolicy {
  maxAttempts: number;
  /** Longest single wait; a server asking for longer is waited for this long. */
  maxWaitMs: number;
}

export interface AttemptFailure {
  /** HTTP status, or undefined when no response arrived (connection reset, timeout, malformed body). */
  status: number | undefined;
  headers: Headers | undefined;
}

const RETRYABLE = new Set([408, 409, 429]);

export function shouldRetry(f: AttemptFailure): boolean {
  const explicit = f.headers?.get('x-should-retry');
  if (explicit === 'true') return true;
  if (explicit === 'false') return false;
  if (f.status === undefined) return true;
  return RETRYABLE.has(f.status) || f.status >= 500;
}

/** Wait before attempt `attempt + 1` (attempt is 1-based), in ms. */
export function retryDelayMs(
  f: AttemptFailure,
  attempt: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
  now: () => number = Date.now,
): number {
  const asked = serverAskedDelayMs(f.headers, now);
  if (asked !== undefined) return Math.min(asked, policy.maxWaitMs);
  const base = Math.min(500 * 2 ** (attempt - 1), 8000);
  return Math.min(base * (1 - 0.25 * random()), policy.maxWaitMs);
}

export function serverAskedDelayMs(headers: Headers | undefined, now: () => number = Date.now): number | undefined {
  if (!headers) return undefined;
  const ms = headers.get('retry-after-ms');
  if (ms !== null && ms.trim() !== '' && Number.isFinite(Number(ms)) && Number(ms) >= 0) return Number(ms);
  const after = headers.get('retry-after');
  if (after === null || after.trim() === '') return undefined;
  const seconds = Number(after);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(after);
  if (!Number.isNaN(date)) return Math.max(0, date - now());
  return undefined;
}

/** A sleep that ends early (resolving false) when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (ms <= 0) return Promise.resolve(!signal?.aborted);
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface WithRetryOptions {
  policy: RetryPolicy;
  /** Aborted: the failure is thrown instead of waited on. */
  signal?: AbortSignal | undefined;
  sleep?: ((ms: number, signal?: AbortSignal) => Promise<unknown>) | undefined;
  random?: (() => number) | undefined;
}

/**
 * `fn` tried until it succeeds, under the one policy every call of a run follows (the Batch API's as the chat
 * completions'): a failure `failureOf` does not know (undefined) or `shouldRetry` refuses is thrown at once, the last
 * attempt's failure when attempts run out; between attempts the server's Retry-After, else backoff with jitter.
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, failureOf: (e: unknown) => AttemptFailure | undefined, o: WithRetryOptions): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      const f = failureOf(e);
      if (f === undefined || !shouldRetry(f) || attempt >= o.policy.maxAttempts || o.signal?.aborted) throw e;
      await (o.sleep ?? sleep)(retryDelayMs(f, attempt, o.policy, o.random), o.signal);
    }
  }
}
