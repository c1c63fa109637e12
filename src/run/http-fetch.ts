import { createRequire } from 'node:module';
import type { Agent as UndiciAgent, Dispatcher } from 'undici';

// undici's index also loads its fetch, cookies, WebSocket and more: ~50 ms of every start-up for nothing evalrun
// uses. The connection pool is one module; undici has no `exports` map, and this path has been stable since v6.
const Agent = createRequire(import.meta.url)('undici/lib/dispatcher/agent.js') as typeof UndiciAgent;

/** Per-request hooks evalrun passes through the SDK's `fetchOptions`. */
export interface ExchangeHooks {
  /** A 2xx answer has fully arrived: the server is done with this request, so its concurrency slot may be reused. */
  onAnswered?: () => void;
  /** An error answer's body text: the SDK keeps only an OpenAI-shaped error from it, so the caller sees it whole. */
  onErrorBody?: (text: string) => void;
}

const TIMING = Symbol('evalrun.answerTiming');

/** Milliseconds from sending a request to the last byte of its answer, for responses from this fetch. */
export function answerTiming(response: Response): number | undefined {
  return (response as unknown as { [TIMING]?: number })[TIMING];
}

/**
 * A `fetch` for the openai SDK over undici's dispatcher: the same HTTP client Node's fetch is built on, without
 * the WHATWG Request/Response/stream layers, which cost more CPU per request than everything else evalrun does
 * (see test/bench/RESULTS.md). One keep-alive pool sized to the concurrency serves the whole run. Responses are
 * read whole (evalrun never streams), so a small Response-like object is enough for the SDK.
 */
export function createHttpFetch(connections: number): { fetch: typeof fetch; close: () => Promise<void>; destroy: () => void } {
  const agent = new Agent({ connections, pipelining: 1, keepAliveTimeout: 30_000 });
  const doFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = target(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    const given = init?.headers;
    // The memoized SDK headers arrive as a fresh plain object with lower-case names: used as they are.
    let headers: Record<string, string> = {};
    if (isPlainHeaders(given)) headers = given;
    else if (given instanceof Headers) given.forEach((v, k) => (headers[k] = v));
    else if (given) new Headers(given).forEach((v, k) => (headers[k] = v));
    try {
      const sent = performance.now();
      const res = await dispatch(agent, url, (init?.method ?? 'GET').toUpperCase(), headers, typeof init?.body === 'string' ? init.body : undefined, init?.signal ?? undefined);
      const response = new TextResponse(url.href, res.status, new ResponseHeaders(res.headers) as unknown as Headers, res.text);
      response[TIMING] = performance.now() - sent;
      if (res.status >= 200 && res.status < 300) {
        (init as ExchangeHooks | undefined)?.onAnswered?.();
        // Answers arrive in bursts when many requests are in flight. Handing each back after the sockets that are
        // ready have been served lets every freed slot send its next request first; parsing, checking and recording
        // then run together (latency-bound runs: test/bench/RESULTS.md).
        await afterReadySockets();
      } else if (res.status >= 400) {
        (init as ExchangeHooks | undefined)?.onErrorBody?.(res.text);
      }
      return response as unknown as Response;
    } catch (e) {
      if ((e as Error).name === 'AbortError' || init?.signal?.aborted) {
        throw Object.assign(new Error('This operation was aborted'), { name: 'AbortError' });
      }
      // What Node's fetch throws for a network failure; the SDK turns it into APIConnectionError.
      throw new TypeError('fetch failed', { cause: e });
    }
  };
  let destroyed = false;
  return {
    fetch: doFetch as typeof fetch,
    close: () => (destroyed ? Promise.resolve() : agent.close()),
    // Ends every request in flight at once (they fail as connection errors): the hard stop, without a signal per request.
    destroy: () => {
      destroyed = true;
      void agent.destroy(new Error('the run was stopped')).catch(() => {});
    },
  };
}

interface Target {
  href: string;
  origin: string;
  path: string;
}

let lastTarget: Target | undefined;

/** A run sends every request to the same URL: it is parsed once, not per request. */
function target(href: string): Target {
  if (lastTarget?.href !== href) {
    const url = new URL(href);
    lastTarget = { href, origin: url.origin, path: url.pathname + url.search };
  }
  return lastTarget;
}

/** A record of string values: what the SDK's memoized headers are (header-memo.ts). */
function isPlainHeaders(h: RequestInit['headers']): h is Record<string, string> {
  return typeof h === 'object' && h !== null && !Array.isArray(h) && Object.getPrototypeOf(h) === Object.prototype;
}

let deferred: Array<() => void> = [];

/** Resolves in the event loop's check phase, after the poll phase has handled every socket that was ready. */
function afterReadySockets(): Promise<void> {
  return new Promise((resolve) => {
    if (deferred.push(resolve) === 1) {
      setImmediate(() => {
        const batch = deferred;
        deferred = [];
        for (const r of batch) r();
      });
    }
  });
}

/**
 * One request through undici's dispatcher with a handler that collects the body: no Readable stream per response
 * (streams were a tenth of the CPU per request with `request()`).
 */
function dispatch(
  agent: UndiciAgent,
  url: Target,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
  signal: AbortSignal | undefined,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  return new Promise((resolve, reject) => {
    let status = 0;
    let responseHeaders: Record<string, string | string[] | undefined> = {};
    const chunks: Buffer[] = [];
    let controller: Dispatcher.DispatchController | undefined;
    const onAbort = () => controller?.abort(Object.assign(new Error('This operation was aborted'), { name: 'AbortError' }));
    signal?.addEventListener('abort', onAbort, { once: true });
    const done = () => signal?.removeEventListener('abort', onAbort);
    const options: Dispatcher.DispatchOptions = { origin: url.origin, path: url.path, method: method as Dispatcher.HttpMethod, headers };
    if (body !== undefined) options.body = body;
    agent.dispatch(options, {
      onRequestStart(c) {
        controller = c;
        if (signal?.aborted) onAbort();
      },
      onResponseStart(_c, statusCode, h) {
        status = statusCode;
        responseHeaders = h;
      },
      onResponseData(_c, chunk) {
        chunks.push(chunk);
      },
      onResponseEnd() {
        done();
        resolve({ status, headers: responseHeaders, text: chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8') });
      },
      onResponseError(_c, error) {
        done();
        reject(error);
      },
    });
  });
}

/** The part of `Response` the SDK reads, over a body already read whole; methods on the prototype, not per response. */
class TextResponse {
  readonly statusText = '';
  readonly body = null;
  readonly bodyUsed = false;
  readonly redirected = false;
  readonly type = 'basic';
  readonly ok: boolean;
  readonly url: string;
  readonly status: number;
  readonly headers: Headers;
  private readonly bodyText: string;
  [TIMING]?: number;
  constructor(url: string, status: number, headers: Headers, bodyText: string) {
    this.url = url;
    this.status = status;
    this.headers = headers;
    this.bodyText = bodyText;
    this.ok = status >= 200 && status < 300;
  }
  async text(): Promise<string> {
    return this.bodyText;
  }
  async json(): Promise<unknown> {
    return JSON.parse(this.bodyText) as unknown;
  }
  clone(): TextResponse {
    return new TextResponse(this.url, this.status, this.headers, this.bodyText);
  }
}

/**
 * The read side of `Headers` over undici's plain header object (names already lower-case). A WHATWG Headers
 * instance per response costs more than the rest of the response handling; the SDK and evalrun only read these.
 */
class ResponseHeaders {
  private readonly raw: Record<string, string | string[] | undefined>;
  constructor(raw: Record<string, string | string[] | undefined>) {
    this.raw = raw;
  }
  get(name: string): string | null {
    const v = this.raw[name.toLowerCase()];
    return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
  }
  has(name: string): boolean {
    return this.raw[name.toLowerCase()] !== undefined;
  }
  *entries(): IterableIterator<[string, string]> {
    for (const k of Object.keys(this.raw)) {
      const v = this.get(k);
      if (v !== null) yield [k, v];
    }
  }
  keys(): IterableIterator<string> {
    return Object.keys(this.raw)[Symbol.iterator]();
  }
  *values(): IterableIterator<string> {
    for (const [, v] of this.entries()) yield v;
  }
  forEach(fn: (value: string, key: string) => void): void {
    for (const [k, v] of this.entries()) fn(v, k);
  }
  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }
}
