import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkJsonOutput, NOT_CHECKED } from '../../../src/check/json-output.js';
import { compileSchema } from '../../../src/check/validators.js';

const ticketSchema = JSON.parse(readFileSync(new URL('../../fixtures/schemas/ticket.schema.json', import.meta.url), 'utf8')) as Record<string, unknown>;
const validate = compileSchema(ticketSchema);
const good = JSON.stringify({ category: 'bug', priority: 'high', needs_human: false });

describe('checkJsonOutput', () => {
  it('accepts a JSON object that satisfies the schema', () => {
    expect(checkJsonOutput(good, validate)).toEqual({ json_valid: true, schema_valid: true, schema_errors: [] });
  });

  it('accepts a JSON object without judging it when there is no schema', () => {
    expect(checkJsonOutput('{"anything": [1, 2]}', undefined)).toEqual({ json_valid: true, schema_valid: null, schema_errors: [] });
  });

  it('marks invalid JSON as invalid, and schema-invalid only when there is a schema', () => {
    expect(checkJsonOutput('{"category": "bug",', validate)).toEqual({ json_valid: false, schema_valid: false, schema_errors: ['(not valid JSON)'] });
    expect(checkJsonOutput('```json\n{}\n```', undefined)).toEqual({ json_valid: false, schema_valid: null, schema_errors: [] });
  });

  it('does not count a JSON array, string, number or null as a JSON object', () => {
    for (const content of ['[1, 2]', '"a string"', '42', 'null', 'true']) {
      expect(checkJsonOutput(content, validate), content).toEqual({ json_valid: false, schema_valid: false, schema_errors: ['(not a JSON object)'] });
      expect(checkJsonOutput(content, undefined).json_valid, content).toBe(false);
    }
  });

  it('reports schema failures with their instancePath, at most three', () => {
    const result = checkJsonOutput(JSON.stringify({ category: 'spam', priority: 'urgent', needs_human: 'yes', extra: 1 }), validate);
    expect(result.json_valid).toBe(true);
    expect(result.schema_valid).toBe(false);
    expect(result.schema_errors).toHaveLength(3);
    expect(result.schema_errors).toContain('/category must be equal to one of the allowed values');
    expect(result.schema_errors).toContain('/priority must be equal to one of the allowed values');
  });

  it("reports a missing required key at the root as '/'", () => {
    const result = checkJsonOutput('{"category": "bug", "priority": "low"}', validate);
    expect(result).toEqual({ json_valid: true, schema_valid: false, schema_errors: ["/ must have required property 'needs_human'"] });
  });

  it('treats null or missing content (a refusal, a filtered answer) as not valid JSON', () => {
    expect(checkJsonOutput(null, validate)).toEqual({ json_valid: false, schema_valid: false, schema_errors: ['(not valid JSON)'] });
    expect(checkJsonOutput(undefined, undefined)).toEqual({ json_valid: false, schema_valid: null, schema_errors: [] });
  });

  it('leaves NOT_CHECKED frozen for non-JSON cells', () => {
    expect(NOT_CHECKED).toEqual({ json_valid: null, schema_valid: null, schema_errors: [] });
    expect(Object.isFrozen(NOT_CHECKED)).toBe(true);
  });
});

describe('compileSchema', () => {
  it('picks draft 2020-12 when the schema says so', () => {
    const v = compileSchema({ $schema: 'https://json-schema.org/draft/2020-12/schema', type: 'array', prefixItems: [{ type: 'string' }], items: false });
    expect(v(['a'])).toBe(true);
    expect(v(['a', 'b'])).toBe(false);
  });

  it('knows string formats', () => {
    const v = compileSchema({ type: 'object', properties: { when: { type: 'string', format: 'date' } } });
    expect(v({ when: '2024-02-30' })).toBe(false);
    expect(v({ when: '2024-02-28' })).toBe(true);
  });
});
