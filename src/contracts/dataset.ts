export interface ChatMessage {
  role: string;
  content: unknown;
  [key: string]: unknown;
}

/** One dataset row, as the plan needs it. */
export interface Row {
  id: string;
  /** 0-based position across all datasets, in reading order; with the cell index it orders the outputs. */
  index: number;
  vars: Record<string, unknown>;
  /** A JSONL/JSON row may carry its own messages instead of using the template. */
  messages: ChatMessage[] | undefined;
  source: { file: string; line: number };
}

/** A parsed record before ids and templates are applied. */
export interface RawRow {
  vars: Record<string, unknown>;
  line: number;
}
