import { describe, expect, it } from 'vitest';
import { Budget } from '../../../src/run/budget.js';
import type { Task } from '../../../src/contracts/plan.js';
import type { RequestRecord } from '../../../src/record/index.js';

// gpt-4o-mini: $0.15 / 1M input, $0.60 / 1M output. A worst case of 1,000 prompt + 1,000 completion tokens is $0.00075.
const WORST = 0.00075;
const task = (seq: number): Task => ({
  seq,
  row: { id: `r${seq}`, vars: {}, source: { file: 'rows.jsonl', line: seq + 1 } } as unknown as Task['row'],
  cell: { id: 'c', index: 0, params: { model: 'gpt-4o-mini' }, n: 1, jsonMode: false },
  body: { model: 'gpt-4o-mini', messages: [] },
});
const budget = (limitUsd: number, spentUsd = 0, factor = 1) => new Budget({ limitUsd, spentUsd, worstCase: () => ({ prompt: 1000, completion: 1000 }), prices: {}, factor, usd: (v) => `$${v}` });
const record = (seq: number, usage: RequestRecord['usage'], extra: Partial<RequestRecord> = {}): RequestRecord =>
  ({ v: 1, seq, cell: 'c', row_id: `r${seq}`, attempts: 1, latency_ms: 1, elapsed_ms: 1, started_at: '', http_status: 200, request_id: null, completion_id: null, model: 'gpt-4o-mini', usage, choices: [], error: null, ...extra }) as RequestRecord;

describe('Budget', () => {
  it('reserves worst cases up to the limit, and refuses (stops) the first that does not fit', () => {
    const b = budget(WORST * 2.5);
    expect(b.reserveNow(task(0))).toBe(true);
    expect(b.reserveNow(task(1))).toBe(true);
    expect(b.reserveNow(task(2))).toBe(false);
    expect(b.stopped).toBe(true);
    // A request already holding its reservation (a line submitted again) still goes; nothing new does.
    expect(b.reserveNow(task(1))).toBe(true);
    expect(b.reserveNow(task(3))).toBe(false);
    expect(b.snapshot().reserved_usd).toBeCloseTo(WORST * 2, 12);
  });

  it('the stop message gives the room there was when the request was refused, though the requests then in flight settle lower', () => {
    const b = budget(WORST * 2.5);
    expect(b.reserveNow(task(0))).toBe(true);
    expect(b.reserveNow(task(1))).toBe(true);
    expect(b.reserveNow(task(2))).toBe(false);
    // Both settle far below their worst case: there would be room now, but there was not when task 2 was refused.
    b.settle(record(0, { prompt_tokens: 100, completion_tokens: 10, total_tokens: 110 }), task(0));
    b.settle(record(1, { prompt_tokens: 100, completion_tokens: 10, total_tokens: 110 }), task(1));
    const message = b.stopError('resume')!.message;
    const need = /could cost up to \$([0-9.e-]+)/.exec(message)![1]!;
    const left = /more than the \$([0-9.e-]+) left/.exec(message)![1]!;
    expect(Number(need)).toBeGreaterThan(Number(left));
    expect(Number(left)).toBeCloseTo(WORST * 0.5, 12);
    expect(message).toContain(`left beside the $${WORST * 2} then reserved for requests already sent.`);
    expect(message).not.toContain('still reserved');
  });

  it('the batch price halves the worst case; spent from earlier sessions counts', () => {
    expect(budget(WORST, 0, 0.5).worstUsd(task(0))).toBeCloseTo(WORST / 2, 12);
    const b = budget(WORST * 1.5, WORST);
    expect(b.reserveNow(task(0))).toBe(false);
  });

  it('a settled record replaces its reservation with its cost; a waiting request goes once there is room', async () => {
    const b = budget(WORST * 1.5);
    expect(await b.reserve(task(0))).toBe(true);
    let granted: boolean | undefined;
    const waiting = b.reserve(task(1)).then((ok) => (granted = ok));
    await Promise.resolve();
    expect(granted).toBeUndefined();
    // 100 prompt + 10 completion tokens: far below the worst case.
    b.settle(record(0, { prompt_tokens: 100, completion_tokens: 10, total_tokens: 110 }), task(0));
    await waiting;
    expect(granted).toBe(true);
    expect(b.snapshot().spent_usd).toBeCloseTo((100 * 0.15 + 10 * 0.6) / 1e6, 12);
  });

  it('a waiting request is refused once nothing in flight can make room', async () => {
    const b = budget(WORST * 1.2);
    expect(await b.reserve(task(0))).toBe(true);
    const waiting = b.reserve(task(1));
    // The answer used its whole worst case: no room left for another.
    b.settle(record(0, { prompt_tokens: 1000, completion_tokens: 1000, total_tokens: 2000 }), task(0));
    expect(await waiting).toBe(false);
    expect(b.stopped).toBe(true);
    expect(b.stopError('resume')?.message).toMatch(/^Stopped by the budget of \$0\.0009: \$0\.00075 spent, and the next request \(row 'r1', cell c\) could cost up to \$0\.00075/);
  });

  it('an answer without usage keeps its worst case; a cached answer and a failed request cost nothing', () => {
    const b = budget(1);
    b.reserveNow(task(0));
    b.settle(record(0, null), task(0));
    expect(b.snapshot().spent_usd).toBeCloseTo(WORST, 12);
    b.reserveNow(task(1));
    b.settle(record(1, { prompt_tokens: 5, completion_tokens: 5, total_tokens: 10 }, { cached: true }), task(1));
    b.reserveNow(task(2));
    b.settle(record(2, null, { http_status: 500, error: { kind: 'http', status: 500, type: null, code: null, message: 'x' } }), task(2));
    expect(b.snapshot()).toMatchObject({ reserved_usd: 0 });
    expect(b.snapshot().spent_usd).toBeCloseTo(WORST, 12);
  });

  it('an answer cut after its 2xx and a batch line run but lost keep their worst case: either may be billed', () => {
    const b = budget(1);
    b.reserveNow(task(0));
    // As api-error.ts records a cut answer: the status the server sent, no usage, no choices.
    b.settle(record(0, null, { error: { kind: 'connection', status: 200, type: null, code: 'UND_ERR_SOCKET', message: 'cut' } }), task(0));
    expect(b.snapshot().spent_usd).toBeCloseTo(WORST, 12);
    b.reserveNow(task(1));
    b.settle(record(1, null, { http_status: null, batch_id: 'batch_1', error: { kind: 'batch', status: null, type: null, code: 'batch_result_lost', message: 'lost' } }), task(1));
    expect(b.snapshot().spent_usd).toBeCloseTo(2 * WORST, 12);
  });

  it('close() refuses the waiting requests without stopping on the budget (a Ctrl-C)', async () => {
    const b = budget(WORST * 1.5);
    expect(await b.reserve(task(0))).toBe(true);
    const waiting = b.reserve(task(1));
    b.close();
    expect(await waiting).toBe(false);
    expect(b.stopped).toBe(false);
    b.release(task(0));
    expect(b.snapshot().reserved_usd).toBe(0);
  });
});

describe('Budget with requests about recorded answers (a model judge, issue #25)', () => {
  it("reserves each judge call apart, though they share their answer's seq", () => {
    const b = budget(WORST * 2.5);
    const judge = (vote: number): Task => Object.assign(task(0), { judge: { seq: 0, choice: 0, check: 'j', vote, order: 0 } });
    expect(b.reserveNow(task(0))).toBe(true);
    expect(b.reserveNow(judge(0))).toBe(true);
    expect(b.reserveNow(judge(1))).toBe(false);
    // A call sent again (the same vote) uses its reservation.
    expect(b.reserveNow(judge(0))).toBe(true);
    expect(b.snapshot().reserved_usd).toBeCloseTo(WORST * 2, 12);
  });
});
