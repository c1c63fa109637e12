import OpenAI from 'openai';
import { makeRedactor, redactUrl } from '../util/redact.js';

/**
 * Where a run sends its requests: all the run knows of its server. Built from the config by `openEndpoint`
 * (src/app/endpoint.ts), which also starts the built-in simulator when the config asks for it; the run treats the
 * simulator as any other OpenAI-compatible server at a base URL.
 */
export interface Endpoint {
  /** What run.json calls the provider. */
  kind: 'openai' | 'simulator';
  /** undefined: the SDK's own default (api.openai.com). */
  baseUrl: string | undefined;
  apiKey: string;
  organization?: string | undefined;
  headers?: Record<string, string> | undefined;
  query?: Record<string, string> | undefined;
  /** What identifies the server in response-cache keys, when its URL does not (a port that changes every run). */
  cacheKey?: string | undefined;
  /** Values hidden wherever evalrun writes what a server said (a server may echo the key it was sent). */
  secrets: string[];
}

/** What a run knows of its server without connecting to it: what run.json and the logs may show, and what to hide. */
export interface EndpointInfo {
  kind: 'openai' | 'simulator';
  /** The base URL with credentials hidden, safe to write to run.json and logs. */
  shownBaseUrl: string;
  /** What identifies the server in response-cache keys. */
  cacheKeyUrl: string;
  redact: (text: string) => string;
}

/** A server to send synchronous requests to: its SDK client over evalrun's HTTP pool. */
export interface Provider extends EndpointInfo {
  client: OpenAI;
  close(): Promise<void>;
  /** Ends every request in flight now (a hard stop); they are not recorded, so a resume sends them again. */
  abortInFlight(): void;
}

export interface ProviderOptions {
  /** Requests in flight at once: the size of the HTTP connection pool. */
  concurrency: number;
  timeoutMs: number;
}

export function describeEndpoint(endpoint: Endpoint): EndpointInfo {
  // The SDK resolves the base URL (its default when the config names none); this client never sends anything.
  const shownBaseUrl = redactUrl(sdkClient(endpoint, globalThis.fetch, 0).baseURL);
  return { kind: endpoint.kind, shownBaseUrl, cacheKeyUrl: endpoint.cacheKey ?? shownBaseUrl, redact: makeRedactor(endpoint.secrets) };
}

/**
 * An SDK client for the endpoint, over evalrun's own `fetch` (the SDK's public `fetch` option). The SDK makes one
 * attempt per call (maxRetries 0): retries are evalrun's, so they are counted.
 */
export async function openProvider(endpoint: Endpoint, options: ProviderOptions): Promise<Provider> {
  // Loaded when a run sends synchronous requests, not with this module: the HTTP pool's undici is ~5 MB of heap that
  // a Batch API run never uses.
  const { createHttpFetch } = await import('./http-fetch.js');
  const http = createHttpFetch(options.concurrency);
  const client = sdkClient(endpoint, http.fetch, options.timeoutMs);
  return Object.assign(describeEndpoint(endpoint), { client, abortInFlight: http.destroy, close: () => http.close() });
}

/** The SDK's client for an endpoint over the given `fetch`: one attempt per call, evalrun retries and counts. */
export function sdkClient(endpoint: Endpoint, fetch: typeof globalThis.fetch, timeoutMs: number): OpenAI {
  return new OpenAI({
    fetch,
    apiKey: endpoint.apiKey,
    baseURL: endpoint.baseUrl ?? null,
    organization: endpoint.organization ?? null,
    defaultHeaders: endpoint.headers,
    defaultQuery: endpoint.query,
    maxRetries: 0,
    timeout: timeoutMs,
  });
}
