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
import { canonicalJson } from '../util/canonical-json.js';
import { foldNumber, hashString, hexOf, mix, unit } from './hash.js';
import { brokenJson, poolFor, violationFor } from './json-content.js';
import { defaultJsonAnswer, proseAnswer, topicOf } from './text-content.js';
import { splitTokens, tokensOf, truncateToTokens } from './tokens.js';
import type { ChatRequest } from './validate-request.js';

export const INVALID_JSON_FACTOR = 0.45;
export const SCHEMA_VIOLATION_FACTOR = 0.35;
export const TEXT_MODE_JSON_WRAP = 0.25;

export interface ModelSettings {
  seed: number;
  schema: object | undefined;
  /** What the server says it is, and how much worse it answers, by requested model (`served` option). */
  served?: Readonly<Record<string, ServedModel>> | undefined;
}

/** A requested model as served: another snapshot behind the same name, as providers do (`served` option). */
export interface ServedModel {
  /** The response's `model` (default: the requested name). */
  model?: string;
  /** The response's `system_fingerprint` (default fp_evalrun_sim). */
  system_fingerprint?: string;
  /** Added to every JSON answer's probability of not being a JSON object, 0..1: a worse snapshot. */
  invalid_json?: number;
}

function servedAs(req: ChatRequest, m: ModelSettings): ServedModel | undefined {
  return m.served?.[req.model] ?? m.served?.['*'];
}

type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter';
type ToolCall =
  | { id: string; type: 'function'; function: { name: string; arguments: string } }
  | { id: string; type: 'custom'; custom: { name: string; input: string } };
interface TopLogprob { token: string; logprob: number; bytes: number[] }
interface TokenLogprob extends TopLogprob { top_logprobs: TopLogprob[] }
interface Choice {
  index: number;
  message: { role: 'assistant'; content: string | null; refusal: null; annotations: never[]; tool_calls?: ToolCall[] };
  logprobs: { content: TokenLogprob[] | null; refusal: null } | null;
  finish_reason: FinishReason;
}

/** Reasoning tokens per choice at medium effort are 64..256; other efforts scale that. */
const EFFORT_FACTOR: Record<ChatRequest['reasoningEffort'], number> = { none: 0, minimal: 0.25, low: 0.5, medium: 1, high: 2, xhigh: 3, max: 4 };

/** Tokens the alternatives in top_logprobs are drawn from. */
const VOCABULARY = [' the', ' a', ',', '.', ' and', ' of', ' to', ' is', ' in', ' it', '"', ':', ' yes', ' no', '{', '}', ' that', ' for', ' on', ' with', ' as', ' this', ' be', ' are', '\n'];

export function spreadOf(req: Pick<ChatRequest, 'temperature' | 'topP'>): number {
  return Math.min(1, Math.max(0, (req.temperature / 2) * req.topP));
}

export function requestSeed(body: Record<string, unknown>, req: ChatRequest, globalSeed: number): number {
  let h = hashString(canonicalJson(body['messages']), hashString(req.model));
  if (body['response_format'] != null) h = mix(h, hashString(canonicalJson(body['response_format'])));
  if (body['tools'] != null) h = mix(h, hashString(canonicalJson(body['tools'])));
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
  const pInvalid = INVALID_JSON_FACTOR * p + (req.format === 'text' ? TEXT_MODE_JSON_WRAP : 0) + (servedAs(req, m)?.invalid_json ?? 0);
  const u = unit(mix(choiceSeed, 17));
  if (u < pInvalid) return brokenJson(valid, mix(choiceSeed, 23));
  if (pool && u < pInvalid + SCHEMA_VIOLATION_FACTOR * p) return violationFor(pool, index) ?? valid;
  return valid;
}

function toolCall(req: ChatRequest, m: ModelSettings, contentSeed: number, choiceSeed: number): ToolCall {
  const choice = req.toolChoice;
  const allowed = typeof choice === 'object' && 'allowed' in choice ? req.tools.filter((t) => choice.allowed.includes(t.name)) : req.tools;
  const tool = (typeof choice === 'object' && 'name' in choice ? req.tools.find((t) => t.name === choice.name) : undefined) ??
    allowed[mix(contentSeed, 29) % allowed.length];
  const name = tool?.name ?? 'unknown';
  const id = `call_${hexOf(mix(choiceSeed, 37), 24)}`;
  // A custom tool takes free text: the model writes a short prose input for it.
  if (tool?.kind === 'custom') return { id, type: 'custom', custom: { name, input: proseAnswer(topicOf(req.lastUserText), contentSeed, 0) } };
  let args = '{}';
  if (tool?.parameters) {
    const pool = poolFor(tool.parameters, m.seed);
    args = pool.texts[mix(contentSeed, 31) % pool.texts.length] as string;
  }
  return { id, type: 'function', function: { name, arguments: args } };
}

/** What a tool call's text is, whichever kind of tool it calls. */
function callText(call: ToolCall): string {
  return call.type === 'function' ? call.function.arguments : call.custom.input;
}

function setCallText(call: ToolCall, text: string): void {
  if (call.type === 'function') call.function.arguments = text;
  else call.custom.input = text;
}

/**
 * Log probabilities for the content's own tokens (splitTokens: the same tokens usage counts), deterministic per
 * choice. The sampled token is usually the most likely, more surely at low spread; alternatives share what
 * probability is left, so no position's probabilities sum above 1.
 */
function tokenLogprobs(content: string, choiceSeed: number, spread: number, top: number): TokenLogprob[] {
  return splitTokens(content).map(({ token, bytes }, i) => {
    const seed = mix(choiceSeed, 1000 + i);
    const u = unit(mix(seed, 1));
    const logprob = -(u * u) * (0.02 + 3 * spread);
    const rest = 1 - Math.exp(logprob);
    const candidates: TopLogprob[] = [{ token, logprob, bytes }];
    let v = mix(seed, 2) % VOCABULARY.length;
    for (let k = 1; k <= top; k++) {
      let alt = VOCABULARY[v % VOCABULARY.length]!;
      if (alt === token) alt = VOCABULARY[++v % VOCABULARY.length]!;
      v++;
      const p = rest * 0.35 * 0.6 ** (k - 1) * (0.5 + 0.5 * unit(mix(seed, 10 + k)));
      candidates.push({ token: alt, logprob: p > 0 ? Math.log(p) : -9999, bytes: [...Buffer.from(alt, 'utf8')] });
    }
    candidates.sort((a, b) => b.logprob - a.logprob);
    return { token, logprob, bytes, top_logprobs: candidates.slice(0, top) };
  });
}

function cutAtStop(text: string, stop: string[]): string {
  let end = text.length;
  for (const s of stop) {
    const at = s ? text.indexOf(s) : -1;
    if (at >= 0 && at < end) end = at;
  }
  return end === text.length ? text : text.slice(0, end);
}

function makeChoice(req: ChatRequest, m: ModelSettings, rs: number, index: number, spread: number): { choice: Choice; tokens: number; reasoning: number } {
  const hot = req.temperature > 0;
  const choiceSeed = hot ? mix(rs, index + 1) : rs;
  const contentSeed = hot && unit(mix(choiceSeed, 11)) < Math.min(1, 2 * spread) ? choiceSeed : rs;
  const message: Choice['message'] = { role: 'assistant', content: null, refusal: null, annotations: [] };
  const choice: Choice = { index, message, logprobs: req.logprobs ? { content: null, refusal: null } : null, finish_reason: 'stop' };
  if (req.filtered) {
    choice.finish_reason = 'content_filter';
    return { choice, tokens: 0, reasoning: 0 };
  }
  // A reasoning model thinks before it answers; max_completion_tokens bounds both, so a small budget can be used
  // up by reasoning alone: then the answer is empty and finish_reason is length.
  let reasoning = req.reasoning ? Math.round(EFFORT_FACTOR[req.reasoningEffort] * (64 + (mix(choiceSeed, 43) % 193))) : 0;
  if (req.maxTokens !== undefined) reasoning = Math.min(reasoning, req.maxTokens);
  const budget = req.maxTokens === undefined ? undefined : req.maxTokens - reasoning;
  const auto = req.toolChoice === 'auto' || (typeof req.toolChoice === 'object' && 'allowed' in req.toolChoice && req.toolChoice.mode === 'auto');
  const callsTool = req.toolChoice !== 'none' && req.tools.length > 0 && (!auto || unit(mix(contentSeed, 13)) < 0.5);
  if (callsTool) {
    const call = toolCall(req, m, contentSeed, choiceSeed);
    let tokens = tokensOf(callText(call));
    choice.finish_reason = 'tool_calls';
    if (budget !== undefined && tokens > budget) {
      setCallText(call, truncateToTokens(callText(call), budget));
      tokens = budget;
      choice.finish_reason = 'length';
    }
    message.tool_calls = [call];
    return { choice, tokens: tokens + reasoning, reasoning };
  }
  const jsonWanted = req.format !== 'text' || req.mentionsJson;
  let content = jsonWanted
    ? jsonContent(req, m, contentSeed, choiceSeed, spread)
    : proseAnswer(topicOf(req.lastUserText), contentSeed, spread);
  if (req.stop.length) content = cutAtStop(content, req.stop);
  if (budget !== undefined && tokensOf(content) > budget) {
    content = truncateToTokens(content, budget);
    choice.finish_reason = 'length';
  }
  message.content = content;
  if (req.logprobs) choice.logprobs = { content: tokenLogprobs(content, choiceSeed, spread, req.topLogprobs), refusal: null };
  return { choice, tokens: tokensOf(content) + reasoning, reasoning };
}

export function completion(body: Record<string, unknown>, req: ChatRequest, m: ModelSettings): object {
  const rs = requestSeed(body, req, m.seed);
  const spread = spreadOf(req);
  const choices: Choice[] = [];
  let completionTokens = 0;
  let reasoningTokens = 0;
  for (let i = 0; i < req.n; i++) {
    const { choice, tokens, reasoning } = makeChoice(req, m, rs, i, spread);
    choices.push(choice);
    completionTokens += tokens;
    reasoningTokens += reasoning;
  }
  const served = servedAs(req, m);
  return {
    id: `chatcmpl-${hexOf(mix(rs, 41), 24)}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: served?.model ?? req.model,
    choices,
    usage: {
      prompt_tokens: req.promptTokens,
      completion_tokens: completionTokens,
      total_tokens: req.promptTokens + completionTokens,
      prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: reasoningTokens, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
    },
    service_tier: 'default',
    system_fingerprint: served?.system_fingerprint ?? 'fp_evalrun_sim',
  };
}
