import { Agent, request, errors as undiciErrors } from 'undici';

/**
 * A `fetch` for the openai SDK over undici's `request()`: the same HTTP client Node's fetch is built on, without
 * the WHATWG Request/Response/stream layers, which cost more CPU per request than everything else evalrun does
 * (see test/bench/RESULTS.md). One keep-alive pool sized to the concurrency serves the whole run. Responses are
 * read whole (evalrun never streams), so a small Response-like object is enough for the SDK.
 */
export function createHttpFetch(connections: number): { fetch: typeof fetch; close: () => Promise<void> } {
  const agent = new Agent({ connections, pipelining: 1, keepAliveTimeout: 30_000 });
  const doFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const headers: Record<string, string> = {};
    new Headers(init?.headers).forEach((v, k) => (headers[k] = v));
    try {
      const options: Parameters<typeof request>[1] = { method: (init?.method ?? 'GET') as 'GET', headers, dispatcher: agent };
      if (typeof init?.body === 'string') options.body = init.body;
      if (init?.signal) options.signal = init.signal;
      const res = await request(url, options);
      const text = await res.body.text();
      const responseHeaders = new Headers();
      for (const [k, v] of Object.entries(res.headers)) {
        if (Array.isArray(v)) for (const item of v) responseHeaders.append(k, item);
        else if (v !== undefined) responseHeaders.set(k, v);
      }
      return textResponse(url, res.statusCode, responseHeaders, text);
    } catch (e) {
      if (e instanceof undiciErrors.RequestAbortedError || (e as Error).name === 'AbortError' || init?.signal?.aborted) {
        throw Object.assign(new Error('This operation was aborted'), { name: 'AbortError' });
      }
      // What Node's fetch throws for a network failure; the SDK turns it into APIConnectionError.
      throw new TypeError('fetch failed', { cause: e });
    }
  };
  return { fetch: doFetch as typeof fetch, close: () => agent.close() };
}

function textResponse(url: string, status: number, headers: Headers, text: string): Response {
  return {
    url,
    status,
    statusText: '',
    ok: status >= 200 && status < 300,
    headers,
    body: null,
    bodyUsed: false,
    redirected: false,
    type: 'basic',
    text: async () => text,
    json: async () => JSON.parse(text) as unknown,
    clone() {
      return textResponse(url, status, headers, text);
    },
  } as unknown as Response;
}
