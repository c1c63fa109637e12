import type { CellStats } from '../contracts/summary.js';

/** Rates a report shows only when some cell has any: in a run without tool calls or refusals they are columns of zeros. */
const COUNT_OF = { tool_calls_rate: 'tool_calls', refusal_rate: 'refusal' } as const;

/** Whether a table shows `metric`: always, unless it is one of the rates above and no cell has any. */
export function showsRate(metric: string, cells: readonly CellStats[]): boolean {
  const count = COUNT_OF[metric as keyof typeof COUNT_OF];
  return count === undefined || cells.some((c) => (c[count] ?? 0) > 0);
}
