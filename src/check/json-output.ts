import type { ValidateFunction } from 'ajv';
import type { ToolValidators } from './validators.js';

export interface ChoiceCheck {
  /** Parses as a JSON object (not an array, string or null). null: not a JSON-mode request. */
  json_valid: boolean | null;
  /** Satisfies the schema. null: no schema, not JSON mode, or not valid JSON to begin with. */
  schema_valid: boolean | null;
  /** ajv's first errors, as `instancePath message`. */
  schema_errors: string[];
  /** The configured checks' outcomes, when the config has any. */
  checks?: Record<string, boolean | null>;
  /** Every tool call names a configured tool and its arguments satisfy its `parameters`. null: no tool calls. */
  tool_args_valid?: boolean | null;
  /** What each failed `equals` check compared (expected, and the value found, if any). */
  check_details?: Record<string, { expected: unknown; got?: unknown }>;
  /** Scored checks (SCORED_CHECK_TYPES): each one's score in [0, 1], null when unscored. */
  check_scores?: Record<string, number | null>;
  /** Scored checks: why a choice failed or was left unscored (short). */
  check_reasons?: Record<string, string>;
  /** Checks with `human: { column }`: the row's label, normalised to [0, 1]; null when the row is unlabelled. */
  check_human?: Record<string, number | null>;
}

/**
 * What of an answer is graded: nothing for a filtered answer or a refusal without content (they count as
 * content_filter and refusal), the tool calls only when there is no content. The executors and `regrade` decide by
 * this one rule, so a regraded run grades the same choices its run did.
 */
export function gradedParts(c: { content: string | null; refusal: string | null; finish_reason: string | null; hasToolCalls: boolean }): { nothing: boolean; content: boolean } {
  const unanswered = (c.refusal !== null && !c.content) || (c.finish_reason === 'content_filter' && !c.content);
  const toolOnly = c.hasToolCalls && c.content === null;
  return { nothing: unanswered && !c.hasToolCalls, content: !toolOnly && !unanswered };
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

/**
 * One tool call as recorded: the server's call id, the function name and the arguments as sent (a JSON string).
 * `type` is absent for function calls; 'custom' (free-form input in `arguments`) and 'function_call' (the legacy
 * `message.function_call`) say where else the call came from.
 */
export interface ToolCall {
  id: string | null;
  name: string;
  arguments: string;
  type?: string;
}

/**
 * Validates each call's arguments against its tool's `parameters`. An unknown tool name, arguments that are not a
 * JSON object, or a schema violation makes the choice invalid; the errors name the call they belong to
 * (`tool_calls/0 get_weather: /city must be string`). `parsed` shares each call's JSON.parse with the checks.
 */
export function checkToolCalls(
  calls: readonly ToolCall[],
  tools: ToolValidators,
  parsed: readonly ParsedJson[] = calls.map((c) => parseJson(c.arguments)),
): { valid: boolean; errors: string[] } {
  const errors: string[] = [];
  calls.forEach((call, i) => {
    // A custom tool's input is free text (its grammar or format is the server's to enforce): nothing to parse here.
    if (call.type === 'custom') return;
    const at = `tool_calls/${i} ${call.name}:`;
    if (!tools.has(call.name)) {
      const known = [...tools.keys()];
      errors.push(`${at} unknown tool (${known.length ? `the config defines ${known.join(', ')}` : 'the config defines no function tools'})`);
      return;
    }
    const args = parsed[i]!;
    if (!args.ok) return void errors.push(`${at} arguments are not valid JSON`);
    const value = args.value;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return void errors.push(`${at} arguments are not a JSON object`);
    const validate = tools.get(call.name);
    if (!validate || validate(value)) return;
    const found = (validate.errors ?? []).slice(0, MAX_ERRORS);
    if (found.length === 0) errors.push(`${at} arguments do not match the tool's parameters`);
    for (const e of found) errors.push(`${at} ${e.instancePath || '/'} ${e.message ?? e.keyword}`);
  });
  return { valid: errors.length === 0, errors };
}
