// The check stage's public entry: what other stages import from it (the stage table in eslint.config.js
// makes them come through here).
export { SCHEMA_KEYWORDS, compileSchema, schemaProblems, unknownFormat, type SchemaProblem } from './validators.js';
export { gradedParts } from './json-output.js';
export { ScriptChecks, type ScriptInput, type ScriptProblem } from './script-checks.js';
export { makeChoiceChecker, makeHumanLabels, type ChoiceChecker } from './choice-checker.js';
// The one reading of a human label (defined in contracts so the dataset scan can refuse bad ones before sending).
export { readHumanLabel, scaleCategory, type HumanLabel } from '../contracts/human-label.js';
export { NO_CONTENT } from './checks.js';
export { unscored } from './script-result.js';
export type { ChoiceCheck, ToolCall } from './json-output.js';
export { makeCheckRunner, compileCheck, resolvePointer } from './checks.js';
export { checkJsonOutput } from './json-output.js';
export { combinePairwise, combineVotes, readVote, type JudgeAnswer, type Vote } from './judge-verdict.js';
export { judgedText, referenceText, type JudgedChoice } from './judge-material.js';
