// The record stage's public entry: what other stages import from it (the stage table in eslint.config.js
// makes them come through here).
export { MANIFEST, RECORDS, readManifest, type ManifestCell, type RunManifest } from './manifest.js';
export { indexJournal, indexLinesBySeq, JournalReader, pendingJudging, recordsInOrder, scanJournal, SeqLinesReader, type JournalIndex, type LinesBySeq } from './read-journal.js';
export { recordedInSummary } from './run-dir.js';
export { RunLock } from './run-lock.js';
export type { Anomaly, ChoiceRecord, JudgeUsage, RequestRecord, Usage } from './types.js';
export { addRecordBilled, addUsage, cachedTokens, reasoningTokens, usageDetails } from './usage.js';
export { BATCH_RESULT_LOST } from './types.js';
export { Journal } from './journal.js';
export { RunRecorder } from './run-recorder.js';
export { writeManifest } from './manifest.js';
export type { MergeProvenance, RunStatus, BatchManifest, BatchPart, SeqRun } from './manifest.js';
export { claimRunDir, openRunDir } from './run-dir.js';
export type { RequestError, RequestPart } from './types.js';
