import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { basename, extname } from 'node:path';
import { shownPath } from '../util/shown-path.js';
import { ConfigError, DatasetError, type SourceIssue } from '../errors.js';
import { lookup, variableLine } from '../contracts/template.js';
import type { Config } from '../contracts/config.js';
import { compileTemplate, missingVariables } from '../contracts/template.js';
import { checkColumns, labelScale } from '../contracts/checks.js';
import { readHumanLabel } from '../contracts/human-label.js';
import { suggest } from '../util/suggest.js';
import { readCsv } from './csv.js';
import { readJsonl } from './jsonl.js';
import { readJsonArray } from './json.js';
import type { ChatMessage, RawRow, Row } from '../contracts/dataset.js';

const readers: Record<string, (file: string, shown: string, encoding?: string) => AsyncGenerator<RawRow>> = {
  '.csv': readCsv,
  '.jsonl': readJsonl,
  '.ndjson': readJsonl,
  '.json': readJsonArray,
};

export { shownPath };

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
    for await (const raw of read(file, shown, config.encodings?.[i])) {
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
      const columns = Object.keys(raw.vars);
      const absent = !Object.hasOwn(raw.vars, config.idColumn);
      const hint = absent ? suggest(config.idColumn, columns) : undefined;
      const message = absent
        ? `id column '${config.idColumn}' is not in this row${hint ? ` (did you mean '${hint}'?)` : ''} (it has: ${columns.join(', ')}); set 'id_column' to one of these, or drop it to number the rows`
        : `id column '${config.idColumn}' is empty; every row needs an id`;
      throw new DatasetError([{ file: at.file, line: raw.line, col: 0, path: `row ${at.n}`, message }]);
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
  // A problem of the data's shape (a column nobody has, a field of the wrong type) would repeat on every row: it is
  // stated once, on its first row, with how many more rows have it.
  const repeated = new Map<string, { issue: SourceIssue; more: number }>();
  // The message is made only for the first row that has the problem: a million rows lacking a column cost a count.
  const once = (key: string, issue: () => SourceIssue) => {
    const seen = repeated.get(key);
    if (seen) seen.more++;
    else {
      const entry = { issue: issue(), more: 0 };
      repeated.set(key, entry);
      issues.push(entry.issue);
    }
  };
  const template = config.messages ? compileTemplate(config.messages) : undefined;
  const variants = (config.prompts ?? []).map((v) => ({ v, template: compileTemplate(v.messages) }));
  // A variable a variant uses but a row lacks is the variant's fault as much as the row's: reported once per
  // variant and variable, at the template's line, with the first row that lacks it and how many others do.
  const variantMisses = new Map<string, { issue: SourceIssue; others: number }>();
  // Columns the checks compare with (`expected: { column: label }`) must be in every row, like template variables.
  // Human labels (`human: { column }`) must be in every row too, and each must read on its check's scale: a bad label
  // is refused here, at its row, before anything is sent, rather than skipped in silence by the statistics.
  const labelled = (config.checks ?? []).flatMap((c) => (c.human ? [{ check: c.name, column: c.human.column, scale: labelScale(c), template: { messages: [], variables: [c.human.column] } }] : []));
  const labelColumns = new Set(labelled.map((l) => l.column));
  const checked = { messages: [], variables: checkColumns(config.checks).filter((c) => !labelColumns.has(c)) };
  const jsonObject = wantsJsonObject(config);
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
    const missing = (uses: string, name: string) =>
      once(`${row.source.file}\0${uses}`, () => {
        const columns = Object.keys(row.vars);
        const hint = suggest(name, columns);
        return { ...where, message: `${uses} but this row has no '${name}'${hint ? ` (did you mean '${hint}'?)` : ''} (it has: ${columns.join(', ')})` };
      });
    const first = seen.get(row.id);
    if (first !== undefined) {
      issues.push({ ...where, message: `duplicate id '${row.id}' (first seen on line ${first})${config.idColumn ? `; values in the id column '${config.idColumn}' must be unique` : ''}` });
    } else seen.set(row.id, row.source.line);
    const own = row.vars['messages'];
    const structured = extname(row.source.file).toLowerCase() !== '.csv';
    if (row.messages) {
      const problem = messagesProblem(row.messages, jsonObject);
      if (problem) once(`${row.source.file}\0messages\0${problem}`, () => ({ ...where, message: problem }));
    } else if (structured && own !== undefined) {
      // A row's 'messages' that is not a list would otherwise be dropped in silence and the template sent instead.
      once(`${row.source.file}\0messages-type`, () => ({ ...where, message: `'messages' must be a list of {role, content} (OpenAI's format), not ${typeName(own)}; rename the field to use it as a {{variable}} of the template` }));
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
      for (const name of missingVariables(template, row.vars)) missing(`the template uses {{${name}}}`, name);
    }
    for (const name of missingVariables(checked, row.vars)) missing(`a check compares with column '${name}'`, name);
    for (const l of labelled) {
      if (missingVariables(l.template, row.vars).length > 0) {
        missing(`check '${l.check}' reads human labels from column '${l.column}' (an empty cell is an unlabelled row)`, l.column);
        continue;
      }
      const read = readHumanLabel(lookup(row.vars, l.column.split('.')), l.scale);
      if (!read.ok) issues.push({ ...where, path: `row ${row.id}, column '${l.column}'`, message: `check '${l.check}': ${read.message}` });
    }
    if (issues.length >= maxIssues) break;
  }
  for (const { issue, more } of repeated.values()) {
    if (more > 0) issue.message += ` (and ${more} more row${more === 1 ? '' : 's'} of ${issue.file})`;
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

/** Whether some cell asks for json_object, whose requests the API refuses unless the messages say "json". */
function wantsJsonObject(config: Config): boolean {
  const formats = [config.params['response_format'], ...(config.grid.find((a) => a.key === 'response_format')?.values ?? [])];
  return formats.some((f) => (f as { type?: unknown } | undefined)?.type === 'json_object');
}

const ROW_ROLES = ['system', 'developer', 'user', 'assistant', 'tool'];

/** What is wrong with a row's own messages, checked like the template's (the API would refuse each such request). */
function messagesProblem(messages: ChatMessage[], jsonObject: boolean): string | undefined {
  if (messages.length === 0) return "'messages' is an empty list; give at least one {role, content}";
  for (const [i, m] of messages.entries()) {
    if (!m || typeof m !== 'object' || Array.isArray(m)) return `'messages' item ${i} is not a {role, content} object`;
    if (m.role === undefined) return `'messages' item ${i} has no 'role' (each item is {role, content})`;
    if (typeof m.role !== 'string' || !ROW_ROLES.includes(m.role)) {
      return `'messages' item ${i} has role ${JSON.stringify(m.role)}; use one of ${ROW_ROLES.join(', ')}`;
    }
    const c = m.content;
    const ok = typeof c === 'string' || Array.isArray(c) || (c === null && m.role === 'assistant') || (c === undefined && m.role === 'assistant' && 'tool_calls' in m);
    if (!ok) return `'messages' item ${i} (${m.role}) needs 'content': text, or a list of content parts`;
  }
  if (jsonObject && !messages.some((m) => /json/i.test(contentText(m.content)))) {
    return "response_format json_object needs the word 'json' in the messages (the API rejects the request otherwise); this row's own messages do not have it";
  }
  return undefined;
}

function contentText(c: unknown): string {
  if (typeof c === 'string') return c;
  if (Array.isArray(c)) return c.map((p) => (p && typeof p === 'object' && typeof (p as { text?: unknown }).text === 'string' ? (p as { text: string }).text : '')).join('\n');
  return '';
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return `text (${JSON.stringify(v.length > 30 ? `${v.slice(0, 30)}…` : v)})`;
  return Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/** run.json's `dataset_hash`: `evalrun view` compares it to tell whether the dataset it shows is the one that was run. */
export async function hashFiles(files: string[]): Promise<string> {
  const h = createHash('sha256');
  for (const file of files) {
    for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
    h.update('\0');
  }
  return h.digest('hex').slice(0, 16);
}
