import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

// ajv-formats is CommonJS with a default export; under NodeNext the callable sits on `.default`.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

// Each instance compiles its meta-schemas when created (tens of ms): make only the draft a config uses.
let draft07: Ajv | undefined;
let draft07Unchecked: Ajv | undefined;
let draft2020: Ajv | undefined;

type MetaValidator = ((schema: unknown) => boolean) & { errors?: ErrorObject[] | null };

/**
 * Draft-07's meta-schema, compiled at build time (scripts/build-config-validator.mjs): ajv would otherwise compile it
 * before the first user schema, ~30 ms of every run. The file exists only in dist/ (hence the cast: TypeScript must
 * not resolve it); running from source, ajv compiles the meta-schema itself.
 */
const draft07Meta = await import('./draft07-meta-validator.js' as string).then(
  (m: { default: MetaValidator }) => m.default,
  () => undefined,
);
const DRAFT07 = /^https?:\/\/json-schema\.org\/draft-07\/schema#?$/;
const compiled = new WeakMap<object, ValidateFunction>();

/**
 * Compile a user's JSON Schema once (cached by identity), picking the draft its `$schema` names. Throws ajv's own
 * message when the schema itself is invalid; callers turn that into a config error.
 */
export function compileSchema(schema: Record<string, unknown>): ValidateFunction {
  const hit = compiled.get(schema);
  if (hit) return hit;
  const dialect = typeof schema['$schema'] === 'string' ? schema['$schema'] : '';
  let ajv: Ajv;
  if (/2020-12|2019-09/.test(dialect)) ajv = draft2020 ??= addFormats(new Ajv2020({ allErrors: true, strict: false }) as unknown as Ajv);
  else if (draft07Meta && (dialect === '' || DRAFT07.test(dialect))) {
    ajv = draft07Unchecked ??= addFormats(new Ajv({ allErrors: true, strict: false, validateSchema: false }));
    // ajv's own words for an invalid schema, from the precompiled meta-schema.
    if (!draft07Meta(schema)) throw new Error(`schema is invalid: ${ajv.errorsText(draft07Meta.errors)}`);
  } else ajv = draft07 ??= addFormats(new Ajv({ allErrors: true, strict: false }));
  // Same $id twice (two configs in one process) would collide in ajv's registry.
  const id = schema['$id'];
  if (typeof id === 'string' && ajv.getSchema(id)) ajv.removeSchema(id);
  const fn = ajv.compile(schema);
  compiled.set(schema, fn);
  return fn;
}

/** A cell's function tools by name, each with its compiled `parameters` schema (undefined: the tool takes none). */
export type ToolValidators = ReadonlyMap<string, ValidateFunction | undefined>;

/**
 * Compiles the `parameters` of every function tool a cell sends. Schemas are cached by identity, so cells that share
 * the config's `tools` share the compiled validators too.
 */
export function compileTools(tools: unknown): ToolValidators {
  const out = new Map<string, ValidateFunction | undefined>();
  if (!Array.isArray(tools)) return out;
  for (const t of tools) {
    const fn = (t as { function?: { name?: unknown; parameters?: unknown } } | null)?.function;
    if (!fn || typeof fn.name !== 'string') continue;
    const params = fn.parameters;
    out.set(fn.name, params && typeof params === 'object' && !Array.isArray(params) ? compileSchema(params as Record<string, unknown>) : undefined);
  }
  return out;
}
