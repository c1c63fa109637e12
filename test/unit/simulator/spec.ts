/** Validators for the official OpenAI schema fixture, shared by the simulator tests. */
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { ValidateFunction } from 'ajv';
import { expect } from 'vitest';

const spec = JSON.parse(
  readFileSync(new URL('../../fixtures/openai-spec/chat-completions.schema.json', import.meta.url), 'utf8'),
) as { $id: string; $defs: Record<string, unknown> };

const ajv = new Ajv2020({ strict: true, allErrors: true });
addFormats.default(ajv);
ajv.addSchema(spec);

function get(name: string): ValidateFunction {
  const v = ajv.getSchema(`${spec.$id}#/$defs/${name}`);
  if (!v) throw new Error(`no $defs/${name} in the spec fixture`);
  return v;
}

export const specDefs = Object.keys(spec.$defs);
export const specValidator = get;
export const validateCompletion = get('CreateChatCompletionResponse');
export const validateError = get('ErrorResponse');
export const validateRequest = get('CreateChatCompletionRequest');

export function expectSpecValid(validate: ValidateFunction, data: unknown): void {
  const ok = validate(data);
  expect(ok ? '' : ajv.errorsText(validate.errors), JSON.stringify(data).slice(0, 400)).toBe('');
}

/** A sample user schema: enums, bounds, required keys and no extra keys, so violations are all detectable. */
export const sampleSchema = {
  type: 'object',
  properties: {
    label: { type: 'string', enum: ['positive', 'negative', 'neutral'] },
    score: { type: 'number', minimum: 0, maximum: 1 },
    reason: { type: 'string', minLength: 3, maxLength: 80 },
    tags: { type: 'array', items: { type: 'string' }, maxItems: 3 },
  },
  required: ['label', 'score', 'reason'],
  additionalProperties: false,
};

export function makeSchemaCheck(schema: object): ValidateFunction {
  const local = new Ajv2020({ strict: false });
  addFormats.default(local);
  return local.compile(schema);
}
