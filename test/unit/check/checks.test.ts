import { describe, expect, it } from 'vitest';
import { makeCheckRunner, resolvePointer, type CheckDetail } from '../../../src/check/checks.js';
import type { CheckSpec } from '../../../src/contracts/checks.js';

const run = (spec: Omit<CheckSpec, 'name'>, content: string | null, vars: Record<string, unknown> = {}) =>
  makeCheckRunner([{ name: 'c', ...spec } as CheckSpec])!(content, vars)['c'];

describe('checks', () => {
  it('equals a dataset column through a JSON pointer (the output /category equals the row label)', () => {
    const spec = { type: 'equals', pointer: '/category', expected: { column: 'label' } } as const;
    expect(run(spec, '{"category":"billing"}', { label: 'billing' })).toBe(true);
    expect(run(spec, '{"category":"bug"}', { label: 'billing' })).toBe(false);
    expect(run({ ...spec, ignoreCase: true }, '{"category":"Billing"}', { label: 'billing' })).toBe(true);
    expect(run(spec, '{"other":"billing"}', { label: 'billing' })).toBe(false); // pointer not found
    expect(run(spec, 'not json', { label: 'billing' })).toBe(false);
    expect(run(spec, null, { label: 'billing' })).toBe(false);
  });

  it('compares a CSV string with a JSON number or boolean as text, and other literals by JSON value', () => {
    expect(run({ type: 'equals', pointer: '/n', expected: { column: 'n' } }, '{"n":3}', { n: '3' })).toBe(true);
    expect(run({ type: 'equals', pointer: '/ok', expected: true }, '{"ok":true}')).toBe(true);
    expect(run({ type: 'equals', pointer: '/ok', expected: true }, '{"ok":"true"}')).toBe(false);
    expect(run({ type: 'equals', pointer: '/tags', expected: ['a', 'b'] }, '{"tags":["a","b"]}')).toBe(true);
    expect(run({ type: 'equals', pointer: '/o', expected: { a: 1, b: [2] } }, '{"o":{"b":[2],"a":1}}')).toBe(true);
  });

  it('reads nested JSONL columns with a dotted name', () => {
    expect(run({ type: 'equals', pointer: '/a', expected: { column: 'gold.answer' } }, '{"a":"x"}', { gold: { answer: 'x' } })).toBe(true);
  });

  it('contains and regex test the whole content without a pointer', () => {
    expect(run({ type: 'contains', expected: 'refund' }, 'We will refund you.')).toBe(true);
    expect(run({ type: 'contains', expected: 'REFUND', ignoreCase: true }, 'We will refund you.')).toBe(true);
    expect(run({ type: 'contains', expected: { column: 'word' } }, 'hello world', { word: 'world' })).toBe(true);
    expect(run({ type: 'regex', pattern: '^\\d{3}-\\d{4}$' }, '555-1234')).toBe(true);
    expect(run({ type: 'regex', pattern: '^yes$', flags: 'i' }, 'YES')).toBe(true);
    expect(run({ type: 'regex', pattern: '^yes$' }, 'YES')).toBe(false);
    expect(run({ type: 'regex', pattern: '^.{3,80}$', pointer: '/summary' }, '{"summary":"Refund a double charge"}')).toBe(true);
  });

  it('a regex with g or y does not carry state from one choice to the next', () => {
    const grade = makeCheckRunner([{ name: 'r', type: 'regex', pattern: 'a', flags: 'g' } as CheckSpec])!;
    expect([grade('a', {})['r'], grade('a', {})['r'], grade('a', {})['r']]).toEqual([true, true, true]);
  });

  it('json_schema validates the value at the pointer', () => {
    const schema = { type: 'object', required: ['x'], properties: { x: { type: 'integer' } } };
    expect(run({ type: 'json_schema', schema, pointer: '/inner' }, '{"inner":{"x":1}}')).toBe(true);
    expect(run({ type: 'json_schema', schema, pointer: '/inner' }, '{"inner":{"x":"1"}}')).toBe(false);
    expect(run({ type: 'json_schema', schema }, '{"x":2}')).toBe(true);
  });

  it('grades every check, each independently, and parses the content once', () => {
    const grade = makeCheckRunner([
      { name: 'a', type: 'equals', pointer: '/k', expected: 'v' },
      { name: 'b', type: 'contains', expected: 'zzz' },
    ])!;
    expect(grade('{"k":"v"}', {})).toEqual({ a: true, b: false });
    expect(makeCheckRunner([])).toBeUndefined();
  });
});

describe('resolvePointer (RFC 6901)', () => {
  const doc = { a: [{ 'b/c': 1, 'd~e': 2 }], '': 3 };
  it.each([
    ['', doc],
    ['/a/0/b~1c', 1],
    ['/a/0/d~0e', 2],
    ['/', 3],
  ])('%s', (pointer, value) => {
    expect(resolvePointer(doc, pointer)).toEqual({ found: true, value });
  });
  it('does not find what is not there', () => {
    expect(resolvePointer(doc, '/a/1').found).toBe(false);
    expect(resolvePointer(doc, '/a/01').found).toBe(false);
    expect(resolvePointer(doc, '/x/y').found).toBe(false);
    expect(resolvePointer({ toString: 1 }, '/constructor').found).toBe(false);
  });
});

describe('checks that point into tool calls', () => {
  const calls = [
    { id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris","days":[1,2]}' },
    { id: 'call_2', name: 'get_time', arguments: '{"tz":' },
  ];
  const grade = makeCheckRunner([
    { name: 'tool', type: 'equals', pointer: '/tool_calls/0/name', expected: 'get_weather' },
    { name: 'city', type: 'equals', pointer: '/tool_calls/0/arguments/city', expected: { column: 'city' } },
    { name: 'day', type: 'equals', pointer: '/tool_calls/0/arguments/days/1', expected: 2 },
    { name: 'id', type: 'equals', pointer: '/tool_calls/1/id', expected: 'call_2' },
    { name: 'raw', type: 'equals', pointer: '/tool_calls/1/arguments', expected: '{"tz":' },
    { name: 'two', type: 'json_schema', pointer: '/tool_calls', schema: { type: 'array', minItems: 2, maxItems: 2 } },
    { name: 'content', type: 'contains', expected: 'x' },
  ] as CheckSpec[])!;

  it('resolves /tool_calls/... against {tool_calls:[{id,name,arguments:<parsed>}]}; content checks stay null', () => {
    expect(grade(null, { city: 'Paris' }, undefined, { toolCalls: calls, gradeContent: false })).toEqual({
      tool: true, city: true, day: true, id: true, raw: true, two: true, content: null,
    });
    expect(grade(null, { city: 'Rome' }, undefined, { toolCalls: calls, gradeContent: false })['city']).toBe(false);
  });

  it('fails tool-call checks on an answer without tool calls, and grades its content as before', () => {
    expect(grade('x marks the spot', { city: 'Paris' })).toEqual({ tool: false, city: false, day: false, id: false, raw: false, two: false, content: true });
  });
});

describe('what a failed equals check compared', () => {
  const grade = makeCheckRunner([
    { name: 'cat', type: 'equals', pointer: '/category', expected: { column: 'label' } },
    { name: 'flag', type: 'equals', pointer: '/urgent', expected: true },
    { name: 'has', type: 'contains', expected: 'sorry' },
  ] as CheckSpec[])!;

  it('keeps expected and got for each failing equals check, and nothing for passing or other checks', () => {
    const details: Record<string, CheckDetail> = {};
    const results = grade('{"category":"bug","urgent":true}', { label: 'billing' }, undefined, undefined, details);
    expect(results).toEqual({ cat: false, flag: true, has: false });
    expect(details).toEqual({ cat: { expected: 'billing', got: 'bug' } });
  });

  it('leaves got out when the answer has no value there', () => {
    const details: Record<string, CheckDetail> = {};
    grade('not json', { label: 'billing' }, undefined, undefined, details);
    expect(details).toEqual({ cat: { expected: 'billing' }, flag: { expected: true } });
    const noPointer: Record<string, CheckDetail> = {};
    grade('{"urgent":false}', { label: 'x' }, undefined, undefined, noPointer);
    expect(noPointer).toEqual({ cat: { expected: 'x' }, flag: { expected: true, got: false } });
  });
});
