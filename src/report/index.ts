/** The report stage's public entry: what other stages and the use cases import from it. */
export { compareRuns } from './compare-runs.js';
export { formatRunComparison, runComparisonMarkdown } from './console-compare.js';
export { formatEvaluation } from './console-evaluation.js';
export { formatAnomalies, formatSummaryTable, SORT_KEYS } from './console-table.js';
export type { SortKey } from './console-table.js';
export { formatUsd } from './cost-summary.js';
export { appendStepSummary, EXTRA_REPORTS } from './evaluate-run.js';
export { loadRun, pruneRuns, runKey, saveRun } from './history/cache.js';
export { NoiseFloorCounter, runEntry, transition } from './history/history.js';
export type { Drift, HistoryRunEntry, NoiseFloor, Transition } from './history/history.js';
export { scanRun } from './history/scan.js';
export type { HistoryRun } from './history/scan.js';
export { historyCsv, HISTORY_FILES, writeHistoryFiles } from './history/write.js';
export type { HistoryJson } from './history/write.js';
export { LiveReport } from './live-report.js';
export { summaryMarkdown, partialNote } from './markdown.js';
export { ReportPass, writeReports } from './write-reports.js';
export type { RunComparison } from './compare-runs.js';
