import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LiveReport } from '../../../src/report/live-report.js';
import { shardRange } from '../../../src/plan/shard.js';
import { writeReports } from '../../../src/report/write-reports.js';
import type { RunManifest } from '../../../src/record/manifest.js';
import type { RequestRecord } from '../../../src/record/types.js';
import { failedRecord, makeCell, makeChoice, makeManifest, makeRecord, writeRunDir } from '../../helpers/records.js';
import { useTempDirs } from '../../helpers/tmp.js';

const tempDir = useTempDirs();

const cells = [
  makeCell('a/t0/n2', { model: 'a', temperature: 0, n: 2 }, { json_mode: true }),
  makeCell('b/t1/n1', { model: 'b', temperature: 1, n: 1 }),
];
const ROWS = 700; // 1,400 requests, 2,100 choice rows: several of the pass's 512-row CSV batches

function recordOf(seq: number): RequestRecord {
  const cell = cells[seq % 2]!;
  const row = Math.floor(seq / 2);
  if (seq % 97 === 5) return failedRecord(seq, { cell: cell.id, row_id: `T-${row}` });
  const valid = (seq * 7) % 5 !== 0;
  const choice = (i: number) =>
    makeChoice(i, {
      content: cell.n === 2 ? (valid ? `{"row":${row},"i":${i}}` : '{"row":') : `=row ${row}, "quoted"\nline`,
      finish_reason: valid ? 'stop' : 'length',
      ...(cell.n === 2 ? { json_valid: valid, schema_valid: valid, schema_errors: valid ? [] : ['(not valid JSON)'] } : {}),
    });
  return makeRecord(seq, {
    cell: cell.id,
    row_id: `T-${row}`,
    attempts: 1 + (seq % 3 === 0 ? 1 : 0),
    latency_ms: 20 + ((seq * 37) % 400),
    choices: Array.from({ length: cell.n }, (_, i) => choice(i)),
    usage: { prompt_tokens: 10 + (seq % 7), completion_tokens: 5 + (seq % 11), total_tokens: 15 + (seq % 7) + (seq % 11) },
  });
}

/** Plan order shuffled the way concurrency shuffles it: each record finishes up to 40 places from its turn. */
function finishingOrder(records: RequestRecord[]): RequestRecord[] {
  return records
    .map((r, i) => ({ r, key: i + ((i * 7919) % 41) }))
    .sort((a, b) => a.key - b.key)
    .map((x) => x.r);
}

/** Every file the reports wrote, but for the moment report.html says it was made. */
async function derivedFiles(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(dir)).sort()) {
    if (name === 'records.jsonl' || name === 'run.json') continue;
    out[name] = (await readFile(join(dir, name), 'utf8')).replace(/"generated_at":"[^"]*"/, '"generated_at":""');
  }
  return out;
}

async function setUp(records: RequestRecord[]): Promise<{ dir: string; manifest: RunManifest }> {
  const manifest = makeManifest(cells, ROWS);
  const dir = join(await tempDir(), 'run');
  await writeRunDir(dir, manifest, records);
  return { dir, manifest };
}

describe('LiveReport', () => {
  const all = Array.from({ length: ROWS * 2 }, (_, seq) => recordOf(seq));

  it('writes, from records in finishing order, the same files as the pass over records.jsonl', async () => {
    const after = await setUp(all);
    const expected = await writeReports(after.dir, after.manifest);
    const live = await setUp(all);
    const report = new LiveReport(live.dir, live.manifest);
    for (const r of finishingOrder(all)) report.add(r);
    const summary = await report.finish(live.manifest);
    expect(summary).toEqual(expected);
    const files = await derivedFiles(live.dir);
    expect(Object.keys(files)).toEqual(expect.arrayContaining(['choices.csv', 'stats.csv', 'summary.json']));
    const expectedFiles = await derivedFiles(after.dir);
    expect(Object.keys(files)).toEqual(Object.keys(expectedFiles));
    // One file at a time, by name: a failure should say which file differs, not print a megabyte of HTML.
    for (const name of Object.keys(files)) expect(files[name] === expectedFiles[name], `${name} differs`).toBe(true);
    expect(files['choices.csv']!.split('\n').length).toBeGreaterThan(ROWS * 3);
  });

  it('declines an incomplete run and leaves nothing behind', async () => {
    const { dir, manifest } = await setUp(all);
    const report = new LiveReport(dir, manifest);
    for (const r of all.slice(0, 900)) report.add(r);
    expect(await report.finish(manifest)).toBeUndefined();
    expect(await readdir(dir)).toEqual(['records.jsonl', 'run.json']);
  });

  it('gives up, leaving nothing behind, when too many records wait for an earlier one', async () => {
    const { dir, manifest } = await setUp(all);
    const report = new LiveReport(dir, manifest, { waiting: 100, waitingChars: 2 ** 24, unwritten: 2 ** 24 });
    // seq 0 comes last, as a request retried for a long time would: 1,399 records would have to wait for it
    for (const r of [...all.slice(1), all[0]!]) report.add(r);
    expect(await report.finish(manifest)).toBeUndefined();
    expect(await readdir(dir)).toEqual(['records.jsonl', 'run.json']);
  });

  it('gives up when the records waiting hold too much text, however few they are', async () => {
    const { dir, manifest } = await setUp(all);
    const report = new LiveReport(dir, manifest, { waiting: 4096, waitingChars: 20_000, unwritten: 2 ** 24 });
    // 89 records of ~260 characters wait for seq 0: over 20,000 characters, far under 4,096 records
    for (const r of [...all.slice(1, 90), all[0]!, ...all.slice(90)]) report.add(r);
    expect(await report.finish(manifest)).toBeUndefined();
    expect(await readdir(dir)).toEqual(['records.jsonl', 'run.json']);
  });

  it('takes records that wait within the limit', async () => {
    const { dir, manifest } = await setUp(all);
    const report = new LiveReport(dir, manifest, { waiting: 100, waitingChars: 2 ** 24, unwritten: 2 ** 24 });
    for (const r of [...all.slice(1, 90), all[0]!, ...all.slice(90)]) report.add(r);
    expect((await report.finish(manifest))?.recorded.requests).toBe(ROWS * 2);
  });

  it("takes a shard's records, which start at its first seq, and writes what the pass over records.jsonl does", async () => {
    // Shard 2 of 3: rows 233 … 465, seqs 466 … 931.
    const shard = shardRange({ index: 2, count: 3 }, ROWS, cells);
    const mine = all.slice(shard.first_seq, shard.first_seq + shard.requests);
    const after = await setUp(mine);
    const manifest = { ...after.manifest, shard };
    const expected = await writeReports(after.dir, manifest);
    expect(expected).toMatchObject({ complete: true, recorded: { requests: shard.requests }, shard: { index: 2, count: 3 } });
    const live = await setUp(mine);
    const report = new LiveReport(live.dir, manifest);
    for (const r of finishingOrder(mine)) report.add(r);
    expect(await report.finish(manifest)).toEqual(expected);
    const files = await derivedFiles(live.dir);
    const expectedFiles = await derivedFiles(after.dir);
    for (const name of Object.keys(expectedFiles)) expect(files[name] === expectedFiles[name], `${name} differs`).toBe(true);
  });

  it('discards its partial choices.csv', async () => {
    const { dir, manifest } = await setUp(all);
    const report = new LiveReport(dir, manifest);
    for (const r of all) report.add(r);
    await report.discard();
    expect(await readdir(dir)).toEqual(['records.jsonl', 'run.json']);
  });
});
