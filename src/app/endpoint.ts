import type { Config } from '../contracts/config.js';
import { resolveEndpoint } from '../contracts/endpoint.js';
import { ApiFatalError } from '../errors.js';
import type { Endpoint } from '../run/index.js';

export interface OpenEndpoint {
  endpoint: Endpoint;
  /** Stops what was started for the run (the built-in simulator); nothing for a real API. */
  close(): Promise<void>;
}

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
  const resolved = resolveEndpoint(p, options.env ?? process.env);
  const { baseUrl, apiKey } = resolved;
  if (apiKey === undefined) {
    throw new ApiFatalError(
      `${p.apiKeyEnv} is not set. Export your API key (export ${p.apiKeyEnv}=sk-...), point OPENAI_BASE_URL or provider.base_url at a local server, or try the config offline with --simulate.`,
    );
  }
  return {
    endpoint: {
      kind: 'openai',
      baseUrl,
      apiKey,
      organization: p.organization,
      headers: p.headers,
      query: p.query,
      // The placeholder too: a server echoing it is no different from one echoing a key.
      secrets: resolved.placeholder ? [apiKey, ...resolved.secrets] : resolved.secrets,
    },
    close: async () => {},
  };
}
