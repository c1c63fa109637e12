/** The library API; the CLI uses nothing else. */
export { runEval, type RunEvalOptions, type RunResult, type RunReporter } from './run-eval.js';
export { prepareRun, type PrepareOptions } from './prepare-run.js';
export { loadConfigFile, parseConfigText } from './config/load.js';
export { resolveConfig } from './config/resolve.js';
export type { Config, ConfigFile } from './config/types.js';
export { scanDatasets, readRows } from './dataset/load.js';
export { expandGrid } from './plan/grid.js';
export { planTasks, summarizePlan, type PlanSummary } from './plan/build-plan.js';
export type { Cell, Task } from './plan/types.js';
export { checkJsonOutput, type ChoiceCheck } from './check/json-output.js';
export { writeReports, type Summary } from './report/write-reports.js';
export type { CellStats } from './report/cell-stats.js';
export type { RequestRecord, ChoiceRecord } from './record/types.js';
export type { RunManifest } from './record/manifest.js';
export { main } from './cli/main.js';
export * from './errors.js';
export { startSimulator } from './simulator/index.js';
