import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { DatasetError } from '../errors.js';
import type { RawRow } from './types.js';

/** Streams a JSONL file: one JSON object per line, blank lines skipped. */
export async function* readJsonl(file: string, shown: string): AsyncGenerator<RawRow> {
  const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  let line = 0;
  for await (const raw of lines) {
    line++;
    // A byte order mark (Windows editors write one) is not part of the first object.
    const text = line === 1 && raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw;
    if (text.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      throw new DatasetError([{ file: shown, line, col: 0, path: '', message: `not valid JSON: ${(e as Error).message}` }]);
    }
    if (!value || typeof value !== 'object' || Array.isArray(value)) {
      throw new DatasetError([{ file: shown, line, col: 0, path: '', message: 'each line must be a JSON object ({"column": value, ...})' }]);
    }
    yield { vars: value as Record<string, unknown>, line };
  }
}
