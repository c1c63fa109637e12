/**
 * The stateless part of answering a chat request: validation, the model list, faults and the model. The server adds
 * the stateful parts (auth, rpm/tpm windows, per-body attempt counters, latency) around these steps.
 */
import { errorReply, modelNotFound, PARSE_ERROR_MESSAGE, invalidRequest, type ApiErrorInfo } from './errors.js';
import { faultReply, hasFaults, malformed, pickFault } from './faults.js';
import { foldNumber, hashString, mix } from './hash.js';
import { completion } from './model.js';
import { isJudgeRequest, judgeCompletion } from './judge.js';
import type { SimulatedReply, SimulatorOptions } from './types.js';
import { validateChatRequest, type ChatRequest } from './validate-request.js';

export const DEFAULT_MODELS: readonly string[] = ['gpt-4o-mini', 'gpt-4o', 'gpt-4.1-mini', 'gpt-4.1', 'gpt-4.1-nano', 'o4-mini'];

export function parseError(): ApiErrorInfo {
  return invalidRequest(PARSE_ERROR_MESSAGE, null, null);
}

/** Validation plus the strict model check; everything that makes a request wrong regardless of timing. */
export function checkRequest(body: unknown, options: SimulatorOptions): ChatRequest | ApiErrorInfo {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return parseError();
  const req = validateChatRequest(body);
  if ('status' in req) return req;
  if (options.strict_models && !(options.models ?? DEFAULT_MODELS).includes(req.model)) return modelNotFound(req.model, true);
  return req;
}

/** The seed for fault decisions: one per (body, k-th time it was admitted), shifted by the global seed. */
export function faultSeed(bodyHash: number, attempt: number, seed: number | undefined): number {
  return mix(mix(bodyHash, attempt), foldNumber(seed ?? 0));
}

export function answerRequest(body: Record<string, unknown>, req: ChatRequest, options: SimulatorOptions, fseed: number): SimulatedReply {
  const fault = hasFaults(options.faults) ? pickFault(options.faults, fseed) : undefined;
  if (fault !== undefined && fault !== 'malformed') return faultReply(fault, req.model, fseed);
  const answer = isJudgeRequest(body, req) ? judgeCompletion(body, req, { seed: options.seed ?? 0, judge: options.judge }) : completion(body, req, { seed: options.seed ?? 0, schema: options.schema, served: options.served });
  const reply: SimulatedReply = { status: 200, headers: {}, body: answer };
  return fault === 'malformed' ? malformed(reply, fseed) : reply;
}

/**
 * Pure and deterministic (bar `created`): what the server would answer for this body on the `attempt`-th (1-based)
 * time it sees it, ignoring auth and rpm/tpm limits. Faults hash JSON.stringify(body), which equals the raw text the
 * server hashes whenever the client sends compact JSON (the official SDKs do).
 */
export function simulateCompletion(body: unknown, options: SimulatorOptions & { attempt?: number }): SimulatedReply {
  const req = checkRequest(body, options);
  if ('status' in req) return errorReply(req);
  const fseed = faultSeed(hashString(JSON.stringify(body)), options.attempt ?? 1, options.seed);
  return answerRequest(body as Record<string, unknown>, req, options, fseed);
}
