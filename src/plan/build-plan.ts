import type { Config } from '../contracts/config.js';
import type { Row } from '../contracts/dataset.js';
import { compileTemplate, renderMessages, type CompiledTemplate } from '../contracts/template.js';
import type { Cell, Task } from '../contracts/plan.js';

/**
 * Tasks in row-major order (each row over every cell), produced lazily from a row stream, so every cell advances
 * together and a million-task plan is never an array. `skip` filters requests already recorded (resume).
 */
export async function* planTasks(
  config: Config,
  cells: readonly Cell[],
  rows: AsyncIterable<Row>,
  skip?: (seq: number) => boolean,
): AsyncGenerator<Task> {
  const templates = cellTemplates(config, cells);
  for await (const row of rows) {
    const rendered = new Map<CompiledTemplate | undefined, Task['body']['messages']>();
    for (const cell of cells) {
      const seq = row.index * cells.length + cell.index;
      if (skip?.(seq)) continue;
      // Rendered once per row and template, and shared by the cells that send it.
      const template = templates[cell.index];
      let messages = rendered.get(template);
      if (!messages) {
        messages = row.messages ?? renderMessages(template!, row.vars);
        rendered.set(template, messages);
      }
      yield { seq, row, cell, body: requestBody(cell.params, messages) };
    }
  }
}

/** A cell's parameters as sent: `extra_body` is merged in as written (it wins over params), model and messages last. */
export function requestBody(params: Record<string, unknown>, messages: Task['body']['messages']): Task['body'] {
  const { extra_body: extra, ...rest } = params;
  const merged = extra && typeof extra === 'object' ? { ...rest, ...(extra as Record<string, unknown>) } : rest;
  // Not `{ ...merged, model, messages }`: on Node 20 that literal gets a hidden class of its own per task (see
  // makeRecord in src/run/execute-task.ts).
  return Object.assign({}, merged, { model: String(params['model']), messages });
}

/** Each cell's compiled template (by cell index): its prompt variant's, or the `messages` template. */
export function cellTemplates(config: Config, cells: readonly Cell[]): Array<CompiledTemplate | undefined> {
  const shared = config.messages ? compileTemplate(config.messages) : undefined;
  const byVariant = new Map((config.prompts ?? []).map((p) => [p.name, compileTemplate(p.messages)]));
  const out: Array<CompiledTemplate | undefined> = [];
  for (const c of cells) out[c.index] = c.prompt !== undefined ? byVariant.get(c.prompt) : shared;
  return out;
}

export interface PlanSummary {
  rows: number;
  cells: Array<{ id: string; n: number; requests: number; choices: number }>;
  requests: number;
  choices: number;
}

export function summarizePlan(rows: number, cells: readonly Cell[]): PlanSummary {
  const perCell = cells.map((c) => ({ id: c.id, n: c.n, requests: rows, choices: rows * c.n }));
  return {
    rows,
    cells: perCell,
    requests: rows * cells.length,
    choices: perCell.reduce((s, c) => s + c.choices, 0),
  };
}
