import { join } from 'node:path';
import type { Config } from '../contracts/config.js';
import type { Cell } from '../contracts/plan.js';
import type { RunManifest } from '../record/index.js';
import { RECORDS } from '../record/index.js';
import { formatUsd } from '../report/index.js';
import type { WorstCaseOf } from '../plan/index.js';
import { Budget, spentOf } from '../run/index.js';
import { judgeChecks, JUDGMENTS } from './judging.js';
import { roundTo } from '../util/round.js';
import { BudgetStoppedError } from '../errors.js';

export interface BudgetSession {
  config: Config;
  cells: readonly Cell[];
  dir: string;
  /** The plan's request count: records.jsonl is read up to it. */
  requests: number;
  worstCase: WorstCaseOf;
  /** Whether the directory holds records already (a resume, a regrade): what they spent counts. */
  recorded: boolean;
  /** What an earlier session's run.json says the directory had spent. */
  previousSpentUsd?: number | undefined;
  /** The price factor this session's requests are billed at (the Batch API's half, or 1). */
  factor: number;
}

/**
 * The spend limit of a session that sends requests to a run directory (a run, a resume, a regrade's judge calls):
 * the budget covers the directory, so what its records.jsonl and judgments.jsonl have spent counts, and never less
 * than run.json says an earlier session counted at its worst case (an answer without usage, a lost batch line).
 */
export async function openBudget(s: BudgetSession): Promise<Budget> {
  const { config } = s;
  const spent = s.recorded
    ? Math.max(
        await spentOf(join(s.dir, RECORDS), s.requests, new Map(s.cells.map((c) => [c.id, String(c.params['model'])])), config.pricing ?? {}, {
          path: join(s.dir, JUDGMENTS),
          modelOf: new Map(judgeChecks(config).map((j) => [j.name, j.judge!.model])),
        }),
        s.previousSpentUsd ?? 0,
      )
    : 0;
  return new Budget({ limitUsd: config.budgetUsd!, spentUsd: spent, worstCase: s.worstCase, prices: config.pricing ?? {}, factor: s.factor, usd: formatUsd });
}

/**
 * run.json's `budget`: the last session's limit, what the run directory had spent when it ended and, when the budget
 * stopped the session, why. A session without a limit leaves none (an earlier session's would mislead).
 */
export function withBudget(manifest: RunManifest, budget: Budget | undefined, fatal: unknown): RunManifest {
  const { budget: _earlier, ...rest } = manifest;
  if (!budget) return rest;
  const b = budget.snapshot();
  const reason = fatal instanceof BudgetStoppedError ? fatal.message : undefined;
  return Object.assign({}, rest, { budget: { limit_usd: b.limit_usd, spent_usd: roundTo(b.spent_usd, 6), stopped: reason !== undefined, ...(reason ? { reason } : {}) } });
}
