import pLimit from 'p-limit';
import type { Task } from '../contracts/plan.js';
import type { RequestRecord } from '../record/index.js';

/** Gives a task the right to send one HTTP request; `concurrency` of them exist. */
export interface Slots {
  /** Resolves with the slot's release, or undefined once the run is stopping or stopped: send nothing more. */
  acquire(): Promise<(() => void) | undefined>;
  /** Stops granting slots at once (a fatal answer), before the caller releases its own: nothing more is sent. */
  halt(reason: unknown): void;
}

export interface RunPlanDeps {
  concurrency: number;
  execute: (task: Task, slots: Slots) => Promise<RequestRecord | undefined>;
  onRecord: (record: RequestRecord, task: Task) => void;
  /** After each dispatched task is finished: recorded, dropped, or failed fatally. */
  onSettled?: ((task: Task) => void) | undefined;
  /** Aborted: dispatch nothing more (in-flight requests are ended through their own signal). */
  stop: AbortSignal;
}

export interface RunPlanResult {
  /** Tasks taken from the plan; when the run stopped, some of them were dropped unsent (and stay unrecorded). */
  dispatched: number;
  /** Records handed to onRecord. */
  recorded: number;
  /** The error that stopped the run (ApiFatalError), if any. */
  fatal: unknown;
}

/**
 * Dispatches tasks from a lazy stream. `concurrency` bounds the HTTP requests in flight (one p-limit pool of slots),
 * not the tasks: a task holds a slot from just before its request is sent until its answer has arrived, and checks
 * and records the answer outside it, so the next request goes out without waiting for that work. A task waiting to
 * retry holds no slot either. At most twice `concurrency` tasks are pulled from the stream ahead of completion, so
 * the plan is never materialised; a fatal error or a stop ends the granting of slots and drains the tasks.
 */
export async function runPlan(tasks: AsyncIterable<Task>, deps: RunPlanDeps): Promise<RunPlanResult> {
  const exchanges = pLimit(deps.concurrency);
  const maxTasks = deps.concurrency * 2;
  let active = 0;
  let dispatched = 0;
  let recorded = 0;
  let fatal: unknown;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const waitForTask = () => new Promise<void>((r) => (wake = r));
  const halted = () => fatal !== undefined || deps.stop.aborted;
  const slots: Slots = {
    acquire: () =>
      halted()
        ? Promise.resolve(undefined)
        : new Promise((grant) => {
            void exchanges(
              () =>
                new Promise<void>((release) => {
                  // Checked again when the slot comes free: a task that waited through a fatal answer or a stop sends nothing.
                  if (halted()) {
                    release();
                    grant(undefined);
                    return;
                  }
                  let released = false;
                  grant(() => {
                    if (released) return;
                    released = true;
                    release();
                  });
                }),
            );
          }),
    halt: (reason) => {
      fatal ??= reason;
      notify();
    },
  };
  const onStop = () => notify();
  deps.stop.addEventListener('abort', onStop);
  const it = tasks[Symbol.asyncIterator]();
  // The next task, or undefined once the run is halted: a stream that waits for tasks still to come (a judge's
  // calls) must not keep a stopped run waiting with it.
  const nextTask = async (): Promise<IteratorResult<Task> | undefined> => {
    const pending = it.next();
    for (;;) {
      if (halted()) {
        pending.catch(() => {});
        return undefined;
      }
      const got = await Promise.race([pending, waitForTask().then(() => undefined)]);
      if (got !== undefined) return got;
    }
  };
  let ended = false;
  try {
    for (;;) {
      const next = await nextTask();
      if (!next || next.done) {
        ended = next?.done === true;
        break;
      }
      const task = next.value;
      while (active >= maxTasks && !halted()) await waitForTask();
      if (halted()) break;
      active++;
      dispatched++;
      void (async () => {
        try {
          const record = await deps.execute(task, slots);
          if (record) {
            recorded++;
            deps.onRecord(record, task);
          }
        } catch (e) {
          fatal ??= e;
        } finally {
          active--;
          deps.onSettled?.(task);
          notify();
        }
      })();
    }
    while (active > 0) await waitForTask();
  } finally {
    deps.stop.removeEventListener('abort', onStop);
    // Not awaited: a stream halted while it waits ends once that wait does.
    if (!ended) void it.return?.(undefined)?.catch(() => {});
  }
  return { dispatched, recorded, fatal };
}
