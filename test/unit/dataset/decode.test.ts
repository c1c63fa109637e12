/** Issue 12 item 3: dataset bytes are checked as UTF-8 (streamed), or decoded from the encoding the user names. */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { decodeStream } from '../../../src/dataset/decode.js';
import { readRows } from '../../../src/dataset/load.js';
import { DatasetError } from '../../../src/errors.js';
import { collect, makeConfig, rejection } from '../../helpers/config.js';
import { useTempDirs, writeTree } from '../../helpers/tmp.js';

const tempDir = useTempDirs();

async function through(chunks: Buffer[], label?: string): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of Readable.from(chunks).pipe(decodeStream(label, 'f.csv'))) out.push(c as Buffer);
  return Buffer.concat(out);
}

describe('decodeStream', () => {
  it('passes UTF-8 through unchanged, also when a character is split between chunks', async () => {
    const bytes = Buffer.from('id,text\n1,café 😀\n');
    const cut = bytes.indexOf(0xa9); // the second byte of é
    const cut2 = bytes.indexOf(0xf0) + 2; // inside the emoji
    expect(await through([bytes.subarray(0, cut), bytes.subarray(cut, cut2), bytes.subarray(cut2)])).toEqual(bytes);
  });

  it('reports the first bad byte at its line and column (in characters), counted across chunks', async () => {
    const e = await rejection(through([Buffer.from('id,text\n1,é'), Buffer.from('ok\n2,ab'), Buffer.from([0xff]), Buffer.from('\n')]));
    expect(e).toBeInstanceOf(DatasetError);
    expect(e.message).toBe('f.csv:3:5: not UTF-8 (byte 0xff); save the file as UTF-8, or name its encoding in the config (encoding: latin1, windows-1252, utf-16le, …)');
  });

  it('refuses a character cut off at the end of the file', async () => {
    const e = await rejection(through([Buffer.from('a\nb'), Buffer.from([0xc3])]));
    expect(e.message).toMatch(/^f\.csv:2:2: not UTF-8 \(a character cut off at the end of the file\)/);
  });

  it('decodes a named encoding to UTF-8', async () => {
    expect((await through([Buffer.from([0x63, 0x61, 0x66, 0xe9])], 'latin1')).toString('utf8')).toBe('café');
    expect((await through([Buffer.from('hé', 'utf16le')], 'utf-16le')).toString('utf8')).toBe('hé');
  });
});

describe('readRows with encodings', () => {
  it('reads a latin1 CSV, JSONL and JSON as the characters they hold, never as U+FFFD', async () => {
    const dir = await tempDir();
    const l1 = (s: string) => Buffer.from(s, 'latin1');
    const files = await writeTree(dir, {
      'a.csv': l1('id,text\n1,café\n'),
      'b.jsonl': l1('{"id":"2","text":"naïve"}\n'),
      'c.json': l1('[{"id":"3","text":"señor"}]'),
    });
    const datasets = [files['a.csv']!, files['b.jsonl']!, files['c.json']!];
    const rows = await collect(readRows(makeConfig({ datasets, encodings: ['latin1', 'latin1', 'windows-1252'], idColumn: 'id' })));
    expect(rows.map((r) => r.vars['text'])).toEqual(['café', 'naïve', 'señor']);
    // Without the encoding, each file is refused at its bad byte.
    for (const [i, where] of [[0, ':2:6:'], [1, ':1:21:'], [2, ':1:22:']] as const) {
      const e = await rejection(collect(readRows(makeConfig({ datasets: [datasets[i]!] }))));
      expect(e.message).toContain(where);
    }
  });
});
