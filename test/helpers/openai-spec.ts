/** Validators for the official OpenAI Chat Completions schema fixture (JSON Schema 2020-12). */
import { readFileSync } from 'node:fs';
import type { Ajv as AjvCore, ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

// ajv-formats is CommonJS: under NodeNext the callable is on `.default`.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: AjvCore) => AjvCore;

const spec = JSON.parse(readFileSync(new URL('../fixtures/openai-spec/chat-completions.schema.json', import.meta.url), 'utf8')) as {
  $id: string;
  $defs: Record<string, unknown>;
};

const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv as unknown as AjvCore);
ajv.addSchema(spec);

export function specValidator(name: string): ValidateFunction {
  const v = ajv.getSchema(`${spec.$id}#/$defs/${name}`);
  if (!v) throw new Error(`no $defs/${name} in the OpenAI spec fixture`);
  return v;
}

/** '' when valid, else ajv's errors: `expect(specErrors(v, body)).toBe('')` shows what is wrong. */
export function specErrors(validate: ValidateFunction, data: unknown): string {
  return validate(data) ? '' : ajv.errorsText(validate.errors, { separator: '\n' });
}
