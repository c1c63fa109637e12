import { describe, expect, it } from 'vitest';
import { planTasks, summarizePlan } from '../../../src/plan/build-plan.js';
import { expandGrid } from '../../../src/plan/grid.js';
import type { Row } from '../../../src/contracts/dataset.js';
import { collect, makeConfig } from '../../helpers/config.js';

const row = (index: number, vars: Record<string, unknown> = { text: `row ${index}` }, messages?: Row['messages']): Row => ({
  id: `r${index}`,
  index,
  vars,
  messages,
  source: { file: 'rows.jsonl', line: index + 1 },
});

async function* rowsOf(rows: Row[]): AsyncGenerator<Row> {
  yield* rows;
}

const config = makeConfig({
  params: { model: 'gpt-4o-mini', max_tokens: 20 },
  grid: [
    { key: 'temperature', values: [0, 1] },
    { key: 'n', values: [1, 2, 3] },
  ],
});
const cells = expandGrid(config);

describe('planTasks', () => {
  it('yields every row over every cell, row-major, with seq = row.index × cells + cell.index', async () => {
    const tasks = await collect(planTasks(config, cells, rowsOf([row(0), row(1), row(2)])));
    expect(tasks).toHaveLength(3 * 6);
    expect(tasks.map((t) => t.seq)).toEqual([...Array(18).keys()]);
    for (const t of tasks) {
      expect(t.seq).toBe(t.row.index * cells.length + t.cell.index);
    }
    expect(tasks.map((t) => `${t.row.id}:${t.cell.index}`).slice(0, 7)).toEqual(['r0:0', 'r0:1', 'r0:2', 'r0:3', 'r0:4', 'r0:5', 'r1:0']);
  });

  it("sends the cell's parameters with the rendered messages", async () => {
    const [first, second] = await collect(planTasks(config, cells, rowsOf([row(0, { text: 'Hello' })])));
    expect(first!.body).toEqual({
      model: 'gpt-4o-mini',
      max_tokens: 20,
      temperature: 0,
      n: 1,
      messages: [{ role: 'user', content: 'Hello' }],
    });
    expect(second!.body['n']).toBe(2);
  });

  it("uses a row's own messages instead of the template", async () => {
    const own = [{ role: 'system', content: 'Be terse.' }, { role: 'user', content: 'Own prompt' }];
    const [task] = await collect(planTasks(config, cells, rowsOf([row(0, { no_text: true }, own)])));
    expect(task!.body.messages).toEqual(own);
  });

  it('is lazy: the first task is available after pulling one row from a huge stream', async () => {
    let pulled = 0;
    let finished = false;
    async function* huge(): AsyncGenerator<Row> {
      try {
        for (let i = 0; i < 1e9; i++) {
          pulled++;
          yield row(i);
        }
      } finally {
        finished = true;
      }
    }
    const tasks = planTasks(config, cells, huge());
    const first = await tasks.next();
    expect(first.done).toBe(false);
    expect(first.value).toMatchObject({ seq: 0 });
    expect(pulled).toBe(1);
    // the cells of that one row come without pulling another
    for (let i = 1; i < cells.length; i++) await tasks.next();
    expect(pulled).toBe(1);
    await tasks.return(undefined);
    expect(finished).toBe(true);
    expect(pulled).toBe(1);
  });

  it('skips what skip() says is done, keeping the seq of the rest', async () => {
    const done = new Set([0, 1, 2, 7, 17]);
    const tasks = await collect(planTasks(config, cells, rowsOf([row(0), row(1), row(2)]), (seq) => done.has(seq)));
    expect(tasks.map((t) => t.seq)).toEqual([3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
  });

  it('uses the row index, not the position in the stream, for seq', async () => {
    const tasks = await collect(planTasks(config, cells.slice(0, 1), rowsOf([row(5)])));
    expect(tasks[0]!.seq).toBe(5);
  });
});

describe('summarizePlan', () => {
  it('counts requests and choices per cell and in total', () => {
    const plan = summarizePlan(10, cells);
    expect(plan.rows).toBe(10);
    expect(plan.requests).toBe(60);
    expect(plan.choices).toBe(10 * (1 + 2 + 3) * 2);
    expect(plan.cells[2]).toEqual({ id: 'gpt-4o-mini/t0/n3', n: 3, requests: 10, choices: 30 });
  });
});
