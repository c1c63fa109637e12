import type { ChatMessage, Row } from '../contracts/dataset.js';
import type { JudgeCallKey } from './judge.js';

/** One combination of grid values: every row is sent once per cell. */
export interface Cell {
  /** Stable, readable id: `gpt-4o-mini/t0.7/p1/n3`. */
  id: string;
  index: number;
  /** The request parameters of this cell: `params` merged with the cell's grid values. */
  params: Record<string, unknown>;
  /** The prompt variant (`prompts:`) this cell sends; undefined without variants (the `messages` template). */
  prompt?: string | undefined;
  /** Choices requested per request (`n`, default 1). */
  n: number;
  /** Outputs are parsed as JSON and validated: response_format json_object / json_schema, or a `schema` is set. */
  jsonMode: boolean;
}

/** One request: a row sent with a cell's settings. */
export interface Task {
  /** Position in plan order (row-major): orders the outputs and identifies the request in records. */
  seq: number;
  row: Row;
  cell: Cell;
  body: { model: string; messages: ChatMessage[]; [key: string]: unknown };
  /**
   * false: a request about a recorded answer (a model judge's call), not an answer of the plan: its choices are not
   * graded by the run's checks. Executors send any task's body and build its record the same way.
   */
  graded?: false | undefined;
  /** A judge's call: which graded choice, check, vote and order it is about. Executors only carry it to onRecord. */
  judge?: JudgeCallKey | undefined;
}
