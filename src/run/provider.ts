import OpenAI from 'openai';
import type { Config } from '../config/types.js';
import { ApiFatalError } from '../errors.js';
import { makeRedactor, redactUrl } from '../util/redact.js';
import { createHttpFetch } from './http-fetch.js';
import { memoizeRequestHeaders } from './header-memo.js';

export interface Provider {
  client: OpenAI;
  kind: 'openai' | 'simulator';
  /** The base URL with credentials hidden, safe to write to run.json and logs. */
  shownBaseUrl: string;
  /** What identifies the server in response-cache keys (the simulator's port changes every run, so not its URL). */
  cacheKeyUrl: string;
  redact: (text: string) => string;
  close(): Promise<void>;
  /** Ends every request in flight now (a hard stop); they are not recorded, so a resume sends them again. */
  abortInFlight(): void;
}

export interface ProviderOptions {
  env?: NodeJS.ProcessEnv | undefined;
  /** The run's JSON Schema: the simulator aims its JSON answers at it. */
  schema?: Record<string, unknown> | undefined;
  seed?: number | undefined;
}

const OPENAI_HOST = /(^|\.)openai\.com$/i;

/**
 * An SDK client for the configured provider; for `simulator`, the built-in simulator is started on a loopback port
 * first. The SDK makes one attempt per call (maxRetries 0): retries are evalrun's, so they are counted.
 */
export async function openProvider(config: Config, options: ProviderOptions = {}): Promise<Provider> {
  const env = options.env ?? process.env;
  const p = config.provider;
  if (p.kind === 'simulator') {
    const { startSimulator } = await import('../simulator/index.js');
    const sim = await startSimulator({ ...p.simulator, schema: options.schema, seed: options.seed ?? 0 } as Parameters<typeof startSimulator>[0]);
    const http = createHttpFetch(config.concurrency);
    const client = new OpenAI({ apiKey: 'sk-simulator', baseURL: sim.url, maxRetries: 0, timeout: config.timeoutS * 1000, fetch: http.fetch });
    memoizeRequestHeaders(client);
    return {
      client,
      kind: 'simulator',
      shownBaseUrl: sim.url,
      cacheKeyUrl: `evalrun-simulator:${options.seed ?? 0}`,
      redact: (t) => t,
      abortInFlight: http.destroy,
      close: async () => {
        await http.close();
        await sim.close();
      },
    };
  }
  const baseURL = p.baseUrl ?? env['OPENAI_BASE_URL'] ?? undefined;
  let apiKey = env[p.apiKeyEnv];
  if (!apiKey) {
    if (!baseURL || isOpenAiHost(baseURL)) {
      throw new ApiFatalError(
        `${p.apiKeyEnv} is not set. Export your API key (export ${p.apiKeyEnv}=sk-...), point OPENAI_BASE_URL or provider.base_url at a local server, or try the config offline with --simulate.`,
      );
    }
    // Local OpenAI-compatible servers (vLLM, Ollama, llama.cpp) usually need no key, but the SDK wants one.
    apiKey = 'sk-no-key-required';
  }
  const http = createHttpFetch(config.concurrency);
  const client = new OpenAI({
    fetch: http.fetch,
    apiKey,
    baseURL: baseURL ?? null,
    organization: p.organization ?? null,
    defaultHeaders: p.headers,
    defaultQuery: p.query,
    maxRetries: 0,
    timeout: config.timeoutS * 1000,
  });
  memoizeRequestHeaders(client);
  return {
    client,
    kind: 'openai',
    shownBaseUrl: redactUrl(client.baseURL),
    cacheKeyUrl: redactUrl(client.baseURL),
    redact: makeRedactor([apiKey, ...Object.values(p.headers), ...Object.values(p.query)]),
    abortInFlight: http.destroy,
    close: () => http.close(),
  };
}

function isOpenAiHost(url: string): boolean {
  try {
    return OPENAI_HOST.test(new URL(url).hostname);
  } catch {
    return false;
  }
}
