import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { evaluateGates, describeGate } from '../../../src/gate/gates.js';
import { globToRegExp, matchesGlob } from '../../../src/util/glob.js';
import type { GateSpec } from '../../../src/contracts/evaluation.js';
import type { CellStats, Summary } from '../../../src/contracts/summary.js';
import { junitXml } from '../../../src/report/junit.js';

function cell(id: string, over: Record<string, unknown>): CellStats {
  return { cell: id, model: id.split('/')[0]!, temperature: 0, top_p: 1, n: 1, choices: 100, ...over } as unknown as CellStats;
}

const cells = [
  cell('gpt-4o-mini/t0', { schema_valid_rate: 0.97, schema_valid_rate_low: 0.92, schema_valid_rate_high: 0.99, length_rate: 0.01, length_rate_low: 0.002, length_rate_high: 0.05 }),
  cell('gpt-4o-mini/t1.4', { schema_valid_rate: 0.6, schema_valid_rate_low: 0.5, schema_valid_rate_high: 0.69, length_rate: 0.03, length_rate_low: 0.01, length_rate_high: 0.08 }),
  cell('gpt-4.1/t0', { schema_valid_rate: null, length_rate: 0, length_rate_low: 0, length_rate_high: 0.04 }),
];
const gate = (g: Partial<GateSpec> & { metric: string }): GateSpec => ({ bound: 'point', ...g });

describe('evaluateGates', () => {
  it('judges every matching cell against min and max on the point value', () => {
    const r = evaluateGates([gate({ metric: 'schema_valid_rate', min: 0.95, cell: 'gpt-4o-mini/*' })], cells);
    expect(r.results.map((x) => [x.cell, x.passed])).toEqual([['gpt-4o-mini/t0', true], ['gpt-4o-mini/t1.4', false]]);
    expect(r.results[1]!.message).toBe('schema_valid_rate 0.6000 is below the minimum 0.95');
    expect([r.passed, r.failed]).toEqual([1, 1]);
  });

  it('judges on the interval bound when asked: the low bound is the conservative reading of a minimum', () => {
    const low = evaluateGates([gate({ metric: 'schema_valid_rate', min: 0.95, bound: 'low', cell: '*/t0' })], cells);
    expect(low.results[0]!.passed).toBe(false);
    expect(low.results[0]!.message).toBe('schema_valid_rate low bound 0.9200 is below the minimum 0.95 (point 0.9700)');
    const high = evaluateGates([gate({ metric: 'length_rate', max: 0.04, bound: 'high' })], cells);
    expect(high.results.map((x) => x.passed)).toEqual([false, false, true]);
  });

  it('fails a cell that has no value for the metric: a gate that cannot be shown to hold does not pass', () => {
    const r = evaluateGates([gate({ metric: 'schema_valid_rate', min: 0.5 })], cells);
    expect(r.results[2]!.passed).toBe(false);
    expect(r.results[2]!.message).toContain('no value');
  });

  it('describes gates for people', () => {
    expect(describeGate(gate({ metric: 'length_rate', max: 0.02, cell: 'gpt-4o-mini/*', bound: 'high' }))).toBe('length_rate <= 0.02 [gpt-4o-mini/*] (on the 95% high bound)');
    expect(describeGate(gate({ metric: 'x', min: 1, name: 'my gate' }))).toBe('my gate');
  });
});

describe('cell globs', () => {
  it('* crosses slashes, ? is one character, classes work, the rest is literal', () => {
    expect(matchesGlob('gpt-4o-mini/t0.7/p1/n3', 'gpt-4o-mini/*')).toBe(true);
    expect(matchesGlob('gpt-4o-mini/t0.7/p1/n3', '*/t0.7/*')).toBe(true);
    expect(matchesGlob('gpt-4o-mini/t017/p1/n3', '*/t0.7/*')).toBe(false);
    expect(matchesGlob('gpt-4o/t1', 'gpt-4o/t?')).toBe(true);
    expect(matchesGlob('gpt-4o/t1', 'gpt-4o/t[02]')).toBe(false);
    expect(matchesGlob('gpt-4o/t2', 'gpt-4o/t[!01]')).toBe(true);
    expect(matchesGlob('a+b(c)', 'a+b(c)')).toBe(true);
    expect(matchesGlob('anything', undefined)).toBe(true);
    expect(() => globToRegExp('gpt-[4')).toThrow(/unclosed/);
  });
});

describe('junit.xml', () => {
  const summary = {
    name: 'triage <&> "quoted"',
    status: 'complete',
    complete: true,
    plan: { rows: 1, requests: 3, choices: 3, cells: 3 },
    recorded: { requests: 3, choices: 3, failed_requests: 1 },
  } as unknown as Summary;

  it('parses with an XML parser: a suite per gate, a case per gate × cell, failures with their message', () => {
    const gates = evaluateGates([gate({ metric: 'schema_valid_rate', min: 0.95 }), gate({ metric: 'length_rate', max: 0.05 })], cells);
    const xml = junitXml(summary, gates);
    expect(XMLValidator.validate(xml)).toBe(true);
    const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', isArray: (name) => ['testsuite', 'testcase'].includes(name) }).parse(xml);
    const suites = doc.testsuites.testsuite as Array<{ name: string; tests: string; failures: string; testcase: Array<{ name: string; failure?: { message: string } }> }>;
    expect(suites.map((s) => [s.name, s.tests, s.failures])).toEqual([
      ['gate: schema_valid_rate >= 0.95', '3', '2'],
      ['gate: length_rate <= 0.05', '3', '0'],
      ['run', '2', '1'],
    ]);
    const failing = suites[0]!.testcase.filter((t) => t.failure);
    expect(failing.map((t) => t.name)).toEqual(['schema_valid_rate >= 0.95 :: gpt-4o-mini/t1.4', 'schema_valid_rate >= 0.95 :: gpt-4.1/t0']);
    expect(failing[0]!.failure!.message).toBe('schema_valid_rate 0.6000 is below the minimum 0.95');
    expect(doc.testsuites.name).toBe('evalrun: triage <&> "quoted"');
    expect(doc.testsuites.failures).toBe('3');
  });

  it('survives control characters and lone surrogates in names', () => {
    const xml = junitXml({ ...summary, name: 'a\u0001b\uD800c' } as Summary, evaluateGates([], cells));
    expect(XMLValidator.validate(xml)).toBe(true);
  });
});
