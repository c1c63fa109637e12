/**
 * The simulated model: a pure, deterministic function of the request, the global seed and the choice index.
 *
 * Randomness. requestSeed = hash(model, messages, response_format, tools) mixed with options.seed and the request's
 * `seed` (n, temperature and the rest are left out so one row at several settings shares its "most likely" answer).
 * Choice i uses choiceSeed = hash(requestSeed, i) when temperature > 0; at temperature 0 every choice is identical.
 *
 * Quality. spread = (temperature / 2) * top_p, in 0..1 (defaults temperature 1, top_p 1 → spread 0.5).
 *   - A choice deviates from the most likely answer with probability min(1, 2 * spread), so higher temperature gives
 *     more distinct choices.
 *   - JSON modes: P(not a JSON object)            = 0.45 * spread^1.5   (0 at temperature 0; 0.16 at spread 0.5)
 *                 P(JSON object violating schema) = 0.35 * spread^1.5   (only when a schema is known)
 *     Text mode with "json" in the prompt answers JSON too, but adds 0.25 to P(not a JSON object) (fences, prose).
 *     json_schema with strict: true never breaks: structured outputs guarantee the schema.
 *   - Text mode: prose whose wording varies per deviating choice and rambles more as spread grows.
 */
import { foldNumber, hashString, hexOf, mix, stableStringify, unit } from './hash.js';
import { brokenJson, poolFor, violationFor } from './json-content.js';
import { defaultJsonAnswer, proseAnswer, topicOf } from './text-content.js';
import { tokensOf, truncateToTokens } from './tokens.js';
import type { ChatRequest } from './validate-request.js';

export const INVALID_JSON_FACTOR = 0.45;
export const SCHEMA_VIOLATION_FACTOR = 0.35;
export const TEXT_MODE_JSON_WRAP = 0.25;

export interface ModelSettings {
  seed: number;
  schema: object | undefined;
}

type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter';
interface ToolCall { id: string; type: 'function'; function: { name: string; arguments: string } }
interface Choice {
  index: number;
  message: { role: 'assistant'; content: string | null; refusal: null; annotations: never[]; tool_calls?: ToolCall[] };
  logprobs: null;
  finish_reason: FinishReason;
}

export function spreadOf(req: Pick<ChatRequest, 'temperature' | 'topP'>): number {
  return Math.min(1, Math.max(0, (req.temperature / 2) * req.topP));
}

export function requestSeed(body: Record<string, unknown>, req: ChatRequest, globalSeed: number): number {
  let h = hashString(stableStringify(body['messages']), hashString(req.model));
  if (body['response_format'] != null) h = mix(h, hashString(stableStringify(body['response_format'])));
  if (body['tools'] != null) h = mix(h, hashString(stableStringify(body['tools'])));
  h = mix(h, foldNumber(globalSeed));
  return req.seed === undefined ? h : mix(h, foldNumber(req.seed));
}

function jsonContent(req: ChatRequest, m: ModelSettings, contentSeed: number, choiceSeed: number, spread: number): string {
  const schema = req.formatSchema ?? m.schema;
  const pool = schema ? poolFor(schema, m.seed) : undefined;
  const index = pool ? mix(contentSeed, 19) % pool.texts.length : 0;
  const valid = pool ? (pool.texts[index] as string) : defaultJsonAnswer(contentSeed);
  if (req.format === 'json_schema' && req.strictSchema) return valid;
  const p = spread ** 1.5;
  const pInvalid = INVALID_JSON_FACTOR * p + (req.format === 'text' ? TEXT_MODE_JSON_WRAP : 0);
  const u = unit(mix(choiceSeed, 17));
  if (u < pInvalid) return brokenJson(valid, mix(choiceSeed, 23));
  if (pool && u < pInvalid + SCHEMA_VIOLATION_FACTOR * p) return violationFor(pool, index) ?? valid;
  return valid;
}

function toolCall(req: ChatRequest, m: ModelSettings, contentSeed: number, choiceSeed: number): ToolCall {
  const choice = req.toolChoice;
  const tool = (typeof choice === 'object' ? req.tools.find((t) => t.name === choice.name) : undefined) ??
    req.tools[mix(contentSeed, 29) % req.tools.length];
  const name = tool?.name ?? 'unknown';
  let args = '{}';
  if (tool?.parameters) {
    const pool = poolFor(tool.parameters, m.seed);
    args = pool.texts[mix(contentSeed, 31) % pool.texts.length] as string;
  }
  return { id: `call_${hexOf(mix(choiceSeed, 37), 24)}`, type: 'function', function: { name, arguments: args } };
}

function cutAtStop(text: string, stop: string[]): string {
  let end = text.length;
  for (const s of stop) {
    const at = s ? text.indexOf(s) : -1;
    if (at >= 0 && at < end) end = at;
  }
  return end === text.length ? text : text.slice(0, end);
}

function makeChoice(req: ChatRequest, m: ModelSettings, rs: number, index: number, spread: number): { choice: Choice; tokens: number } {
  const hot = req.temperature > 0;
  const choiceSeed = hot ? mix(rs, index + 1) : rs;
  const contentSeed = hot && unit(mix(choiceSeed, 11)) < Math.min(1, 2 * spread) ? choiceSeed : rs;
  const message: Choice['message'] = { role: 'assistant', content: null, refusal: null, annotations: [] };
  const choice: Choice = { index, message, logprobs: null, finish_reason: 'stop' };
  if (req.filtered) {
    choice.finish_reason = 'content_filter';
    return { choice, tokens: 0 };
  }
  const callsTool = req.toolChoice !== 'none' && req.tools.length > 0 &&
    (req.toolChoice !== 'auto' || unit(mix(contentSeed, 13)) < 0.5);
  if (callsTool) {
    const call = toolCall(req, m, contentSeed, choiceSeed);
    let tokens = tokensOf(call.function.arguments);
    choice.finish_reason = 'tool_calls';
    if (req.maxTokens !== undefined && tokens > req.maxTokens) {
      call.function.arguments = truncateToTokens(call.function.arguments, req.maxTokens);
      tokens = req.maxTokens;
      choice.finish_reason = 'length';
    }
    message.tool_calls = [call];
    return { choice, tokens };
  }
  const jsonWanted = req.format !== 'text' || req.mentionsJson;
  let content = jsonWanted
    ? jsonContent(req, m, contentSeed, choiceSeed, spread)
    : proseAnswer(topicOf(req.lastUserText), contentSeed, spread);
  if (req.stop.length) content = cutAtStop(content, req.stop);
  if (req.maxTokens !== undefined && tokensOf(content) > req.maxTokens) {
    content = truncateToTokens(content, req.maxTokens);
    choice.finish_reason = 'length';
  }
  message.content = content;
  return { choice, tokens: tokensOf(content) };
}

export function completion(body: Record<string, unknown>, req: ChatRequest, m: ModelSettings): object {
  const rs = requestSeed(body, req, m.seed);
  const spread = spreadOf(req);
  const choices: Choice[] = [];
  let completionTokens = 0;
  for (let i = 0; i < req.n; i++) {
    const { choice, tokens } = makeChoice(req, m, rs, i, spread);
    choices.push(choice);
    completionTokens += tokens;
  }
  return {
    id: `chatcmpl-${hexOf(mix(rs, 41), 24)}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: req.model,
    choices,
    usage: {
      prompt_tokens: req.promptTokens,
      completion_tokens: completionTokens,
      total_tokens: req.promptTokens + completionTokens,
      prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
    },
    service_tier: 'default',
    system_fingerprint: 'fp_evalrun_sim',
  };
}
