import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import type { CheckOutcome, CheckSpec } from '../contracts/checks.js';
import { builtFile } from '../util/built-file.js';
import { OutcomeColumns, unscored } from './script-result.js';
import type { ScriptCheckRef, ScriptItems, WorkerTask } from './script-worker.js';

/**
 * What a script check function is given for one choice (README "Your own checks"), less `json`: the worker parses
 * the content itself.
 */
export interface ScriptInput {
  /** The answer's text (null for a tool-call-only answer). */
  content: string | null;
  /** The dataset row's values. */
  row: Record<string, unknown>;
  cell: { id: string; params: Record<string, unknown> };
  choice: { index: number; finish_reason: string | null; refusal: string | null; tool_calls: unknown };
}

interface Pending {
  /** The check's index in `specs`. */
  check: number;
  input: ScriptInput;
  timeoutMs: number;
  done: (o: CheckOutcome) => void;
}

/** A script check passes at this score unless it says otherwise (`min`, or its own `pass`). */
export const DEFAULT_SCRIPT_MIN = 0.5;
/**
 * How long a thread may take to start on a batch (a new thread's start-up, the check modules' first import) before
 * any call's own limit applies; the probe gives a module as long to load.
 */
const START_MS = 30_000;
/** How often the time-limit watch looks again while a batch whose calls are all done is ending. */
const RESULT_GRACE_MS = 50;
/** Items sent to a worker in one message: one round trip per choice would cost more than most checks. */
const MAX_BATCH = 256;

const WORKER = builtFile(import.meta.url, './script-worker.js');

/** One script check's module or export that cannot be used, found before anything is sent. */
export interface ScriptProblem {
  check: string;
  key: 'module' | 'export';
  message: string;
}

/**
 * The script checks of a run, graded in a pool of worker threads (piscina), so a check that loops forever can be
 * stopped (its thread is terminated) and never blocks the event loop that sends requests. Each thread loads a module
 * once. Choices are batched into one message per thread, and each check call has its own time limit: the one that
 * runs past it is unscored, the others of its batch are graded (test/bench/RESULTS.md, graders).
 */
export class ScriptChecks {
  readonly specs: readonly CheckSpec[];
  private readonly refs: ScriptCheckRef[];
  private readonly pool: Piscina;
  private readonly threads: number;
  private pending: Pending[] = [];
  private busy = 0;
  private scheduled = false;

  constructor(specs: readonly CheckSpec[], threads = defaultThreads()) {
    this.specs = specs;
    this.refs = specs.map((s) => ({ module: s.module!, export: s.export ?? 'default', min: s.min ?? DEFAULT_SCRIPT_MIN }));
    this.threads = threads;
    // 'disabled': a thread never sleeps on Atomics between tasks, so an async check's timers and promises run
    // normally; one in-flight task per thread, so a batch's clock starts when it starts running.
    this.pool = new Piscina({ filename: WORKER.href, minThreads: 1, maxThreads: threads, idleTimeout: 30_000, atomics: 'disabled', concurrentTasksPerWorker: 1 });
  }

  /** Loads every check's module in a worker: what cannot be loaded, or lacks its export, is a config problem. */
  async probe(): Promise<ScriptProblem[]> {
    const task: WorkerTask = { probe: this.specs.map((s) => ({ module: s.module!, export: s.export ?? 'default' })) };
    const found = (await this.pool.run(task, { signal: AbortSignal.timeout(START_MS) }).catch((e: unknown) => this.specs.map(() => `cannot load the module: ${(e as Error).message}`))) as Array<string | null>;
    return found.flatMap((message, i) => (message === null ? [] : [{ check: this.specs[i]!.name, key: message.startsWith('cannot load') ? ('module' as const) : ('export' as const), message }]));
  }

  /** Every script check on each input: outcomes[i][k] is check k's on input i. */
  grade(inputs: readonly ScriptInput[]): Promise<CheckOutcome[][]> {
    return Promise.all(
      inputs.map((input) =>
        Promise.all(
          this.specs.map(
            (s, check) =>
              new Promise<CheckOutcome>((done) => {
                this.pending.push({ check, input, timeoutMs: s.timeoutMs ?? 5000, done });
                this.schedule();
              }),
          ),
        ),
      ),
    );
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    while (this.busy < this.threads && this.pending.length > 0) {
      const batch = this.pending.splice(0, MAX_BATCH);
      this.busy++;
      void this.runBatch(batch).finally(() => {
        this.busy--;
        this.pump();
      });
    }
  }

  private async runBatch(batch: Pending[]): Promise<void> {
    const result = await this.run(batch);
    if ('outcomes' in result) return batch.forEach((p, i) => p.done(result.outcomes[i]!));
    // The item that ran past its own limit is unscored; the thread running it was ended (and is replaced). The items
    // before it had finished and their outcomes are in the shared columns; the items after it are queued anew.
    for (let i = 0; i < result.stuck; i++) batch[i]!.done(result.before[i]!);
    const stuck = batch[result.stuck]!;
    stuck.done(unscored(`timed out after ${stuck.timeoutMs} ms`));
    this.pending.unshift(...batch.slice(result.stuck + 1));
  }

  /**
   * The outcomes; or, when an item ran past its own time limit, its place in the batch (the pool then terminates the
   * thread). Each item has its own limit, from when it started; none runs while the thread starts and imports the
   * modules (up to START_MS). The thread says which item it is on through `progress`, and a timer looks at it when
   * the item on it would be due.
   */
  private async run(batch: readonly Pending[]): Promise<{ outcomes: CheckOutcome[] } | { stuck: number; before: CheckOutcome[] }> {
    // Each distinct cell and row once per message: a batch holds many choices of few cells and rows.
    const cells = new Indexed<string, ScriptInput['cell']>();
    const rows = new Indexed<object, ScriptInput['row']>();
    const items: ScriptItems = { check: [], content: [], row: [], cell: [], index: [], finish_reason: [], refusal: [], tool_calls: [] };
    for (const { check, input } of batch) {
      items.check.push(check);
      items.content.push(input.content);
      items.row.push(rows.index(input.row, input.row));
      items.cell.push(cells.index(input.cell.id, input.cell));
      items.index.push(input.choice.index);
      items.finish_reason.push(input.choice.finish_reason);
      items.refusal.push(input.choice.refusal);
      items.tool_calls.push(input.choice.tool_calls);
    }
    const progress = new Int32Array(new SharedArrayBuffer(8)).fill(-1);
    const columns = new OutcomeColumns(batch.length);
    /** The outcomes of items 0 … n − 1, written by the thread before item n started. */
    const written = (n: number) => Array.from({ length: n }, (_, i) => columns.read(i));
    const sentAt = Date.now();
    const stop = new AbortController();
    let stuck = -1;
    let timer: NodeJS.Timeout | undefined;
    // The tightest limit from each item on: a later item, started any moment now, is due no sooner than that.
    const tightest: number[] = [];
    for (let i = batch.length - 1; i >= 0; i--) tightest[i] = Math.min(batch[i]!.timeoutMs, tightest[i + 1] ?? Infinity);
    const watch = () => {
      const running = Atomics.load(progress, 0);
      // Every item done (its outcomes are in the columns): the batch is ending, and no call is to blame.
      if (running >= batch.length) {
        timer = setTimeout(watch, RESULT_GRACE_MS);
        return;
      }
      const now = Date.now();
      if (running < 0) {
        // Not started yet: no call's clock runs while the thread starts and imports the modules.
        if (now - sentAt < START_MS) timer = setTimeout(watch, Math.min(tightest[0]!, sentAt + START_MS - now));
        else {
          stuck = 0;
          stop.abort();
        }
        return;
      }
      const due = sentAt + Atomics.load(progress, 1) + batch[running]!.timeoutMs - now;
      if (due <= 0) {
        stuck = running;
        stop.abort();
        return;
      }
      timer = setTimeout(watch, Math.min(due, tightest[running + 1] ?? Infinity));
    };
    timer = setTimeout(watch, tightest[0]);
    try {
      const task: WorkerTask = { items, checks: this.refs, rows: rows.values, cells: cells.values, progress, outcomes: columns.buffer, sentAt };
      await this.pool.run(task, { signal: stop.signal });
      return { outcomes: written(batch.length) };
    } catch (e) {
      if (stuck >= 0) return { stuck, before: written(stuck) };
      // The thread died (a check called process.exit, or ran out of memory): the items graded before keep their
      // outcomes; the one it died on, and those after, say so.
      const reason = `the check's worker thread failed: ${(e as Error)?.message ?? String(e)}`;
      const graded = Math.max(0, Math.min(batch.length, Atomics.load(progress, 0)));
      return { outcomes: [...written(graded), ...batch.slice(graded).map(() => unscored(reason))] };
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Distinct values in the order first seen, each with its index. */
class Indexed<K, V> {
  readonly values: V[] = [];
  private readonly seen = new Map<K, number>();

  index(key: K, value: V): number {
    let i = this.seen.get(key);
    if (i === undefined) {
      i = this.values.push(value) - 1;
      this.seen.set(key, i);
    }
    return i;
  }
}

/** Threads for script checks: the cores but one (the main thread sends and records), at least one, at most four. */
function defaultThreads(): number {
  return Math.max(1, Math.min(4, availableParallelism() - 1));
}
