// The stats stage's public entry: what other stages import from it (the stage table in eslint.config.js
// makes them come through here).
export { METHOD_NOTE, compareMetric, type CompareOptions, type ComparisonItem, type ComparisonRow } from './compare.js';
export { studentTQuantile } from './distributions.js';
export { PICK_COSTS, paretoFrontier, type PickCost } from './frontier.js';
export { defaultCompareMetrics, findMetric, metricsFor, rateMetrics, suggestMetric, type MetricDef } from './metrics.js';
export { weightedKappa, type Kappa } from './kappa.js';
export { RowValues } from './row-values.js';
export { wilson } from './wilson.js';
export type { FrontierPoint } from './frontier.js';
export { holm } from './holm.js';
export { pairedSignFlip, signFlipP } from './paired-test.js';
export type { PairedResult, ShiftTest } from './paired-test.js';
export { twoProportions, newcombe, welch } from './two-sample.js';
export type { Interval } from './wilson.js';
export type { Moments } from './two-sample.js';
