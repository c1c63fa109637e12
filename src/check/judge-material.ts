import type { CheckOutcome, CheckSpec } from '../contracts/checks.js';
import { expectedColumn } from '../contracts/checks.js';
import { lookup } from '../contracts/template.js';
import { NO_CONTENT, resolvePointer } from './checks.js';
import { gradedParts, parseJson } from './json-output.js';
import { unscored } from './script-result.js';

/** The part of a recorded choice a judge reads (content, refusal, finish reason, whether it called tools). */
export interface JudgedChoice {
  content: string | null;
  refusal: string | null;
  finish_reason: string | null;
  tool_calls: readonly unknown[] | null;
  error?: string | undefined;
}

const asText = (v: unknown): string => (typeof v === 'string' ? v : (JSON.stringify(v) ?? ''));

/**
 * What a judge check grades in a choice: its content, or the value at the check's pointer, as text. A choice with
 * nothing to judge is unscored and one without the value asked for fails, exactly as the other checks treat them,
 * and no judge call is made for either.
 */
export function judgedText(spec: CheckSpec, c: JudgedChoice): { text: string } | { outcome: CheckOutcome } {
  if (c.error !== undefined) return { outcome: unscored(NO_CONTENT) };
  const parts = gradedParts({ content: c.content, refusal: c.refusal, finish_reason: c.finish_reason, hasToolCalls: (c.tool_calls?.length ?? 0) > 0 });
  if (parts.nothing || !parts.content || c.content === null) return { outcome: unscored(NO_CONTENT) };
  if (spec.pointer === undefined) return { text: c.content };
  const doc = parseJson(c.content);
  if (!doc.ok) return { outcome: { pass: false, score: 0, reason: 'the answer is not JSON' } };
  const at = resolvePointer(doc.value, spec.pointer);
  if (!at.found) return { outcome: { pass: false, score: 0, reason: `no value at ${spec.pointer}` } };
  return { text: asText(at.value) };
}

/** The reference answer a judge check is given: its `expected` literal, or the row's column; undefined without one. */
export function referenceText(spec: CheckSpec, vars: Record<string, unknown>): string | undefined {
  if (spec.expected === undefined) return undefined;
  const column = expectedColumn(spec.expected);
  return asText(column === undefined ? spec.expected : lookup(vars, column.split('.')));
}
