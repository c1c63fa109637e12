import { UsageError } from '../errors.js';

/** `--max-cost USD` (run, plan, regrade): an amount above 0, or absent. */
export function maxCostArg(value: number | undefined): number | undefined {
  if (value !== undefined && !(Number.isFinite(value) && value > 0)) throw new UsageError(`--max-cost must be an amount in USD above 0 (got ${String(value)})`);
  return value;
}
