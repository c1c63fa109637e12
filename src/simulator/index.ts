/** The built-in OpenAI-compatible Chat Completions simulator: deterministic for a seed, with injectable faults. */
export type { ServedModel } from './model.js';
export type { BatchSimulatorOptions, FaultKind, FaultOptions, LatencyOption, RunningSimulator, SimulatedReply, SimulatorOptions, SimulatorStats } from './types.js';
export { startSimulator } from './server.js';
export { simulateCompletion, DEFAULT_MODELS } from './simulate.js';
export { CONTENT_FILTER_TRIGGER, JSON_WORD_MESSAGE } from './validate-request.js';
export { INVALID_JSON_FACTOR, SCHEMA_VIOLATION_FACTOR, TEXT_MODE_JSON_WRAP, spreadOf } from './model.js';
export { simulatorOptionIssues } from '../contracts/simulator-options.js';
