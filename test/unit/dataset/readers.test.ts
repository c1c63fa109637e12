import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readCsv } from '../../../src/dataset/csv.js';
import { readJsonl } from '../../../src/dataset/jsonl.js';
import { readJsonArray } from '../../../src/dataset/json.js';
import { DatasetError, ExitCode } from '../../../src/errors.js';
import type { RawRow } from '../../../src/contracts/dataset.js';
import { collect, rejection } from '../../helpers/config.js';
import { useTempDirs, writeTree } from '../../helpers/tmp.js';

const fixture = (name: string) => fileURLToPath(new URL(`../../fixtures/datasets/${name}`, import.meta.url));
const tempDir = useTempDirs();

type Reader = (file: string, shown: string) => AsyncGenerator<RawRow>;
const read = (reader: Reader, name: string) => collect(reader(fixture(name), name));

async function datasetError(reader: Reader, file: string, shown = file): Promise<DatasetError> {
  const e = await rejection(collect(reader(file, shown)));
  expect(e).toBeInstanceOf(DatasetError);
  expect((e as unknown as DatasetError).exitCode).toBe(ExitCode.Data);
  return e as unknown as DatasetError;
}

describe('readCsv', () => {
  it('keeps commas, doubled quotes, embedded newlines and non-ASCII intact, with each row\'s start line', async () => {
    const rows = await read(readCsv, 'tickets.csv');
    expect(rows.map((r) => [r.vars['ticket_id'], r.line])).toEqual([
      ['T-1', 2],
      ['T-2', 5],
      ['T-3', 6],
      ['T-4', 7],
      ['T-5', 8],
    ]);
    expect(rows[0]!.vars).toEqual({
      ticket_id: 'T-1',
      channel: 'email',
      subject: 'Charged twice, please refund',
      body: 'Hi,\nwe were charged twice (2 × €1,200).\nThanks, Ana',
    });
    expect(rows[1]!.vars['subject']).toBe('App crashes on "Settings"');
    expect(rows[1]!.vars['body']).toBe('Tapping "Settings" closes the app.');
    expect(rows[2]!.vars['subject']).toBe('两步验证收不到短信');
    expect(rows[3]!.vars['subject']).toBe('=SUM(A1:A9) in my name');
  });

  it('counts lines right in a CRLF file with a CRLF inside a quoted field and a blank line', async () => {
    const rows = await read(readCsv, 'crlf.csv');
    expect(rows.map((r) => [r.vars['ticket_id'], r.line])).toEqual([
      ['C-1', 2],
      ['C-2', 5],
    ]);
    expect(rows[0]!.vars['subject']).toBe('first line\r\nsecond line');
  });

  it('strips a UTF-8 byte order mark from the header', async () => {
    const dir = await tempDir();
    const { 'bom.csv': file } = await writeTree(dir, { 'bom.csv': '\uFEFFid,text\n1,héllo\n' });
    const rows = await collect(readCsv(file!, 'bom.csv'));
    expect(rows).toEqual([{ vars: { id: '1', text: 'héllo' }, line: 2 }]);
  });

  it('refuses a header that names a column twice (the first column\'s values would be lost)', async () => {
    const dir = await tempDir();
    const { 'dup.csv': file } = await writeTree(dir, { 'dup.csv': 'id,text,text\n1,a,b\n' });
    const e = await datasetError(readCsv, file!, 'dup.csv');
    expect(e.message).toBe("dup.csv:1: the header names column 'text' twice; rename one (every column needs its own name)");
  });

  it('rejects (rather than crashing the process) when the file cannot be read', async () => {
    const e = await rejection(collect(readCsv(fixture('no-such.csv'), 'no-such.csv')));
    expect(e.message).toMatch(/ENOENT/);
  });

  it('rejects a ragged row with a DatasetError (exit 4) naming the file and the row\'s line', async () => {
    const e = await datasetError(readCsv, fixture('ragged.csv'), 'ragged.csv');
    expect(e.issues[0]).toMatchObject({ file: 'ragged.csv', line: 3 });
    expect(e.message).toMatch(/^ragged\.csv:3\b/);
    expect(e.message).toContain('this row has 4 fields but the header has 3');
    expect(e.message).toContain('quote fields that contain commas');
  });

  it('says a short row misses values, in singular where it is one field', async () => {
    const dir = await tempDir();
    const { 'short.csv': file } = await writeTree(dir, { 'short.csv': 'id,text\n1,hello\n2\n' });
    const e = await datasetError(readCsv, file!, 'short.csv');
    expect(e.message).toBe('short.csv:3: this row has 1 field but the header has 2; add the missing values (an empty one is just a comma)');
  });

  it('points a ragged multi-line row at its first line', async () => {
    const dir = await tempDir();
    const { 'r.csv': file } = await writeTree(dir, { 'r.csv': 'id,text\n1,a\n2,"multi\nline",extra\n3,b\n' });
    const e = await datasetError(readCsv, file!, 'r.csv');
    expect(e.issues[0]!.line).toBe(3);
  });

  it('reports a quote that is never closed', async () => {
    const dir = await tempDir();
    const { 'q.csv': file } = await writeTree(dir, { 'q.csv': 'id,text\n1,a\n2,"never closed\n3,b\n' });
    const e = await datasetError(readCsv, file!, 'q.csv');
    expect(e.message).toContain('a quoted field is never closed');
  });
});

describe('readJsonl', () => {
  it('reads one object per line, skipping blank lines but counting them', async () => {
    const rows = await read(readJsonl, 'tickets.jsonl');
    expect(rows.map((r) => [r.vars['ticket_id'], r.line])).toEqual([
      ['J-1', 1],
      ['J-2', 3],
      ['J-3', 4],
    ]);
    expect(rows[0]!.vars['body']).toBe('Line one\nLine two, with "quotes"');
    expect(rows[1]!.vars['body']).toBe('Non-ASCII: café, naïve, 日本語');
  });

  it('ignores a byte order mark before the first object', async () => {
    const dir = await tempDir();
    const { 'bom.jsonl': file } = await writeTree(dir, { 'bom.jsonl': '\uFEFF{"id": "1"}\n{"id": "2"}\n' });
    expect(await collect(readJsonl(file!, 'bom.jsonl'))).toEqual([
      { vars: { id: '1' }, line: 1 },
      { vars: { id: '2' }, line: 2 },
    ]);
  });

  it('reports a line that is not JSON at file:line', async () => {
    const e = await datasetError(readJsonl, fixture('bad-line.jsonl'), 'bad-line.jsonl');
    expect(e.issues[0]).toMatchObject({ file: 'bad-line.jsonl', line: 3 });
    expect(e.message).toMatch(/^bad-line\.jsonl:3\b.*not valid JSON/);
  });

  it('refuses a line holding an array instead of an object', async () => {
    const e = await datasetError(readJsonl, fixture('array-line.jsonl'), 'array-line.jsonl');
    expect(e.issues[0]!.line).toBe(2);
    expect(e.message).toContain('each line must be a JSON object');
  });

  it('yields nothing for an empty file', async () => {
    expect(await read(readJsonl, 'empty.jsonl')).toEqual([]);
  });
});

describe('readJsonArray', () => {
  it('reads an array of objects with the line each element starts on', async () => {
    const rows = await read(readJsonArray, 'tickets.json');
    expect(rows.map((r) => [r.vars['ticket_id'], r.line])).toEqual([
      ['A-1', 2],
      ['A-2', 3],
      ['A-3', 9],
    ]);
    expect(rows[1]!.vars['subject']).toBe('second, with a [bracket] and a "quote" and {braces}');
    expect(rows[0]!.vars['meta']).toEqual({ lang: 'en', tags: ['x', 'y'] });
  });

  it('ignores a byte order mark before the array', async () => {
    const dir = await tempDir();
    const { 'bom.json': file } = await writeTree(dir, { 'bom.json': '\uFEFF[\n  {"id": "1"}\n]\n' });
    expect(await collect(readJsonArray(file!, 'bom.json'))).toEqual([{ vars: { id: '1' }, line: 2 }]);
  });

  it('reports invalid JSON at the line of the error', async () => {
    const dir = await tempDir();
    const { 'bad.json': file } = await writeTree(dir, { 'bad.json': '[\n  {"a": 1},\n  {"a": 2,}\n]\n' });
    const e = await datasetError(readJsonArray, file!, 'bad.json');
    expect(e.issues[0]).toMatchObject({ file: 'bad.json', line: 3 });
    expect(e.message).toContain('not valid JSON');
  });

  it('refuses a document that is not an array', async () => {
    const dir = await tempDir();
    const { 'obj.json': file } = await writeTree(dir, { 'obj.json': '{"rows": []}' });
    const e = await datasetError(readJsonArray, file!, 'obj.json');
    expect(e.message).toContain('must be an array of objects');
  });

  it('refuses an element that is not an object, naming its index and line', async () => {
    const dir = await tempDir();
    const { 'mixed.json': file } = await writeTree(dir, { 'mixed.json': '[\n  {"a": 1},\n  "two"\n]\n' });
    const e = await datasetError(readJsonArray, file!, 'mixed.json');
    expect(e.issues[0]).toMatchObject({ line: 3, path: '[1]' });
    expect(e.message).toContain('each element must be a JSON object');
  });
});
