/**
 * The never-pay-twice rule of a part's results (openResults, each task of the part taken in seq order, as the
 * protocol does) against a fake BatchApi: a request a batch ran whose line cannot be read
 * is recorded as batch_result_lost (not resent); lines a cancelled batch never ran are left to be resent; a stalled
 * or short download is downloaded again before anything is decided.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Task } from '../../../../src/contracts/plan.js';
import type { BatchPart } from '../../../../src/record/manifest.js';
import { BatchApiError, type Batch, type BatchApi } from '../../../../src/run/batch/batch-api.js';
import { openResults, type IngestResult, type ResultsOptions } from '../../../../src/run/batch/ingest.js';
import type { BatchOutputLine } from '../../../../src/run/batch/types.js';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

const SEQS = [0, 1, 2, 3];
const task = (seq: number) => ({ seq, body: { model: 'm' }, cell: { n: 1 } }) as unknown as Task;
async function* tasks() {
  for (const s of SEQS) yield task(s);
}
const answer = (seq: number) => JSON.stringify({ id: `r${seq}`, custom_id: `seq-${seq}`, response: { status_code: 200, request_id: 'q', body: { choices: [] } }, error: null });
const never = (seq: number) => JSON.stringify({ id: `r${seq}`, custom_id: `seq-${seq}`, response: null, error: { code: 'batch_cancelled', message: 'not run' } });

/** A fake Files API: each download of a file takes the next of its scripted bodies (the last one repeats). */
function fakeApi(files: Record<string, Array<string | 'stall' | 404>>): BatchApi & { downloads: Record<string, number> } {
  const downloads: Record<string, number> = {};
  return {
    downloads,
    uploadFile: () => Promise.reject(new Error('not used')),
    createBatch: () => Promise.reject(new Error('not used')),
    retrieveBatch: () => Promise.reject(new Error('not used')),
    cancelBatch: () => Promise.reject(new Error('not used')),
    listBatches: () => (async function* () {})(),
    async fileContent(id, signal) {
      const script = files[id]!;
      const k = (downloads[id] = (downloads[id] ?? 0) + 1);
      const body = script[Math.min(k, script.length) - 1]!;
      if (body === 404) throw new BatchApiError({ status: 404, method: 'GET', url: `/files/${id}/content`, body: undefined, message: 'gone' });
      return {
        contentType: 'application/octet-stream',
        body: (async function* () {
          if (body === 'stall') {
            yield Buffer.from(answer(0).slice(0, 10));
            await new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted'))));
          } else yield Buffer.from(body);
        })(),
      };
    },
  };
}

async function ingest(api: BatchApi, batch: Partial<Batch>) {
  const dir = await mkdtemp(join(tmpdir(), 'evalrun-ingest-'));
  dirs.push(dir);
  const recorded: Array<{ seq: number; line: BatchOutputLine }> = [];
  const part = { part: 1, attempt: 1, seqs: [[0, 4, 4, 1]], requests: 4 } as unknown as BatchPart;
  const o: ResultsOptions = {
    api,
    part,
    batch: { id: 'batch_1', status: 'completed', output_file_id: null, error_file_id: null, request_counts: { total: 4, completed: 4, failed: 0 }, ...batch } as Batch,
    dir,
    idleMs: 100,
    tries: 3,
    backoffMs: () => 1,
    sleep: async () => {},
    stop: new AbortController().signal,
    abort: new AbortController().signal,
    redact: (s) => s,
    onNotice: () => {},
    onBytes: () => {},
    onDownloaded: () => {},
    record: async (t, line) => {
      recorded.push({ seq: t.seq, line });
      return line.error?.code === 'batch_cancelled' ? 'left' : 'recorded';
    },
    repeat: false,
    maxN: 1,
  };
  const result = await ingestPart(o, tasks());
  return { result: result!, recorded, codes: recorded.map((r) => r.line.error?.code ?? 'answered') };
}

/** One part's results read whole: undefined when the run stopped before every request of the part was recorded. */
async function ingestPart(o: ResultsOptions, parts: AsyncIterable<Task>): Promise<IngestResult | undefined> {
  const results = await openResults(o);
  if (!results) return undefined;
  try {
    for await (const t of parts) {
      if (o.abort.aborted) return undefined;
      await results.take(t);
    }
    return results.result();
  } finally {
    results.close();
  }
}

describe('a part\'s results: never pay twice', () => {
  it('a line missing from a completed batch is batch_result_lost after downloading again, not resent', async () => {
    const api = fakeApi({ out: [[0, 1, 2].map(answer).join('\n') + '\n'] });
    const { result, codes, recorded } = await ingest(api, { output_file_id: 'out' });
    expect(api.downloads['out']).toBe(3);
    expect(codes).toEqual(['answered', 'answered', 'answered', 'batch_result_lost']);
    expect(result).toMatchObject({ lost: 1, retry: [] });
    expect(recorded[3]!.line.error!.message).toMatch(/batch batch_1 \(completed\) ran this request .*its output file out has 3 readable lines where request_counts says 4/);
  });

  it('a stalled then whole download: every line read, nothing lost', async () => {
    const api = fakeApi({ out: ['stall', SEQS.map(answer).join('\n')] });
    const { result, codes } = await ingest(api, { output_file_id: 'out' });
    expect(api.downloads['out']).toBe(2);
    expect(codes).toEqual(['answered', 'answered', 'answered', 'answered']);
    expect(result.lost).toBe(0);
  });

  it('no output file, or one that is gone (404, not downloaded again): every request it ran is lost', async () => {
    expect((await ingest(fakeApi({}), {})).codes).toEqual(Array(4).fill('batch_result_lost'));
    const api = fakeApi({ out: [404] });
    const gone = await ingest(api, { output_file_id: 'out' });
    expect(api.downloads['out']).toBe(1);
    expect(gone.codes).toEqual(Array(4).fill('batch_result_lost'));
    expect(gone.recorded[0]!.line.error!.message).toMatch(/its output file out is gone \(404/);
  });

  it('a cancelled batch read whole: the lines it never ran are left for a resume; read short, they may have run', async () => {
    const whole = fakeApi({ out: [[0, 1].map(answer).join('\n')], err: [[2, 3].map(never).join('\n')] });
    const w = await ingest(whole, { status: 'cancelled', output_file_id: 'out', error_file_id: 'err', request_counts: { total: 4, completed: 2, failed: 2 } });
    expect(w.codes).toEqual(['answered', 'answered', 'batch_cancelled', 'batch_cancelled']);
    const short = fakeApi({ out: [answer(0)], err: [[2, 3].map(never).join('\n')] });
    const s = await ingest(short, { status: 'cancelled', output_file_id: 'out', error_file_id: 'err', request_counts: { total: 4, completed: 2, failed: 2 } });
    expect(s.codes).toEqual(['answered', 'batch_result_lost', 'batch_cancelled', 'batch_cancelled']);
  });
});
