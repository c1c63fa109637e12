/** Plan tasks for the batch building-block tests: row-major over cells, as the plan yields them. */
import type { Cell, Task } from '../../../../src/contracts/plan.js';

export function cell(index: number, model: string, jsonMode = false, n = 1): Cell {
  return { id: `${model}/c${index}`, index, params: { model }, n, jsonMode };
}

export function task(seq: number, c: Cell, content = `Say hello ${seq}.`, extra: Record<string, unknown> = {}): Task {
  const rowIndex = seq;
  return {
    seq,
    row: { id: `r${rowIndex}`, index: rowIndex, vars: {}, messages: undefined, source: { file: 'rows.jsonl', line: rowIndex + 1 } },
    cell: c,
    body: { model: String(c.params['model']), messages: [{ role: 'user', content }], ...extra },
  };
}

/** `rows` rows × the given cells, in plan order (seq = row × cells + cell). */
export function* plan(rows: number, cells: Cell[], content?: (seq: number) => string): Generator<Task> {
  for (let r = 0; r < rows; r++) {
    for (const c of cells) {
      const seq = r * cells.length + c.index;
      yield task(seq, c, content?.(seq));
    }
  }
}
