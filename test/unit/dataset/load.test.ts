import { fileURLToPath } from 'node:url';
import { relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readRows, scanDatasets, shownPath } from '../../../src/dataset/load.js';
import { DatasetError, ExitCode } from '../../../src/errors.js';
import { collect, makeConfig, rejection } from '../../helpers/config.js';
import { useTempDirs, writeTree } from '../../helpers/tmp.js';
import type { Config } from '../../../src/contracts/config.js';

const fixture = (name: string) => fileURLToPath(new URL(`../../fixtures/datasets/${name}`, import.meta.url));
const shown = (name: string) => relative(process.cwd(), fixture(name));
const tempDir = useTempDirs();

const ticketTemplate: Config['messages'] = [
  { role: 'system', content: 'Triage into JSON.' },
  { role: 'user', content: '{{subject}}\n\n{{body}}' },
];

async function scanError(config: Config): Promise<DatasetError> {
  const e = await rejection(scanDatasets(config));
  expect(e).toBeInstanceOf(DatasetError);
  expect((e as unknown as DatasetError).exitCode).toBe(ExitCode.Data);
  return e as unknown as DatasetError;
}

describe('shownPath', () => {
  it('shows a dataset relative to the working directory when it lies below it', () => {
    expect(shownPath(fixture('tickets.csv'))).toBe('test/fixtures/datasets/tickets.csv');
    expect(shownPath('/elsewhere/rows.csv')).toBe('/elsewhere/rows.csv');
  });
});

describe('scanDatasets', () => {
  it('counts the rows of a valid dataset and hashes its bytes', async () => {
    const config = makeConfig({ datasets: [fixture('tickets.csv')], idColumn: 'ticket_id', messages: ticketTemplate });
    const scan = await scanDatasets(config);
    expect(scan.rows).toBe(5);
    expect(scan.hash).toMatch(/^[0-9a-f]{16}$/);
    expect((await scanDatasets(config)).hash).toBe(scan.hash);
  });

  it('changes the hash when a dataset\'s bytes change', async () => {
    const dir = await tempDir();
    const files = await writeTree(dir, { 'a.csv': 'text\nx\n', 'b.csv': 'text\ny\n' });
    const a = await scanDatasets(makeConfig({ datasets: [files['a.csv']!] }));
    const b = await scanDatasets(makeConfig({ datasets: [files['b.csv']!] }));
    expect(a.hash).not.toBe(b.hash);
  });

  it('refuses an empty dataset (header only) with exit 4', async () => {
    const e = await scanError(makeConfig({ datasets: [fixture('empty.csv')], messages: ticketTemplate }));
    expect(e.message).toBe(`${shown('empty.csv')}: the dataset has no rows`);
  });

  it('refuses an empty JSONL file', async () => {
    const e = await scanError(makeConfig({ datasets: [fixture('empty.jsonl')] }));
    expect(e.message).toContain('the dataset has no rows');
  });

  it('refuses duplicate ids, naming the row, its line and the first occurrence', async () => {
    const e = await scanError(makeConfig({ datasets: [fixture('duplicate-ids.csv')], idColumn: 'ticket_id', messages: [{ role: 'user', content: '{{subject}}' }] }));
    expect(e.issues).toHaveLength(1);
    expect(e.issues[0]).toMatchObject({ file: shown('duplicate-ids.csv'), line: 4, path: 'row D-1' });
    expect(e.message).toContain("duplicate id 'D-1' (first seen on line 2); values in the id column 'ticket_id' must be unique");
  });

  it('refuses the same dataset listed twice: every id repeats', async () => {
    const e = await scanError(makeConfig({ datasets: [fixture('tickets.csv'), fixture('tickets.csv')], idColumn: 'ticket_id', messages: [{ role: 'user', content: '{{subject}}' }] }));
    expect(e.issues).toHaveLength(5);
    expect(e.issues[0]!.message).toBe(`duplicate id '${shown('tickets.csv')}:T-1' (first seen on line 2); values in the id column 'ticket_id' must be unique`);
  });

  it('refuses a row whose id column is empty', async () => {
    const dir = await tempDir();
    const { 'ids.csv': file } = await writeTree(dir, { 'ids.csv': 'id,text\n1,a\n,b\n' });
    const e = await scanError(makeConfig({ datasets: [file!], idColumn: 'id' }));
    expect(e.issues[0]).toMatchObject({ line: 3 });
    expect(e.message).toContain("id column 'id' is empty; every row needs an id");
  });

  it('names the row and the variable when a row lacks a template variable', async () => {
    const e = await scanError(makeConfig({ datasets: [fixture('missing-var.jsonl')], idColumn: 'ticket_id', messages: ticketTemplate }));
    expect(e.issues).toHaveLength(1);
    expect(e.issues[0]).toMatchObject({ line: 2, path: 'row M-2' });
    expect(e.message).toContain("the template uses {{body}} but this row has no 'body' (it has: ticket_id, subject)");
    expect(e.message).toMatch(new RegExp(`^${shown('missing-var.jsonl').replace(/\./g, '\\.')}:2\\b`));
  });

  it('collects problems of several rows into one error', async () => {
    const dir = await tempDir();
    const { 'many.jsonl': file } = await writeTree(dir, { 'many.jsonl': '{"id":"a"}\n{"id":"a","text":"t"}\n{"id":"b"}\n' });
    const e = await scanError(makeConfig({ datasets: [file!], idColumn: 'id' }));
    // Row 3 lacks what row 1 lacks: said once, on row 1, with a count.
    expect(e.issues.map((i) => [i.line, i.message.slice(0, 20)])).toEqual([
      [1, 'the template uses {{'],
      [2, "duplicate id 'a' (fi"],
    ]);
    expect(e.issues[0]!.message).toMatch(/\(and 1 more row of .*many\.jsonl\)$/);
  });

  it('refuses a missing dataset file before reading any', async () => {
    const e = await scanError(makeConfig({ datasets: [fixture('tickets.csv'), fixture('no-such.csv')] }));
    expect(e.message).toBe(`${shown('no-such.csv')}: dataset file not found (paths in the config are relative to the config file)`);
  });

  it('refuses an unsupported file type', async () => {
    const dir = await tempDir();
    const { 'rows.tsv': file } = await writeTree(dir, { 'rows.tsv': 'text\nx\n' });
    const e = await scanError(makeConfig({ datasets: [file!] }));
    expect(e.message).toContain("unsupported dataset type '.tsv': use .csv, .jsonl or .json");
  });

  it("accepts rows carrying their own 'messages' without the template's variables", async () => {
    const dir = await tempDir();
    const { 'own.jsonl': file } = await writeTree(dir, { 'own.jsonl': '{"messages":[{"role":"user","content":"hi"}]}\n' });
    await expect(scanDatasets(makeConfig({ datasets: [file!], messages: undefined }))).resolves.toMatchObject({ rows: 1 });
  });

  it("refuses a row without 'messages' when the config has no template", async () => {
    const e = await scanError(makeConfig({ datasets: [fixture('tickets.csv')], messages: undefined }));
    expect(e.message).toContain("this row has no 'messages' and the config has no 'messages' template");
  });

  it("refuses malformed 'messages' in a row", async () => {
    const dir = await tempDir();
    const { 'bad.jsonl': file } = await writeTree(dir, { 'bad.jsonl': '{"messages":[{"role":"user","content":"hi"},{"text":"no role"}]}\n{"messages":[]}\n' });
    const e = await scanError(makeConfig({ datasets: [file!] }));
    expect(e.issues.map((i) => i.message)).toEqual([
      "'messages' item 1 has no 'role' (each item is {role, content})",
      "'messages' is an empty list; give at least one {role, content}",
    ]);
  });
});

describe('readRows', () => {
  it('numbers rows from 1 when there is no id column, with a running index', async () => {
    const rows = await collect(readRows(makeConfig({ datasets: [fixture('tickets.csv')] })));
    expect(rows.map((r) => [r.id, r.index])).toEqual([
      ['1', 0],
      ['2', 1],
      ['3', 2],
      ['4', 3],
      ['5', 4],
    ]);
    expect(rows[0]!.source).toEqual({ file: shown('tickets.csv'), line: 2 });
  });

  it("uses a row's own messages instead of the template", async () => {
    const rows = await collect(readRows(makeConfig({ datasets: [fixture('tickets.jsonl')], idColumn: 'ticket_id', messages: ticketTemplate })));
    expect(rows.map((r) => r.messages)).toEqual([
      undefined,
      undefined,
      [{ role: 'user', content: 'This row brings its own prompt: reply in JSON.' }],
    ]);
  });

  it('prefixes default ids with the file name when there are several datasets, indexing across them', async () => {
    const rows = await collect(readRows(makeConfig({ datasets: [fixture('tickets.json'), fixture('missing-var.jsonl')] })));
    expect(rows.map((r) => r.id)).toEqual(['tickets:1', 'tickets:2', 'tickets:3', 'missing-var:1', 'missing-var:2']);
    expect(rows.map((r) => r.index)).toEqual([0, 1, 2, 3, 4]);
  });

  it('keeps the extension in the prefix when two datasets share a name, so their ids do not collide', async () => {
    const config = makeConfig({ datasets: [fixture('tickets.csv'), fixture('tickets.jsonl')], messages: [{ role: 'user', content: '{{subject}}' }] });
    const rows = await collect(readRows(config));
    expect(rows.map((r) => r.id)).toEqual([
      'tickets.csv:1', 'tickets.csv:2', 'tickets.csv:3', 'tickets.csv:4', 'tickets.csv:5',
      'tickets.jsonl:1', 'tickets.jsonl:2', 'tickets.jsonl:3',
    ]);
    await expect(scanDatasets(config)).resolves.toMatchObject({ rows: 8 });
  });

  it('uses the path when two datasets in different folders share a file name', async () => {
    const dir = await tempDir();
    const files = await writeTree(dir, { 'en/rows.csv': 'text\nhello\n', 'fr/rows.csv': 'text\nbonjour\n' });
    const rows = await collect(readRows(makeConfig({ datasets: [files['en/rows.csv']!, files['fr/rows.csv']!] })));
    expect(rows.map((r) => r.id)).toEqual([`${shownPath(files['en/rows.csv']!)}:1`, `${shownPath(files['fr/rows.csv']!)}:1`]);
  });

  it('prefixes id-column values too, so equal ids in two files do not collide', async () => {
    const dir = await tempDir();
    const files = await writeTree(dir, { 'en.csv': 'id,text\n1,hello\n2,bye\n', 'fr.jsonl': '{"id": 1, "text": "bonjour"}\n' });
    const config = makeConfig({ datasets: [files['en.csv']!, files['fr.jsonl']!], idColumn: 'id' });
    const rows = await collect(readRows(config));
    expect(rows.map((r) => r.id)).toEqual(['en:1', 'en:2', 'fr:1']);
    await expect(scanDatasets(config)).resolves.toMatchObject({ rows: 3 });
  });
});
