/**
 * JSON answers. Generating with json-schema-faker costs ~0.15 ms and compiling a validator several ms, far over the
 * per-request budget, so each (schema, global seed) gets a lazily built pool of faker instances, checked with Ajv so
 * "valid" answers really are valid; requests then pick from the pool by hash.
 */
import { generateSync, type JsonSchema } from 'json-schema-faker';
import { Ajv } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { mix } from './hash.js';
import { defaultJsonAnswer } from './text-content.js';

export const POOL_SIZE = 64;
const MAX_POOLS = 256;

type Check = (value: unknown) => boolean;

export interface SchemaPool {
  /** Valid instances as compact JSON text. */
  texts: string[];
  values: unknown[];
  /** Lazily computed schema-violating variant per instance; null when none could be made. */
  violations: (string | null | undefined)[];
  check: Check | undefined;
  schema: Record<string, unknown>;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const pools = new Map<string, SchemaPool>();
const checks = new Map<string, Check | undefined>();
const schemaKeys = new WeakMap<object, string>();
let ajv2020: Ajv2020 | undefined;
let ajv07: Ajv | undefined;

function compileCheck(schema: object, key: string): Check | undefined {
  if (checks.has(key)) return checks.get(key);
  let check: Check | undefined;
  try {
    const draft = String((schema as { $schema?: unknown }).$schema ?? '');
    const old = /draft-0[67]/.test(draft);
    const ajv = old
      ? (ajv07 ??= withFormats(new Ajv({ strict: false, logger: false })))
      : (ajv2020 ??= withFormats(new Ajv2020({ strict: false, logger: false })));
    // A copy without $id, so the same schema under another seed or request never clashes in Ajv's registry.
    const { $id: _id, ...rest } = schema as Record<string, unknown>;
    const validate = ajv.compile(rest);
    check = (v) => validate(v) as boolean;
  } catch {
    check = undefined; // a schema Ajv can't compile: trust faker
  }
  checks.set(key, check);
  return check;
}

function withFormats<T extends Ajv | Ajv2020>(ajv: T): T {
  addFormats.default(ajv);
  return ajv;
}

function keyOf(schema: object): string {
  let key = schemaKeys.get(schema);
  if (key === undefined) {
    key = JSON.stringify(schema);
    schemaKeys.set(schema, key);
  }
  return key;
}

/** Data-valued keywords: their contents are instances, not subschemas, and must not be rewritten. */
const DATA_KEYS = new Set(['enum', 'const', 'default', 'examples', 'required']);
const SHORT_STRING = 24;

/**
 * A copy of the schema for faker only, with free-text strings capped at 24 characters (never below minLength), so
 * answers stay near ~120 tokens. Faker's own maxLength option would override minLength and break the schema.
 */
function shortened(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(shortened);
  if (!isObj(node)) return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) out[k] = DATA_KEYS.has(k) ? v : shortened(v);
  const type = node['type'];
  const isString = type === 'string' || (Array.isArray(type) && type.includes('string'));
  if (isString && !('pattern' in node) && !('format' in node) && !('enum' in node) && !('const' in node)) {
    const min = typeof node['minLength'] === 'number' ? node['minLength'] : 0;
    const max = typeof node['maxLength'] === 'number' ? node['maxLength'] : SHORT_STRING;
    out['maxLength'] = Math.max(min, Math.min(max, SHORT_STRING));
  }
  return out;
}

/** Faker's doubles carry ~17 digits; two decimals read like a model and save tokens, when the schema allows it. */
function rounded(v: unknown): unknown {
  if (typeof v === 'number') return Number.isInteger(v) ? v : Math.round(v * 100) / 100;
  if (Array.isArray(v)) return v.map(rounded);
  if (isObj(v)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = rounded(x);
    return out;
  }
  return v;
}

export function poolFor(schema: object, seed: number): SchemaPool {
  const skey = keyOf(schema);
  const key = `${seed}#${skey}`;
  let pool = pools.get(key);
  if (pool) return pool;
  if (pools.size >= MAX_POOLS) {
    // Many distinct schemas (one per request?): start afresh rather than let pools and Ajv's cache grow without end.
    pools.clear();
    checks.clear();
    ajv2020 = ajv07 = undefined;
  }
  const check = compileCheck(schema, skey);
  const fakerSchema = shortened(schema) as JsonSchema;
  const values: unknown[] = [];
  const rejected: unknown[] = [];
  for (let k = 0; values.length < POOL_SIZE && k < POOL_SIZE * 3; k++) {
    let v: unknown;
    try {
      v = generateSync(fakerSchema, { seed: (mix(seed, k) % 2147483646) + 1, maxDefaultItems: 2 });
    } catch {
      break; // faker can't handle this schema; it would throw every time
    }
    if (v === undefined) continue;
    const short = rounded(v);
    if (check === undefined) values.push(v); // rounding unchecked could break a bound or multipleOf
    else if (check(short)) values.push(short);
    else if (check(v)) values.push(v);
    else rejected.push(v);
  }
  if (values.length === 0) values.push(...rejected);
  if (values.length === 0) for (let k = 0; k < 8; k++) values.push(JSON.parse(defaultJsonAnswer(mix(seed, k))));
  const texts = values.map((v) => JSON.stringify(v));
  pool = { texts, values, violations: new Array<string | null | undefined>(texts.length), check, schema: schema as Record<string, unknown> };
  pools.set(key, pool);
  return pool;
}

/** Plausible model mistakes: a dropped required key, an off-list enum value, a wrong type, an extra key, a bound overshoot. */
function candidates(value: Record<string, unknown>, schema: Record<string, unknown>): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const props = isObj(schema['properties']) ? schema['properties'] : {};
  const required = Array.isArray(schema['required']) ? (schema['required'] as unknown[]) : [];
  for (const k of required) {
    if (typeof k === 'string' && k in value) {
      const { [k]: _dropped, ...rest } = value;
      out.push(rest);
    }
  }
  for (const [k, p] of Object.entries(props)) {
    if (!isObj(p)) continue;
    if (Array.isArray(p['enum'])) out.push({ ...value, [k]: typeof p['enum'][0] === 'number' ? 999999 : 'other' });
    if (typeof p['maximum'] === 'number') out.push({ ...value, [k]: p['maximum'] + 1 });
    if (typeof p['minimum'] === 'number') out.push({ ...value, [k]: p['minimum'] - 1 });
  }
  for (const [k, v] of Object.entries(value)) {
    const flipped = typeof v === 'string' ? 0 : typeof v === 'number' ? String(v) : typeof v === 'boolean' ? String(v) : Array.isArray(v) ? {} : 'n/a';
    out.push({ ...value, [k]: flipped });
  }
  if (schema['additionalProperties'] === false) out.push({ ...value, note: 'extra field' });
  return out;
}

/** A valid JSON object that breaks the schema, or null if none of the mistakes actually does. */
export function violationFor(pool: SchemaPool, index: number): string | null {
  const cached = pool.violations[index];
  if (cached !== undefined) return cached;
  const value = pool.values[index];
  let result: string | null = null;
  if (isObj(value)) {
    const list = candidates(value, pool.schema);
    const start = list.length ? mix(index, 99) % list.length : 0;
    for (let i = 0; i < list.length && i < 16; i++) {
      const c = list[(start + i) % list.length] as Record<string, unknown>;
      if (pool.check === undefined || !pool.check(c)) {
        result = JSON.stringify(c);
        break;
      }
    }
  }
  pool.violations[index] = result;
  return result;
}

const BROKEN = [
  (s: string, h: number) => s.slice(0, Math.max(1, Math.floor(s.length * (0.3 + (h % 50) / 100)))),
  (s: string) => `${s}\n\nLet me know if you need anything else!`,
  (s: string) => '```json\n' + s + '\n```',
  (s: string) => s.replace(/"/g, "'"),
  (s: string) => `Sure! Here is the JSON you asked for:\n${s}`,
  (s: string) => `[${s}]`,
  (s: string) => JSON.stringify(s),
];

/** Text that is not a JSON object: truncated, wrapped in prose or a fence, single-quoted, an array, or a string. */
export function brokenJson(valid: string, h: number): string {
  const out = (BROKEN[h % BROKEN.length] as (s: string, h: number) => string)(valid, mix(h, 1));
  try {
    const parsed: unknown = JSON.parse(out);
    if (isObj(parsed)) return `Sure! Here is the JSON you asked for:\n${valid}`; // e.g. quoting "{}" changes nothing
  } catch {
    // not JSON at all: exactly what we want
  }
  return out;
}
