import { Ajv, type ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

// ajv-formats is CommonJS with a default export; under NodeNext the callable sits on `.default`.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

// Each instance compiles its meta-schemas when created (tens of ms): make only the draft a config uses.
let draft07: Ajv | undefined;
let draft2020: Ajv | undefined;
const compiled = new WeakMap<object, ValidateFunction>();

/**
 * Compile a user's JSON Schema once (cached by identity), picking the draft its `$schema` names. Throws ajv's own
 * message when the schema itself is invalid; callers turn that into a config error.
 */
export function compileSchema(schema: Record<string, unknown>): ValidateFunction {
  const hit = compiled.get(schema);
  if (hit) return hit;
  const dialect = typeof schema['$schema'] === 'string' ? schema['$schema'] : '';
  const ajv = /2020-12|2019-09/.test(dialect)
    ? (draft2020 ??= addFormats(new Ajv2020({ allErrors: true, strict: false }) as unknown as Ajv))
    : (draft07 ??= addFormats(new Ajv({ allErrors: true, strict: false })));
  // Same $id twice (two configs in one process) would collide in ajv's registry.
  const id = schema['$id'];
  if (typeof id === 'string' && ajv.getSchema(id)) ajv.removeSchema(id);
  const fn = ajv.compile(schema);
  compiled.set(schema, fn);
  return fn;
}
