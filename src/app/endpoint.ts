import type { Config } from '../contracts/config.js';
import { ApiFatalError } from '../errors.js';
import type { Endpoint } from '../run/index.js';

export interface OpenEndpoint {
  endpoint: Endpoint;
  /** Stops what was started for the run (the built-in simulator); nothing for a real API. */
  close(): Promise<void>;
}

const OPENAI_HOST = /(^|\.)openai\.com$/i;

/**
 * Resolves the config's provider to an endpoint. For `provider: simulator` (or --simulate) the built-in simulator
 * is started here, on a loopback port, and the run is given its URL like any server's: the run itself has no
 * notion of a simulator. A missing key throws before anything is started or written.
 */
export async function openEndpoint(config: Config, options: { env?: NodeJS.ProcessEnv | undefined; simulatorStateDir?: string | undefined } = {}): Promise<OpenEndpoint> {
  const p = config.provider;
  if (p.kind === 'simulator') {
    const { startSimulator } = await import('../simulator/index.js');
    const seed = config.seed ?? 0;
    // Its Batch API state lives in the run directory: batches outlive the process, as a provider's do.
    const stateDir = options.simulatorStateDir !== undefined ? { state_dir: options.simulatorStateDir } : {};
    const sim = await startSimulator({ ...p.simulator, ...stateDir, schema: config.schema, seed } as Parameters<typeof startSimulator>[0], { countLines: false });
    return {
      // Its port changes every run; its answers depend on the seed.
      endpoint: { kind: 'simulator', baseUrl: sim.url, apiKey: 'sk-simulator', cacheKey: `evalrun-simulator:${seed}`, secrets: [] },
      close: () => sim.close(),
    };
  }
  const env = options.env ?? process.env;
  const baseUrl = p.baseUrl ?? env['OPENAI_BASE_URL'] ?? undefined;
  let apiKey = env[p.apiKeyEnv];
  if (!apiKey) {
    if (!baseUrl || isOpenAiHost(baseUrl)) {
      throw new ApiFatalError(
        `${p.apiKeyEnv} is not set. Export your API key (export ${p.apiKeyEnv}=sk-...), point OPENAI_BASE_URL or provider.base_url at a local server, or try the config offline with --simulate.`,
      );
    }
    // Local OpenAI-compatible servers (vLLM, Ollama, llama.cpp) usually need no key, but the SDK wants one.
    apiKey = 'sk-no-key-required';
  }
  return {
    endpoint: {
      kind: 'openai',
      baseUrl,
      apiKey,
      organization: p.organization,
      headers: p.headers,
      query: p.query,
      secrets: [apiKey, ...Object.values(p.headers), ...Object.values(p.query)],
    },
    close: async () => {},
  };
}

function isOpenAiHost(url: string): boolean {
  try {
    return OPENAI_HOST.test(new URL(url).hostname);
  } catch {
    return false;
  }
}
