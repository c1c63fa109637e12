/** How a column lines up: names to the left, numbers to the right (their digits in place). */
export type Align = 'left' | 'right';

export interface TableColumn {
  header: string;
  align: Align;
}

/**
 * A plain table for the terminal: the header line, then one line per row; each column as wide as its widest cell,
 * columns two spaces apart, no borders and no trailing spaces, so `sort -k`, `column -t` and grep work on it and a
 * CI log shows it as it is. Width is counted in UTF-16 units (`length`): cell ids and figures are ASCII, and the
 * few symbols used (▲ ▼ − –) are one unit and one column each.
 */
export function textTable(columns: readonly TableColumn[], rows: ReadonlyArray<readonly string[]>): string[] {
  const lines = [columns.map((c) => c.header), ...rows];
  const widths = columns.map((_, i) => Math.max(...lines.map((r) => (r[i] ?? '').length)));
  return lines.map((r) =>
    columns
      .map((c, i) => (c.align === 'left' ? (r[i] ?? '').padEnd(widths[i]!) : (r[i] ?? '').padStart(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}
