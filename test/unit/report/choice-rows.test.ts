import { describe, expect, it } from 'vitest';
import { CHOICE_COLUMNS, choiceRows } from '../../../src/report/choice-rows.js';
import { failedRecord, makeCell, makeChoice, makeRecord } from '../../helpers/records.js';

const cell3 = makeCell('gpt-4o-mini/t0.7/p1/n3', { model: 'gpt-4o-mini', temperature: 0.7, top_p: 1, n: 3 }, { json_mode: true });

describe('choiceRows', () => {
  it('gives one row per choice with every column, usage on the first row only', () => {
    const record = makeRecord(4, {
      row_id: 'T-1',
      usage: { prompt_tokens: 120, completion_tokens: 33, total_tokens: 153 },
      choices: [0, 1, 2].map((i) => makeChoice(i, { content: `{"i":${i}}`, json_valid: true, schema_valid: i !== 1, schema_errors: i === 1 ? ['/a x', '/b y'] : [] })),
    });
    const rows = choiceRows(record, cell3);
    expect(rows).toHaveLength(3);
    for (const row of rows) expect(Object.keys(row).sort()).toEqual([...CHOICE_COLUMNS].sort());
    expect(rows[0]).toMatchObject({
      cell: 'gpt-4o-mini/t0.7/p1/n3',
      model: 'gpt-4o-mini',
      temperature: 0.7,
      top_p: 1,
      n: 3,
      row_id: 'T-1',
      choice_index: 0,
      completion_id: 'chatcmpl-4',
      finish_reason: 'stop',
      content: '{"i":0}',
      prompt_tokens: 120,
      completion_tokens: 33,
      served_model: 'gpt-4o-mini-2024-07-18',
      request_id: 'req_4',
      error: null,
    });
    expect(rows.map((r) => [r.prompt_tokens, r.completion_tokens])).toEqual([
      [120, 33],
      [null, null],
      [null, null],
    ]);
    expect(rows[1]).toMatchObject({ schema_valid: false, schema_errors: '/a x; /b y' });
    expect(rows[2]).toMatchObject({ schema_valid: true, schema_errors: null });
  });

  it('pads a failed request to n error rows carrying the error', () => {
    const rows = choiceRows(failedRecord(7, { row_id: 'T-9' }), cell3);
    expect(rows).toHaveLength(3);
    expect(rows.map((r) => r.choice_index)).toEqual([0, 1, 2]);
    for (const r of rows) {
      expect(r).toMatchObject({ finish_reason: 'error', content: null, json_valid: null, schema_valid: null, row_id: 'T-9', error: '500: The server had an error' });
    }
    expect(rows.map((r) => r.prompt_tokens)).toEqual([null, null, null]);
  });

  it('names the kind of a failure without HTTP status', () => {
    const rows = choiceRows(failedRecord(0, { error: { kind: 'timeout', status: null, type: null, code: null, message: 'request timed out' } }), cell3);
    expect(rows[0]!.error).toBe('timeout: request timed out');
  });

  it('pads missing choices when the server returned fewer than n', () => {
    const record = makeRecord(0, { choices: [makeChoice(0, { content: 'only one' })] });
    const rows = choiceRows(record, cell3);
    expect(rows.map((r) => [r.choice_index, r.finish_reason, r.content, r.error])).toEqual([
      [0, 'stop', 'only one', null],
      [1, 'error', null, 'the server returned no choice with index 1 (it returned indexes 0)'],
      [2, 'error', null, 'the server returned no choice with index 2 (it returned indexes 0)'],
    ]);
    expect(rows[0]!.prompt_tokens).toBe(10);
  });

  it('never fills a missing index with the choice at that position (no duplicate, no loss)', () => {
    const cell2 = makeCell('m/n2', { model: 'm', n: 2 });
    // A record written before choices were keyed at record time: index 1 is missing, 5 is out of range.
    const record = makeRecord(0, { choices: [makeChoice(5, { content: 'five' }), makeChoice(0, { content: 'zero' })] });
    const rows = choiceRows(record, cell2);
    expect(rows.map((r) => [r.choice_index, r.content, r.finish_reason])).toEqual([
      [0, 'zero', 'stop'],
      [1, null, 'error'],
    ]);
    expect(rows[1]!.error).toBe('the server returned no choice with index 1 (it returned indexes 5, 0)');
  });

  it('shows a recorded choice error as an error row, and the mean token logprob', () => {
    const cell2 = makeCell('m/n2', { model: 'm', n: 2 });
    const record = makeRecord(0, {
      choices: [
        makeChoice(0, { content: 'a', logprobs: { content: [{ token: 'a', logprob: -0.25 }, { token: 'b', logprob: -0.75 }] } }),
        { ...makeChoice(1, { content: null, finish_reason: null }), error: 'the server returned no choice with index 1 (it returned index 0)' },
      ],
    });
    const rows = choiceRows(record, cell2);
    expect(rows.map((r) => [r.finish_reason, r.error, r.logprob_mean])).toEqual([
      ['stop', null, -0.5],
      ['error', 'the server returned no choice with index 1 (it returned index 0)', null],
    ]);
  });

  it('places choices by their index, whatever order they came in', () => {
    const record = makeRecord(0, { choices: [makeChoice(2, { content: 'c' }), makeChoice(0, { content: 'a' }), makeChoice(1, { content: 'b' })] });
    expect(choiceRows(record, cell3).map((r) => r.content)).toEqual(['a', 'b', 'c']);
  });

  it('serialises tool calls as JSON and shows a missing finish_reason as unknown', () => {
    const cell = makeCell('m', { model: 'm' });
    const record = makeRecord(0, {
      choices: [makeChoice(0, { finish_reason: null, content: null, tool_calls: [{ name: 'lookup', arguments: '{"id":"T-1"}' }] })],
    });
    const [row] = choiceRows(record, cell);
    expect(row!.finish_reason).toBe('unknown');
    expect(JSON.parse(String(row!.tool_calls))).toEqual([{ name: 'lookup', arguments: '{"id":"T-1"}' }]);
    expect(row!.temperature).toBeNull();
    expect(row!.top_p).toBeNull();
  });
});
