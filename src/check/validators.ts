import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { builtFile } from '../util/built-file.js';

// ajv-formats is CommonJS with a default export; under NodeNext the callable sits on `.default`.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

// Each instance compiles its meta-schemas when created (tens of ms): make only the draft a config uses.
/**
 * What ajv's strict mode found while compiling the schema in hand: a keyword it does not know (`propertes`, `{"foo":1}`)
 * is ignored by validation, so the schema would silently check nothing there. Logged rather than thrown so every one
 * is reported at once; the config loader turns them into located errors.
 */
let strictFindings: string[] | undefined;
const logger = {
  log: () => {},
  warn: (...args: unknown[]) => void strictFindings?.push(args.map(String).join(' ')),
  error: (...args: unknown[]) => void strictFindings?.push(args.map(String).join(' ')),
};
const options = { allErrors: true, strict: false, strictSchema: 'log', logger } as const;

let draft07: Ajv | undefined;
let draft07Unchecked: Ajv | undefined;
let draft2020: Ajv | undefined;

type MetaValidator = ((schema: unknown) => boolean) & { errors?: ErrorObject[] | null };

/**
 * Draft-07's meta-schema, compiled at build time (scripts/build-config-validator.mjs): ajv would otherwise compile it
 * before the first user schema, ~30 ms of every run. Without a build, ajv compiles the meta-schema itself.
 */
const draft07Meta = await import(builtFile(import.meta.url, './draft07-meta-validator.js').href).then(
  (m: { default: MetaValidator }) => m.default,
  () => undefined,
);
const DRAFT07 = /^https?:\/\/json-schema\.org\/draft-07\/schema#?$/;
const compiled = new WeakMap<object, ValidateFunction>();
const findings = new WeakMap<object, SchemaProblem[]>();

/** A keyword or format of a user's schema that validation would ignore, with where it is. */
export interface SchemaProblem {
  /** Path inside the schema to the keyword (`['properties', 'a', 'minLenght']`, or `[..., 'format']`). */
  path: Array<string | number>;
  kind: 'keyword' | 'format';
  name: string;
}

/**
 * Compile a user's JSON Schema once (cached by identity), picking the draft its `$schema` names. Throws ajv's own
 * message when the schema itself is invalid; callers turn that into a config error.
 */
export function compileSchema(schema: Record<string, unknown>): ValidateFunction {
  const hit = compiled.get(schema);
  if (hit) return hit;
  const dialect = typeof schema['$schema'] === 'string' ? schema['$schema'] : '';
  let ajv: Ajv;
  if (/2020-12|2019-09/.test(dialect)) ajv = draft2020 ??= addFormats(new Ajv2020(options) as unknown as Ajv);
  else if (draft07Meta && (dialect === '' || DRAFT07.test(dialect))) {
    ajv = draft07Unchecked ??= addFormats(new Ajv(Object.assign({}, options, { validateSchema: false })));
    // ajv's own words for an invalid schema, from the precompiled meta-schema.
    if (!draft07Meta(schema)) throw new Error(`schema is invalid: ${ajv.errorsText(draft07Meta.errors)}`);
  } else ajv = draft07 ??= addFormats(new Ajv(options));
  // Same $id twice (two configs in one process) would collide in ajv's registry.
  const id = schema['$id'];
  if (typeof id === 'string' && ajv.getSchema(id)) ajv.removeSchema(id);
  strictFindings = [];
  let fn: ValidateFunction;
  try {
    fn = ajv.compile(schema);
  } finally {
    findings.set(schema, toProblems(schema, strictFindings));
    strictFindings = undefined;
  }
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

/** Keywords and formats of a schema that validation ignores (compiling it first if needed). */
export function schemaProblems(schema: Record<string, unknown>): SchemaProblem[] {
  compileSchema(schema);
  return findings.get(schema) ?? [];
}

function toProblems(schema: Record<string, unknown>, messages: string[]): SchemaProblem[] {
  const out: SchemaProblem[] = [];
  const seen = new Set<string>();
  for (const m of messages) {
    const keyword = /unknown keyword: "(.+)"/.exec(m)?.[1];
    if (keyword !== undefined && !seen.has(keyword)) {
      // ajv names the keyword but not where it is: every place it sits among a schema's keywords.
      seen.add(keyword);
      const paths = keywordPaths(schema, keyword);
      for (const path of paths.length ? paths : [[keyword]]) out.push({ path, kind: 'keyword', name: keyword });
    }
  }
  return out;
}

/** ajv throws (not logs) on a format it does not know; its message has the schema path, turned into a problem. */
export function unknownFormat(message: string): SchemaProblem | undefined {
  const format = /unknown format "(.+)" ignored in schema at path "#?(.*)"/.exec(message);
  if (!format) return undefined;
  return { path: [...format[2]!.split('/').filter(Boolean).map(decodePointer), 'format'], kind: 'format', name: format[1]! };
}

const decodePointer = (s: string): string | number => {
  const t = decodeURIComponent(s).replace(/~1/g, '/').replace(/~0/g, '~');
  return /^\d+$/.test(t) ? Number(t) : t;
};

// Where JSON Schema keeps subschemas: one, a list, or a map of them (draft-07 and 2019-09/2020-12).
const ONE = ['additionalProperties', 'additionalItems', 'contains', 'propertyNames', 'not', 'if', 'then', 'else', 'unevaluatedItems', 'unevaluatedProperties', 'items'];
const LIST = ['allOf', 'anyOf', 'oneOf', 'prefixItems', 'items'];
const MAP = ['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas', 'dependencies'];

function keywordPaths(root: unknown, keyword: string): Array<Array<string | number>> {
  const out: Array<Array<string | number>> = [];
  const walk = (node: unknown, path: Array<string | number>) => {
    if (!node || typeof node !== 'object' || Array.isArray(node)) return;
    const s = node as Record<string, unknown>;
    if (Object.hasOwn(s, keyword)) out.push([...path, keyword]);
    for (const k of ONE) if (s[k] && typeof s[k] === 'object' && !Array.isArray(s[k])) walk(s[k], [...path, k]);
    for (const k of LIST) if (Array.isArray(s[k])) (s[k] as unknown[]).forEach((x, i) => walk(x, [...path, k, i]));
    for (const k of MAP) {
      const m = s[k];
      if (m && typeof m === 'object' && !Array.isArray(m)) for (const [name, x] of Object.entries(m)) walk(x, [...path, k, name]);
    }
  };
  walk(root, []);
  return out;
}

/** JSON Schema's keywords (draft-07 and 2020-12), for "did you mean" hints on a misspelt one. */
export const SCHEMA_KEYWORDS = [
  'type', 'properties', 'required', 'items', 'additionalProperties', 'enum', 'const', 'minimum', 'maximum',
  'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf', 'minLength', 'maxLength', 'pattern', 'format', 'minItems',
  'maxItems', 'uniqueItems', 'contains', 'minContains', 'maxContains', 'minProperties', 'maxProperties',
  'patternProperties', 'propertyNames', 'dependencies', 'dependentRequired', 'dependentSchemas', 'allOf', 'anyOf',
  'oneOf', 'not', 'if', 'then', 'else', '$ref', '$id', '$schema', '$defs', 'definitions', '$comment', '$anchor',
  'title', 'description', 'default', 'examples', 'readOnly', 'writeOnly', 'deprecated', 'additionalItems',
  'prefixItems', 'unevaluatedProperties', 'unevaluatedItems', 'contentEncoding', 'contentMediaType', 'nullable',
];
