/** The config keys of issue 4 (checks, compare, gates, pricing): accepted forms, and errors at their line. */
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/load.js';
import { resolveConfig } from '../../../src/config/resolve.js';
import { ConfigError, ExitCode } from '../../../src/errors.js';

const FILE = '/nonexistent/evalrun.yaml';
const BASE = `dataset: rows.csv
messages:
  - { role: user, content: "Answer in JSON: {{text}}" }
params: { model: gpt-4o-mini, response_format: { type: json_object } }
grid:
  model: [gpt-4o-mini, gpt-4.1-mini]
  temperature: [0, 1]
schema: { type: object }
`;

const resolve = (extra: string) => resolveConfig(parseConfigText(BASE + extra, FILE));
function errorOf(extra: string): ConfigError {
  try {
    resolve(extra);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a config error');
}

describe('checks, compare, gates and pricing in the config', () => {
  it('resolves a full example', () => {
    const c = resolve(`checks:
  - { name: category_matches, type: equals, pointer: /category, expected: { column: label } }
  - { name: polite, type: contains, expected: please, ignore_case: true }
  - { name: short, type: regex, pattern: "^.{1,80}$", flags: s }
  - { name: inner_ok, type: json_schema, pointer: /inner, schema: { type: object } }
compare: { baseline: gpt-4.1-mini/t0, metrics: [category_matches_pass_rate, latency_mean_ms], alpha: 0.01 }
gates:
  - { metric: schema_valid_rate, min: 0.95, bound: low }
  - { metric: length_rate, max: 0.02, cell: "gpt-4o-mini/*" }
  - { metric: latency_p95_ms, max: 2000 }
pricing: { my-model: { input: 1, output: 2 } }
`);
    expect(c.checks!.map((x) => [x.name, x.type])).toEqual([['category_matches', 'equals'], ['polite', 'contains'], ['short', 'regex'], ['inner_ok', 'json_schema']]);
    expect(c.checks![0]!.expected).toEqual({ column: 'label' });
    expect(c.compare).toEqual({ baseline: 'gpt-4.1-mini/t0', metrics: ['category_matches_pass_rate', 'latency_mean_ms'], alpha: 0.01 });
    expect(c.gates!.map((g) => g.bound)).toEqual(['low', 'point', 'point']);
    expect(c.pricing).toEqual({ 'my-model': { input: 1, output: 2 } });
  });

  it('exposes the existing schema check as a json_schema check named schema_valid', () => {
    const c = resolveConfig(parseConfigText(BASE.replace('schema: { type: object }\n', '') + 'checks:\n  - { type: json_schema, schema: { type: object, required: [a] } }\n', FILE));
    expect(c.schema).toEqual({ type: 'object', required: ['a'] });
    expect(c.checks).toEqual([]);
  });

  it('changes the config hash when checks change (a run is not resumed under other checks), not when gates do', () => {
    const plain = resolve('').hash;
    expect(resolve('gates: [{ metric: error_rate, max: 0.1 }]\n').hash).toBe(plain);
    expect(resolve('checks: [{ name: a, type: contains, expected: x }]\n').hash).not.toBe(plain);
  });

  it('reports an unknown gate metric at its line, with a did-you-mean, as exit code 3', () => {
    const e = errorOf('gates:\n  - { metric: schema_valid, min: 0.9 }\n  - { metric: lenght_rate, max: 0.1 }\n');
    expect(e.exitCode).toBe(ExitCode.Config);
    expect(e.message).toContain(`${FILE}:10:`);
    expect(e.message).toContain("unknown metric 'schema_valid' (did you mean 'schema_valid_rate'?)");
    expect(e.message).toContain(`${FILE}:11:`);
    expect(e.message).toContain("(did you mean 'length_rate'?)");
  });

  it('knows check metrics by name', () => {
    const e = errorOf('checks: [{ name: category, type: contains, expected: x }]\ngates: [{ metric: categroy_pass_rate, min: 0.5 }]\n');
    expect(e.message).toContain("did you mean 'category_pass_rate'?");
    expect(() => resolve('checks: [{ name: category, type: contains, expected: x }]\ngates: [{ metric: category_pass_rate, min: 0.5 }]\n')).not.toThrow();
  });

  it('rejects gates without limits, impossible limits and bounds on metrics without interval', () => {
    const e = errorOf(`gates:
  - { metric: error_rate }
  - { metric: error_rate, min: 0.5, max: 0.1 }
  - { metric: latency_p95_ms, max: 100, bound: low }
`);
    expect(e.issues.map((i) => i.message)).toEqual([
      "a gate needs 'min' or 'max' (or both)",
      'min 0.5 is above max 0.1: no value can pass',
      "'latency_p95_ms' has no interval; judge it on the point value (drop 'bound')",
    ]);
    expect(e.issues.map((i) => i.line)).toEqual([10, 11, 12]);
  });

  it('rejects a gate glob that matches no cell (it would pass forever) and an unknown baseline cell', () => {
    const e = errorOf('compare: { baseline: gpt-4o-mini/t0.0 }\ngates: [{ metric: error_rate, max: 0.1, cell: "gpt-5/*" }]\n');
    expect(e.issues.map((i) => `${i.line} ${i.message}`)).toEqual([
      "9 no cell 'gpt-4o-mini/t0.0' (did you mean 'gpt-4o-mini/t0'?); cells: gpt-4o-mini/t0, gpt-4o-mini/t1, gpt-4.1-mini/t0, gpt-4.1-mini/t1",
      "10 'gpt-5/*' matches no cell; cells: gpt-4o-mini/t0, gpt-4o-mini/t1, gpt-4.1-mini/t0, gpt-4.1-mini/t1",
    ]);
    expect(() => resolve('gates: [{ metric: error_rate, max: 0.1, cell: "*/t[01]" }]\n')).not.toThrow();
  });

  it('rejects unknown compare metrics with a did-you-mean', () => {
    expect(errorOf('compare: { metrics: [json_valid] }\n').message).toContain("unknown metric 'json_valid' (did you mean 'json_valid_rate'?)");
    expect(errorOf('compare: { metrics: [latency_p95_ms] }\n').message).toContain("'latency_p95_ms' cannot be compared row by row");
  });

  it('checks what each check type needs', () => {
    const e = errorOf(`checks:
  - { type: equals, expected: x }
  - { name: a, type: equals }
  - { name: b, type: regex, pattern: "([" }
  - { name: c, type: regex, pattern: x, expected: y }
  - { name: a, type: contains, expected: { column: label, extra: 1 } }
  - { name: d, type: json_schema }
  - { name: json_valid, type: contains, expected: x }
`);
    const messages = e.issues.map((i) => `${i.line} ${i.message}`);
    expect(messages).toEqual([
      "10 a 'equals' check needs a 'name' (it names the check_<name> column and the <name>_pass_rate metric)",
      "11 a 'equals' check needs 'expected': a value, or { column: <dataset column> }",
      expect.stringMatching(/^12 not a valid regular expression: /),
      "13 'expected' does not apply to a 'regex' check: the pattern is what must match",
      "14 duplicate check name 'a'",
      "14 'expected' of a contains check must be text, a number, or { column: <dataset column> }",
      "15 a 'json_schema' check needs 'schema' (a file or an inline schema)",
      "16 'json_valid' is a built-in column; choose another check name",
    ]);
  });

  it('rejects unknown keys in the new sections with the allowed ones listed', () => {
    const e = (() => {
      try {
        parseConfigText(BASE + 'gates: [{ metric: error_rate, maxx: 0.1 }]\npricing: { m: { input: 1, output: 2, cached: 0.5 } }\n', FILE);
      } catch (err) {
        return err as ConfigError;
      }
      throw new Error('expected an error');
    })();
    expect(e.message).toContain("unknown key 'maxx' (did you mean 'max'?); allowed here: name, metric, min, max, cell, bound");
    expect(e.message).toContain("unknown key 'cached'; allowed here: input, cached_input, output");
  });
});
