// A worker thread of the script-check pool (src/check/script-checks.ts): loads each user module once, and calls its
// check function on a batch of choices. Whatever the function does (throws, returns garbage) becomes that choice's
// unscored outcome here; a function that never returns is the pool's to stop (it ends this thread).
import { pathToFileURL } from 'node:url';
import type { CheckOutcome } from '../contracts/checks.js';
import { OutcomeColumns, outcomeOfReturn, shortReason, thrownReason, unscored } from './script-result.js';

export interface ScriptRef {
  module: string;
  export: string;
}

export interface ScriptCheckRef extends ScriptRef {
  min: number;
}

/**
 * A batch of choices, one per check to run, as columns: item i is check `check[i]` on `content[i]`, row `row[i]` and
 * cell `cell[i]` (indexes into `rows` and `cells`, each sent once per batch), and the choice's fields. A message's
 * structured clone costs by the object: columns of plain values clone faster than an object per item.
 */
export interface ScriptItems {
  check: number[];
  content: Array<string | null>;
  row: number[];
  cell: number[];
  index: number[];
  finish_reason: Array<string | null>;
  refusal: Array<string | null>;
  tool_calls: unknown[];
}

/**
 * `progress` (shared with the pool's caller): as item i starts, [0] is set to i and [1] to the ms since `sentAt`
 * (Date.now() when the batch was sent), so a batch stopped at a time limit still tells which item was running and
 * since when; once the last is done, [0] is the item count. `outcomes` (shared too, an OutcomeColumns buffer): each
 * item's outcome, written before the next item starts.
 */
export type WorkerTask = { probe: ScriptRef[] } | { items: ScriptItems; checks: ScriptCheckRef[]; rows: unknown[]; cells: unknown[]; progress: Int32Array; outcomes: SharedArrayBuffer; sentAt: number };

const modules = new Map<string, Promise<Record<string, unknown>>>();

function load(module: string): Promise<Record<string, unknown>> {
  let m = modules.get(module);
  if (!m) {
    m = import(pathToFileURL(module).href) as Promise<Record<string, unknown>>;
    modules.set(module, m);
  }
  return m;
}

function errorText(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/** Why a check's module or export cannot be used, or null when it can. */
async function probe(ref: ScriptRef): Promise<string | null> {
  let m: Record<string, unknown>;
  try {
    m = await load(ref.module);
  } catch (e) {
    return shortReason(`cannot load the module: ${errorText(e)}`);
  }
  if (typeof m[ref.export] === 'function') return null;
  const functions = Object.keys(m).filter((k) => typeof m[k] === 'function');
  const has = functions.length ? `it exports ${functions.map((f) => `'${f}'`).join(', ')}` : 'it exports no function';
  return `the module has no function export '${ref.export}' (${has})`;
}

/** The content parsed as JSON (here, off the thread that sends requests); undefined when it is not JSON. */
function parsed(content: string | null): unknown {
  if (content === null) return undefined;
  try {
    return JSON.parse(content) as unknown;
  } catch {
    return undefined;
  }
}

async function grade(i: number, task: Extract<WorkerTask, { items: unknown }>): Promise<CheckOutcome> {
  const items = task.items;
  const ref = task.checks[items.check[i]!]!;
  let fn: unknown;
  try {
    fn = (await load(ref.module))[ref.export];
  } catch (e) {
    return unscored(`cannot load the module: ${errorText(e)}`);
  }
  if (typeof fn !== 'function') return unscored(`the module has no function export '${ref.export}'`);
  try {
    const content = items.content[i]!;
    const choice = { index: items.index[i], finish_reason: items.finish_reason[i], refusal: items.refusal[i], tool_calls: items.tool_calls[i] };
    const input = { content, json: parsed(content), row: task.rows[items.row[i]!], cell: task.cells[items.cell[i]!], choice };
    return outcomeOfReturn(await (fn as (input: unknown) => unknown)(input), ref.min);
  } catch (e) {
    return unscored(thrownReason(e));
  }
}

/** A probe's answers; a batch's outcomes go into its shared columns, and the count of items graded comes back. */
export default async function run(task: WorkerTask): Promise<Array<string | null> | number> {
  if ('probe' in task) return Promise.all(task.probe.map(probe));
  const out = new OutcomeColumns(task.outcomes);
  // Imported before the first call's clock starts (a new thread's first batch): a slow import is no call's fault.
  await Promise.all(task.checks.map((c) => load(c.module).catch(() => undefined)));
  const mark = (i: number) => {
    Atomics.store(task.progress, 1, Date.now() - task.sentAt);
    Atomics.store(task.progress, 0, i);
  };
  for (let i = 0; i < task.items.check.length; i++) {
    mark(i);
    out.write(i, await grade(i, task));
  }
  mark(task.items.check.length);
  return task.items.check.length;
}
