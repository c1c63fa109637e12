import { billedCostUsd, costUsd, emptyBilled, priceFor, type Price } from '../contracts/prices.js';
import type { Task } from '../contracts/plan.js';
import { BudgetStoppedError } from '../errors.js';
import type { WorstCaseOf } from '../plan/index.js';
import { addRecordBilled, BATCH_RESULT_LOST, scanJournal, type RequestRecord } from '../record/index.js';

export interface BudgetOptions {
  /** USD the whole run directory may spend (`budget_usd:`, `--max-cost`). */
  limitUsd: number;
  /** What records.jsonl already holds, priced as the reports price it (see `spentOf`). */
  spentUsd: number;
  worstCase: WorstCaseOf;
  prices: Readonly<Record<string, Price>>;
  /** The price factor the requests of this session will be billed at (the Batch API's half, or 1). */
  factor: number;
  /** Formats an amount for the stop's message (the reports' formatting). */
  usd: (v: number) => string;
}

/** What a stop says, and what the progress line shows. */
export interface BudgetSnapshot {
  limit_usd: number;
  spent_usd: number;
  reserved_usd: number;
}

/**
 * A request's identity across its retries and resubmissions: its plan seq, and for a request about a recorded answer
 * (a model judge's call, which carries what it is about in `judge`) that too, since several share the answer's seq.
 */
function keyOf(task: Task): string {
  const about = (task as { judge?: unknown }).judge;
  return about === undefined ? String(task.seq) : `${task.seq} ${JSON.stringify(about)}`;
}

/** Floating-point sums of many small prices: a request exactly at the limit still fits. */
const EPSILON = 1e-9;

/**
 * The run's spend limit. Before a request is sent its worst case is reserved (`reserve`, `reserveNow`); when its
 * record is in, the record's cost replaces the reservation (`settle`); a request that ends unrecorded gives its
 * reservation back (`release`). A request whose reservation does not fit is not sent: the run stops (`stopped`).
 * Reservations are by request (`keyOf`), so a retry, another line of an `n_mode: repeat` set or a batch line
 * submitted again uses the reservation its request already holds: only one attempt of a request can be billed
 * (README "never pay twice").
 */
export class Budget {
  readonly limitUsd: number;
  private spent: number;
  private reserved = 0;
  private readonly held = new Map<string, number>();
  private readonly queue: Array<{ task: Task; need: number | undefined; grant: (ok: boolean) => void }> = [];
  /** The request that did not fit, with the room there was for it then (requests in flight may settle lower later). */
  private refused: { task: Task; need: number; left: number; inFlight: number } | undefined;
  private closed = false;
  private readonly o: BudgetOptions;

  constructor(o: BudgetOptions) {
    this.o = o;
    this.limitUsd = o.limitUsd;
    this.spent = o.spentUsd;
  }

  /** The most `task` can be billed, in USD; a config problem (no price, no bound) is found before the run starts. */
  worstUsd(task: Task): number {
    const w = this.o.worstCase(task);
    if (typeof w === 'string') throw new Error(`budget: ${w}`);
    const cost = costUsd(priceFor(task.body.model, this.o.prices), w.prompt, w.completion, this.o.factor);
    if (cost === null) throw new Error(`budget: model '${task.body.model}' has no price`);
    return cost;
  }

  snapshot(): BudgetSnapshot {
    return { limit_usd: this.limitUsd, spent_usd: this.spent, reserved_usd: this.reserved };
  }

  /** Set once a reservation did not fit: the run sends nothing more. */
  get stopped(): boolean {
    return this.refused !== undefined;
  }

  /**
   * Reserves `task`'s worst case now, or refuses it (and stops the run) when it does not fit beside what is spent
   * and reserved. For an executor that cannot wait for reservations to settle (the Batch API's parts are built
   * ahead of their results).
   */
  reserveNow(task: Task): boolean {
    if (this.refused) return this.held.has(keyOf(task));
    if (this.held.has(keyOf(task))) return true;
    const need = this.worstUsd(task);
    if (this.fits(need)) {
      this.hold(keyOf(task), need);
      return true;
    }
    this.refuse(task, need);
    return false;
  }

  /**
   * Reserves `task`'s worst case whether it fits or not: a request sent by an earlier session and still running (a
   * live batch on resume), which nothing can stop any more but which will be billed.
   */
  holdSent(task: Task): void {
    if (!this.held.has(keyOf(task))) this.hold(keyOf(task), this.worstUsd(task));
  }

  /**
   * Reserves `task`'s worst case, waiting (in plan order) while reservations of requests in flight may settle below
   * their worst case and make room; false once it cannot fit (nothing else is reserved) or the run is stopping.
   */
  reserve(task: Task): Promise<boolean> {
    if (this.held.has(keyOf(task))) return Promise.resolve(true);
    if (this.refused || this.closed) return Promise.resolve(false);
    return new Promise((grant) => {
      this.queue.push({ task, need: undefined, grant });
      this.pump();
    });
  }

  /** The run is stopping (Ctrl-C, a fatal answer): the requests waiting for room are not sent. */
  close(): void {
    this.closed = true;
    this.refuseAll();
  }

  /** The record of `task` is in: its cost replaces its reservation. */
  settle(record: RequestRecord, task: Task): void {
    const key = keyOf(task);
    const had = this.held.get(key);
    this.held.delete(key);
    if (had !== undefined) this.reserved -= had;
    const billed = emptyBilled();
    addRecordBilled(billed, record);
    let cost = billedCostUsd(priceFor(task.body.model, this.o.prices), billed) ?? 0;
    if (had !== undefined && billedUnpriced(record)) cost = Math.max(cost, had);
    this.spent += cost;
    this.pump();
  }

  /** `task` ended unrecorded (the run stopped before it was sent, or it was abandoned): its reservation is free. */
  release(task: Task): void {
    const key = keyOf(task);
    const had = this.held.get(key);
    if (had === undefined) return;
    this.held.delete(key);
    this.reserved -= had;
    this.pump();
  }

  /** Why the session stopped, with what was spent once the requests in flight finished; `then`: what follows. */
  stopError(then: string): BudgetStoppedError | undefined {
    const r = this.refused;
    if (!r) return undefined;
    const { usd } = this.o;
    // The room when the request was refused, not now: the requests then in flight may have settled for less since.
    const inFlight = r.inFlight > EPSILON ? ` beside the ${usd(r.inFlight)} then reserved for requests already sent` : '';
    return new BudgetStoppedError(
      `Stopped by the budget of ${usd(this.limitUsd)}: ${usd(this.spent)} spent${this.reserved > EPSILON ? `, ${usd(this.reserved)} still reserved` : ''}, ` +
        `and the next request (row '${r.task.row.id}', cell ${r.task.cell.id}) could cost up to ${usd(r.need)}, more than the ${usd(r.left)} left${inFlight}. ` +
        `Nothing more was sent; ${then}`,
    );
  }

  private refuse(task: Task, need: number): void {
    this.refused = { task, need, left: Math.max(0, this.limitUsd - this.spent - this.reserved), inFlight: this.reserved };
  }

  private fits(need: number): boolean {
    return this.spent + this.reserved + need <= this.limitUsd + EPSILON;
  }

  private hold(key: string, usd: number): void {
    this.held.set(key, usd);
    this.reserved += usd;
  }

  /** Grants the queue's head while it fits; refuses everything once the head cannot fit with nothing else held. */
  private pump(): void {
    while (this.queue.length > 0 && !this.refused) {
      const head = this.queue[0]!;
      if (this.held.has(keyOf(head.task))) {
        this.queue.shift();
        head.grant(true);
        continue;
      }
      // Counted once: the head is looked at again on every settle while it waits.
      const need = (head.need ??= this.worstUsd(head.task));
      if (this.fits(need)) {
        this.queue.shift();
        this.hold(keyOf(head.task), need);
        head.grant(true);
        continue;
      }
      // Requests in flight may cost less than reserved: wait for them. With none, nothing can make room.
      if (this.held.size > 0) return;
      this.refuse(head.task, need);
    }
    if (this.refused) this.refuseAll();
  }

  private refuseAll(): void {
    for (const w of this.queue.splice(0)) w.grant(false);
  }
}

/**
 * Sent, perhaps billed, at a cost the record cannot tell: a 2xx without usage (an answer cut after its status, a
 * body that did not parse, a server that sends no usage) or a batch line the batch ran but whose result was lost.
 * Counted at its worst case, which nothing the server said shows to be lower.
 */
function billedUnpriced(record: RequestRecord): boolean {
  if (record.cached) return false;
  if (record.error?.code === BATCH_RESULT_LOST) return true;
  return record.http_status !== null && record.http_status >= 200 && record.http_status < 300 && record.usage === null;
}

/**
 * What a run directory has spent: every record of its records.jsonl (a request sent again with --retry-errors counts
 * each time it was billed), priced by its cell's model as the reports price it, and every judge call of its
 * judgments.jsonl (`judges`), priced by its judge's model. A judged answer is written twice, pending and then with its
 * verdicts: the same answer, billed once.
 */
export async function spentOf(
  path: string,
  totalRequests: number,
  modelOf: ReadonlyMap<string, string>,
  prices: Readonly<Record<string, Price>>,
  judges?: { path: string; modelOf: ReadonlyMap<string, string> },
): Promise<number> {
  const byModel = new Map<string, ReturnType<typeof emptyBilled>>();
  const add = (model: string, record: RequestRecord) => {
    let billed = byModel.get(model);
    if (!billed) byModel.set(model, (billed = emptyBilled()));
    addRecordBilled(billed, record);
  };
  const pending = new Uint8Array(totalRequests);
  await scanJournal(path, totalRequests, (record) => {
    if (record.judging === 'pending') pending[record.seq] = 1;
    else if (pending[record.seq] === 1) {
      pending[record.seq] = 0;
      return;
    }
    add(modelOf.get(record.cell) ?? record.model ?? '', record);
  });
  if (judges) {
    await scanJournal(judges.path, totalRequests, (record) => {
      if (record.judge) add(judges.modelOf.get(record.judge.check) ?? record.model ?? '', record);
    });
  }
  let total = 0;
  for (const [model, billed] of byModel) total += billedCostUsd(priceFor(model, prices), billed) ?? 0;
  return total;
}
