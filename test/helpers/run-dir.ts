/**
 * Checks of a finished run directory that hold for any run: what choices.csv says agrees with stats.csv, and the
 * JSON/schema verdicts agree with an independent ajv (compiled here, not evalrun's validators).
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { expect } from 'vitest';
import { readCsvFile, type CsvRow } from './csv.js';

// ajv-formats is CommonJS: under NodeNext the callable is on `.default`.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv) => Ajv;

export const RUN_FILES = ['choices.csv', 'records.jsonl', 'run.json', 'stats.csv', 'summary.json'] as const;
export const FINISH_REASONS = ['stop', 'length', 'content_filter', 'tool_calls', 'error'] as const;

export interface RunDir {
  choices: CsvRow[];
  stats: CsvRow[];
  summary: Record<string, unknown> & { plan: { rows: number; requests: number; choices: number }; recorded: { requests: number; choices: number; failed_requests: number } };
  manifest: Record<string, unknown> & { status: string; plan: { cells: Array<{ id: string; n: number; json_mode: boolean }> } };
  records: Array<{ seq: number; row_id: string; cell: string; choices: Array<{ index: number; content: string | null }> }>;
}

export async function readRunDir(dir: string): Promise<RunDir> {
  const text = (name: string) => readFile(join(dir, name), 'utf8');
  return {
    choices: await readCsvFile(join(dir, 'choices.csv')),
    stats: await readCsvFile(join(dir, 'stats.csv')),
    summary: JSON.parse(await text('summary.json')) as RunDir['summary'],
    manifest: JSON.parse(await text('run.json')) as RunDir['manifest'],
    records: (await text('records.jsonl')).trimEnd().split('\n').map((l) => JSON.parse(l) as RunDir['records'][number]),
  };
}

/** Every count column of stats.csv equals the count of the matching choices.csv rows of that cell. */
export function expectStatsMatchChoices(stats: CsvRow[], choices: CsvRow[]): void {
  expect(new Set(choices.map((c) => c['cell']))).toEqual(new Set(stats.map((s) => s['cell'])));
  for (const s of stats) {
    const mine = choices.filter((c) => c['cell'] === s['cell']);
    const count = (pred: (c: CsvRow) => boolean) => String(mine.filter(pred).length);
    const sum = (col: string) => String(mine.reduce((t, c) => t + Number(c[col] || 0), 0));
    const at = (what: string) => `${s['cell']}: ${what}`;
    expect(s['choices'], at('choices')).toBe(String(mine.length));
    for (const reason of FINISH_REASONS) expect(s[reason], at(reason)).toBe(count((c) => c['finish_reason'] === reason));
    expect(s['other'], at('other')).toBe(count((c) => !(FINISH_REASONS as readonly string[]).includes(c['finish_reason']!)));
    expect(s['json_valid'], at('json_valid')).toBe(count((c) => c['json_valid'] === 'true'));
    expect(s['json_checked'], at('json_checked')).toBe(count((c) => c['json_valid'] !== ''));
    expect(s['schema_valid'], at('schema_valid')).toBe(count((c) => c['schema_valid'] === 'true'));
    expect(s['schema_checked'], at('schema_checked')).toBe(count((c) => c['schema_valid'] !== ''));
    expect(s['prompt_tokens'], at('prompt_tokens')).toBe(sum('prompt_tokens'));
    expect(s['completion_tokens'], at('completion_tokens')).toBe(sum('completion_tokens'));
    expect(s['requests'], at('requests')).toBe(String(new Set(mine.map((c) => c['row_id'])).size));
  }
}

/** An ajv of our own for a schema file, picking the draft its $schema names. */
export function independentValidator(schemaFile: string): ValidateFunction {
  const schema = JSON.parse(readFileSync(schemaFile, 'utf8')) as Record<string, unknown>;
  const ajv = /2020-12/.test(String(schema['$schema'] ?? '')) ? new Ajv2020({ strict: false }) : new Ajv({ strict: false });
  addFormats(ajv as Ajv);
  return ajv.compile(schema);
}

/** choices.csv content as the model wrote it: undo the ' that escape_formulas puts before = + - @ tab CR. */
export function unescapeFormula(cell: string): string {
  return /^'[=+\-@\t\r]/.test(cell) ? cell.slice(1) : cell;
}

/**
 * For JSON-mode cells, json_valid/schema_valid in choices.csv must be what our own JSON.parse + ajv say about the
 * content; outside JSON mode (and for error rows) both are empty. Returns how many rows were checked either way.
 */
export function expectChecksAgree(choices: CsvRow[], jsonCells: Set<string>, validate: ValidateFunction | undefined): { valid: number; invalid: number } {
  let valid = 0;
  let invalid = 0;
  for (const [i, c] of choices.entries()) {
    const at = `choices.csv row ${i + 2} (${c['cell']}, ${c['row_id']}, choice ${c['choice_index']})`;
    const unanswered = c['finish_reason'] === 'error' || c['finish_reason'] === 'tool_calls' || (c['finish_reason'] === 'content_filter' && c['content'] === '');
    if (!jsonCells.has(c['cell']!) || unanswered) {
      expect(c['json_valid'], at).toBe('');
      expect(c['schema_valid'], at).toBe('');
      continue;
    }
    let value: unknown;
    try {
      value = JSON.parse(unescapeFormula(c['content']!));
    } catch {
      value = undefined;
    }
    const isObject = typeof value === 'object' && value !== null && !Array.isArray(value);
    expect(c['json_valid'], at).toBe(String(isObject));
    if (!validate) expect(c['schema_valid'], at).toBe('');
    else expect(c['schema_valid'], `${at}: ${c['content']}`).toBe(String(isObject && validate(value)));
    if (isObject && (!validate || validate(value))) valid++;
    else invalid++;
  }
  return { valid, invalid };
}

/** choices.csv content equals what records.jsonl holds for the same request and choice. */
export function expectChoicesMatchRecords(choices: CsvRow[], records: RunDir['records']): void {
  const byKey = new Map<string, string | null>();
  for (const r of records) for (const ch of r.choices) byKey.set(`${r.cell}|${r.row_id}|${ch.index}`, ch.content);
  for (const c of choices) {
    const key = `${c['cell']}|${c['row_id']}|${c['choice_index']}`;
    if (c['finish_reason'] === 'error') continue;
    expect(unescapeFormula(c['content']!), key).toBe(byKey.get(key) ?? '');
  }
}
