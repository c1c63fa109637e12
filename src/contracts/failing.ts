/**
 * The one "failing choice" rule: what a reader would look into. The run keeps a failing choice's row input in its
 * record by it; the report lists failing choices by it.
 */
export interface GradedChoice {
  finish_reason: unknown;
  json_valid?: boolean | null | undefined;
  schema_valid?: boolean | null | undefined;
  tool_args_valid?: boolean | null | undefined;
}

/** What the choice failed (empty: nothing): an end other than stop or tool_calls, invalid JSON, schema or tool arguments, a false check. */
export function failedParts(c: GradedChoice, checks: readonly string[], checkValue: (name: string) => unknown): string[] {
  const failed: string[] = [];
  const reason = String(c.finish_reason);
  if (reason !== 'stop' && reason !== 'tool_calls') failed.push(`finish_reason ${reason}`);
  if (c.json_valid === false) failed.push('json_valid');
  if (c.schema_valid === false) failed.push('schema_valid');
  if (c.tool_args_valid === false) failed.push('tool_args_valid');
  for (const name of checks) if (checkValue(name) === false) failed.push(name);
  return failed;
}
