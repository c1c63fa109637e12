/**
 * What a failed API call was, for both executors: its RequestError (kind, status, the server's own words, bounded and
 * redacted), the failure the retry policy judges, and the message that stops a run on a fatal status.
 */
import OpenAI from 'openai';
import type { Task } from '../contracts/plan.js';
import type { RequestError } from '../record/index.js';
import { redactUrl } from '../util/redact.js';
import { answerCutMessage, answerCutOf, systemErrorOf, type SystemError } from './connection-error.js';
import type { AttemptFailure } from './retry.js';

/** The most of a server's error text a record keeps: a proxy's HTML page must not fill choices.csv. */
export const MAX_ERROR_CHARS = 2000;

/** 401, 403, 404: the key, the access or the model is wrong: no later request can succeed either. */
export const FATAL = new Set([401, 403, 404]);

export function classifyApiError(
  e: unknown,
  redact: (t: string) => string,
  errorBody: string | undefined,
  timeoutMs: number,
  /** The 2xx status of an answer whose whole body arrived (then failed to parse), if one did. */
  answeredStatus?: number,
): { error: RequestError; failure: AttemptFailure; system?: SystemError } {
  if (e instanceof OpenAI.APIConnectionTimeoutError) {
    const s = timeoutMs / 1000;
    const message = `no answer within ${s} s (timeout_s: ${s}), so the attempt was given up; if the server is just slow (a long answer, a loaded local model), raise timeout_s in the config`;
    return { error: { kind: 'timeout', status: null, type: null, code: null, message }, failure: { status: undefined, headers: undefined } };
  }
  if (e instanceof OpenAI.APIConnectionError) {
    // "fetch failed" alone tells the user nothing: the system error under it says refused, not found, certificate.
    const system = systemErrorOf(e);
    const cut = answerCutOf(e);
    if (cut) {
      // Not a system error for the unreachable-server rule: the server answered, then the body broke off. The
      // failure carries the status the server sent, so the one retry rule decides: an answer cut after a 2xx may
      // have been billed and is not sent again automatically (--retry-errors does), one cut after a 5xx is retried.
      return { error: { kind: 'connection', status: cut.status, type: null, code: system?.code ?? null, message: bounded(redact(answerCutMessage(cut, system))) }, failure: { status: cut.status, headers: undefined } };
    }
    const cause = system ? `${system.code}${system.message !== system.code ? ` (${system.message})` : ''}` : (e.cause as Error | undefined)?.message;
    return {
      error: { kind: 'connection', status: null, type: null, code: system?.code ?? null, message: bounded(redact(`connection error${cause ? `: ${cause}` : ''}`)) },
      failure: { status: undefined, headers: undefined },
      ...(system ? { system } : {}),
    };
  }
  if (e instanceof OpenAI.APIError) {
    const envelope: unknown = e.error;
    const said = envelope && typeof envelope === 'object' ? (envelope as { message?: unknown }).message : undefined;
    let message: string;
    if (typeof said === 'string') message = said;
    // `{"error": "text"}`, as several OpenAI-compatible servers answer.
    else if (typeof envelope === 'string') message = envelope;
    // Not OpenAI's envelope (a gateway's problem+json, a proxy's HTML page): the SDK would say "(no body)"; the
    // server's own explanation is kept instead.
    else if (errorBody !== undefined && errorBody.trim() !== '') message = `${e.status ?? 'error'} (not an OpenAI error body): ${errorBody.trim().replace(/\s+/g, ' ')}`;
    else message = e.message;
    return {
      error: { kind: 'http', status: e.status ?? null, type: e.type ?? null, code: e.code ?? null, message: bounded(redact(message)) },
      failure: { status: e.status, headers: e.headers },
    };
  }
  // A 2xx whose whole body arrived but does not parse (a JSON answer cut short by a proxy): the provider may have
  // billed it, so it carries its status and the one retry rule does not send it again (--retry-errors does).
  if (answeredStatus !== undefined) {
    const message = `the server answered ${answeredStatus}, but its body is not readable JSON (${(e as Error)?.message ?? String(e)}); the answer may have been billed, so it is not sent again automatically (--retry-errors does)`;
    return { error: { kind: 'invalid_response', status: answeredStatus, type: null, code: null, message: bounded(redact(message)) }, failure: { status: answeredStatus, headers: undefined } };
  }
  // A body that never arrived whole and did not parse: nothing was answered, worth a retry.
  return {
    error: { kind: 'invalid_response', status: null, type: null, code: null, message: bounded(redact(`unreadable response: ${(e as Error)?.message ?? String(e)}`)) },
    failure: { status: undefined, headers: undefined },
  };
}

/** How much of an unexpected 2xx body a message shows: enough to recognise a login page or a proxy's. */
export const BODY_START_CHARS = 300;

/** Redacted after the cut would leave half a secret: callers redact first, then bound. */
export function bounded(text: string, max = MAX_ERROR_CHARS): string {
  return text.length > max ? `${text.slice(0, max)}… (${text.length - max} more characters)` : text;
}

/** The chat completions URL the SDK posts to, credentials hidden. */
export function requestUrl(baseUrl: string): string {
  return redactUrl(`${baseUrl.replace(/\/+$/, '')}/chat/completions`);
}

export function fatalMessage(err: RequestError, task: Task, url: string): string {
  const what =
    err.status === 401
      ? 'the API key was rejected'
      : err.status === 403
        ? 'the key has no access to this model or endpoint'
        : notFound(String(task.body.model), url);
  return `The API answered ${err.status}: ${what}. Server said: ${err.message}\nNothing more was sent; every finished request is kept.`;
}

/** A 404 is either the model or the URL: the message names the URL tried and says which /v1 it probably lacks. */
function notFound(model: string, url: string): string {
  let v1 = '';
  try {
    const base = new URL(url);
    const path = base.pathname.replace(/\/chat\/completions$/, '');
    if (!/(^|\/)v1(\/|$)/.test(path)) {
      base.pathname = `${path.replace(/\/+$/, '')}/v1`;
      base.search = '';
      v1 = ` Its base URL has no /v1: OpenAI-compatible servers usually serve ${base.toString()}, so set OPENAI_BASE_URL or provider.base_url to that.`;
    }
  } catch {
    // an unparsable URL: the plain hints below still apply
  }
  return (
    `nothing found at POST ${url}. Either the model name '${model}' is wrong or not available to this key, ` +
    `or the base URL is wrong (a base URL without /v1 is the usual cause).${v1}`
  );
}

