/**
 * Simulator options come from a config's `provider.simulator` mapping or a `simulate --options` file, so a misspelt
 * key would otherwise be ignored in silence (a fault that never fires, a batch that never expires): reject it.
 */
import { ConfigError, type SourceIssue } from '../errors.js';
import { suggest } from '../util/suggest.js';

/** The simulator's fault kinds, in the order it tries them; config checks a `faults:` mapping against them. */
export const FAULT_KINDS = ['rate_limit', 'server_error', 'unavailable', 'reset', 'stall', 'malformed'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

type Shape = { [key: string]: Shape | 'number' | 'any' };

const faults: Shape = Object.fromEntries(FAULT_KINDS.map((k) => [k, 'number']));
const SHAPE: Shape = {
  port: 'number',
  host: 'any',
  seed: 'number',
  schema: 'any',
  latency: 'any',
  faults,
  rpm: 'number',
  tpm: 'number',
  window_ms: 'number',
  api_key: 'any',
  fail_auth_after: 'number',
  models: 'any',
  strict_models: 'any',
  state_dir: 'any',
  served: 'any',
  judge: { noise: 'number', unparseable: 'number', refusal: 'number', length: 'number', position_bias: 'number' },
  batch: {
    duration_ms: 'number',
    faults,
    max_requests: 'number',
    max_file_bytes: 'number',
    fail_validation: { times: 'number', code: 'any', message: 'any' },
    expire: { times: 'number', after: 'number', skip: 'number' },
    lose_create_answer: { times: 'number', status: 'number' },
    token_limit: 'number',
    download: { reset: 'number', stall: 'number', html: 'number', short: 'number', cut: 'number', server_error: 'number' },
    no_output_file: { times: 'number' },
    delete_output: { times: 'number' },
    drop_lines: { times: 'number', count: 'number' },
    cancel_external: { times: 'number', after: 'number' },
    unknown_status: { times: 'number', status: 'any' },
    overdue: { times: 'number' },
    odd_lines: { times: 'number' },
    slow: { times: 'number', skip: 'number', duration_ms: 'number' },
  },
};

export function simulatorOptionIssues(options: unknown, where = 'simulator options'): SourceIssue[] {
  const issues: SourceIssue[] = [];
  const walk = (value: unknown, shape: Shape, path: string) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      issues.push({ file: where, line: 0, col: 0, path, message: 'expected a mapping of options' });
      return;
    }
    const known = Object.keys(shape);
    for (const [key, v] of Object.entries(value)) {
      const at = path ? `${path}.${key}` : key;
      const expected = shape[key];
      if (expected === undefined) {
        const hint = suggest(key, known);
        issues.push({ file: where, line: 0, col: 0, path: at, message: `unknown key '${key}'${hint ? ` (did you mean '${hint}'?)` : ''}; allowed here: ${known.join(', ')}` });
      } else if (v === undefined || expected === 'any') {
        continue;
      } else if (expected === 'number') {
        if (typeof v !== 'number' || !Number.isFinite(v)) issues.push({ file: where, line: 0, col: 0, path: at, message: `expected a number, got ${JSON.stringify(v)}` });
      } else {
        walk(v, expected, at);
      }
    }
  };
  walk(options, SHAPE, '');
  return issues;
}

export function checkSimulatorOptions(options: unknown, where?: string): void {
  const issues = simulatorOptionIssues(options, where);
  if (issues.length > 0) throw new ConfigError(issues);
}
