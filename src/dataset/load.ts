import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { basename, extname, relative } from 'node:path';
import { ConfigError, DatasetError, type SourceIssue } from '../errors.js';
import { variableLine } from '../config/prompts.js';
import type { Config } from '../config/types.js';
import { compileTemplate, missingVariables } from '../plan/template.js';
import { checkColumns } from '../config/resolve-evaluation.js';
import { readCsv } from './csv.js';
import { readJsonl } from './jsonl.js';
import { readJsonArray } from './json.js';
import type { ChatMessage, RawRow, Row } from './types.js';

const readers: Record<string, (file: string, shown: string) => AsyncGenerator<RawRow>> = {
  '.csv': readCsv,
  '.jsonl': readJsonl,
  '.ndjson': readJsonl,
  '.json': readJsonArray,
};

/** How a dataset path is shown in messages: relative to the working directory when that is shorter. */
export function shownPath(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && rel.length < file.length ? rel : file;
}

/**
 * Every row of every dataset, streamed in order, with its id and its own messages (if it has any). Memory stays
 * flat: nothing is kept between rows.
 */
export async function* readRows(config: Config): AsyncGenerator<Row> {
  let index = 0;
  const prefixes = idPrefixes(config.datasets);
  for (const [i, file] of config.datasets.entries()) {
    const shown = shownPath(file);
    const read = readers[extname(file).toLowerCase()];
    if (!read) throw new DatasetError([{ file: shown, line: 0, col: 0, path: '', message: `unsupported dataset type '${extname(file)}': use .csv, .jsonl or .json` }]);
    let n = 0;
    for await (const raw of read(file, shown)) {
      n++;
      yield toRow(config, raw, { file: shown, n, index: index++, prefix: prefixes[i]! });
    }
  }
}

/**
 * With several datasets, ids are prefixed by the file's name without extension (`tickets:3`); when two files share
 * that name (tickets.csv and tickets.jsonl, or a/rows.csv and b/rows.csv), by their name or path as shown instead.
 */
function idPrefixes(files: string[]): string[] {
  if (files.length < 2) return files.map(() => '');
  const stems = files.map((f) => basename(f, extname(f)));
  const names = files.map((f) => basename(f));
  const unique = (list: string[], i: number) => list.filter((x) => x === list[i]).length === 1;
  return files.map((f, i) => `${unique(stems, i) ? stems[i] : unique(names, i) ? names[i] : shownPath(f)}:`);
}

function toRow(config: Config, raw: RawRow, at: { file: string; n: number; index: number; prefix: string }): Row {
  let id: string;
  if (config.idColumn) {
    const v = raw.vars[config.idColumn];
    id = v === undefined || v === null ? '' : String(v);
    if (id === '') {
      throw new DatasetError([{ file: at.file, line: raw.line, col: 0, path: `row ${at.n}`, message: `id column '${config.idColumn}' is missing or empty` }]);
    }
    id = at.prefix + id;
  } else {
    id = `${at.prefix}${at.n}`;
  }
  const own = raw.vars['messages'];
  const messages = Array.isArray(own) ? (own as ChatMessage[]) : undefined;
  return { id, index: at.index, vars: raw.vars, messages, source: { file: at.file, line: raw.line } };
}

export interface DatasetScan {
  rows: number;
  /** sha256 of the dataset files' bytes: a changed dataset must not be resumed into an old run. */
  hash: string;
}

/**
 * One streaming pass before anything is sent: every row must parse, have a unique id and every template variable
 * (or messages of its own). Up to `maxIssues` problems are collected so the user sees them together.
 */
export async function scanDatasets(config: Config, maxIssues = 20): Promise<DatasetScan> {
  const issues: SourceIssue[] = [];
  const template = config.messages ? compileTemplate(config.messages) : undefined;
  const variants = (config.prompts ?? []).map((v) => ({ v, template: compileTemplate(v.messages) }));
  // A variable a variant uses but a row lacks is the variant's fault as much as the row's: reported once per
  // variant and variable, at the template's line, with the first row that lacks it and how many others do.
  const variantMisses = new Map<string, { issue: SourceIssue; others: number }>();
  // Columns the checks compare with (`expected: { column: label }`) must be in every row, like template variables.
  const checked = { messages: [], variables: checkColumns(config.checks) };
  const seen = new Map<string, number>();
  let rows = 0;
  for (const file of config.datasets) {
    const exists = await stat(file).then((s) => s.isFile(), () => false);
    if (!exists) {
      throw new DatasetError([{ file: shownPath(file), line: 0, col: 0, path: '', message: 'dataset file not found (paths in the config are relative to the config file)' }]);
    }
  }
  for await (const row of readRows(config)) {
    rows++;
    const where = { file: row.source.file, line: row.source.line, col: 0, path: `row ${row.id}` };
    const first = seen.get(row.id);
    if (first !== undefined) {
      issues.push({ ...where, message: `duplicate id '${row.id}' (first seen on line ${first})${config.idColumn ? `; values in the id column '${config.idColumn}' must be unique` : ''}` });
    } else seen.set(row.id, row.source.line);
    if (row.messages) {
      const bad = row.messages.findIndex((m) => !m || typeof m !== 'object' || typeof m.role !== 'string' || !('content' in m));
      if (bad !== -1 || row.messages.length === 0) issues.push({ ...where, message: `'messages' must be a non-empty list of {role, content}${bad !== -1 ? ` (item ${bad} is not)` : ''}` });
    } else if (variants.length) {
      for (const { v, template: t } of variants) {
        for (const name of missingVariables(t, row.vars)) {
          const key = `${v.name}\0${name}`;
          const seen = variantMisses.get(key);
          if (seen) {
            seen.others++;
            continue;
          }
          const columns = Object.keys(row.vars).join(', ');
          variantMisses.set(key, {
            issue: { file: v.source.file, line: variableLine(v, name), col: 0, path: `prompts.${v.name}`, message: `prompt '${v.name}' uses {{${name}}}, but row ${row.id} (${row.source.file}:${row.source.line}) has no '${name}' (it has: ${columns})` },
            others: 0,
          });
        }
      }
    } else if (!template) {
      issues.push({ ...where, message: "this row has no 'messages' and the config has no 'messages' template; add one of them" });
    } else {
      for (const name of missingVariables(template, row.vars)) {
        const columns = Object.keys(row.vars).join(', ');
        issues.push({ ...where, message: `the template uses {{${name}}} but this row has no '${name}' (it has: ${columns})` });
      }
    }
    for (const name of missingVariables(checked, row.vars)) {
      issues.push({ ...where, message: `a check compares with column '${name}' but this row has no '${name}' (it has: ${Object.keys(row.vars).join(', ')})` });
    }
    if (issues.length >= maxIssues) break;
  }
  if (rows === 0 && issues.length === 0) {
    issues.push({ file: config.datasets.map(shownPath).join(', '), line: 0, col: 0, path: '', message: 'the dataset has no rows' });
  }
  if (issues.length > 0) throw new DatasetError(issues);
  if (variantMisses.size > 0) {
    throw new ConfigError(
      [...variantMisses.values()].map(({ issue, others }) => ({
        ...issue,
        message: `${issue.message}${others ? `; nor do ${others} other row${others === 1 ? '' : 's'}` : ''}. Every variant is sent with every row: use only columns every row has, or fix the dataset`,
      })),
    );
  }
  return { rows, hash: await hashFiles(config.datasets) };
}

async function hashFiles(files: string[]): Promise<string> {
  const h = createHash('sha256');
  for (const file of files) {
    for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
    h.update('\0');
  }
  return h.digest('hex').slice(0, 16);
}
