import { gradedParts, NO_CONTENT, unscored, type ScriptChecks, type ScriptInput } from '../check/index.js';
import type { CheckOutcome } from '../contracts/checks.js';
import type { Task } from '../contracts/plan.js';
import type { ChoiceRecord, RequestRecord } from '../record/index.js';
import { choiceFails, inputOf } from './answer-record.js';

/**
 * Grades a finished record's answered choices with the script checks (in worker threads), writing each outcome into
 * the choice's `checks`, `check_scores` and `check_reasons`. A choice with nothing to judge is unscored at once. When
 * `signal` aborts first (the run is being stopped hard), the checks still running are left unscored, so the answer,
 * already paid for, is recorded anyway.
 */
export async function gradeScripts(scripts: ScriptChecks, record: RequestRecord, task: Task, signal?: AbortSignal): Promise<RequestRecord> {
  if (record.error !== null) return record;
  const graded: ChoiceRecord[] = [];
  const inputs: ScriptInput[] = [];
  for (const c of record.choices) {
    if (c.error !== undefined) continue;
    const parts = gradedParts({ content: c.content, refusal: c.refusal, finish_reason: c.finish_reason, hasToolCalls: (c.tool_calls?.length ?? 0) > 0 });
    if (parts.nothing) {
      setOutcomes(c, scripts, scripts.specs.map(() => ({ pass: null, score: null, reason: NO_CONTENT })));
      continue;
    }
    graded.push(c);
    inputs.push({
      content: c.content,
      row: task.row.vars,
      cell: { id: task.cell.id, params: task.cell.params },
      choice: { index: c.index, finish_reason: c.finish_reason, refusal: c.refusal, tool_calls: c.tool_calls },
    });
  }
  if (inputs.length > 0) {
    const outcomes = await untilAborted(scripts.grade(inputs), signal, () => inputs.map(() => scripts.specs.map(() => unscored('the run was stopped before the check finished'))));
    graded.forEach((c, i) => setOutcomes(c, scripts, outcomes[i]!));
  }
  // The report lists failing choices with the row they answered: a script check's failure is one too.
  if (record.input === undefined && record.choices.some(choiceFails)) record.input = inputOf(task);
  return record;
}

function setOutcomes(c: ChoiceRecord, scripts: ScriptChecks, outcomes: readonly CheckOutcome[]): void {
  const checks = (c.checks ??= {});
  const scores = (c.check_scores ??= {});
  scripts.specs.forEach((s, k) => {
    const o = outcomes[k]!;
    checks[s.name] = o.pass;
    scores[s.name] = o.score;
    if (o.reason !== undefined) (c.check_reasons ??= {})[s.name] = o.reason;
    else if (c.check_reasons) delete c.check_reasons[s.name];
  });
}

function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined, instead: () => T): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) return Promise.resolve(instead());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => resolve(instead());
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
