/** Issue 12 item 1: `extra_body` is merged into the request body as written, at the top level or per grid cell. */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/load.js';
import { resolveConfig } from '../../../src/config/resolve.js';
import { planTasks } from '../../../src/plan/build-plan.js';
import { expandGrid } from '../../../src/plan/grid.js';
import type { Row } from '../../../src/contracts/dataset.js';
import { collect } from '../../helpers/config.js';

async function* oneRow(): AsyncGenerator<Row> {
  yield { id: '1', index: 0, vars: { text: 't' }, messages: undefined, source: { file: 'rows.csv', line: 2 } };
}

async function bodies(yaml: string) {
  const config = resolveConfig(parseConfigText(yaml, join('/nonexistent', 'evalrun.yaml')), { env: {} });
  const cells = expandGrid(config);
  return (await collect(planTasks(config, cells, oneRow()))).map((t) => t.body);
}

const head = 'dataset: rows.csv\nmessages: [{ role: user, content: "{{text}}" }]\n';

describe('extra_body', () => {
  it('top level: its keys go into every body as written, unchecked, and extra_body itself is not sent', async () => {
    const [body] = await bodies(`${head}params: { model: m, top_k: 40, temperature: 0.5 }\nextra_body: { guided_choice: [yes, no], temperature: 0.1, anything_at_all: { x: 1 } }\n`);
    expect(body).toEqual({
      model: 'm',
      top_k: 40,
      // extra_body is the user's last word: it wins over params.
      temperature: 0.1,
      guided_choice: ['yes', 'no'],
      anything_at_all: { x: 1 },
      messages: [{ role: 'user', content: 't' }],
    });
  });

  it('as a grid axis: each cell sends its own', async () => {
    const list = await bodies(`${head}params: { model: m }\ngrid:\n  extra_body: [{ min_p: 0.1 }, { min_p: 0.2, top_k: 5 }]\n`);
    expect(list.map(({ messages: _m, ...rest }) => rest)).toEqual([
      { model: 'm', min_p: 0.1 },
      { model: 'm', min_p: 0.2, top_k: 5 },
    ]);
  });

  it('a top-level extra_body that a grid axis replaces is a warning naming both lines', () => {
    const config = resolveConfig(parseConfigText(`${head}params: { model: m }\nextra_body: { min_p: 0.5 }\ngrid:\n  extra_body: [{ min_p: 0.1 }]\n`, '/nonexistent/evalrun.yaml'), { env: {} });
    expect(config.warnings?.map((w) => `${w.line}:${w.col} ${w.path}: ${w.message}`)).toEqual([
      `4:1 extra_body: 'extra_body' is also set under grid (line 6): every cell uses the grid's values, so extra_body = {"min_p":0.5} is never sent; remove it here, or add it to grid.extra_body`,
    ]);
  });
});
