/** Reports of an incomplete run: gates not judged, and every output says the run is incomplete. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { writeReports } from '../../../src/report/write-reports.js';
import { emptyEvaluation } from '../../../src/contracts/evaluation.js';
import { makeCell, makeManifest, makeRecord, writeRunDir } from '../../helpers/records.js';
import { useTempDirs } from '../../helpers/tmp.js';

const tempDir = useTempDirs();

async function run(recorded: number, status: 'interrupted' | 'complete' | 'running') {
  const dir = await tempDir();
  const cells = [makeCell('a', {}), makeCell('b', {})];
  const gates = [{ metric: 'stop_rate', min: 0.99, bound: 'point' as const }, { metric: 'error_rate', max: 0, bound: 'point' as const, name: 'no errors' }];
  const manifest = makeManifest(cells, 5, { status, evaluation: { ...emptyEvaluation(), gates } });
  // Every recorded answer is a clean stop: judged, both gates would pass.
  await writeRunDir(dir, manifest, Array.from({ length: recorded }, (_, seq) => makeRecord(seq, { cell: cells[seq % 2]!.id, row_id: `r${Math.floor(seq / 2)}` })));
  const summary = await writeReports(dir);
  const text = (name: string) => readFile(join(dir, name), 'utf8');
  return { summary, md: await text('summary.md'), junit: await text('junit.xml'), html: await text('report.html'), json: JSON.parse(await text('summary.json')) };
}

describe('an incomplete run', () => {
  it('has its gates listed as not judged, neither passed nor failed', async () => {
    const { summary, json } = await run(3, 'interrupted');
    expect(summary.complete).toBe(false);
    expect(json.gates).toEqual({
      status: 'not_judged',
      reason: 'Gates not judged: the run is incomplete (3 of 10 requests recorded). Resume it to judge them.',
      not_judged: ['stop_rate >= 0.99', 'no errors'],
      passed: 0,
      failed: 0,
      results: [],
    });
    expect(json.incomplete).toMatch(/^Incomplete run: 3 of 10 requests recorded \(it was interrupted\)\./);
  });

  it('says so in summary.md, junit.xml (skipped gates, failed "run complete") and report.html', async () => {
    const { md, junit, html } = await run(3, 'running');
    expect(md).toContain("> ⚠️ **Incomplete run: 3 of 10 requests recorded (run.json says 'running'");
    expect(md).toContain('Not judged: the run is incomplete. `stop_rate >= 0.99`, `no errors`');
    expect(XMLValidator.validate(junit)).toBe(true);
    const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(junit);
    const suites = [doc.testsuites.testsuite].flat();
    const gates = suites.find((s: { name: string }) => s.name.startsWith('gates (not judged'));
    expect(gates).toMatchObject({ tests: '2', failures: '0', skipped: '2' });
    expect([gates.testcase].flat().map((c: { name: string }) => c.name)).toEqual(['stop_rate >= 0.99', 'no errors']);
    const runSuite = suites.find((s: { name: string }) => s.name === 'run');
    expect([runSuite.testcase].flat().find((c: { name: string }) => c.name === 'run complete').failure.message).toMatch(/^Incomplete run: 3 of 10/);
    expect(html).toContain('"incomplete":"Incomplete run: 3 of 10 requests recorded');
  });

  it('once complete, judges the gates and carries no incomplete note', async () => {
    const { json, md } = await run(10, 'complete');
    expect(json.gates).toMatchObject({ status: 'judged', passed: 4, failed: 0 });
    expect(json).not.toHaveProperty('incomplete');
    expect(md).not.toContain('Incomplete');
  });
});
