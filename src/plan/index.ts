// The plan stage's public entry: what other stages import from it (the stage table in eslint.config.js
// makes them come through here).
export { expandGrid } from './grid.js';
export { summarizePlan, planTasks } from './build-plan.js';
export type { PlanSummary } from './build-plan.js';
export { estimateCost, loadWorstCase } from './cost.js';
export type { WorstCase, WorstCaseOf } from './cost.js';
export { planFingerprint } from './fingerprint.js';
export { shardName, checkShardResume, shardRange, shardRows, parseShard, shardRowsText } from './shard.js';
export type { ShardRange, ShardSpec } from './shard.js';
export { preloadTokenCounter, startTokenCounter } from './token-counter.js';
export type { CostEstimate } from './cost.js';
export { PLAN_FORMAT } from './fingerprint.js';
export { conversationRenderer, judgeTask } from './judge-tasks.js';
export { outputLimit } from './context-windows.js';
