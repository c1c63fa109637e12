import { open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Journal } from '../../../src/record/journal.js';
import { indexJournal } from '../../../src/record/read-journal.js';
import { jsonl, makeRecord } from '../../helpers/records.js';
import { useTempDirs } from '../../helpers/tmp.js';

const tempDir = useTempDirs();

afterEach(() => {
  vi.restoreAllMocks();
});

/** FileHandle is not exported by node:fs/promises; reach its prototype through an open handle. */
async function fileHandlePrototype(path: string): Promise<{ write: (...args: unknown[]) => Promise<unknown> }> {
  const fh = await open(path, 'w');
  const proto = Object.getPrototypeOf(fh) as { write: (...args: unknown[]) => Promise<unknown> };
  await fh.close();
  return proto;
}

describe('Journal', () => {
  it('appends one JSON line per record and has them on disk after flush', async () => {
    const path = join(await tempDir(), 'records.jsonl');
    const journal = await Journal.open(path);
    const records = [0, 1, 2].map((seq) => makeRecord(seq, { choices: [] }));
    for (const r of records) journal.append(r);
    await journal.flush();
    expect(await readFile(path, 'utf8')).toBe(jsonl(records));
    await journal.close();
  });

  it('group-commits: many appends in one tick become one write', async () => {
    const dir = await tempDir();
    const path = join(dir, 'records.jsonl');
    const proto = await fileHandlePrototype(join(dir, 'probe'));
    const spy = vi.spyOn(proto, 'write');
    const journal = await Journal.open(path);
    for (let seq = 0; seq < 200; seq++) journal.append(makeRecord(seq));
    await journal.close();
    // The write waits for the end of the event-loop turn, so all 200 go out together.
    expect(spy.mock.calls.length).toBe(1);
    const lines = (await readFile(path, 'utf8')).trimEnd().split('\n');
    expect(lines).toHaveLength(200);
    expect(lines.map((l) => (JSON.parse(l) as { seq: number }).seq)).toEqual([...Array(200).keys()]);
  });

  it('appends after what is already there', async () => {
    const path = join(await tempDir(), 'records.jsonl');
    await writeFile(path, jsonl([makeRecord(0)]));
    const journal = await Journal.open(path);
    journal.append(makeRecord(1));
    await journal.close();
    expect(await readFile(path, 'utf8')).toBe(jsonl([makeRecord(0), makeRecord(1)]));
  });

  it('cuts a torn tail (validBytes from a scan) before appending again', async () => {
    const path = join(await tempDir(), 'records.jsonl');
    const whole = jsonl([makeRecord(0), makeRecord(1)]);
    await writeFile(path, `${whole}{"v":1,"seq":2,"cell":"ce`);
    const index = await indexJournal(path, 10);
    const journal = await Journal.open(path, index.validBytes);
    journal.append(makeRecord(2));
    await journal.close();
    expect(await readFile(path, 'utf8')).toBe(jsonl([makeRecord(0), makeRecord(1), makeRecord(2)]));
  });

  it('once a write failed: tells onFailure at once (an output error, exit 6), drops later records, and flush/close reject', async () => {
    const dir = await tempDir();
    const path = join(dir, 'records.jsonl');
    const proto = await fileHandlePrototype(join(dir, 'probe'));
    vi.spyOn(proto, 'write').mockRejectedValue(Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }));
    const failures: unknown[] = [];
    const journal = await Journal.open(path, undefined, { onFailure: (e) => failures.push(e) });
    journal.append(makeRecord(0));
    await expect(journal.flush()).rejects.toThrow(/cannot write .*records\.jsonl: ENOSPC.*disk .* is full/);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ exitCode: 6, code: 'EVALRUN_JOURNAL_WRITE' });
    expect(journal.failed).toBe(failures[0]);
    journal.append(makeRecord(1));
    expect(failures).toHaveLength(1);
    await expect(journal.close()).rejects.toThrow(/ENOSPC/);
  });
});
