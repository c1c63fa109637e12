import { describe, expect, it } from 'vitest';
import { axisValues, gridAxes } from '../../../src/report/axes.js';
import type { ManifestCell } from '../../../src/record/manifest.js';

const cell = (id: string, params: Record<string, unknown>): ManifestCell => ({ id, params: { model: 'm', ...params }, n: 1, json_mode: false });
const schema = (name: string, props: object) => ({ type: 'json_schema', json_schema: { name, schema: { type: 'object', properties: props } } });

describe('grid axes as columns', () => {
  const cells = [
    cell('a', { temperature: 0, max_tokens: 5, stop: ['END', '|'], response_format: schema('ticket', { a: {} }), seed: 1 }),
    cell('b', { temperature: 0, max_tokens: 50, stop: '.', response_format: schema('ticket', { b: {} }), seed: 1 }),
    cell('c', { temperature: 1, max_tokens: 50, response_format: { type: 'text' }, seed: 1 }),
  ];
  const axes = gridAxes(cells, new Set(['stop', 'cell']));

  it('takes the parameters that differ between cells, prefixing a name a report already uses', () => {
    expect(axes).toEqual([
      { param: 'temperature', column: 'temperature', builtIn: true },
      { param: 'max_tokens', column: 'max_tokens', builtIn: false },
      { param: 'stop', column: 'param_stop', builtIn: false },
      { param: 'response_format', column: 'response_format', builtIn: false },
    ]);
  });

  it('gives readable values that never stand for two different settings', () => {
    expect(axisValues(cells, axes)).toEqual([
      { temperature: 0, max_tokens: 5, param_stop: '["END","|"]', response_format: 'json_schema:ticket' },
      { temperature: 0, max_tokens: 50, param_stop: '.', response_format: 'json_schema:ticket#2' },
      { temperature: 1, max_tokens: 50, param_stop: null, response_format: 'text' },
    ]);
  });
});
