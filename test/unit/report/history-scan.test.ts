/**
 * What history's scan of one run reads: the run's own row-values.json while it names the journal as it stands (the
 * journal is then not read at all); else summary.json trusted when the journal was not written after it (one scan of
 * the journal for the per-row values); else the journal in plan order. Observed by a journal overwritten with garbage
 * of the same size: read, it fails; not read, nothing changes. (No module mocks: test files share module caches.)
 */
import { readFile, rm, stat, utimes, writeFile, cp } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runMain } from '../../helpers/cli.js';
import { useTempDirs, writeTree } from '../../helpers/tmp.js';
import { readManifest } from '../../../src/record/index.js';
import { scanRun } from '../../../src/report/history/scan.js';

const tempDir = useTempDirs();
let base = '';
let source = '';

beforeAll(async () => {
  base = await tempDir('evalrun-scan-');
  const demo = join(ROOT, 'datasets/demo');
  const files = await writeTree(base, {
    'c.yaml': `name: scan\ndataset: ${join(demo, 'tickets.csv')}\nid_column: ticket_id\nmessages:\n  - { role: user, content: "{{subject}}" }\ngrid: { model: [gpt-4o-mini], n: [2] }\nprovider: simulator\n`,
  });
  source = join(base, 'run');
  const r = await runMain(['run', files['c.yaml']!, '--out', source, '--quiet']);
  expect([0, 1]).toContain(r.code);
}, 60_000);

/** A copy of the run whose journal is garbage of the same size, dated `when` (ms from now). */
async function garbled(name: string, when: number): Promise<string> {
  const dir = join(base, name);
  await cp(source, dir, { recursive: true, preserveTimestamps: true });
  const journal = join(dir, 'records.jsonl');
  const { size } = await stat(journal);
  await writeFile(journal, `${'x'.repeat(size - 1)}\n`);
  const t = new Date(Date.now() + when);
  await utimes(journal, t, t);
  return dir;
}

describe('scanRun', () => {
  it("takes the run's row-values.json when it names the journal as it stands: the journal is not read", async () => {
    const manifest = await readManifest(source);
    const metrics = ['json_valid_rate', 'length_rate'];
    const fromJournal = await scanRun(source, manifest, metrics);
    const dir = await garbled('file', -60_000);
    const run = await scanRun(dir, manifest, metrics);
    expect(run.judged).toBe(true);
    expect(run.recorded).toBe(fromJournal.recorded);
    for (const m of metrics) expect(run.side.rowValues.series(0, m)).toEqual(fromJournal.side.rowValues.series(0, m));
    const file = JSON.parse(await readFile(join(dir, 'row-values.json'), 'utf8')) as { metrics: string[] };
    expect(file.metrics).toEqual(expect.arrayContaining(metrics));
  });

  it('scans the journal under a trusted summary for a metric the file lacks, with the moments the unpaired tests need', async () => {
    const manifest = await readManifest(source);
    const old = new Date(Date.now() - 60_000);
    await utimes(join(source, 'records.jsonl'), old, old);
    const run = await scanRun(source, manifest, ['latency_mean_ms']);
    expect(run.judged).toBe(true);
    expect(run.side.moments?.(0, run.metrics[0]!)?.n).toBeGreaterThan(0);
    await expect(scanRun(await garbled('lacks', -60_000), manifest, ['latency_mean_ms'])).rejects.toThrow(/records\.jsonl:1/);
  });

  it('reads a journal written after its summary and row-values.json (a run resumed since)', async () => {
    const manifest = await readManifest(source);
    await expect(scanRun(await garbled('resumed', 60_000), manifest, ['json_valid_rate'])).rejects.toThrow(/records\.jsonl:1/);
    const dir = join(base, 'no-file');
    await cp(source, dir, { recursive: true, preserveTimestamps: true });
    await rm(join(dir, 'row-values.json'));
    const later = new Date(Date.now() + 60_000);
    await utimes(join(dir, 'records.jsonl'), later, later);
    expect((await scanRun(dir, manifest, ['json_valid_rate'])).judged).toBe(true);
  });
});
