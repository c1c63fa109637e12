import { join } from 'node:path';
import { indexJournal, JournalReader, readManifest, RECORDS, type ChoiceRecord, type JournalIndex, type ManifestCell, type RequestRecord, type RunManifest } from '../record/index.js';
import { InputStore, type InputRow } from './inputs.js';

/** Where the viewer gets the rows' input values: the run's dataset, as the CLI found it through run.json. */
export interface InputSource {
  /** Absent: the dataset was not found (`notice` says why); inputs are then those failing records kept. */
  rows?: AsyncIterable<InputRow> | undefined;
  /** Said on the page when the dataset is missing or not exactly the one that was run (a changed file). */
  notice?: string | undefined;
}

/** Answers longer than this are cut in a page (the diff compares them whole): a 1 MB answer would stall the page. */
export const MAX_SHOWN_TEXT = 20_000;

/** One choice as the page shows it: the record's fields, `logprobs` left out, long texts cut (with their length). */
export type ChoiceView = Omit<ChoiceRecord, 'logprobs'> & { cut?: { content?: number; refusal?: number } };

/** One cell's answer to a row: its record without the row's input (shown once) and what only the journal needs. */
export interface AnswerView {
  cell: string;
  seq: number;
  recorded: boolean;
  attempts?: number;
  latency_ms?: number | null;
  elapsed_ms?: number;
  model?: string | null;
  usage?: unknown;
  cached?: boolean;
  batch_id?: string;
  error?: RequestRecord['error'];
  anomalies?: RequestRecord['anomalies'];
  choices: ChoiceView[];
}

export interface RowView {
  /** Plan position of the row (0-based; a shard's rows keep their place in the whole plan). */
  row: number;
  id: string | null;
  input: Record<string, unknown> | null;
  /** dataset: read from the run's dataset; record: the values a failing request recorded; null: none known. */
  input_from: 'dataset' | 'record' | null;
  /** Set when the dataset's row and the records disagree about which row this is. */
  input_note?: string;
  answers: AnswerView[];
}

/** A run directory opened for reading: the journal's index, a reader over it, and the inputs' copy. */
export class RunView {
  readonly manifest: RunManifest;
  readonly cells: readonly ManifestCell[];
  readonly rowStart: number;
  readonly rowEnd: number;
  /** The journal's index, complete once `indexed` resolves (until then, filled on as the pass goes). */
  index: JournalIndex;
  readonly indexed: Promise<JournalIndex>;
  indexDone = false;
  readonly checks: string[];
  readonly inputsNotice: string | undefined;
  private readonly reader: JournalReader | undefined;
  private readonly inputs: InputStore | undefined;

  private constructor(p: { manifest: RunManifest; index: JournalIndex; pass: Promise<JournalIndex>; reader: JournalReader | undefined; inputs: InputStore | undefined; inputsNotice: string | undefined }) {
    this.manifest = p.manifest;
    this.indexed = p.pass.then((index) => {
      this.index = index;
      this.indexDone = true;
      return index;
    });
    // A corrupt line found later fails the requests that need the index, with the pass's message; never unhandled.
    this.indexed.catch(() => undefined);
    this.cells = p.manifest.plan.cells;
    this.rowStart = p.manifest.shard?.rows[0] ?? 0;
    this.rowEnd = p.manifest.shard?.rows[1] ?? p.manifest.plan.rows;
    this.index = p.index;
    this.reader = p.reader;
    this.inputs = p.inputs;
    this.inputsNotice = p.inputsNotice;
    this.checks = (p.manifest.evaluation?.checks ?? []).map((c) => c.name);
  }

  /**
   * `inputs` may still be on its way (the config being loaded): the journal is indexed meanwhile. The view opens as
   * soon as the index has its first chunk; the pass goes on behind it (`indexed`), and a row it has not reached yet
   * waits for it.
   */
  static async open(dir: string, pending: InputSource | Promise<InputSource> | undefined): Promise<RunView> {
    const manifest = await readManifest(dir);
    const file = join(dir, RECORDS);
    let early: (partial: JournalIndex) => void = () => {};
    const firstChunk = new Promise<JournalIndex>((resolve) => (early = resolve));
    // Global seqs, as the report reads them: a shard's records sit at their place in the whole plan.
    const pass = indexJournal(file, manifest.plan.requests, 0, (partial) => early(partial));
    const [index, inputs] = await Promise.all([Promise.race([firstChunk, pass]), pending]);
    const reader = await JournalReader.open(file, index).catch(() => undefined);
    const rowStart = manifest.shard?.rows[0] ?? 0;
    const rowEnd = manifest.shard?.rows[1] ?? manifest.plan.rows;
    const store = inputs?.rows ? await InputStore.start(inputs.rows, rowStart, rowEnd - rowStart) : undefined;
    return new RunView({ manifest, index, pass, reader, inputs: store, inputsNotice: inputs?.notice });
  }

  /** Start-up work still going on behind the first pages: the index pass, the copy of the inputs. */
  get busy(): { indexing: boolean; copying_inputs: boolean } {
    return { indexing: !this.indexDone, copying_inputs: this.inputs !== undefined && !this.inputs.copied };
  }

  get rows(): number {
    return this.rowEnd - this.rowStart;
  }

  /** Why inputs are missing or may be wrong, for the page's header. */
  get inputsProblem(): string | undefined {
    if (!this.inputs) return `${this.inputsNotice ?? 'the dataset was not found'}: inputs are shown only where a failing request recorded them`;
    const problem = this.inputs.problem;
    return problem ? `the dataset could not be read to its end (${problem}): later rows show no input` : this.inputsNotice;
  }

  /** Every cell's latest record of a plan row (undefined: not recorded). */
  async records(row: number): Promise<Array<RequestRecord | undefined>> {
    const reader = this.reader;
    if (!reader) return this.cells.map(() => undefined);
    const base = row * this.cells.length;
    if (!this.indexDone && this.cells.some((_, c) => !(this.index.offsets[base + c]! >= 0))) await this.indexed;
    return Promise.all(this.cells.map((_, c) => reader.read(base + c)));
  }

  /** The row's dataset values (or, without the dataset, what a failing record kept), and its id. */
  async input(row: number, records: ReadonlyArray<RequestRecord | undefined>): Promise<Pick<RowView, 'id' | 'input' | 'input_from' | 'input_note'>> {
    const recorded = records.find((r) => r !== undefined);
    const fromDataset = this.inputs ? await this.inputs.get(row) : undefined;
    if (fromDataset) {
      const note = recorded && recorded.row_id !== fromDataset.id ? `the dataset's row ${row + 1} has id '${fromDataset.id}', but the records answered row '${recorded.row_id}': the dataset changed since the run` : undefined;
      return { id: recorded?.row_id ?? fromDataset.id, input: fromDataset.vars, input_from: 'dataset', ...(note ? { input_note: note } : {}) };
    }
    const withInput = records.find((r) => r?.input !== undefined);
    return { id: recorded?.row_id ?? null, input: withInput?.input ?? null, input_from: withInput ? 'record' : null };
  }

  /** What the page shows of a row: the input once, then the chosen cells' answers in the chosen order. */
  async view(row: number, cells: readonly number[], records?: ReadonlyArray<RequestRecord | undefined>): Promise<RowView> {
    const all = records ?? (await this.records(row));
    const input = await this.input(row, all);
    return { row, ...input, answers: cells.map((c) => answerView(this.cells[c]!.id, row * this.cells.length + c, all[c])) };
  }

  async close(): Promise<void> {
    await this.indexed.catch(() => undefined);
    await Promise.all([this.reader?.close(), this.inputs?.close()]);
  }
}

function cut(text: string | null): string | null {
  return text !== null && text.length > MAX_SHOWN_TEXT ? `${text.slice(0, MAX_SHOWN_TEXT)}…` : text;
}

function answerView(cell: string, seq: number, r: RequestRecord | undefined): AnswerView {
  if (!r) return { cell, seq, recorded: false, choices: [] };
  const choices = r.choices.map((c): ChoiceView => {
    const { logprobs: _logprobs, ...rest } = c;
    const long = { content: c.content?.length ?? 0, refusal: c.refusal?.length ?? 0 };
    if (long.content <= MAX_SHOWN_TEXT && long.refusal <= MAX_SHOWN_TEXT) return rest;
    return { ...rest, content: cut(c.content), refusal: cut(c.refusal), cut: { ...(long.content > MAX_SHOWN_TEXT ? { content: long.content } : {}), ...(long.refusal > MAX_SHOWN_TEXT ? { refusal: long.refusal } : {}) } };
  });
  return {
    cell,
    seq,
    recorded: true,
    attempts: r.attempts,
    latency_ms: r.latency_ms,
    elapsed_ms: r.elapsed_ms,
    model: r.model,
    usage: r.usage,
    ...(r.cached ? { cached: true } : {}),
    ...(r.batch_id ? { batch_id: r.batch_id } : {}),
    error: r.error,
    ...(r.anomalies ? { anomalies: r.anomalies } : {}),
    choices,
  };
}
