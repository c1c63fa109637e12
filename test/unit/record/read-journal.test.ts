import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { indexJournal, indexLinesBySeq, pendingJudging, recordsInOrder, SeqLinesReader } from '../../../src/record/read-journal.js';
import { OutputError } from '../../../src/errors.js';
import { collect, rejection } from '../../helpers/config.js';
import { jsonl, makeChoice, makeRecord } from '../../helpers/records.js';
import { useTempDirs } from '../../helpers/tmp.js';

const tempDir = useTempDirs();

async function journalFile(text: string): Promise<string> {
  const path = join(await tempDir(), 'records.jsonl');
  await writeFile(path, text);
  return path;
}

/** A deterministic shuffle (so a failure reproduces). */
function shuffled<T>(items: T[], seed = 7): T[] {
  const out = [...items];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe('indexJournal', () => {
  it('returns an empty index for a file that does not exist yet', async () => {
    const index = await indexJournal(join(await tempDir(), 'records.jsonl'), 4);
    expect(index.count).toBe(0);
    expect(index.validBytes).toBe(0);
    expect([...index.offsets]).toEqual([-1, -1, -1, -1]);
  });

  it('finds each record\'s offset and length, counting distinct seqs', async () => {
    const records = [makeRecord(2), makeRecord(0), makeRecord(3)];
    const text = jsonl(records);
    const index = await indexJournal(await journalFile(text), 5);
    expect(index.count).toBe(3);
    expect(index.validBytes).toBe(Buffer.byteLength(text));
    expect(index.tornBytes).toBe(0);
    expect(index.offsets[1]).toBe(-1);
    expect(index.offsets[4]).toBe(-1);
    const firstLine = Buffer.byteLength(JSON.stringify(records[0]));
    expect(index.offsets[2]).toBe(0);
    expect(index.lengths[2]).toBe(firstLine);
    expect(index.offsets[0]).toBe(firstLine + 1);
  });

  it('skips blank lines (a hand-edited file) and still finds every record', async () => {
    const text = `${JSON.stringify(makeRecord(1))}\n\n\r\n${JSON.stringify(makeRecord(0))}\n`;
    const path = await journalFile(text);
    const index = await indexJournal(path, 2);
    expect(index.count).toBe(2);
    expect((await collect(recordsInOrder(path, index))).map((r) => r.seq)).toEqual([0, 1]);
  });

  it('ignores a torn last line, reporting where the valid bytes end', async () => {
    const whole = jsonl([makeRecord(0), makeRecord(1)]);
    const torn = '{"v":1,"seq":2,"cell":"cell","row_id":"r2","attem';
    const index = await indexJournal(await journalFile(whole + torn), 3);
    expect(index.count).toBe(2);
    expect(index.validBytes).toBe(Buffer.byteLength(whole));
    expect(index.tornBytes).toBe(Buffer.byteLength(torn));
    expect(index.offsets[2]).toBe(-1);
  });

  it('rejects a line that is not a record, naming the file and line', async () => {
    const path = await journalFile(`${jsonl([makeRecord(0)])}{"hello":"world"}\n`);
    const e = await rejection(indexJournal(path, 3));
    expect(e).toBeInstanceOf(OutputError);
    expect(e.message).toBe(`${path}:2: not a record of this run (seq missing); the file may be corrupt or from another config`);
  });

  it('rejects a record whose seq lies outside this plan', async () => {
    const path = await journalFile(jsonl([makeRecord(0), makeRecord(9)]));
    const e = await rejection(indexJournal(path, 3));
    expect(e.message).toContain(':2: not a record of this run (seq 9)');
  });

  it('keeps multi-byte text in byte offsets', async () => {
    const records = [makeRecord(0, { choices: [makeChoice(0, { content: '两步验证 🙏 café' })] }), makeRecord(1)];
    const path = await journalFile(jsonl(records));
    const index = await indexJournal(path, 2);
    expect(await collect(recordsInOrder(path, index))).toEqual(records);
  });
});

describe('recordsInOrder', () => {
  it('yields records in plan (seq) order from a shuffled file, skipping unrecorded seqs', async () => {
    const records = [...Array(50).keys()].filter((s) => s % 7 !== 3).map((seq) => makeRecord(seq));
    const path = await journalFile(jsonl(shuffled(records)));
    const index = await indexJournal(path, 50);
    const out = await collect(recordsInOrder(path, index));
    expect(out.map((r) => r.seq)).toEqual(records.map((r) => r.seq));
    expect(out).toEqual(records);
  });

  it('uses the last record of a seq recorded twice', async () => {
    const path = await journalFile(
      jsonl([makeRecord(0), makeRecord(1, { attempts: 1, row_id: 'old' }), makeRecord(2), makeRecord(1, { attempts: 4, row_id: 'new' })]),
    );
    const index = await indexJournal(path, 3);
    expect(index.count).toBe(3);
    const out = await collect(recordsInOrder(path, index));
    expect(out.map((r) => [r.seq, r.row_id])).toEqual([
      [0, 'r0'],
      [1, 'new'],
      [2, 'r2'],
    ]);
  });

  it('reads records across 1 MiB block boundaries, including one larger than a block', async () => {
    // ~3.5 MiB of records of uneven sizes, so many straddle a block boundary; seq 40 alone is 1.2 MiB.
    const records = [...Array(120).keys()].map((seq) =>
      makeRecord(seq, {
        choices: [makeChoice(0, { content: `${seq}:${'é☃x'.repeat(seq === 40 ? 420_000 : 2_000 + ((seq * 7919) % 9_000))}` })],
      }),
    );
    const text = jsonl(shuffled(records, 11));
    expect(Buffer.byteLength(text)).toBeGreaterThan(3 * (1 << 20));
    const path = await journalFile(text);
    const index = await indexJournal(path, 120);
    expect(index.count).toBe(120);
    const out = await collect(recordsInOrder(path, index));
    expect(out.length).toBe(120);
    for (const [i, r] of out.entries()) {
      expect(r.seq).toBe(i);
      expect(r.choices[0]!.content).toBe(records[i]!.choices[0]!.content);
    }
  });

  it('yields nothing for an empty index', async () => {
    const path = await journalFile('');
    expect(await collect(recordsInOrder(path, await indexJournal(path, 3)))).toEqual([]);
  });
});

describe('indexLinesBySeq and SeqLinesReader (judgments.jsonl: several lines per seq)', () => {
  it("groups every line by seq in file order, and reads one seq's records back, the torn tail left out", async () => {
    // Two passes over seqs 0-4 (a run, then a regrade), interleaved as concurrency leaves them, then a torn line.
    const lines = [3, 0, 1, 4, 0, 3, 1, 4, 3].map((seq, k) => makeRecord(seq, { request_id: `req-${k}`, choices: [makeChoice(0, { content: `ünïcode ${k}` })] }));
    const whole = jsonl(lines);
    const path = await journalFile(`${whole}{"v":1,"seq":2,"cell":"ce`);
    const index = await indexLinesBySeq(path, 5);
    expect(index.validBytes).toBe(Buffer.byteLength(whole));
    expect(Array.from(index.start)).toEqual([0, 2, 4, 4, 7, 9]);
    const reader = new SeqLinesReader(path, index);
    try {
      expect(reader.records(3).map((r) => r.request_id)).toEqual(['req-0', 'req-5', 'req-8']);
      expect(reader.records(0).map((r) => r.request_id)).toEqual(['req-1', 'req-4']);
      expect(reader.records(2)).toEqual([]);
      expect(reader.records(4).map((r) => r.choices[0]!.content)).toEqual(['ünïcode 3', 'ünïcode 7']);
      expect(reader.records(7)).toEqual([]);
    } finally {
      reader.close();
    }
  });

  it('is empty for a file that does not exist yet, and refuses a line of another plan', async () => {
    const none = await indexLinesBySeq(join(await tempDir(), 'judgments.jsonl'), 5);
    expect(none.offsets.length).toBe(0);
    expect(none.validBytes).toBe(0);
    const path = await journalFile(jsonl([makeRecord(1), makeRecord(9)]));
    const e = await rejection(indexLinesBySeq(path, 5));
    expect(e).toBeInstanceOf(OutputError);
    expect((e as Error).message).toMatch(/records\.jsonl:2: not a record of this run \(seq 9\)/);
  });

  it('holds a few numbers per line, not the lines: 3,000 lines grow its arrays past their first size', async () => {
    const many = Array.from({ length: 3000 }, (_, k) => makeRecord(k % 1000, { request_id: `r${k}` }));
    const path = await journalFile(jsonl(many));
    const index = await indexLinesBySeq(path, 1000);
    expect(index.offsets.length).toBe(3000);
    expect(index.start[1000]).toBe(3000);
    const reader = new SeqLinesReader(path, index);
    try {
      expect(reader.records(999).map((r) => r.request_id)).toEqual(['r999', 'r1999', 'r2999']);
    } finally {
      reader.close();
    }
  });
});

describe('pendingJudging', () => {
  it("finds the answers whose latest record waits for its judge calls; a later judged line of the seq ends the wait; text that only quotes the marker is not it", async () => {
    const pending = (seq: number) => Object.assign(makeRecord(seq), { judging: 'pending' as const });
    const quoting = makeRecord(4, { choices: [makeChoice(0, { content: 'my notes say "judging":"pending" here' })] });
    const path = await journalFile(jsonl([pending(0), pending(1), makeRecord(2), makeRecord(1), quoting, pending(3)]));
    const found = await pendingJudging(path, 5);
    expect([...found.keys()].sort()).toEqual([0, 3]);
    expect(found.get(3)!.judging).toBe('pending');
  });

  it('refuses a line of another plan, as the other readers do', async () => {
    const path = await journalFile(jsonl([makeRecord(1), makeRecord(9)]));
    expect((await rejection(pendingJudging(path, 5))) as Error).toBeInstanceOf(OutputError);
  });
});
