/**
 * The Batch API executor: a thin shell that wires the never-pay-twice protocol (protocol.ts) to the OpenAI SDK
 * adapter (batch-api.ts) and to the records both executors write (answer-record.ts via parse-line.ts): each result
 * line becomes the record the synchronous executor would have written, graded by the run's scripts, journalled and
 * cached. The protocol knows nothing of records beyond the outcome's kind; this file knows nothing of the protocol's
 * order of steps.
 */
import type { Config } from '../../contracts/config.js';
import type { Task } from '../../contracts/plan.js';
import type { ChoiceChecker, ScriptChecks } from '../../check/index.js';
import type { Endpoint } from '../provider.js';
import { successRecord } from '../answer-record.js';
import type { ResponseCache } from '../cache.js';
import type { Executor, ExecutionControl } from '../executor.js';
import { gradeScripts } from '../grade-scripts.js';
import { openAiBatchApi, type BatchApi } from './batch-api.js';
import { linesOf } from './build-files.js';
import { lineOutcome } from './parse-line.js';
import { BatchProtocol, type BatchProtocolOptions, type LineHandler } from './protocol.js';

export type { BatchProgress, BatchRunState, PausePoint } from './protocol.js';

/** What the protocol is given as the use case gives it (run.json's batch state, the run directory, the hooks). */
type PassedOn = 'state' | 'dir' | 'batch' | 'maxN' | 'redact' | 'cancel' | 'abandon' | 'clock' | 'pause' | 'onProgress' | 'onNotice' | 'budget';

export interface BatchExecutorOptions extends Pick<BatchProtocolOptions, PassedOn> {
  endpoint: Endpoint;
  config: Pick<Config, 'retry' | 'timeoutS' | 'nMode'>;
  check: ChoiceChecker;
  /** The run's script checks, graded on each record before it is handed on. */
  scripts?: ScriptChecks | undefined;
  /** The response cache: read before the files are built, written with the batches' answers. */
  cache?: ResponseCache | undefined;
  /** The Batch API; default the OpenAI SDK over the endpoint. */
  api?: BatchApi | undefined;
}

export function createBatchExecutor(o: BatchExecutorOptions): Executor {
  return {
    async execute(tasks, run) {
      const protocol = new BatchProtocol(
        {
          api: o.api ?? openAiBatchApi(o.endpoint, o.config.timeoutS * 1000, o.redact),
          state: o.state,
          lines: answerLines(o, run),
          dir: o.dir,
          batch: o.batch,
          retry: { maxAttempts: o.config.retry.maxAttempts, maxWaitMs: o.config.retry.maxWaitS * 1000 },
          idleMs: o.config.timeoutS * 1000,
          repeat: o.config.nMode === 'repeat',
          maxN: o.maxN,
          loopback: isLoopback(o.endpoint.baseUrl),
          redact: o.redact,
          cancel: o.cancel,
          abandon: o.abandon,
          clock: o.clock,
          pause: o.pause,
          onProgress: o.onProgress,
          onNotice: o.onNotice,
          budget: o.budget,
        },
        run,
      );
      return protocol.run(tasks);
    },
  };
}

/** Result lines of chat requests (one plan task each) as records: checked, graded by the scripts, journalled, cached. */
function answerLines(o: BatchExecutorOptions, run: ExecutionControl): LineHandler {
  const repeat = o.config.nMode === 'repeat';
  // A repeat set's n answers are cached by the synchronous path under keys of their own: not looked up here.
  const cacheable = (task: Task) => o.cache !== undefined && linesOf(task, repeat) === 1;
  return {
    outcome: (task, line, meta) => lineOutcome(task, line, meta, { check: o.check, redact: o.redact }),
    async accept(out, task, line) {
      if (o.scripts && task.graded !== false) await gradeScripts(o.scripts, out.record, task, run.abort);
      run.onRecord(out.record, task);
      if (out.kind === 'answered' && line.response && cacheable(task)) {
        void o.cache!.put(task.body, { status: line.response.status_code, request_id: line.response.request_id || null, latency_ms: 0, data: line.response.body }).catch(() => {});
      }
    },
    // A cached answer is recorded as cached (not sent, not billed).
    async answered(task) {
      if (!cacheable(task)) return false;
      const hit = await o.cache!.get(task.body);
      if (!hit) return false;
      const record = successRecord(task, hit.data as Parameters<typeof successRecord>[1], { attempts: 0, latency: hit.latency_ms, t0: performance.now(), startedAt: new Date(), status: hit.status, requestId: hit.request_id }, o);
      run.onRecord(Object.assign(record, { cached: true }), task);
      return true;
    },
  };
}

function isLoopback(baseUrl: string | undefined): boolean {
  if (!baseUrl) return false;
  try {
    const h = new URL(baseUrl).hostname;
    return h === 'localhost' || h === '[::1]' || h === '::1' || /^127\./.test(h);
  } catch {
    return false;
  }
}
