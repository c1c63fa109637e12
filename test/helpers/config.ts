/** Build a resolved Config in code, for unit tests of the stages after config. */
import type { Config } from '../../src/contracts/config.js';

export function makeConfig(overrides: Partial<Config> = {}): Config {
  return {
    name: 'test',
    file: '',
    dir: '/nonexistent',
    datasets: [],
    idColumn: undefined,
    messages: [{ role: 'user', content: '{{text}}' }],
    params: { model: 'gpt-4o-mini' },
    grid: [],
    schema: undefined,
    schemaFile: undefined,
    concurrency: 4,
    provider: { kind: 'simulator', baseUrl: undefined, apiKeyEnv: 'OPENAI_API_KEY', headers: {}, query: {}, organization: undefined, simulator: {} },
    retry: { maxAttempts: 1, maxWaitS: 0 },
    timeoutS: 30,
    rateLimit: { rpm: undefined, tpm: undefined, perModel: false },
    cacheDir: undefined,
    seed: undefined,
    hash: 'test',
    ...overrides,
  };
}

/** Collect an async iterable into an array. */
export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** The error a promise (or function) rejects with; fails the test if it resolves. */
export async function rejection(p: Promise<unknown> | (() => unknown)): Promise<Error & Record<string, unknown>> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    return e as Error & Record<string, unknown>;
  }
  throw new Error('expected an error, but it succeeded');
}
