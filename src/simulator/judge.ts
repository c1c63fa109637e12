/**
 * The simulated judge: a judge request (its structured-output schema is named `evalrun_verdict`, or its user message
 * holds evalrun's fenced material) is answered with a verdict, deterministically: pass when the graded answer
 * matches the reference (equal or containing it, case and spacing aside), fail otherwise; without a reference, a
 * draw from the answer's hash. `judge` options add noise (a verdict flipped), faults (an unparseable verdict, a
 * refusal, a verdict cut by length) and a position bias (a pairwise judge preferring the answer shown first).
 */
import { MATERIAL_BEGIN, MATERIAL_END, materialOf, VERDICT_SCHEMA_NAME, type JudgeMaterial } from '../contracts/judge.js';
import { hashString, hexOf, mix, unit } from './hash.js';
import { tokensOf } from './tokens.js';
import type { ChatRequest } from './validate-request.js';

export interface JudgeSimulatorOptions {
  /** Probability that a verdict is the opposite of the right one. */
  noise?: number;
  /** Probability that the verdict is prose, not the JSON asked for. */
  unparseable?: number;
  /** Probability that the judge refuses (message.refusal, no content). */
  refusal?: number;
  /** Probability that the verdict is cut off (finish_reason length). */
  length?: number;
  /** Pairwise: probability that the judge picks the answer shown first (A), whatever the answers say. */
  position_bias?: number;
}

const norm = (s: string) => s.toLowerCase().replace(/\s+/g, ' ').trim().replace(/^"|"$/g, '');

function matches(answer: string | undefined, reference: string | undefined, h: number): boolean {
  if (answer === undefined) return false;
  if (reference === undefined) return unit(mix(h, 3)) < 0.7;
  const a = norm(answer);
  const r = norm(reference);
  return r !== '' && (a === r || a.includes(r));
}

/** Whether the request is a judge's: by its schema's name, or by the fenced material in its last user message. */
export function isJudgeRequest(body: Record<string, unknown>, req: ChatRequest): boolean {
  const rf = body['response_format'] as { json_schema?: { name?: unknown } } | undefined;
  if (rf?.json_schema?.name === VERDICT_SCHEMA_NAME) return true;
  return req.lastUserText.includes(`\n${MATERIAL_BEGIN}\n`);
}

/** The verdict values the request allows: its schema's enum, or (json_object mode) what its instructions name. */
function allowed(req: ChatRequest): unknown[] {
  const schema = req.formatSchema as { properties?: { verdict?: { enum?: unknown[] } } } | undefined;
  const e = schema?.properties?.verdict?.enum;
  if (Array.isArray(e)) return e;
  const t = req.lastUserText;
  if (t.includes('"A", "B" or "tie"')) return ['A', 'B', 'tie'];
  if (t.includes('Give the category')) return ['consistent', 'superset', 'subset', 'contradicts'];
  if (t.includes('from 1 (worst) to 10')) return [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  if (t.includes('from 1 (worst) to 5')) return [1, 2, 3, 4, 5];
  return ['pass', 'fail'];
}

/**
 * A gullible judge: an instruction to ignore the rubric that reaches the prompt outside the fenced material is
 * obeyed (the best verdict). Inside the material it is data, as the system prompt says: the fence is what the
 * hostile-answer test checks.
 */
function injected(userText: string): boolean {
  const b = userText.indexOf(`\n${MATERIAL_BEGIN}\n`);
  const e = userText.indexOf(`\n${MATERIAL_END}`, b + 1);
  const outside = b < 0 || e < 0 ? userText : userText.slice(0, b) + userText.slice(e);
  return /ignore (the|all|any)( previous| prior)? (rubric|instructions)/i.test(outside);
}

function verdictOf(values: unknown[], m: JudgeMaterial | undefined, h: number, o: JudgeSimulatorOptions, gullible: boolean): unknown {
  const flip = unit(mix(h, 5)) < (o.noise ?? 0);
  if (values.includes('A')) {
    if (unit(mix(h, 7)) < (o.position_bias ?? 0)) return 'A';
    const a = matches(m?.answer_a, m?.reference, mix(h, 1));
    const b = matches(m?.answer_b, m?.reference, mix(h, 2));
    const v = a === b ? 'tie' : a ? 'A' : 'B';
    return flip ? (v === 'A' ? 'B' : v === 'B' ? 'A' : v) : v;
  }
  const good = gullible || matches(m?.answer, m?.reference, h) !== flip;
  if (values.includes('consistent')) return good ? 'consistent' : 'contradicts';
  if (values.includes('pass')) return good ? 'pass' : 'fail';
  const nums = values.filter((v): v is number => typeof v === 'number');
  const top = Math.max(...nums);
  return good ? top - (unit(mix(h, 9)) < 0.3 ? 1 : 0) : 1 + (mix(h, 11) % 2);
}

export function judgeCompletion(body: Record<string, unknown>, req: ChatRequest, options: { seed: number; judge?: JudgeSimulatorOptions | undefined }): object {
  const o = options.judge ?? {};
  const h = mix(hashString(JSON.stringify(body['messages']) + String(body['seed'] ?? '')), options.seed);
  const material = materialOf(req.lastUserText);
  const verdict = verdictOf(allowed(req), material, h, o, injected(req.lastUserText));
  const message: { role: 'assistant'; content: string | null; refusal: string | null } = { role: 'assistant', content: null, refusal: null };
  let finish = 'stop';
  const draw = unit(mix(h, 13));
  const refusal = o.refusal ?? 0;
  const unparseable = o.unparseable ?? 0;
  const length = o.length ?? 0;
  const json = JSON.stringify({ reasoning: `Compared the answer with ${material?.reference !== undefined ? 'the reference' : 'the rubric'}.`, verdict });
  if (draw < refusal) message.refusal = "I'm sorry, but I can't help with grading this.";
  else if (draw < refusal + unparseable) message.content = `The answer looks ${verdict === 'pass' ? 'good' : 'fine'} to me, so I would say it passes.`;
  else if (draw < refusal + unparseable + length) {
    message.content = json.slice(0, Math.max(1, Math.floor(json.length / 2)));
    finish = 'length';
  } else message.content = json;
  const completionTokens = tokensOf(message.content ?? message.refusal ?? '');
  return {
    id: `chatcmpl-${hexOf(mix(h, 41), 24)}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: req.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: finish }],
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
