import type { ValidateFunction } from 'ajv';

export interface ChoiceCheck {
  /** Parses as a JSON object (not an array, string or null). null: not a JSON-mode request. */
  json_valid: boolean | null;
  /** Satisfies the schema. null: no schema, not JSON mode, or not valid JSON to begin with. */
  schema_valid: boolean | null;
  /** ajv's first errors, as `instancePath message`. */
  schema_errors: string[];
  /** The configured checks' outcomes, when the config has any. */
  checks?: Record<string, boolean | null>;
  /** What each failed `equals` check compared (expected, and the value found, if any). */
  check_details?: Record<string, { expected: unknown; got?: unknown }>;
}

const MAX_ERRORS = 3;
export const NOT_CHECKED: ChoiceCheck = Object.freeze({ json_valid: null, schema_valid: null, schema_errors: [] }) as ChoiceCheck;

export type ParsedJson = { ok: true; value: unknown } | { ok: false };

export function parseJson(content: string | null | undefined): ParsedJson {
  try {
    return { ok: true, value: JSON.parse(content ?? '') as unknown };
  } catch {
    return { ok: false };
  }
}

/** `parsed` lets the caller share one JSON.parse of the content between this and the configured checks. */
export function checkJsonOutput(
  content: string | null | undefined,
  validate: ValidateFunction | undefined,
  parsed: ParsedJson = parseJson(content),
): ChoiceCheck {
  if (!parsed.ok) {
    return { json_valid: false, schema_valid: validate ? false : null, schema_errors: validate ? ['(not valid JSON)'] : [] };
  }
  const value = parsed.value;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { json_valid: false, schema_valid: validate ? false : null, schema_errors: validate ? ['(not a JSON object)'] : [] };
  }
  if (!validate) return { json_valid: true, schema_valid: null, schema_errors: [] };
  if (validate(value)) return { json_valid: true, schema_valid: true, schema_errors: [] };
  const errors = (validate.errors ?? []).slice(0, MAX_ERRORS).map((e) => `${e.instancePath || '/'} ${e.message ?? e.keyword}`);
  return { json_valid: true, schema_valid: false, schema_errors: errors };
}
