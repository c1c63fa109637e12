import { join } from 'node:path';
import { combinePairwise, combineVotes, judgedText, readVote, referenceText, type Vote } from '../check/index.js';
import type { CheckOutcome, CheckSpec } from '../contracts/checks.js';
import type { Config } from '../contracts/config.js';
import type { Row } from '../contracts/dataset.js';
import { judgeKeyString, type JudgeCallKey } from '../contracts/judge.js';
import type { Cell, Task } from '../contracts/plan.js';
import { conversationRenderer, judgeTask } from '../plan/index.js';
import { addUsage, indexLinesBySeq, Journal, pendingJudging, RECORDS, scanJournal, SeqLinesReader, type JudgeUsage, type RequestRecord, type Usage } from '../record/index.js';
import { choiceFails, inputOf } from '../run/index.js';

/** The judge calls' own journal, beside records.jsonl (docs/decisions.md, "Judge calls"). */
export const JUDGMENTS = 'judgments.jsonl';

/** The reason a judge check gives while its calls are not all answered (the run stopped first: a resume sends them). */
const NOT_JUDGED = 'not judged yet: the run stopped before its judge calls were answered (--resume sends them)';

type AnswerTask = Pick<Task, 'seq' | 'row' | 'cell'>;

interface Waiting {
  record: RequestRecord;
  task: AnswerTask;
  /** Judge calls not answered yet. */
  remaining: number;
  /** `${choice}/${check}` → the votes (pairwise: the two orders), by vote (or order) number. */
  votes: Map<string, Vote[]>;
  usage: Map<string, JudgeUsage>;
  /** pairwise: the row's baseline answer the calls compare with (batch mode builds the calls again from it). */
  baseline?: RequestRecord | undefined;
}

export function judgeChecks(config: Pick<Config, 'checks'>): CheckSpec[] {
  return (config.checks ?? []).filter((c) => c.type === 'judge' && c.judge !== undefined);
}

/** A row's baseline answer for pairwise checks: `settled` once it is known (`record` undefined: there is none). */
interface Baseline {
  record?: RequestRecord | undefined;
  settled: boolean;
  waiters: Array<() => void>;
  seen: number;
}

/** Answers recorded before this session (a resume, a regrade): `comes(seq)` is false for those its stream leaves out. */
export interface EarlierAnswers {
  comes(seq: number): boolean;
  /** The latest record of `seq` in records.jsonl, or undefined. */
  read(seq: number): Promise<RequestRecord | undefined>;
  /** Called when the judging closes (the reader's file). */
  close?(): Promise<void>;
}

/**
 * The judge calls judgments.jsonl holds, by key (the same request body): read from the file one answer's calls at a
 * time as they are asked for, the last line of a key winning. Asked in answer order, each answer's lines are read once.
 */
class PriorCalls {
  private seq = -1;
  private byKey = new Map<string, RequestRecord>();
  private reader: SeqLinesReader | undefined;

  constructor(reader: SeqLinesReader | undefined) {
    this.reader = reader;
  }

  get(key: JudgeCallKey): RequestRecord | undefined {
    if (!this.reader) return undefined;
    if (key.seq !== this.seq) {
      this.seq = key.seq;
      this.byKey = new Map();
      for (const r of this.reader.records(key.seq)) if (r.judge) this.byKey.set(judgeKeyString(r.judge), r);
    }
    return this.byKey.get(judgeKeyString(key));
  }

  close(): void {
    this.reader?.close();
    this.reader = undefined;
  }
}

/**
 * Judge checks as a second request kind. An answer's record is written at once (paid for, so never lost), marked
 * `judging: 'pending'` while its judge calls are out; the calls are fed into the same task stream the executor takes
 * answers from, ahead of the plan's next answers, so both share the HTTP pool, pacing, retries and cache. Each
 * answered call is written to judgments.jsonl as it comes; once a record's calls are all answered, the record is
 * written again with the verdicts in its choices' `checks` / `check_scores` / `check_reasons` (the last line of a
 * seq is the one every reader uses). A resumed run finds the pending records and sends only the calls judgments.jsonl
 * does not hold.
 */
export class Judging {
  private readonly specs: CheckSpec[];
  private readonly conversation: (row: Row, cell: Cell) => Array<{ role: string; content: string }>;
  private readonly queue: Task[] = [];
  private readonly waiting = new Map<number, Waiting>();
  private outstanding = 0;
  private wake: (() => void) | undefined;
  /** pairwise: the cell its answers are compared with (compare.baseline, else the first). */
  private readonly baselineCell: number;
  /** pairwise: by row index, the baseline cell's answer once known, and the answers of the row waiting for it. */
  private readonly baselines = new Map<number, Baseline>();
  /** Answers recorded before this session: which this session's stream will not bring, and how to read them. */
  private readonly earlier: EarlierAnswers | undefined;

  private readonly cells: readonly Cell[];
  private readonly out: { answer(record: RequestRecord, first: boolean): void; judgment: Journal; stop: AbortSignal };
  /** Calls recorded before (judgments.jsonl), read back by key. */
  private readonly done: PriorCalls;
  /** Answer records still pending when the session started, by seq. */
  private readonly pending: Map<number, RequestRecord>;
  /**
   * Batch mode: an answer's calls are not queued for the executor; a fresh answer is recorded pending, and a resumed
   * one waits here until `batchCalls` hands its calls to the judge batch (docs/decisions.md, "Batch mode with judges").
   */
  private readonly defer: boolean;
  /** Judge call ids (`judgeCallId`): the dimensions of the id space. */
  private readonly idDims: { base: number; checks: number; choices: number; slots: number };

  private constructor(
    config: Config,
    cells: readonly Cell[],
    out: { answer(record: RequestRecord, first: boolean): void; judgment: Journal; stop: AbortSignal },
    done: PriorCalls,
    pending: Map<number, RequestRecord>,
    defer: boolean,
    requests: number,
    earlier: EarlierAnswers | undefined,
  ) {
    this.cells = cells;
    this.earlier = earlier;
    this.defer = defer;
    this.out = out;
    this.done = done;
    this.pending = pending;
    this.specs = judgeChecks(config);
    this.idDims = {
      base: requests,
      checks: Math.max(1, this.specs.length),
      choices: cells.reduce((m, c) => Math.max(m, c.n), 1),
      slots: this.specs.reduce((m, s) => Math.max(m, s.judge!.votes, 2), 2),
    };
    this.baselineCell = Math.max(0, cells.findIndex((c) => c.id === config.compare?.baseline));
    this.conversation = conversationRenderer(config, cells);
    out.stop.addEventListener('abort', () => this.notify(), { once: true });
  }

  /**
   * Opens judgments.jsonl (a torn last line cut) and, when resuming, finds the answers still pending and the calls
   * already answered for them.
   */
  static async open(
    config: Config,
    cells: readonly Cell[],
    p: { dir: string; requests: number; resume: boolean; reuseAll?: boolean; defer?: boolean; earlier?: EarlierAnswers | undefined; redact?: ((text: string) => string) | undefined; onFailure: () => void; stop: AbortSignal; answer(record: RequestRecord, first: boolean): void },
  ): Promise<Judging> {
    const path = join(p.dir, JUDGMENTS);
    let pending = new Map<number, RequestRecord>();
    let validBytes: number | undefined;
    let done = new PriorCalls(undefined);
    if (p.resume || p.reuseAll) {
      if (p.resume) pending = await pendingJudging(join(p.dir, RECORDS), p.requests);
      // Where each recorded call is, not the calls: a regrade reads back every call of a large run.
      const index = await indexLinesBySeq(path, p.requests);
      validBytes = index.validBytes;
      if (index.offsets.length > 0 && (pending.size > 0 || p.reuseAll)) done = new PriorCalls(new SeqLinesReader(path, index));
    }
    const baselines = new Map<number, RequestRecord>();
    if (pending.size > 0 && judgeChecks(config).some((c) => c.judge!.preset === 'pairwise')) {
      // A pending answer of a pairwise check needs its row's baseline answer, recorded in an earlier session.
      const base = Math.max(0, cells.findIndex((c) => c.id === config.compare?.baseline));
      const rows = new Set([...pending.keys()].map((seq) => Math.floor(seq / cells.length)));
      await scanJournal(join(p.dir, RECORDS), p.requests, (r) => {
        if (r.seq % cells.length === base && rows.has(Math.floor(r.seq / cells.length))) baselines.set(Math.floor(r.seq / cells.length), r);
      });
    }
    const judgment = await Journal.open(path, validBytes, p.redact ? { onFailure: p.onFailure, redact: p.redact } : { onFailure: p.onFailure });
    const judging = new Judging(config, cells, { answer: p.answer, judgment, stop: p.stop }, done, pending, p.defer ?? false, p.requests, p.earlier);
    for (const [row, record] of baselines) judging.baselines.set(row, { record, settled: true, waiters: [], seen: 0 });
    return judging;
  }

  async close(): Promise<void> {
    this.done.close();
    await this.out.judgment.close();
    await this.earlier?.close?.();
  }

  flushSync(): void {
    this.out.judgment.flushSync();
  }

  /** Answers still waiting for judge calls (the run stopped): each stays `judging: 'pending'` in records.jsonl. */
  get unfinished(): number {
    return this.waiting.size;
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /**
   * The executor's stream: judge calls first, then the plan's next answer. Ends when the plan is done and nothing
   * taken is unfinished (so no answer can add a call), or when the run is stopping.
   */
  async *tasks(plan: AsyncIterable<Task>): AsyncGenerator<Task> {
    const it = plan[Symbol.asyncIterator]();
    let planDone = false;
    let next: Promise<IteratorResult<Task>> | undefined;
    try {
      for (;;) {
        if (this.out.stop.aborted) return;
        const call = this.queue.shift();
        if (call) {
          this.outstanding++;
          yield call;
          continue;
        }
        if (!planDone) {
          // A call queued while the plan is slow to give its next answer (or, for regrade, gives none) goes first.
          next ??= it.next();
          const woken = new Promise<undefined>((resolve) => (this.wake = () => resolve(undefined)));
          const r = await Promise.race([next, woken]);
          if (r === undefined) continue;
          next = undefined;
          if (r.done) planDone = true;
          else {
            this.outstanding++;
            yield r.value;
          }
          continue;
        }
        if (this.outstanding === 0) return;
        await new Promise<void>((resolve) => (this.wake = resolve));
      }
    } finally {
      await it.return?.();
    }
  }

  /** Rows on their way to the plan: an answer left pending by an earlier session gets its missing calls queued. */
  async *rows(rows: AsyncIterable<Row>): AsyncGenerator<Row> {
    for await (const row of rows) {
      if (this.pending.size > 0) {
        for (const cell of this.cells) {
          const seq = row.index * this.cells.length + cell.index;
          const record = this.pending.get(seq);
          if (!record) continue;
          this.pending.delete(seq);
          this.answered(record, { seq, row, cell }, false);
        }
      }
      yield row;
    }
  }

  /**
   * `regrade`: judges a recorded answer again. Calls judgments.jsonl holds under the same key (same body) are read
   * back, the others queued; the record reaches `answer` once every verdict is in.
   */
  regrade(record: RequestRecord, task: AnswerTask): void {
    delete record.judging;
    delete record.judge_usage;
    this.answered(record, task, false);
  }

  onSettled(): void {
    this.outstanding--;
    this.notify();
  }

  onRecord(record: RequestRecord, task: Task): void {
    if (!task.judge) return this.answered(record, task, true);
    const key = task.judge;
    // A batched call's task carries its call id as seq (the custom_id); its record is filed under the answer's seq.
    this.out.judgment.append(Object.assign(record, { seq: key.seq, judge: key }));
    const w = this.waiting.get(key.seq);
    if (!w) return;
    this.take(w, key, record);
    if (--w.remaining === 0) this.finish(w);
  }

  private take(w: Waiting, key: NonNullable<Task['judge']>, record: RequestRecord): void {
    const spec = this.specs.find((s) => s.name === key.check)!;
    const votes = w.votes.get(`${key.choice}/${key.check}`)!;
    votes[spec.judge!.preset === 'pairwise' ? key.order : key.vote] = readVote(spec.judge!, record);
    if (record.usage) {
      const model = String(record.model ?? spec.judge!.model);
      // Batched calls apart from the others: each is priced the way it was sent.
      const batch = record.batch_id !== undefined;
      const at = `${model}/${batch}`;
      const u = w.usage.get(at) ?? { model, calls: 0, cached: 0, usage: zero(), billed: zero(), batch };
      u.calls++;
      u.usage = addUsage(u.usage, record.usage);
      if (record.cached) u.cached++;
      else u.billed = addUsage(u.billed, record.usage);
      w.usage.set(at, u);
    }
  }

  /** An answer is in: its judge calls are queued (those recorded before are read back instead of sent). */
  private answered(record: RequestRecord, task: AnswerTask, fresh: boolean): void {
    const pairwise = this.specs.some((s) => s.judge!.preset === 'pairwise');
    if (this.defer && fresh && pairwise && record.error === null) {
      // Batch mode: judged in the judge phase, which reads the row's baseline answer from records.jsonl.
      record.judging = 'pending';
      this.out.answer(record, true);
      return;
    }
    let base: Baseline | undefined;
    if (pairwise) {
      base = this.baselines.get(task.row.index);
      if (!base) this.baselines.set(task.row.index, (base = this.baselineOf(task.row.index)));
      if (++base.seen >= this.cells.length && base.waiters.length === 0) this.baselines.delete(task.row.index);
      if (task.cell.index === this.baselineCell) {
        base.record = record;
        base.settled = true;
        const waiters = base.waiters.splice(0);
        if (base.seen >= this.cells.length) this.baselines.delete(task.row.index);
        for (const w of waiters) w();
      } else if (!base.settled && record.error === null) {
        // Compared with the row's baseline answer, not in yet: recorded now (paid for), judged once it comes.
        if (fresh) {
          record.judging = 'pending';
          this.out.answer(record, true);
        }
        const b = base;
        b.waiters.push(() => {
          if (b.seen >= this.cells.length && b.waiters.length === 0) this.baselines.delete(task.row.index);
          this.judgeAnswer(record, task, false, b.record);
        });
        return;
      }
    }
    this.judgeAnswer(record, task, fresh, base?.record);
  }

  /**
   * A row's baseline entry, first needed: when this session's stream will not bring the row's baseline answer (it
   * was recorded before, or, for regrade, never), it is read from what was recorded, counted as outstanding work so
   * the stream does not end before the answers waiting on it are judged.
   */
  private baselineOf(row: number): Baseline {
    const base: Baseline = { settled: false, waiters: [], seen: 0 };
    const seq = row * this.cells.length + this.baselineCell;
    if (!this.earlier || this.earlier.comes(seq)) return base;
    this.outstanding++;
    void this.earlier
      .read(seq)
      .catch(() => undefined)
      .then((record) => {
        base.record = record;
        base.settled = true;
        for (const w of base.waiters.splice(0)) w();
        this.onSettled();
      });
    return base;
  }

  private judgeAnswer(record: RequestRecord, task: AnswerTask, fresh: boolean, baseline: RequestRecord | undefined): void {
    if (record.error !== null || this.specs.length === 0) {
      this.out.answer(record, fresh);
      return;
    }
    const w: Waiting = { record, task, remaining: 0, votes: new Map(), usage: new Map(), baseline };
    const { calls, decided } = this.callsFor(w, true);
    for (const [choice, check, outcome] of decided) setOutcome(record.choices.find((c) => c.index === choice)!, check, outcome);
    w.remaining = calls.length;
    if (calls.length === 0) {
      this.finish(w, fresh);
      return;
    }
    if (fresh) {
      // Written at once, paid for: the verdicts follow in a later line of the same seq.
      for (const at of w.votes.keys()) {
        const slash = at.indexOf('/');
        setOutcome(record.choices.find((c) => c.index === Number(at.slice(0, slash)))!, at.slice(slash + 1), { pass: null, score: null, reason: NOT_JUDGED });
      }
      record.judging = 'pending';
      this.out.answer(record, true);
    }
    if (this.defer && fresh) return;
    this.waiting.set(record.seq, w);
    if (this.defer) return;
    this.queue.push(...calls);
    this.notify();
  }

  /**
   * The judge calls an answer needs, in (choice, check, vote or order) order, and the outcomes decided without one.
   * `take`: calls recorded before (judgments.jsonl) are read into `w` and left out; without it they are left out
   * only (batch mode building the same calls again). One place for both, so a batch sends what a sync run would.
   */
  private callsFor(w: Waiting, take: boolean): { calls: Task[]; decided: Array<[choice: number, check: string, outcome: CheckOutcome]> } {
    const { record, task, baseline } = w;
    const calls: Task[] = [];
    const decided: Array<[choice: number, check: string, outcome: CheckOutcome]> = [];
    let conversation: Array<{ role: string; content: string }> | undefined;
    for (const c of record.choices) {
      for (const spec of this.specs) {
        const judge = spec.judge!;
        const graded = judgedText(spec, c);
        if ('outcome' in graded) {
          decided.push([c.index, spec.name, graded.outcome]);
          continue;
        }
        conversation ??= this.conversation(task.row, task.cell);
        if (judge.preset === 'pairwise') {
          const other = this.baselineText(spec, task, baseline, c.index);
          if (typeof other !== 'string') {
            decided.push([c.index, spec.name, other]);
            continue;
          }
          const reference = referenceText(spec, task.row.vars);
          if (take) w.votes.set(`${c.index}/${spec.name}`, new Array<Vote>(2));
          for (const order of [0, 1]) {
            const [a, b] = order === 0 ? [graded.text, other] : [other, graded.text];
            const t = judgeTask(spec, task, { choice: c.index, vote: 0, order }, { conversation, answer_a: a, answer_b: b, ...(reference !== undefined ? { reference } : {}) });
            const prior = this.done.get(t.judge!);
            if (!prior) calls.push(t);
            else if (take) this.take(w, t.judge!, prior);
          }
          continue;
        }
        const reference = referenceText(spec, task.row.vars);
        if (take) w.votes.set(`${c.index}/${spec.name}`, new Array<Vote>(judge.votes));
        for (let vote = 0; vote < judge.votes; vote++) {
          const t = judgeTask(spec, task, { choice: c.index, vote, order: 0 }, { conversation, answer: graded.text, ...(reference !== undefined ? { reference } : {}) });
          const prior = this.done.get(t.judge!);
          if (!prior) calls.push(t);
          else if (take) this.take(w, t.judge!, prior);
        }
      }
    }
    return { calls, decided };
  }

  /**
   * A judge call's stable id in batch mode: its custom_id (`seq-<id>`) and its place in run.json's judge_batch
   * parts, derived from its key alone, so a resumed session finds the same ids. Ordered as `callsFor` yields calls
   * (answer seq, choice, check, vote or order), so the calls of pending answers taken in seq order come in id order.
   * Numbered after the plan's seqs, so no judge line has an answer's custom_id (the provider's logs, the simulator's
   * counts tell them apart).
   */
  judgeCallId(key: NonNullable<Task['judge']>): number {
    const { base, checks, choices, slots } = this.idDims;
    const check = this.specs.findIndex((s) => s.name === key.check);
    return base + ((key.seq * choices + key.choice) * checks + check) * slots + key.vote + key.order;
  }

  /**
   * Batch mode, once the answers are in: reads the rows so that every answer left pending gets its waiting entry
   * (calls recorded before are read back, not sent). Call once, before `batchCalls`.
   */
  async load(rows: AsyncIterable<Row>): Promise<void> {
    for await (const row of this.rows(rows)) void row;
  }

  /**
   * Batch mode: the judge calls still to be answered that `want` accepts, as tasks whose seq is the call id, in id
   * order. Built again from the waiting answers each time (the protocol asks again to read results or resubmit).
   */
  async *batchCalls(want: (id: number) => boolean = () => true): AsyncGenerator<Task> {
    const seqs = [...this.waiting.keys()].sort((a, b) => a - b);
    for (const seq of seqs) {
      const w = this.waiting.get(seq);
      if (!w) continue;
      for (const t of this.callsFor(w, false).calls) {
        const id = this.judgeCallId(t.judge!);
        if (want(id)) yield Object.assign(t, { seq: id });
      }
    }
  }

  /** pairwise: the baseline cell's answer to compare choice `index` with, or the outcome when there is none. */
  private baselineText(spec: CheckSpec, task: AnswerTask, baseline: RequestRecord | undefined, index: number): string | CheckOutcome {
    if (task.cell.index === this.baselineCell) return { pass: null, score: null, reason: 'this is the baseline cell the others are compared with' };
    if (!baseline || baseline.error !== null) return { pass: null, score: null, reason: 'the baseline cell has no answer for this row' };
    const bc = baseline.choices.find((c) => c.index === index);
    const text = bc ? judgedText(spec, bc) : undefined;
    if (!text || 'outcome' in text) return { pass: null, score: null, reason: `the baseline cell's choice ${index} has nothing to compare` };
    return text.text;
  }

  private finish(w: Waiting, first = false): void {
    const { record } = w;
    for (const [at, votes] of w.votes) {
      const [choice, check] = [Number(at.slice(0, at.indexOf('/'))), at.slice(at.indexOf('/') + 1)];
      const spec = this.specs.find((s) => s.name === check)!;
      const outcome = spec.judge!.preset === 'pairwise' ? combinePairwise([votes[0] ?? {}, votes[1] ?? {}]) : combineVotes(spec.judge!, Array.from(votes, (v) => v ?? { reason: 'no verdict' }));
      setOutcome(record.choices.find((c) => c.index === choice)!, check, outcome);
    }
    delete record.judging;
    if (w.usage.size > 0) record.judge_usage = [...w.usage.values()];
    if (record.input === undefined && record.choices.some(choiceFails)) record.input = inputOf(Object.assign({ body: { model: '', messages: [] } }, w.task));
    this.waiting.delete(record.seq);
    this.out.answer(record, first);
  }
}

function zero(): Usage {
  return { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
}

function setOutcome(c: RequestRecord['choices'][number], check: string, o: CheckOutcome): void {
  (c.checks ??= {})[check] = o.pass;
  (c.check_scores ??= {})[check] = o.score;
  if (o.reason !== undefined) (c.check_reasons ??= {})[check] = o.reason;
  else if (c.check_reasons) delete c.check_reasons[check];
}
