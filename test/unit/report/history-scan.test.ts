/**
 * history's scan of one run reads the journal once: summary.json is trusted (a scan in file order for the per-row
 * values) only when the journal was not written after it; a run resumed since is read in plan order straight away.
 */
import { utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { ROOT, runMain } from '../../helpers/cli.js';
import { useTempDirs, writeTree } from '../../helpers/tmp.js';

vi.mock('../../../src/record/index.js', async (importOriginal) => {
  const mod = await importOriginal<typeof import('../../../src/record/index.js')>();
  return { ...mod, scanJournal: vi.fn(mod.scanJournal), indexJournal: vi.fn(mod.indexJournal) };
});
const record = await import('../../../src/record/index.js');
const { scanRun } = await import('../../../src/report/history/scan.js');

const tempDir = useTempDirs();
let dir = '';

beforeAll(async () => {
  const base = await tempDir('evalrun-scan-');
  const demo = join(ROOT, 'datasets/demo');
  const files = await writeTree(base, {
    'c.yaml': `name: scan\ndataset: ${join(demo, 'tickets.csv')}\nid_column: ticket_id\nmessages:\n  - { role: user, content: "{{subject}}" }\ngrid: { model: [gpt-4o-mini], n: [2] }\nprovider: simulator\n`,
  });
  dir = join(base, 'run');
  const r = await runMain(['run', files['c.yaml']!, '--out', dir, '--quiet']);
  expect([0, 1]).toContain(r.code);
}, 60_000);

describe('scanRun', () => {
  it('trusts a summary written after the journal: one scan, no second read', async () => {
    const manifest = await record.readManifest(dir);
    const old = new Date(Date.now() - 60_000);
    await utimes(join(dir, 'records.jsonl'), old, old);
    vi.mocked(record.scanJournal).mockClear();
    vi.mocked(record.indexJournal).mockClear();
    const run = await scanRun(dir, manifest, ['latency_mean_ms']);
    expect(run.judged).toBe(true);
    expect(vi.mocked(record.scanJournal)).toHaveBeenCalledTimes(1);
    expect(vi.mocked(record.indexJournal)).not.toHaveBeenCalled();
    // The unpaired tests' input is there on this path too.
    expect(run.side.moments?.(0, run.metrics[0]!)?.n).toBeGreaterThan(0);
  });

  it('reads a journal written after its summary (a run resumed since) once, in plan order, without scanning it first', async () => {
    const manifest = await record.readManifest(dir);
    const later = new Date(Date.now() + 60_000);
    await utimes(join(dir, 'records.jsonl'), later, later);
    vi.mocked(record.scanJournal).mockClear();
    vi.mocked(record.indexJournal).mockClear();
    const run = await scanRun(dir, manifest, ['latency_mean_ms']);
    expect(run.judged).toBe(true);
    expect(vi.mocked(record.scanJournal)).not.toHaveBeenCalled();
    expect(vi.mocked(record.indexJournal)).toHaveBeenCalledTimes(1);
  });
});
