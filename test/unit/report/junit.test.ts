import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import type { GateResult, GateSection, Summary } from '../../../src/contracts/summary.js';
import { junitXml, xmlEscape } from '../../../src/report/junit.js';

/** The parts of a Summary junit.xml reads; the rest (cells, totals…) does not matter to it. */
function summary(overrides: Partial<Summary> = {}): Summary {
  return {
    name: 'tickets',
    status: 'complete',
    complete: true,
    plan: { rows: 10, requests: 20, choices: 40, cells: 2 },
    recorded: { requests: 20, choices: 40, failed_requests: 0, failed_choices: 0 },
    ...overrides,
  } as Summary;
}

function gate(gateName: string, cell: string, passed: boolean, message: string): GateResult {
  return { gate: gateName, metric: 'schema_valid_rate', cell, value: 0.5, judged: 0.5, bound: 'point', min: 0.9, max: null, passed, message };
}

function section(results: GateResult[]): GateSection {
  return { status: 'judged', passed: results.filter((r) => r.passed).length, failed: results.filter((r) => !r.passed).length, results };
}

interface Case { classname: string; name: string; failure?: { message: string; type: string; '#text'?: string } | ''; 'system-out'?: string }
interface Suite { name: string; tests: string; failures: string; errors: string; skipped: string; testcase: Case[] }

function parse(xml: string): { name: string; tests: string; failures: string; testsuite: Suite[] } {
  expect(XMLValidator.validate(xml)).toBe(true);
  const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', allowBooleanAttributes: true, isArray: (n) => n === 'testsuite' || n === 'testcase' }).parse(xml);
  return doc.testsuites;
}

describe('xmlEscape', () => {
  it('escapes the five XML entities', () => {
    expect(xmlEscape(`<a href="x">Tom & 'Jerry'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;Tom &amp; &apos;Jerry&apos;&lt;/a&gt;');
  });

  it('replaces the control characters XML 1.0 forbids, keeping tab, newline, CR and any Unicode text', () => {
    expect(xmlEscape('a\u0000b\u0007c\u001bd\uFFFEe')).toBe('a\uFFFDb\uFFFDc\uFFFDd\uFFFDe');
    expect(xmlEscape('tab\there\nline\r两步 🙏')).toBe('tab\there\nline\r两步 🙏');
  });

  it('replaces a lone surrogate, which no XML parser accepts', () => {
    expect(xmlEscape('x\uD800y')).toBe('x\uFFFDy');
  });
});

describe('junitXml', () => {
  it('with no gates and a clean run: one "run" suite of two passing cases', () => {
    const doc = parse(junitXml(summary(), undefined));
    expect(doc.name).toBe('evalrun: tickets');
    expect([doc.tests, doc.failures]).toEqual(['2', '0']);
    expect(doc.testsuite.map((s) => s.name)).toEqual(['run']);
    const run = doc.testsuite[0]!;
    expect(run.testcase.map((c) => c.name)).toEqual(['run complete', 'no failed requests']);
    expect(run.testcase.every((c) => c.failure === undefined && c.classname === 'evalrun.run.tickets')).toBe(true);
  });

  it('one suite per gate, one case per gate × cell, failures carrying the message', () => {
    const gates = section([
      gate('schema_valid_rate >= 0.9', 'gpt-4o-mini/t0', true, 'schema_valid_rate 0.9500 holds'),
      gate('schema_valid_rate >= 0.9', 'gpt-4o-mini/t1', false, 'schema_valid_rate 0.5000 is below the minimum 0.9'),
      gate('no truncation', 'gpt-4o-mini/t1', true, 'length_rate 0.0000 holds'),
    ]);
    const doc = parse(junitXml(summary(), gates));
    expect([doc.tests, doc.failures]).toEqual(['5', '1']);
    expect(doc.testsuite.map((s) => s.name)).toEqual(['gate: schema_valid_rate >= 0.9', 'gate: no truncation', 'run']);
    const schema = doc.testsuite[0]!;
    expect([schema.tests, schema.failures, schema.errors, schema.skipped]).toEqual(['2', '1', '0', '0']);
    expect(schema.testcase.map((c) => c.name)).toEqual(['schema_valid_rate >= 0.9 :: gpt-4o-mini/t0', 'schema_valid_rate >= 0.9 :: gpt-4o-mini/t1']);
    expect(schema.testcase[0]!.failure).toBeUndefined();
    expect(schema.testcase[0]!['system-out']).toBe('schema_valid_rate 0.9500 holds');
    const failure = schema.testcase[1]!.failure as { message: string; type: string; '#text': string };
    expect(failure.message).toBe('schema_valid_rate 0.5000 is below the minimum 0.9');
    expect(failure.type).toBe('GateFailure');
    expect(failure['#text']).toContain('cell: gpt-4o-mini/t1');
    expect(schema.testcase[1]!.classname).toBe('evalrun.gates.tickets');
    expect(doc.testsuite[1]!.failures).toBe('0');
  });

  it('fails the run cases for an incomplete run and for failed requests, saying how many', () => {
    const s = summary({ status: 'interrupted', complete: false, recorded: { requests: 12, choices: 24, failed_requests: 3, failed_choices: 5 } });
    const doc = parse(junitXml(s, undefined));
    expect(doc.failures).toBe('2');
    const [complete, noFailed] = doc.testsuite[0]!.testcase;
    expect((complete!.failure as { message: string }).message).toBe('12 of 20 requests recorded (status interrupted)');
    expect((noFailed!.failure as { message: string; type: string }).type).toBe('RunFailure');
    expect((noFailed!.failure as { message: string }).message).toMatch(/^3 requests failed .*\(5 choices with finish_reason 'error' in choices\.csv\)$/);
  });

  it('stays well-formed whatever a run name, cell id or message holds', () => {
    const nasty = `<"&'>\u0000\u001f]]> 两步`;
    const gates = section([gate(`gate ${nasty}`, `cell ${nasty}`, false, `message ${nasty}\nline 2`)]);
    const xml = junitXml(summary({ name: `name ${nasty}` }), gates);
    const doc = parse(xml);
    expect(doc.name).toBe('evalrun: name <"&\'>\uFFFD\uFFFD]]> 两步');
    expect(doc.testsuite[0]!.testcase[0]!.name).toBe('gate <"&\'>\uFFFD\uFFFD]]> 两步 :: cell <"&\'>\uFFFD\uFFFD]]> 两步');
    expect(xml).not.toMatch(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/);
  });
});
