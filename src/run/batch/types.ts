/**
 * The lines of Batch API files. The SDK (v6) types the Batch and File objects but not these lines, so they are
 * written here from the official spec (BatchRequestInput / BatchRequestOutput) and the Batch guide.
 */

/** The only endpoint evalrun batches. */
export const BATCH_URL = '/v1/chat/completions';
/** The API's limits per input file. */
export const MAX_BATCH_REQUESTS = 50_000;
export const MAX_BATCH_FILE_BYTES = 200 * 1024 * 1024;

/** One line of an input file: one chat request. */
export interface BatchInputLine {
  /** Unique within the file; evalrun derives it from the plan seq (`seq-<n>`). */
  custom_id: string;
  method: 'POST';
  url: typeof BATCH_URL;
  body: { model: string; [key: string]: unknown };
}

/** The HTTP answer a line got: a chat.completion on 2xx, the API's error body (`{error: {...}}`) otherwise. */
export interface BatchLineResponse {
  status_code: number;
  request_id: string;
  body: unknown;
}

/** A failure with no HTTP answer: `batch_expired`, `batch_cancelled`, a server error. */
export interface BatchLineError {
  code: string;
  message: string;
}

/** One line of an output or error file. Exactly one of `response` and `error` is set. */
export interface BatchOutputLine {
  id: string;
  custom_id: string;
  response: BatchLineResponse | null;
  error: BatchLineError | null;
}
