import { describe, expect, it } from 'vitest';
import { cellId, expandGrid } from '../../../src/plan/grid.js';
import { makeConfig } from '../../helpers/config.js';

describe('expandGrid', () => {
  it('is the cartesian product in the order written, last axis fastest', () => {
    const cells = expandGrid(
      makeConfig({
        params: { model: 'gpt-4o-mini', max_tokens: 50 },
        grid: [
          { key: 'model', values: ['gpt-4o-mini', 'gpt-4.1-mini'] },
          { key: 'temperature', values: [0, 0.7, 1.4] },
          { key: 'top_p', values: [1, 0.5] },
        ],
      }),
    );
    expect(cells).toHaveLength(12);
    expect(cells.map((c) => c.index)).toEqual([...Array(12).keys()]);
    expect(cells.map((c) => [c.params['model'], c.params['temperature'], c.params['top_p']])).toEqual([
      ['gpt-4o-mini', 0, 1],
      ['gpt-4o-mini', 0, 0.5],
      ['gpt-4o-mini', 0.7, 1],
      ['gpt-4o-mini', 0.7, 0.5],
      ['gpt-4o-mini', 1.4, 1],
      ['gpt-4o-mini', 1.4, 0.5],
      ['gpt-4.1-mini', 0, 1],
      ['gpt-4.1-mini', 0, 0.5],
      ['gpt-4.1-mini', 0.7, 1],
      ['gpt-4.1-mini', 0.7, 0.5],
      ['gpt-4.1-mini', 1.4, 1],
      ['gpt-4.1-mini', 1.4, 0.5],
    ]);
    // params are merged under every cell
    expect(cells.every((c) => c.params['max_tokens'] === 50)).toBe(true);
  });

  it('gives one cell of the params when there is no grid', () => {
    const cells = expandGrid(makeConfig({ params: { model: 'gpt-4o-mini', temperature: 0.3 } }));
    expect(cells).toEqual([{ id: 'gpt-4o-mini/t0.3', index: 0, params: { model: 'gpt-4o-mini', temperature: 0.3 }, n: 1, jsonMode: false }]);
  });

  it('lets a grid value override the same key in params', () => {
    const cells = expandGrid(makeConfig({ params: { model: 'a', temperature: 1 }, grid: [{ key: 'temperature', values: [0.2] }] }));
    expect(cells[0]!.params['temperature']).toBe(0.2);
  });

  it('builds ids from model, t, p and n', () => {
    const cells = expandGrid(
      makeConfig({ params: { model: 'gpt-4o-mini', temperature: 0.7, top_p: 1 }, grid: [{ key: 'n', values: [3] }] }),
    );
    expect(cells[0]!.id).toBe('gpt-4o-mini/t0.7/p1/n3');
    expect(cells[0]!.n).toBe(3);
  });

  it('appends other varied axes as key=value, and leaves out axes with a single value', () => {
    const cells = expandGrid(
      makeConfig({
        params: { model: 'gpt-4o-mini' },
        grid: [
          { key: 'temperature', values: [0.5] },
          { key: 'max_tokens', values: [16, 256] },
          { key: 'seed', values: [7] },
          { key: 'stop', values: [null, '\n'] },
        ],
      }),
    );
    expect(cells.map((c) => c.id)).toEqual([
      'gpt-4o-mini/t0.5/max_tokens=16/stop=none',
      'gpt-4o-mini/t0.5/max_tokens=16/stop=\\n',
      'gpt-4o-mini/t0.5/max_tokens=256/stop=none',
      'gpt-4o-mini/t0.5/max_tokens=256/stop=\\n',
    ]);
  });

  it('names object values by their type (and json_schema name), and marks JSON-mode cells', () => {
    const cells = expandGrid(
      makeConfig({
        params: { model: 'm' },
        grid: [
          {
            key: 'response_format',
            values: [{ type: 'text' }, { type: 'json_object' }, { type: 'json_schema', json_schema: { name: 'triage', schema: {} } }],
          },
        ],
      }),
    );
    expect(cells.map((c) => [c.id, c.jsonMode])).toEqual([
      ['m/response_format=text', false],
      ['m/response_format=json_object', true],
      ['m/response_format=json_schema:triage', true],
    ]);
  });

  it('replaces slashes and escapes control characters, so an id stays one line of parts', () => {
    const cells = expandGrid(makeConfig({ params: { model: 'm' }, grid: [{ key: 'stop', values: ['\n\n', 'END\t'] }] }));
    expect(cells.map((c) => c.id)).toEqual(['m/stop=\\n\\n', 'm/stop=END\\t']);
  });

  it('replaces slashes in values so ids keep their shape', () => {
    const cells = expandGrid(makeConfig({ params: { model: 'org/model-7b' }, grid: [{ key: 'user', values: ['a/b', 'c'] }] }));
    expect(cells.map((c) => c.id)).toEqual(['org/model-7b/user=a_b', 'org/model-7b/user=c']);
  });

  it('suffixes ids that would collide', () => {
    // Two tool lists hash differently, but two identical values collide.
    const cells = expandGrid(makeConfig({ params: { model: 'm' }, grid: [{ key: 'user', values: ['a/b', 'a_b', 'a_b'] }] }));
    expect(cells.map((c) => c.id)).toEqual(['m/user=a_b', 'm/user=a_b~2', 'm/user=a_b~3']);
    expect(new Set(cells.map((c) => c.id)).size).toBe(3);
  });

  it('names other objects by a short stable hash', () => {
    const a = cellId({ model: 'm', logit_bias: { '50256': -100, '1': 5 } }, new Set(['logit_bias']));
    const b = cellId({ model: 'm', logit_bias: { '1': 5, '50256': -100 } }, new Set(['logit_bias']));
    expect(a).toMatch(/^m\/logit_bias=[0-9a-f]{6}$/);
    expect(b).toBe(a);
  });
});
