import pLimit from 'p-limit';
import type { Task } from '../plan/types.js';
import type { RequestRecord } from '../record/types.js';

export interface RunPlanDeps {
  concurrency: number;
  execute: (task: Task) => Promise<RequestRecord | undefined>;
  onRecord: (record: RequestRecord, task: Task) => void;
  /** Aborted: dispatch nothing more (in-flight requests are ended through their own signal). */
  stop: AbortSignal;
}

export interface RunPlanResult {
  dispatched: number;
  recorded: number;
  /** The error that stopped the run (ApiFatalError), if any. */
  fatal: unknown;
}

/**
 * Dispatches tasks from a lazy stream through one p-limit pool. At most `concurrency` tasks are pulled from the
 * stream ahead of completion, so the plan is never materialised; a fatal error stops dispatch and drains the pool.
 */
export async function runPlan(tasks: AsyncIterable<Task>, deps: RunPlanDeps): Promise<RunPlanResult> {
  const limit = pLimit(deps.concurrency);
  let inFlight = 0;
  let dispatched = 0;
  let recorded = 0;
  let fatal: unknown;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const waitForSlot = () => new Promise<void>((r) => (wake = r));
  const onStop = () => notify();
  deps.stop.addEventListener('abort', onStop);
  try {
    for await (const task of tasks) {
      while (inFlight >= deps.concurrency && fatal === undefined && !deps.stop.aborted) await waitForSlot();
      if (fatal !== undefined || deps.stop.aborted) break;
      inFlight++;
      dispatched++;
      void limit(async () => {
        try {
          // A task queued inside p-limit when a fatal error struck is dropped here, unsent.
          if (fatal !== undefined) return;
          const record = await deps.execute(task);
          if (record) {
            recorded++;
            deps.onRecord(record, task);
          }
        } catch (e) {
          fatal ??= e;
        } finally {
          inFlight--;
          notify();
        }
      });
    }
    while (inFlight > 0) await waitForSlot();
  } finally {
    deps.stop.removeEventListener('abort', onStop);
  }
  return { dispatched, recorded, fatal };
}
