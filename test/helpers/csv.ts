/** Read a CSV written by evalrun back into objects, with an independent parser (csv-parse, not our writer). */
import { readFile } from 'node:fs/promises';
import { parse } from 'csv-parse/sync';

export type CsvRow = Record<string, string>;

export async function readCsvFile(path: string): Promise<CsvRow[]> {
  return parseCsv(await readFile(path, 'utf8'));
}

export function parseCsv(text: string): CsvRow[] {
  return parse(text, { columns: true, bom: true, relax_quotes: false }) as CsvRow[];
}
