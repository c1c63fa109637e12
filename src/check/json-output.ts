import type { ValidateFunction } from 'ajv';
import type { ToolValidators } from './validators.js';
import type { ChoiceGrades } from '../contracts/checks.js';

/** A choice's grades (contracts/checks.ts), as the checkers return them. */
export type ChoiceCheck = ChoiceGrades;

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
