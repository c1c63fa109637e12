import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { join } from 'node:path';
import { indexJournal, recordedInSummary, recordsInOrder, RECORDS, readManifest, RunLock, type RunManifest } from '../record/index.js';
import { OutputError } from '../errors.js';
import { streamToFileAtomic } from '../util/atomic-write.js';
import type { Summary } from '../contracts/summary.js';
import { ReportPass } from './report-pass.js';

/**
 * Derives choices.csv, stats.csv and summary.json from run.json and records.jsonl alone, in one streaming pass in
 * plan order, so the same files come out after a crash, a resume, or from another executor's records.
 *
 * Without `manifest` it rebuilds an existing run (`evalrun report`): it locks the directory (a run writing it is not
 * raced) and refuses, rewriting nothing, when records.jsonl is missing, empty, or holds fewer requests than the
 * reports already there show: rebuilding from it would replace results with fewer.
 */
export async function writeReports(dir: string, manifest?: RunManifest, options: { onNotice?: (message: string) => void } = {}): Promise<Summary> {
  if (manifest) return derive(dir, manifest);
  const m = await readManifest(dir);
  const lock = await RunLock.acquire(dir, { onTakeover: options.onNotice });
  try {
    return await derive(dir, m, true);
  } finally {
    await lock.release();
  }
}

async function derive(dir: string, m: RunManifest, rebuild = false): Promise<Summary> {
  const file = join(dir, RECORDS);
  if (rebuild && !(await stat(file).then((s) => s.isFile(), () => false))) {
    throw new OutputError(
      `${file} is missing: the reports are derived from it, and rebuilding without it would replace them with empty ones. Nothing was rewritten. Restore records.jsonl (from a backup or the CI artifact) and run 'evalrun report' again.`,
      'EVALRUN_NO_RECORDS',
    );
  }
  const index = await indexJournal(file, m.plan.requests);
  if (rebuild && index.count === 0) {
    throw new OutputError(
      `${file} holds no records: there is nothing to rebuild the reports from, and rebuilding would replace them with empty ones. Nothing was rewritten. Restore records.jsonl, or run the evaluation (evalrun run ${m.config_file} --out ${dir} --resume).`,
      'EVALRUN_NO_RECORDS',
    );
  }
  if (rebuild) {
    const shown = await recordedInSummary(dir);
    if (shown !== undefined && shown > index.count) {
      throw new OutputError(
        `${file} holds ${index.count} requests, but the reports in ${dir} show ${shown}: records were lost from it (truncated or replaced?). Rebuilding would drop results. Nothing was rewritten. Restore records.jsonl from a backup or the CI artifact.`,
        'EVALRUN_RECORDS_LOST',
      );
    }
  }
  const pass = new ReportPass(m);
  async function* csvChunks(): AsyncGenerator<string> {
    for await (const record of recordsInOrder(file, index)) {
      const text = pass.add(record);
      if (text) yield text;
    }
    // Failing here leaves the previous choices.csv in place: never fewer rows than the journal holds.
    if (pass.requests !== index.count) throw new OutputError(`${file}: read ${pass.requests} of its ${index.count} requests; nothing was rewritten`);
    const rest = pass.flush();
    if (rest) yield rest;
  }
  await streamToFileAtomic(join(dir, 'choices.csv'), Readable.from(csvChunks(), { objectMode: false }));
  return pass.finish(dir, m);
}
