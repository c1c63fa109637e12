import { readFile } from 'node:fs/promises';
import { DatasetError } from '../errors.js';
import type { RawRow } from '../contracts/dataset.js';
import { decodeBuffer } from './decode.js';

/**
 * A JSON array of objects. A single JSON document cannot be streamed without a streaming parser, so it is read
 * whole; the README points large datasets at JSONL. `line` is where each element starts.
 */
export async function* readJsonArray(file: string, shown: string, encoding?: string): AsyncGenerator<RawRow> {
  const read = decodeBuffer(await readFile(file), encoding, shown);
  // A byte order mark (Windows editors write one) is not part of the document.
  const text = read.charCodeAt(0) === 0xfeff ? read.slice(1) : read;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    const message = (e as Error).message;
    const pos = /position (\d+)/.exec(message);
    const line = pos ? lineAt(text, Number(pos[1])) : 0;
    throw new DatasetError([{ file: shown, line, col: 0, path: '', message: `not valid JSON: ${message}` }]);
  }
  if (!Array.isArray(value)) {
    throw new DatasetError([{ file: shown, line: 1, col: 1, path: '', message: 'a .json dataset must be an array of objects ([{...}, {...}])' }]);
  }
  const starts = elementLines(text);
  for (let i = 0; i < value.length; i++) {
    const item: unknown = value[i];
    const line = starts[i] ?? 0;
    if (!item || typeof item !== 'object' || Array.isArray(item)) {
      throw new DatasetError([{ file: shown, line, col: 0, path: `[${i}]`, message: 'each element must be a JSON object' }]);
    }
    yield { vars: item as Record<string, unknown>, line };
  }
}

function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** Line of each top-level array element, by a scan that respects strings and nesting. */
function elementLines(text: string): number[] {
  const out: number[] = [];
  let depth = 0;
  let line = 1;
  let inString = false;
  let expectingValue = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\n') line++;
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (depth === 1 && expectingValue && c !== undefined && !/\s/.test(c) && c !== ']') {
      out.push(line);
      expectingValue = false;
    }
    if (c === '"') inString = true;
    else if (c === '[' || c === '{') {
      depth++;
      if (depth === 1) expectingValue = true;
    } else if (c === ']' || c === '}') depth--;
    else if (c === ',' && depth === 1) expectingValue = true;
  }
  return out;
}
