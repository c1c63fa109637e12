import { createReadStream } from 'node:fs';
import { parse, CsvError } from 'csv-parse';
import { DatasetError } from '../errors.js';
import type { RawRow } from '../contracts/dataset.js';
import { decodeStream } from './decode.js';

/** Streams a CSV file with a header row; `line` is the line the record starts on. */
export async function* readCsv(file: string, shown: string, encoding?: string): AsyncGenerator<RawRow> {
  const input = createReadStream(file);
  const decoder = input.pipe(decodeStream(encoding, shown));
  const parser = decoder.pipe(
    parse({ columns: (header: string[]) => checkHeader(header, shown), bom: true, skip_empty_lines: true, info: true, trim: false }),
  );
  // pipe() does not forward a read error (unreadable file, a byte that is not UTF-8): without this it is an uncaught
  // 'error' event.
  input.on('error', (e) => parser.destroy(e));
  decoder.on('error', (e) => parser.destroy(e));
  // csv-parse counts a CRLF inside a quoted field as two lines; what it over-counted so far is taken off again.
  let overcount = 0;
  try {
    for await (const item of parser as AsyncIterable<{ record: Record<string, string>; info: { lines: number; records: number } }>) {
      // info.lines is where the record ends; count back the newlines a quoted field spans.
      const values = Object.values(item.record);
      const newlines = values.reduce((s, v) => s + countNewlines(v), 0);
      overcount += values.reduce((s, v) => s + countCrlf(v), 0);
      yield { vars: item.record, line: item.info.lines - overcount - newlines };
    }
  } catch (e) {
    if (e instanceof CsvError) {
      const err = e as CsvError & { lines?: number; record?: unknown[] };
      // A ragged record is reported where it ends; point at its first line.
      const fields = Array.isArray(err.record) ? err.record.map(String) : [];
      const back = fields.reduce((s, v) => s + countNewlines(v) + countCrlf(v), 0);
      const line = err.lines === undefined ? 0 : err.lines - overcount - back;
      throw new DatasetError([{ file: shown, line, col: 0, path: '', message: csvMessage(err) }]);
    }
    throw e;
  }
}

function countNewlines(s: string): number {
  let n = 0;
  for (let i = s.indexOf('\n'); i !== -1; i = s.indexOf('\n', i + 1)) n++;
  return n;
}

/** Two columns of one name would silently keep only the last one's values. */
function checkHeader(header: string[], shown: string): string[] {
  const dup = header.find((name, i) => header.indexOf(name) !== i);
  if (dup !== undefined) {
    throw new DatasetError([{ file: shown, line: 1, col: 0, path: '', message: `the header names column '${dup}' twice; rename one (every column needs its own name)` }]);
  }
  return header;
}

function countCrlf(s: string): number {
  let n = 0;
  for (let i = s.indexOf('\r\n'); i !== -1; i = s.indexOf('\r\n', i + 2)) n++;
  return n;
}

function csvMessage(e: CsvError & { record?: unknown[]; columns?: unknown[] }): string {
  if (e.code === 'CSV_RECORD_INCONSISTENT_FIELDS_LENGTH' || e.code === 'CSV_RECORD_INCONSISTENT_COLUMNS') {
    const got = Array.isArray(e.record) ? e.record.length : undefined;
    const want = Array.isArray(e.columns) ? e.columns.length : undefined;
    const fields = (n: number | undefined) => (n === undefined ? 'a different number of' : `${n} field${n === 1 ? '' : 's'}`);
    // Too few fields is usually a missing value; too many, an unquoted comma.
    const hint = got !== undefined && want !== undefined && got < want ? 'add the missing values (an empty one is just a comma)' : 'quote fields that contain commas ("a, b")';
    return `this row has ${fields(got)} but the header has ${want ?? 'a different number'}; ${hint}`;
  }
  if (e.code === 'CSV_QUOTE_NOT_CLOSED') return 'a quoted field is never closed; check for a missing closing quote (")';
  if (e.code === 'CSV_INVALID_CLOSING_QUOTE') return 'a quote (") inside a quoted field must be doubled ("")';
  return e.message;
}
