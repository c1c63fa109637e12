// The checks as the config declares them: what config resolves, check grades, dataset reads columns for, and
// record/report name columns after. Pure data, so every stage may import it.

export const CHECK_TYPES = ['equals', 'contains', 'regex', 'json_schema'] as const;
export type CheckType = (typeof CHECK_TYPES)[number];

/** A check as resolved from the config (schema already loaded). */
export interface CheckSpec {
  name: string;
  type: CheckType;
  /** JSON Pointer into the parsed output; absent: the whole content as text. */
  pointer?: string | undefined;
  /** A literal, or `{ column: name }`: the row's value of that dataset column (dotted for nested JSON rows). */
  expected?: unknown;
  pattern?: string | undefined;
  flags?: string | undefined;
  ignoreCase?: boolean | undefined;
  schema?: Record<string, unknown> | undefined;
}

/** The outcome of every check for one choice; null: not graded (no content to grade). */
export type CheckResults = Record<string, boolean | null>;

/** The dataset column an `expected: { column: name }` reads, if that is what `expected` is. */
export function expectedColumn(expected: unknown): string | undefined {
  if (expected && typeof expected === 'object' && !Array.isArray(expected)) {
    const column = (expected as { column?: unknown }).column;
    if (typeof column === 'string' && Object.keys(expected).length === 1) return column;
  }
  return undefined;
}

/** Column names the checks read from each dataset row (`expected: { column: label }`). */
export function checkColumns(checks: readonly CheckSpec[] | undefined): string[] {
  return [...new Set((checks ?? []).map((c) => expectedColumn(c.expected)).filter((c): c is string => c !== undefined))];
}
