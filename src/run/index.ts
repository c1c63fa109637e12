/** The run stage's public entry: what other stages and the use cases import from it. */
export { createBatchExecutor } from './batch/batch-executor.js';
export type { BatchExecutorOptions, BatchProgress, BatchRunState, PausePoint } from './batch/batch-executor.js';
export { ResponseCache } from './cache.js';
export { choiceFails, inputOf } from './answer-record.js';
export { createHttpExecutor } from './executor.js';
export type { Executor } from './executor.js';
export { gradeScripts } from './grade-scripts.js';
export { describeEndpoint, openProvider } from './provider.js';
export type { Endpoint, Provider, EndpointInfo } from './provider.js';
export { Budget, spentOf } from './budget.js';
export type { BudgetSnapshot } from './budget.js';
