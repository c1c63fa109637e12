/**
 * Spreadsheet formula escaping for CSV cells we write. csv-stringify's own `escape_formulas` prefixes every value
 * that starts with = + - @ TAB or CR, numbers included, so a row id `-2` came out as `'-2` and no longer joined
 * back to its dataset. A value that reads as a finite decimal number is left as it is: a spreadsheet can only
 * take it for that number, which it is. Any other text with a formula-leading character gets the `'` prefix.
 */
const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const FORMULA_START = new Set(['=', '+', '-', '@', '\t', '\r']);

export function escapeFormula(value: string): string {
  if (value === '' || !FORMULA_START.has(value[0]!)) return value;
  if (NUMBER.test(value) && Number.isFinite(Number(value))) return value;
  return `'${value}`;
}

/** csv-stringify options every evalrun CSV with user or model text uses: booleans as words, formulas escaped. */
export const CSV_CAST = {
  boolean: (v: boolean) => (v ? 'true' : 'false'),
  string: (v: string) => escapeFormula(v),
} as const;
