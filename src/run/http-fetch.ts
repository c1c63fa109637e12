import { Agent, Response as UndiciResponse, type Dispatcher } from 'undici';

/** Per-request hooks evalrun passes through the SDK's `fetchOptions` (the SDK spreads them into this fetch's init). */
export interface ExchangeHooks {
  /**
   * A 2xx answer has fully arrived, `ms` milliseconds after its request was sent: the server is done with this
   * request, so its concurrency slot may be reused, and `ms` is the exchange's latency without the SDK's own work.
   */
  onAnswered?: (ms: number, status: number) => void;
  /** An error answer's body text: the SDK keeps only an OpenAI-shaped error from it, so the caller sees it whole. */
  onErrorBody?: (text: string) => void;
}

export interface HttpFetch {
  /** A WHATWG-shaped `fetch` for the SDK's `fetch` option. */
  fetch: typeof fetch;
  /** Lets requests in flight finish, then closes the pool. */
  close(): Promise<void>;
  /** Ends every request in flight at once (they fail as connection errors): the hard stop, without a signal per request. */
  destroy(): void;
}

/**
 * A `fetch` for the openai SDK over undici's public dispatcher API: the same HTTP client Node's fetch is built on,
 * without the WHATWG Request and stream layers on the way out, which cost more CPU per request than everything
 * else evalrun does (see test/bench/RESULTS.md). One keep-alive pool sized to the concurrency serves the provider.
 * Answers are read whole (evalrun never streams) and handed to the SDK as undici's own `Response` (AnswerResponse).
 * Everything a provider needs between requests lives in the closure made here: two runs in one process share nothing.
 */
export function createHttpFetch(connections: number): HttpFetch {
  const agent = new Agent({ connections, pipelining: 1, keepAliveTimeout: 30_000 });
  let destroyed = false;
  let lastTarget: Target | undefined;
  let deferred: Array<() => void> = [];

  /** A provider sends every request to the same URL: it is parsed once, not per request. */
  const target = (href: string): Target => {
    if (lastTarget?.href !== href) {
      const url = new URL(href);
      lastTarget = { href, origin: url.origin, path: url.pathname + url.search };
    }
    return lastTarget;
  };

  /**
   * Answers arrive in bursts when many requests are in flight. Handing each back after the requests its freed slot
   * started have been written lets every slot send its next request first; parsing, checking and recording then
   * run together (latency-bound runs: test/bench/RESULTS.md). undici writes a request onto a reused keep-alive
   * socket from a setImmediate of its own (so the socket can report a close first), and those immediates are
   * queued after the one this burst's first answer queues here: the burst is handed back one check phase later,
   * after them.
   */
  const afterReadySockets = (): Promise<void> =>
    new Promise((resolve) => {
      if (deferred.push(resolve) === 1) {
        setImmediate(() => {
          const batch = deferred;
          deferred = [];
          setImmediate(() => {
            for (const r of batch) r();
          });
        });
      }
    });

  const doFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = target(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    const method = (init?.method ?? 'GET').toUpperCase() as Dispatcher.HttpMethod;
    const body = requestBody(init?.body);
    const headers = requestHeaders(init?.headers);
    try {
      const answer = await dispatch(agent, { origin: url.origin, path: url.path, method, headers, body }, init?.signal ?? undefined);
      const response = toResponse(answer);
      if (answer.status >= 200 && answer.status < 300) {
        (init as ExchangeHooks | undefined)?.onAnswered?.(answer.ms, answer.status);
        await afterReadySockets();
      } else if (answer.status >= 400) {
        (init as ExchangeHooks | undefined)?.onErrorBody?.(answer.text);
      }
      return response;
    } catch (e) {
      if ((e as Error).name === 'AbortError' || init?.signal?.aborted) {
        throw Object.assign(new Error('This operation was aborted'), { name: 'AbortError' });
      }
      // What Node's fetch throws for a network failure; the SDK turns it into APIConnectionError.
      throw new TypeError('fetch failed', { cause: e });
    }
  };

  return {
    fetch: doFetch as typeof fetch,
    close: () => (destroyed ? Promise.resolve() : agent.close()),
    destroy: () => {
      destroyed = true;
      void agent.destroy(new Error('the run was stopped')).catch(() => {});
    },
  };
}

type UndiciHeaders = Exclude<Dispatcher.DispatchOptions['headers'], undefined>;

interface Target {
  href: string;
  origin: string;
  path: string;
}

interface Answer {
  status: number;
  statusText: string;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** From handing the request to the pool to the answer's last byte. */
  ms: number;
}

function requestBody(body: RequestInit['body']): string | Uint8Array | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string' || body instanceof Uint8Array) return body;
  // The SDK sends chat completions as JSON text; streamed and multipart uploads are not something evalrun makes.
  throw new TypeError(`evalrun's HTTP client sends text or byte bodies only, not ${Object.prototype.toString.call(body)}`);
}

/**
 * The request's headers as a flat name/value array, the form undici reads fastest (an iterable of pairs cost ~3 µs
 * more a request). The SDK passes a WHATWG `Headers`; other forms are normalised through one.
 */
function requestHeaders(given: RequestInit['headers']): string[] | null {
  if (!given) return null;
  const flat: string[] = [];
  (given instanceof Headers ? given : new Headers(given)).forEach((value, name) => {
    flat.push(name, value);
  });
  return flat;
}

/**
 * One request through undici's dispatcher with a handler that collects the body: no Readable stream per response
 * (streams were a tenth of the CPU per request with `request()`).
 */
function dispatch(
  agent: Agent,
  options: { origin: string; path: string; method: Dispatcher.HttpMethod; headers: UndiciHeaders; body: string | Uint8Array | undefined },
  signal: AbortSignal | undefined,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const sent = performance.now();
    let status = 0;
    let statusText = '';
    let responseHeaders: Answer['headers'] = {};
    const chunks: Buffer[] = [];
    let controller: Dispatcher.DispatchController | undefined;
    const onAbort = () => controller?.abort(Object.assign(new Error('This operation was aborted'), { name: 'AbortError' }));
    signal?.addEventListener('abort', onAbort, { once: true });
    const done = () => signal?.removeEventListener('abort', onAbort);
    const dispatchOptions: Dispatcher.DispatchOptions = { origin: options.origin, path: options.path, method: options.method, headers: options.headers };
    if (options.body !== undefined) dispatchOptions.body = options.body;
    agent.dispatch(dispatchOptions, {
      onRequestStart(c) {
        controller = c;
        if (signal?.aborted) onAbort();
      },
      onResponseStart(_c, statusCode, h, message) {
        status = statusCode;
        statusText = message ?? '';
        responseHeaders = h;
      },
      onResponseData(_c, chunk) {
        chunks.push(chunk);
      },
      onResponseEnd() {
        const ms = performance.now() - sent;
        done();
        const text = chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8');
        resolve({ status, statusText, headers: responseHeaders, text, ms });
      },
      onResponseError(_c, error) {
        done();
        // Headers came, then the body broke off: the server answered, so the error says the answer was cut
        // (connection-error.ts reads this), never that the server could not be reached.
        if (status > 0) {
          const received = chunks.reduce((n, c) => n + c.length, 0);
          const length = Number(responseHeaders['content-length']);
          Object.assign(error, { answerCut: { status, received, expected: Number.isFinite(length) ? length : null } });
        }
        reject(error);
      },
    });
  });
}

/** Statuses whose response has no body by definition: `Response` refuses one. */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

function toResponse(answer: Answer): Response {
  // undici hands header values over as strings, or arrays for repeated headers (set-cookie): pairs only then.
  let headers: Record<string, string> | Array<[string, string]> = answer.headers as Record<string, string>;
  for (const name in answer.headers) {
    if (typeof answer.headers[name] !== 'string') {
      headers = headerPairs(answer.headers);
      break;
    }
  }
  const init = { status: answer.status, statusText: answer.statusText, headers };
  const response = NULL_BODY.has(answer.status) ? new UndiciResponse(null, init) : new AnswerResponse(answer.text, init);
  // undici's Response is the class Node's global one is built from; only the TypeScript types differ.
  return response as unknown as Response;
}

type Init = ConstructorParameters<typeof UndiciResponse>[1] & object;

/**
 * undici's Response for an answer already read whole. On Node 20 a Response body is a web ReadableStream, and
 * making one per answer and reading it back cost more CPU than the rest of the response, the GC more again (the
 * stream is a transferable C++-backed object): ~30% of the run's CPU at 5,000 answers/s (test/bench/RESULTS.md).
 * So the text is kept as it is: `text()` and `json()`, all the SDK reads of a JSON answer, answer from it; anything
 * else that reads the body (`body`, `arrayBuffer()`, `blob()`, `bytes()`, `formData()`) gets a standard undici
 * Response over the same text, made on first use. Status, headers and the rest are undici's own; a body is read once.
 */
class AnswerResponse extends UndiciResponse {
  readonly #text: string;
  readonly #init: Init;
  #read = false;
  #standard: UndiciResponse | undefined;

  constructor(text: string, init: Init) {
    super(null, init);
    this.#text = text;
    this.#init = init;
  }

  static {
    const standard = (r: AnswerResponse): UndiciResponse => {
      if (!r.#standard) {
        r.#standard = new UndiciResponse(r.#text, r.#init);
        // A body already read through the fast path is a used body in the standard Response too.
        if (r.#read) void r.#standard.text();
      }
      return r.#standard;
    };
    const text = (r: AnswerResponse): Promise<string> => {
      if (r.#standard) return r.#standard.text();
      if (r.#read) return Promise.reject(new TypeError('Body is unusable: Body has already been read'));
      r.#read = true;
      return Promise.resolve(r.#text);
    };
    // undici declares the body methods as read-only properties, so they are defined on the prototype here.
    Object.defineProperties(AnswerResponse.prototype, {
      body: { get: function (this: AnswerResponse) { return standard(this).body; } },
      bodyUsed: { get: function (this: AnswerResponse) { return this.#standard ? this.#standard.bodyUsed : this.#read; } },
      text: { value: function (this: AnswerResponse) { return text(this); } },
      json: { value: function (this: AnswerResponse) { return text(this).then((t) => JSON.parse(t) as unknown); } },
      arrayBuffer: { value: function (this: AnswerResponse) { return standard(this).arrayBuffer(); } },
      blob: { value: function (this: AnswerResponse) { return standard(this).blob(); } },
      bytes: { value: function (this: AnswerResponse) { return standard(this).bytes(); } },
      formData: { value: function (this: AnswerResponse) { return standard(this).formData(); } },
      clone: {
        value: function (this: AnswerResponse) {
          if (this.bodyUsed) throw new TypeError('Response.clone: Body has already been consumed.');
          return new AnswerResponse(this.#text, this.#init);
        },
      },
    });
  }
}

function headerPairs(raw: Answer['headers']): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (const name of Object.keys(raw)) {
    const v = raw[name];
    if (typeof v === 'string') pairs.push([name, v]);
    else if (Array.isArray(v)) for (const one of v) pairs.push([name, one]);
  }
  return pairs;
}
