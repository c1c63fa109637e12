import type { CheckSpec } from '../contracts/checks.js';
import type { Config } from '../contracts/config.js';
import type { Row } from '../contracts/dataset.js';
import { judgeMessages, judgeResponseFormat, type JudgeMaterial } from '../contracts/judge.js';
import type { Cell, Task } from '../contracts/plan.js';
import { renderMessages } from '../contracts/template.js';
import { canonicalJson, sha256 } from '../util/canonical-json.js';
import { cellTemplates } from './build-plan.js';

/**
 * The conversation a judge is shown: the messages the answered request sent, rendered again from the row (a record
 * does not keep its request), as role and text.
 */
export function conversationRenderer(config: Config, cells: readonly Cell[]): (row: Row, cell: Cell) => JudgeMaterial['conversation'] {
  const templates = cellTemplates(config, cells);
  return (row, cell) => {
    const messages = row.messages ?? renderMessages(templates[cell.index]!, row.vars);
    return messages.map((m) => ({ role: m.role, content: typeof m.content === 'string' ? m.content : (JSON.stringify(m.content) ?? '') }));
  };
}

/**
 * One judge call about choice `choice` of the answer `answer` (seq, row and cell): the judge's chat request as a task
 * like any other, so the executors pace, retry, cache and record it as they do answers. Vote v sends seed + v, so
 * the k votes are k different samples and stay reproducible. The task's key (with its body's hash) is what a
 * resumed run looks up to never send a recorded call again.
 */
export function judgeTask(spec: CheckSpec, answer: { seq: number; row: Row; cell: Cell }, at: { choice: number; vote: number; order: number }, material: JudgeMaterial): Task {
  const judge = spec.judge!;
  const params: Record<string, unknown> = { ...judge.params };
  if (typeof params['seed'] === 'number') params['seed'] = params['seed'] + at.vote;
  const body = Object.assign(params, { model: judge.model, messages: judgeMessages(judge, material), response_format: judgeResponseFormat(judge) });
  const cell: Cell = { id: answer.cell.id, index: answer.cell.index, params: answer.cell.params, prompt: answer.cell.prompt, n: 1, jsonMode: false };
  const hash = sha256(canonicalJson(body)).slice(0, 16);
  return { seq: answer.seq, row: answer.row, cell, body, graded: false, judge: { seq: answer.seq, choice: at.choice, check: spec.name, vote: at.vote, order: at.order, hash } };
}
