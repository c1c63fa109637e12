/**
 * Turns a line of a batch output or error file into the record the synchronous executor would have written for the
 * same answer (successRecord and its checks are shared), and says whether a failed line is worth another batch.
 * Nothing in a line is trusted: its shape is checked and its custom_id must name a request of the plan.
 */
import type OpenAI from 'openai';
import type { Task } from '../../contracts/plan.js';
import { BATCH_RESULT_LOST, type RequestError, type RequestRecord } from '../../record/index.js';
import type { ChoiceChecker } from '../../check/index.js';
import { makeRecord, successRecord } from '../answer-record.js';
import { shouldRetry } from '../retry.js';
import { seqOfCustomId } from './build-files.js';
import type { BatchOutputLine } from './types.js';

export type ParsedLine = { ok: true; line: BatchOutputLine; seq: number } | { ok: false; problem: string };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Checks one line of an output/error file; `problem` says what is wrong, for a message that names file and line. */
export function parseOutputLine(text: string): ParsedLine {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return { ok: false, problem: `not JSON (${(e as Error).message})` };
  }
  if (!isObject(v)) return { ok: false, problem: 'not a JSON object' };
  const { id, custom_id: customId, response, error } = v;
  if (typeof customId !== 'string') return { ok: false, problem: 'no custom_id' };
  const seq = seqOfCustomId(customId);
  if (seq === undefined) return { ok: false, problem: `custom_id '${customId.slice(0, 80)}' was not sent by evalrun` };
  if (response !== null && response !== undefined) {
    if (!isObject(response) || !Number.isInteger(response['status_code'])) return { ok: false, problem: `${customId}: response has no integer status_code` };
  }
  if (error !== null && error !== undefined) {
    if (!isObject(error) || typeof error['message'] !== 'string') return { ok: false, problem: `${customId}: error has no message` };
  }
  const hasResponse = isObject(response);
  const hasError = isObject(error);
  if (hasResponse === hasError) return { ok: false, problem: `${customId}: a line needs exactly one of response and error` };
  const line: BatchOutputLine = {
    id: typeof id === 'string' ? id : '',
    custom_id: customId,
    response: hasResponse
      ? {
          status_code: response['status_code'] as number,
          request_id: typeof response['request_id'] === 'string' ? response['request_id'] : '',
          body: response['body'],
        }
      : null,
    error: hasError ? { code: typeof error['code'] === 'string' ? error['code'] : '', message: error['message'] as string } : null,
  };
  return { ok: true, line, seq };
}

/**
 * answered: a 2xx chat completion, recorded; final: a failure another attempt cannot fix (4xx), recorded as an error;
 * retryable: 408/409/429/5xx, no response, batch_expired or batch_cancelled: submit again while attempts remain,
 * else record `record` (the error as it stands).
 */
export type LineOutcome = { kind: 'answered' | 'final' | 'retryable'; record: RequestRecord };

export interface LineMeta {
  /** Attempts this request has had, this batch included. */
  attempts: number;
  /** When the request was first submitted (its first batch's creation). */
  startedAt: Date;
  /** When the line was read; default now. */
  now?: Date;
}

export function lineOutcome(task: Task, line: BatchOutputLine, meta: LineMeta, deps: { check: ChoiceChecker; redact: (text: string) => string }): LineOutcome {
  const now = meta.now ?? new Date();
  // makeRecord measures elapsed time on performance.now(); a batch spans processes, so anchor it on wall time.
  const t0 = performance.now() - Math.max(0, now.getTime() - meta.startedAt.getTime());
  const head = { attempts: meta.attempts, latency: null, t0, startedAt: meta.startedAt };
  const failed = (kind: 'final' | 'retryable', error: RequestError, status: number | null, requestId: string | null): LineOutcome => ({
    kind,
    record: makeRecord(task, head, { http_status: status, request_id: requestId, completion_id: null, model: null, system_fingerprint: null, usage: null, choices: [], error }),
  });
  const r = line.response;
  if (r === null) {
    const e = line.error ?? { code: '', message: 'the line has neither response nor error' };
    // Ran and maybe billed: never sent again automatically.
    return failed(e.code === BATCH_RESULT_LOST ? 'final' : 'retryable', { kind: 'batch', status: null, type: null, code: e.code || null, message: deps.redact(e.message) }, null, null);
  }
  const requestId = r.request_id || null;
  if (r.status_code >= 200 && r.status_code < 300) {
    const data = r.body as OpenAI.ChatCompletion | null;
    if (!isObject(data) || !Array.isArray((data as { choices?: unknown }).choices)) {
      // The provider ran it (2xx) and may have billed it: never sent again automatically.
      return failed('final', { kind: 'invalid_response', status: r.status_code, type: null, code: null, message: 'response has no choices array' }, r.status_code, requestId);
    }
    return { kind: 'answered', record: successRecord(task, data, { attempts: head.attempts, latency: null, t0: head.t0, startedAt: head.startedAt, status: r.status_code, requestId }, deps) };
  }
  const body = isObject(r.body) && isObject(r.body['error']) ? r.body['error'] : undefined;
  const str = (v: unknown) => (typeof v === 'string' ? v : null);
  const message = str(body?.['message']) ?? `HTTP ${r.status_code} with no error message`;
  const error: RequestError = { kind: 'http', status: r.status_code, type: str(body?.['type']), code: str(body?.['code']), message: deps.redact(message) };
  return failed(shouldRetry({ status: r.status_code, headers: undefined }) ? 'retryable' : 'final', error, r.status_code, requestId);
}
