import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { DatasetError } from '../errors.js';
import type { RawRow } from '../contracts/dataset.js';
import { decodeStream } from './decode.js';

/** Streams a JSONL file: one JSON object per line, blank lines skipped. */
export async function* readJsonl(file: string, shown: string, encoding?: string): AsyncGenerator<RawRow> {
  const input = createReadStream(file);
  const decoder = input.pipe(decodeStream(encoding, shown));
  const lines = createInterface({ input: decoder, crlfDelay: Infinity });
  // readline ends quietly when its input fails: keep the error and throw it after the lines read so far.
  let failure: Error | undefined;
  const fail = (e: Error) => {
    failure ??= e;
    lines.close();
  };
  input.on('error', fail);
  decoder.on('error', fail);
  let line = 0;
  for await (const raw of lines) {
    if (failure) break;
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
  if (failure) throw failure;
}
