import type { ChoiceRecord, RequestRecord } from '../record/index.js';
import type { RunView } from './run-view.js';

/** The page's filters, as the API takes them (`/api/rows?…`); cell positions are indexes into run.json's cells. */
export interface FilterSpec {
  /** Cells shown (their columns) and that the other filters look at; all cells when none is picked. */
  cells: number[];
  /** A check's name, `json_valid`, `schema_valid`, or `*` for any verdict; with `verdict`. */
  check?: string | undefined;
  verdict: 'fail' | 'pass';
  finish?: string | undefined;
  /** Text searched for, case-insensitively, in the row's input values and the shown cells' answers. */
  text?: string | undefined;
  /** Two cells whose answers (or verdicts) differ on the row. */
  disagree?: { a: number; b: number; on: 'answers' | 'verdicts' } | undefined;
}

export const VERDICTS = ['json_valid', 'schema_valid'] as const;

export function isActive(f: FilterSpec): boolean {
  return f.check !== undefined || f.finish !== undefined || f.text !== undefined || f.disagree !== undefined;
}

export function filterKey(f: FilterSpec): string {
  return JSON.stringify([f.cells, f.check ?? null, f.verdict, f.finish ?? null, f.text ?? null, f.disagree ?? null]);
}

/** A choice's verdict by name: a check's, or the JSON and schema checks every run has (null: not graded). */
function verdictOf(choice: ChoiceRecord, name: string): boolean | null {
  if (name === 'json_valid' || name === 'schema_valid') return choice[name];
  const v = choice.checks?.[name];
  return typeof v === 'boolean' ? v : null;
}

/** As choices.csv counts it: a failed request's or a missing choice's finish_reason is `error`. */
export function finishOf(record: RequestRecord, choice: ChoiceRecord | undefined): string {
  if (record.error || !choice || choice.error) return 'error';
  return choice.finish_reason ?? 'null';
}

function answerText(c: ChoiceRecord): string {
  return [c.content ?? '', c.refusal ?? '', ...(c.tool_calls ?? []).map((t) => `${t.name} ${t.arguments}`)].join('\n');
}

function disagrees(a: RequestRecord | undefined, b: RequestRecord | undefined, on: 'answers' | 'verdicts', names: readonly string[]): boolean {
  if (!a || !b) return false; // a cell that has not answered yet neither agrees nor disagrees
  if (a.error || b.error) return Boolean(a.error) !== Boolean(b.error);
  const n = Math.max(a.choices.length, b.choices.length);
  const byIndex = (r: RequestRecord, k: number) => r.choices.find((c) => c.index === k);
  for (let k = 0; k < n; k++) {
    const x = byIndex(a, k);
    const y = byIndex(b, k);
    if (!x || !y) return true;
    if (on === 'answers' ? answerText(x).trim() !== answerText(y).trim() : names.some((name) => verdictOf(x, name) !== verdictOf(y, name))) return true;
  }
  return false;
}

/** Whether a row passes the filters: `input` is read only when a text search needs it. */
export async function rowMatches(view: RunView, f: FilterSpec, row: number, records: ReadonlyArray<RequestRecord | undefined>): Promise<boolean> {
  const shown = f.cells.map((c) => records[c]);
  const choices = (r: RequestRecord | undefined): Array<[RequestRecord, ChoiceRecord | undefined]> => (r ? (r.choices.length ? r.choices.map((c) => [r, c]) : [[r, undefined]]) : []);
  const all = shown.flatMap(choices);
  if (f.finish !== undefined && !all.some(([r, c]) => finishOf(r, c) === f.finish)) return false;
  if (f.check !== undefined) {
    const names = f.check === '*' ? [...VERDICTS, ...view.checks] : [f.check];
    const want = f.verdict === 'pass';
    const hit = all.some(([, c]) => {
      if (!c) return false;
      const v = names.map((name) => verdictOf(c, name)).filter((x): x is boolean => x !== null);
      if (v.length === 0) return false;
      return want ? v.every(Boolean) : v.includes(false);
    });
    if (!hit) return false;
  }
  if (f.disagree && !disagrees(records[f.disagree.a], records[f.disagree.b], f.disagree.on, [...VERDICTS, ...view.checks])) return false;
  if (f.text !== undefined) {
    const needle = f.text.toLowerCase();
    const inAnswers = all.some(([, c]) => c !== undefined && answerText(c).toLowerCase().includes(needle));
    if (!inAnswers) {
      const { input } = await view.input(row, records);
      const values = input ? Object.values(input).map((v) => (typeof v === 'string' ? v : JSON.stringify(v))) : [];
      if (!values.some((v) => v.toLowerCase().includes(needle))) return false;
    }
  }
  return true;
}

/**
 * The rows a filter matched so far, found by reading the journal from the first row on, as far as a page needs and
 * no further: a filter's first page comes as soon as it has enough rows, and the next pages carry on from there.
 */
export class FilterScan {
  readonly matches: number[] = [];
  private next: number;
  private done = false;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly view: RunView;
  private readonly spec: FilterSpec;

  constructor(view: RunView, spec: FilterSpec) {
    this.view = view;
    this.spec = spec;
    this.next = view.rowStart;
  }

  /**
   * Rows `offset` … `offset + limit − 1` of the matches, scanning for at most `budgetMs` more: when the budget runs
   * out first, `complete` is false and the page asks again (it shows how far the scan got).
   */
  page(offset: number, limit: number, budgetMs: number): Promise<{ rows: number[]; total: number | null; scanned: number; complete: boolean }> {
    const result = this.queue.then(async () => {
      // Matches are kept: they must come from the final index, never from a record a later line replaces.
      await this.view.indexed;
      const deadline = Date.now() + budgetMs;
      while (!this.done && this.matches.length < offset + limit + 1 && Date.now() < deadline) {
        const row = this.next++;
        if (row >= this.view.rowEnd) {
          this.done = true;
          break;
        }
        if (await rowMatches(this.view, this.spec, row, await this.view.records(row))) this.matches.push(row);
      }
      const enough = this.matches.length >= offset + limit;
      return { rows: this.matches.slice(offset, offset + limit), total: this.done ? this.matches.length : null, scanned: this.next - this.view.rowStart, complete: this.done || enough };
    });
    this.queue = result.catch(() => undefined);
    return result;
  }
}
