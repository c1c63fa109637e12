/**
 * The protocol's small rules that need no state: what a refused Batch API call tells the user, the enqueued-token
 * estimate of a request, the limit a refusal states.
 */
import type { Task } from '../../contracts/plan.js';
import { ApiFatalError } from '../../errors.js';
import type { BatchApiError } from './batch-api.js';

/**
 * A failed call as the run's stop reason (exit 5): the URL, the server's words, a hint, and what exists at the
 * provider: batches recorded in run.json, maybe one from a create with no clear answer, or none.
 */
export function batchApiFatal(e: BatchApiError, batches: 'created' | 'unsure' | 'none', redact: (text: string) => string): ApiFatalError {
  const after =
    batches === 'created'
      ? " The run's batches are recorded in run.json; resume with --resume once this is fixed."
      : batches === 'unsure'
        ? ' A batch may have been created without an answer saying so: resume with --resume once this is fixed, and it is looked up before anything is created again.'
        : ' No batch was created: nothing was submitted.';
  return new ApiFatalError(redact(`Batch API: ${e.message}.${hintOf(e)}${after}`), e.status, { cause: e });
}

/** What a refused call most likely means. */
function hintOf(e: BatchApiError): string {
  if (e.status === 401) return ' The API key was rejected.';
  if (e.status === 403) return ' The key has no access to the Batch API.';
  if (e.status === 406) return ' The server refused the Accept header of the download.';
  if (e.status !== 404) return '';
  let path = '';
  try {
    path = new URL(e.url).pathname;
  } catch {
    // an unparsable URL: the plain hint applies
  }
  const v1 = /(^|\/)v1\//.test(path) ? '' : ' Its base URL has no /v1: OpenAI-compatible servers usually serve one (set OPENAI_BASE_URL or provider.base_url).';
  if (/\/(files|batches)$/.test(path)) return ` This server has no Batch API: drop --batch (or batch: from the config) to run synchronously.${v1}`;
  return v1;
}

/** The limit an enqueued-token-limit message states ("Limit: 90,000 enqueued tokens"), if it does. */
export function statedLimit(message: string): number | undefined {
  const m = /limit:?\s*([\d,_ ]+)\s*enqueued tokens/i.exec(message);
  if (!m) return undefined;
  const n = Number(m[1]!.replace(/[,_ ]/g, ''));
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

/** A request's enqueued tokens as the API counts them before running it: the prompt (≈ 4 characters a token) and the most it may generate. */
export function taskTokens(t: Task): number {
  const body = t.body as Record<string, unknown>;
  const max = Number(body['max_completion_tokens'] ?? body['max_tokens'] ?? 0) || 0;
  const n = Number(body['n'] ?? 1) || 1;
  return Math.ceil(JSON.stringify(body['messages'] ?? '').length / 4) + max * n;
}

export function formatWait(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ''}` : `${s} s`;
}
