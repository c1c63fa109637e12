import { PICK_COSTS } from '../stats/index.js';
import { findMetric, metricsFor, suggestMetric } from '../stats/index.js';
import { suggest, type DocPath } from './locate.js';
import type { ConfigFile } from '../contracts/config.js';
import type { PickSpec } from '../contracts/evaluation.js';

type Issue = (path: DocPath, message: string, opts?: { atKey?: boolean }) => void;

/** `pick:`: a quality metric that has a better direction, one of the costs evalrun measures, and the margin. */
export function resolvePick(data: ConfigFile, checks: readonly string[], issue: Issue, scored: readonly string[] = [], human: readonly string[] = []): PickSpec {
  const metric = data.pick?.metric ?? null;
  const cost = data.pick?.cost ?? null;
  const margin = data.pick?.margin ?? null;
  if (metric !== null) {
    const def = findMetric(metric, checks, scored, human);
    const known = metricsFor(checks, scored, human).filter((m) => m.direction !== 'none').map((m) => m.name);
    if (!def) {
      const hint = suggestMetric(metric, known, suggest);
      issue(['pick', 'metric'], `unknown metric '${metric}'${hint ? ` (did you mean '${hint}'?)` : ''}; known: ${known.join(', ')}`);
    } else if (def.direction === 'none') issue(['pick', 'metric'], `'${metric}' is neither better high nor low; pick a quality metric such as a check's pass rate`);
  }
  if (cost !== null && !(PICK_COSTS as readonly string[]).includes(cost)) {
    const hint = suggest(cost, PICK_COSTS);
    issue(['pick', 'cost'], `unknown cost '${cost}'${hint ? ` (did you mean '${hint}'?)` : ''}; use one of ${PICK_COSTS.join(', ')}`);
  }
  return { metric, cost, ...(margin !== null ? { margin } : {}) };
}
