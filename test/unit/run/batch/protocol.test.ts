/**
 * The never-pay-twice protocol against a fake in-memory Batch API (fake-batch-api.ts) and a fake clock: no server,
 * no real waits. Each test counts, on the fake, how many created batches held each custom_id (never two without
 * --retry-errors, unless the provider reported the line as never run) and what was recorded, across the faults of
 * issue #21: a create whose answer is lost, batches ended by someone else, result files missing, deleted, short,
 * cut, stalled or HTML, a server with no Batch API, a resume after each protocol state, and cancel.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeChoiceChecker } from '../../../../src/check/index.js';
import type { Task } from '../../../../src/contracts/plan.js';
import { ApiFatalError, BatchStoppedError } from '../../../../src/errors.js';
import type { BatchManifest, RequestRecord } from '../../../../src/record/index.js';
import { lineOutcome } from '../../../../src/run/batch/parse-line.js';
import { BatchProtocol, type BatchProtocolResult, type Clock, type PausePoint } from '../../../../src/run/batch/protocol.js';
import { answerLine, errorLine, FakeBatchApi, notRunLine } from './fake-batch-api.js';
import { cell, plan } from './tasks.js';

const T0 = Date.parse('2026-12-08T00:00:00Z');
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

interface SessionOptions {
  maxAttempts?: number;
  maxRequests?: number;
  cancel?: boolean;
  abandon?: boolean;
  /** Throws at this point, as kill -9 would end the process there: what was saved and recorded stays. */
  killAt?: PausePoint;
  /** Ctrl-C at the first wait (while polling): the session detaches, its batches live on. */
  detachOnWait?: boolean;
  retryErrors?: boolean;
  /** The spend limit's two calls, as the protocol makes them. */
  budget?: { reserveNow(task: Task): boolean; holdSent(task: Task): void };
}

/** One run's world: the fake provider, run.json's batch section, records.jsonl, the clock; sessions come and go. */
class World {
  t = T0;
  /** Every batch section handed to save, with its JSON at that instant: the protocol must not change it later. */
  readonly saved: Array<{ batch: BatchManifest; json: string }> = [];
  readonly api = new FakeBatchApi(() => this.t);
  batch: BatchManifest = { run_id: 'run-1', poll_s: 1, max_requests: 100, parts: [] };
  /** Records in the order written, as records.jsonl holds them. */
  readonly records: RequestRecord[] = [];
  readonly notices: string[] = [];
  /** Passes over the plan (each one a read of the dataset in a real run). */
  passes = 0;
  readonly cells = [cell(0, 'm-a'), cell(1, 'm-b')];
  readonly tasks: Task[];

  readonly dir: string;

  constructor(dir: string, rows: number) {
    this.dir = dir;
    this.tasks = [...plan(rows, this.cells)];
  }

  /** The latest record of each seq, as the reports read them. */
  latest(): Map<number, RequestRecord> {
    return new Map(this.records.map((r) => [r.seq, r]));
  }

  codes(): string[] {
    return [...this.latest().values()].sort((a, b) => a.seq - b.seq).map((r) => r.error?.code ?? (r.error ? `http ${r.error.status}` : 'answered'));
  }

  async session(o: SessionOptions = {}): Promise<BatchProtocolResult> {
    // What the resume skips: recorded requests, except failures with --retry-errors.
    const done = new Set([...this.latest().values()].filter((r) => !(o.retryErrors && r.error)).map((r) => r.seq));
    const tasks = (want: (seq: number) => boolean) => {
      this.passes++;
      return gen(this.tasks.filter((t) => want(t.seq) && !done.has(t.seq)));
    };
    const check = makeChoiceChecker({}, this.cells);
    const stop = new AbortController();
    let lines = 0;
    const clock: Clock = {
      now: () => this.t,
      sleep: async (ms) => {
        if (o.detachOnWait) stop.abort();
        this.t += Math.max(0, ms);
        await Promise.resolve();
      },
    };
    const protocol = new BatchProtocol(
      {
        api: this.api,
        state: {
          batch: this.batch,
          startedAt: new Date(T0).toISOString(),
          save: async (b) => {
            this.batch = b;
            this.saved.push({ batch: b, json: JSON.stringify(b) });
            this.api.calls.push(`save ${b.parts.map((p) => `${p.part}:${p.state}`).join(' ')}`);
          },
          tasks,
        },
        lines: {
          outcome: (task, line, meta) => lineOutcome(task, line, meta, { check, redact: (s) => s }),
          accept: async (out) => void this.records.push(out.record),
        },
        dir: this.dir,
        batch: { pollS: 1, maxRequests: o.maxRequests ?? 100 },
        retry: { maxAttempts: o.maxAttempts ?? 3, maxWaitMs: 2000 },
        idleMs: 30,
        repeat: false,
        maxN: 1,
        loopback: true,
        redact: (s) => s,
        cancel: o.cancel,
        abandon: o.abandon,
        clock,
        pause: async (point) => {
          if (point === o.killAt && (point !== 'ingesting' || ++lines === 3)) throw new Error(`killed at ${point}`);
        },
        onNotice: (m) => this.notices.push(m),
        budget: o.budget,
      },
      { stop: stop.signal, abort: new AbortController().signal },
    );
    return protocol.run(tasks(() => true));
  }
}

async function* gen<T>(xs: T[]): AsyncGenerator<T> {
  for (const x of xs) yield x;
}

async function world(rows = 3): Promise<World> {
  const dir = await mkdtemp(join(tmpdir(), 'evalrun-protocol-'));
  dirs.push(dir);
  return new World(dir, rows);
}

const ids = (seqs: number[]) => seqs.map((s) => `seq-${s}`);

describe('the batch protocol: the order of steps', () => {
  it('one part per model; the intent is saved before the upload, the batch id right after create; each request sent and recorded once', async () => {
    const w = await world(3);
    const r = await w.session();
    expect(r).toEqual({ dispatched: 6, recorded: 6, fatal: undefined });
    expect(w.api.submittedOnce()).toBe(true);
    expect([...w.api.submitted.keys()].sort()).toEqual(ids([0, 1, 2, 3, 4, 5]).sort());
    expect(w.codes()).toEqual(Array(6).fill('answered'));
    expect(w.records.every((x) => x.batch_id?.startsWith('batch_'))).toBe(true);
    expect(w.api.calls.slice(0, 4)).toEqual(['save 1:intent', 'upload', 'create', 'save 1:submitted']);
    expect(w.batch.parts.map((p) => [p.part, p.model, p.state, p.requests])).toEqual([
      [1, 'm-a', 'done', 3],
      [2, 'm-b', 'done', 3],
    ]);
  });

  it('parts that end in the same poll are read in one pass over the plan, not one each', async () => {
    const w = await world(4);
    await w.session({ maxRequests: 2 });
    expect(w.batch.parts).toHaveLength(4);
    expect(w.records).toHaveLength(8);
    // One pass to submit, one to record the four parts' results.
    expect(w.passes).toBe(2);
  });

  it('a part per max_requests; run.json snapshots are never changed after they are saved', async () => {
    const w = await world(4);
    const first = w.batch;
    const r = await w.session({ maxRequests: 2 });
    expect(r.recorded).toBe(8);
    expect(w.batch.parts.map((p) => p.requests)).toEqual([2, 2, 2, 2]);
    expect(first.parts).toEqual([]);
    expect(w.saved.length).toBeGreaterThan(8);
    for (const s of w.saved) expect(JSON.stringify(s.batch)).toBe(s.json);
  });
});

describe('a create whose answer is lost', () => {
  it.each(['lost-after-create', '502-after-create'] as const)('%s: the batch is looked up and adopted, never created twice', async (fault) => {
    const w = await world(2);
    w.api.createFaults = [fault];
    const r = await w.session();
    expect(r.fatal).toBeUndefined();
    expect(w.api.calls.filter((c) => c === 'create')).toHaveLength(2);
    expect(w.api.batches.size).toBe(2);
    expect(w.api.submittedOnce()).toBe(true);
    expect(w.codes()).toEqual(Array(4).fill('answered'));
    // The lookup comes between the failed create and the next one.
    expect(w.api.calls.slice(w.api.calls.indexOf('create'), w.api.calls.indexOf('create') + 2)).toEqual(['create', 'list']);
  });

  it('a 502 before the batch existed: looked up, not found, created once', async () => {
    const w = await world(2);
    w.api.createFaults = ['502-before-create'];
    expect((await w.session()).fatal).toBeUndefined();
    // Looked up after the 502, before a second create.
    expect(w.api.calls.slice(w.api.calls.indexOf('create'), w.api.calls.indexOf('create') + 2)).toEqual(['create', 'list']);
    expect(w.api.submittedOnce()).toBe(true);
    expect(w.api.batches.size).toBe(2);
  });

  it('a lost create whose lookups fail too: never created again unchecked; the message says the batch may exist; a resume adopts it', async () => {
    const w = await world(1);
    w.api.createFaults = ['lost-after-create'];
    w.api.listFailures = 10;
    const r = await w.session({ maxAttempts: 2 });
    expect(r.fatal).toBeInstanceOf(ApiFatalError);
    expect((r.fatal as Error).message).toMatch(/A batch may have been created without an answer saying so: .*looked up before anything is created again/);
    expect(w.api.calls.filter((c) => c === 'create')).toHaveLength(1);
    w.api.listFailures = 0;
    const again = await w.session();
    expect(again.fatal).toBeUndefined();
    expect(w.notices.join('\n')).toMatch(/found batch batch_\w+, created before the last session stopped; adopted it/);
    expect(w.api.submittedOnce()).toBe(true);
    expect(w.codes()).toEqual(['answered', 'answered']);
  });
});

describe("someone else's decisions", () => {
  it('a batch cancelled outside the run: what it ran is recorded, nothing resubmitted, the run stops (exit 7); a resume sends the rest once', async () => {
    const w = await world(2);
    w.api.end = (lines, nth) =>
      nth === 1 ? { status: 'cancelled', output: [answerLine(lines[0]!.custom_id)], errors: lines.slice(1).map((l) => notRunLine(l.custom_id, 'batch_cancelled')) } : { status: 'completed', output: lines.map((l) => answerLine(l.custom_id)) };
    const r = await w.session();
    expect(r.fatal).toBeInstanceOf(BatchStoppedError);
    expect((r.fatal as Error).message).toMatch(/was cancelled outside this run .*nothing was resubmitted/);
    // The other part ended in the same poll: its answers are recorded too (paid for), before the run stops.
    expect([...w.latest().keys()].sort()).toEqual([0, 1, 3]);
    expect(w.api.batches.size).toBe(2);
    const again = await w.session();
    expect(again.fatal).toBeUndefined();
    expect(w.codes()).toEqual(Array(4).fill('answered'));
    // seq-2 never ran in the cancelled batch: sent once more, run once.
    expect(w.api.submitted.get('seq-2')).toBe(2);
    expect(w.api.maxRan()).toBe(1);
    expect(w.records).toHaveLength(4);
  });

  it('an expired batch: the finished lines are kept, the rest go in a new batch; each request runs once', async () => {
    const w = await world(2);
    w.api.end = (lines, nth) =>
      nth === 1 ? { status: 'expired', output: [answerLine(lines[0]!.custom_id)], errors: lines.slice(1).map((l) => notRunLine(l.custom_id, 'batch_expired')) } : { status: 'completed', output: lines.map((l) => answerLine(l.custom_id)) };
    expect((await w.session()).fatal).toBeUndefined();
    expect(w.codes()).toEqual(Array(4).fill('answered'));
    expect(w.api.maxRan()).toBe(1);
    expect(w.records).toHaveLength(4);
    expect(w.batch.parts.map((p) => [p.attempt, p.requests])).toEqual([
      [1, 2],
      [1, 2],
      [2, 1],
    ]);
  });

  it('a batch failed validation for its lines: an error record per request, nothing resubmitted', async () => {
    const w = await world(2);
    w.api.end = (lines, nth) => (nth === 1 ? { status: 'failed', validation: [{ code: 'invalid_request', message: 'bad model', line: 1 }] } : { status: 'completed', output: lines.map((l) => answerLine(l.custom_id)) });
    expect((await w.session()).fatal).toBeUndefined();
    expect(w.codes()).toEqual(['invalid_request', 'answered', 'invalid_request', 'answered']);
    expect(w.api.submittedOnce()).toBe(true);
  });

  it('5xx lines are sent again within retry.max_attempts, then recorded as failed', async () => {
    const w = await world(1);
    w.api.end = (lines) => ({ status: 'completed', output: lines.map((l) => (l.custom_id === 'seq-0' ? errorLine(l.custom_id, 500) : answerLine(l.custom_id))) });
    expect((await w.session({ maxAttempts: 3 })).fatal).toBeUndefined();
    expect(w.api.submitted.get('seq-0')).toBe(3);
    expect(w.api.submitted.get('seq-1')).toBe(1);
    expect(w.codes()).toEqual(['http 500', 'answered']);
    expect(w.records).toHaveLength(2);
  });
});

describe('servers that are not OpenAI, limits', () => {
  it('a status outside the API list is reported once and polled until the batch ends', async () => {
    const w = await world(1);
    w.api.liveStatus = 'queued';
    w.api.pollsBeforeEnd = 4;
    expect((await w.session()).fatal).toBeUndefined();
    expect(w.notices.filter((n) => /reports status 'queued', which is not one of the Batch API's/.test(n))).toHaveLength(2);
    expect(w.codes()).toEqual(['answered', 'answered']);
  });

  it('a batch more than an hour past its expires_at stops the run (exit 7), nothing resubmitted', async () => {
    const w = await world(1);
    w.api.expiresInS = -3601;
    w.api.pollsBeforeEnd = 1000;
    const r = await w.session();
    expect(r.fatal).toBeInstanceOf(BatchStoppedError);
    expect((r.fatal as Error).message).toMatch(/more than an hour past its expires_at .*Nothing was resubmitted/);
    expect(w.api.submittedOnce()).toBe(true);
    expect(w.records).toHaveLength(0);
  });

  it('token_limit_exceeded: the refused part waits and is submitted again; one over the stated limit is split; nothing runs twice', async () => {
    const w = await world(4);
    const refusal = (limit: number) => ({ status: 'failed', validation: [{ code: 'token_limit_exceeded', message: `Enqueued token limit reached for m-a. Limit: ${limit} enqueued tokens.`, line: null }] });
    w.api.end = (lines, nth) => (nth === 1 ? refusal(1_000_000) : nth === 3 ? refusal(10) : { status: 'completed', output: lines.map((l) => answerLine(l.custom_id)) });
    expect((await w.session()).fatal).toBeUndefined();
    expect(w.notices.join('\n')).toMatch(/it is submitted again in 1 s \(wait 1 of 8\)/);
    expect(w.notices.join('\n')).toMatch(/exceed the limit, so it is split into parts of 1 requests/);
    expect(w.codes()).toEqual(Array(8).fill('answered'));
    expect(w.api.maxRan()).toBe(1);
    expect(w.records).toHaveLength(8);
  });
});

describe('token_limit_exceeded again', () => {
  it('the wait doubles (wait 2 of 8 is twice wait 1), and nothing runs twice', async () => {
    const w = await world(4);
    const refusal = { status: 'failed', validation: [{ code: 'token_limit_exceeded', message: 'Enqueued token limit reached for m-a. Limit: 1000000 enqueued tokens.', line: null }] };
    // Two parts (one per model) and three refusals: the third is a part refused a second time.
    w.api.end = (lines, nth) => (nth <= 3 ? refusal : { status: 'completed', output: lines.map((l) => answerLine(l.custom_id)) });
    expect((await w.session()).fatal).toBeUndefined();
    const notices = w.notices.join('\n');
    expect(notices).toMatch(/submitted again in 1 s \(wait 1 of 8\)/);
    expect(notices).toMatch(/submitted again in 2 s \(wait 2 of 8\)/);
    expect(w.codes()).toEqual(Array(8).fill('answered'));
    expect(w.api.maxRan()).toBe(1);
  });
});

describe('results the provider may have charged for: recorded as batch_result_lost, never resubmitted', () => {
  it('completed with no output file', async () => {
    const w = await world(1);
    w.api.end = (lines) => ({ status: 'completed', outputFile: 'missing', counts: { completed: lines.length, failed: 0 } });
    expect((await w.session()).fatal).toBeUndefined();
    expect(w.codes()).toEqual(['batch_result_lost', 'batch_result_lost']);
    expect(w.api.submittedOnce()).toBe(true);
  });

  it('an output file deleted (404): downloaded once, not again', async () => {
    const w = await world(1);
    w.api.end = (lines) => ({ status: 'completed', outputFile: 'deleted', counts: { completed: lines.length, failed: 0 } });
    expect((await w.session()).fatal).toBeUndefined();
    expect(w.codes()).toEqual(['batch_result_lost', 'batch_result_lost']);
    expect([...w.api.downloads.values()]).toEqual([1, 1]);
    expect(w.api.submittedOnce()).toBe(true);
  });

  it('a line missing from the output: downloaded again, then lost; --retry-errors sends it once more', async () => {
    const w = await world(2);
    w.api.end = (lines, nth) => ({ status: 'completed', output: lines.filter((l) => nth > 2 || l.custom_id !== 'seq-2').map((l) => answerLine(l.custom_id)), counts: { completed: lines.length, failed: 0 } });
    expect((await w.session()).fatal).toBeUndefined();
    expect(w.codes()).toEqual(['answered', 'answered', 'batch_result_lost', 'answered']);
    const holder = [...w.api.batches.values()].find((b) => b.lines.some((l) => l.custom_id === 'seq-2'))!;
    expect(w.api.downloads.get(holder.output_file_id!)).toBe(3);
    expect(w.api.submittedOnce()).toBe(true);
    await w.session({ retryErrors: true });
    expect(w.codes()).toEqual(Array(4).fill('answered'));
    expect(w.api.submitted.get('seq-2')).toBe(2);
  });
});

describe('downloads that fail are downloaded again before anything is decided', () => {
  it.each(['html', 'cut', 'stall', 'reset'] as const)('%s, then whole: every line recorded, nothing lost or resubmitted', async (fault) => {
    const w = await world(1);
    w.api.download = (k) => (k > 1 ? 'ok' : fault);
    expect((await w.session()).fatal).toBeUndefined();
    expect(w.codes()).toEqual(['answered', 'answered']);
    expect([...w.api.downloads.values()]).toEqual([2, 2]);
    expect(w.api.submittedOnce()).toBe(true);
  });
});

describe('a server with no Batch API', () => {
  it('404 on /files: exit 5 with the hint to drop --batch and no claim that batches exist; nothing created', async () => {
    const w = await world(1);
    w.api.noBatchApi = true;
    const r = await w.session();
    expect(r.fatal).toBeInstanceOf(ApiFatalError);
    expect((r.fatal as ApiFatalError).message).toMatch(/POST http:\/\/127\.0\.0\.1:9\/v1\/files: 404.*This server has no Batch API: drop --batch.*No batch was created: nothing was submitted\./);
    expect(w.api.batches.size).toBe(0);
    expect(w.records).toHaveLength(0);
  });
});

describe('resume after each protocol state', () => {
  it.each(['after-upload', 'after-create', 'ingesting'] as const)('killed %s: the resume records every request once, each sent once', async (point) => {
    const w = await world(3);
    const first = await w.session({ killAt: point });
    expect((first.fatal as Error).message).toBe(`killed at ${point}`);
    const saved = w.batch.parts.map((p) => p.state);
    expect(saved[0]).toBe(point === 'ingesting' ? 'submitted' : 'intent');
    const again = await w.session();
    expect(again.fatal).toBeUndefined();
    expect(w.codes()).toEqual(Array(6).fill('answered'));
    expect(w.records).toHaveLength(6);
    expect(w.api.submittedOnce()).toBe(true);
    if (point === 'after-create') expect(w.notices.join('\n')).toMatch(/found batch batch_\w+, created before the last session stopped; adopted it/);
    // Both parts end in the same poll and are read in one pass: killed at the third line of the first.
    if (point === 'ingesting') expect(w.records.slice(0, 5).map((r) => r.seq)).toEqual([0, 1, 2, 3, 4]);
  });

  it('a run whose parts are all done: a resume submits nothing', async () => {
    const w = await world(1);
    await w.session();
    const calls = w.api.calls.length;
    const r = await w.session();
    expect(r).toEqual({ dispatched: 0, recorded: 0, fatal: undefined });
    expect(w.api.calls.slice(calls).filter((c) => !c.startsWith('save'))).toEqual([]);
  });
});

describe('cancel', () => {
  it('cancels the live batches and records what they finished; an intent is abandoned, not submitted; nothing sent twice', async () => {
    const w = await world(2);
    await w.session({ killAt: 'after-create' });
    // Part 1 was created (its id lost with the process); part 2 was never built.
    const r = await w.session({ cancel: true });
    expect(r.fatal).toBeUndefined();
    expect(w.batch.parts.map((p) => p.state)).toEqual(['done']);
    expect(w.batch.parts[0]!.cancelled_by).toBe('evalrun');
    expect(w.api.calls.some((c) => c.startsWith('cancel '))).toBe(true);
    expect(w.records).toHaveLength(0);
    await w.session();
    expect(w.codes()).toEqual(Array(4).fill('answered'));
    expect(w.api.maxRan()).toBe(1);
  });

  it('cancel --abandon forgets a batch the server no longer knows (404)', async () => {
    const w = await world(1);
    await w.session({ detachOnWait: true });
    expect(w.batch.parts.map((p) => p.state)).toEqual(['submitted', 'submitted']);
    // Then the server forgets the first batch.
    const id = w.batch.parts[0]!.batch_id!;
    w.api.forgotten.add(id);
    const refused = await w.session({ cancel: true });
    expect((refused.fatal as ApiFatalError).exitCode).toBe(5);
    const r = await w.session({ cancel: true, abandon: true });
    expect(r.fatal).toBeUndefined();
    expect(w.batch.parts.map((p) => p.state)).toEqual(['abandoned', 'done']);
    expect(w.api.calls.filter((c) => c === 'create')).toHaveLength(2);
    expect(w.notices.join('\n')).toMatch(/Forgot batch batch_\w+ .*paid twice/);
  });
});

describe('the batch protocol under a spend limit', () => {
  /** A budget that admits `room` new requests and logs every call. */
  const fakeBudget = (room: number) => {
    const calls: string[] = [];
    const held = new Set<number>();
    return {
      calls,
      reserveNow(task: Task) {
        calls.push(`reserve ${task.seq}`);
        if (held.has(task.seq)) return true;
        if (held.size >= room) return false;
        held.add(task.seq);
        return true;
      },
      holdSent(task: Task) {
        calls.push(`hold ${task.seq}`);
        held.add(task.seq);
      },
    };
  };

  it('a line is reserved as it is chosen; the first refused ends the submissions, and what was submitted is polled and recorded', async () => {
    const w = await world(3);
    const budget = fakeBudget(3);
    const r = await w.session({ budget });
    expect(r.fatal).toBeUndefined();
    // seq 3 was refused: nothing after it was even looked at.
    expect(budget.calls).toEqual(['reserve 0', 'reserve 1', 'reserve 2', 'reserve 3']);
    expect([...w.api.submitted.keys()].sort()).toEqual(ids([0, 1, 2]).sort());
    expect(w.codes()).toEqual(['answered', 'answered', 'answered']);
  });

  it("a resumed run's live batches are reserved before anything new is chosen", async () => {
    const w = await world(2);
    expect(String((await w.session({ killAt: 'after-create' })).fatal)).toMatch(/killed at after-create/);
    const live = w.batch.parts.filter((p) => p.state === 'intent' || p.state === 'submitted');
    expect(live.length).toBeGreaterThan(0);
    const budget = fakeBudget(4);
    await w.session({ budget });
    const holds = budget.calls.filter((c) => c.startsWith('hold'));
    expect(holds.length).toBeGreaterThan(0);
    expect(budget.calls.slice(0, holds.length)).toEqual(holds);
    expect(w.api.submittedOnce()).toBe(true);
  });
});
