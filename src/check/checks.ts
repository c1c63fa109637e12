import { isDeepStrictEqual } from 'node:util';
import { parseJson, type ParsedJson, type ToolCall } from './json-output.js';
import type { ValidateFunction } from 'ajv';
import { lookup } from '../contracts/template.js';
import { expectedColumn, gradedApart, SCORED_CHECK_TYPES, type CheckOutcome, type CheckResults, type CheckSpec } from '../contracts/checks.js';
import { compileSchema } from './validators.js';
import { numberCheck, setEqualsCheck, similarityCheck } from './tolerant.js';
import { pointerTokens } from '../util/json-pointer.js';

/**
 * What a failed `equals` check compared, so a report can say "expected billing, got bug". `got` is absent when the
 * answer had no value there (not JSON, or no such pointer).
 */
export interface CheckDetail {
  expected: unknown;
  got?: unknown;
}

export interface CompiledCheck {
  name: string;
  /** The pointer starts with /tool_calls: it reads the choice's tool calls, not its content. */
  readsToolCalls: boolean;
  /** Yields a score and a reason beside pass/fail, and may leave a choice unscored (SCORED_CHECK_TYPES). */
  scored: boolean;
  /** `note` receives what a failed `equals` compared. A scored check answers with its outcome. */
  run(content: string | null, parsed: ParsedContent, vars: Record<string, unknown>, note?: (detail: CheckDetail) => void): boolean | CheckOutcome;
}

/** Where a graded choice's scores and reasons go, for the checks that yield them. */
export interface ScoreSink {
  scores: Record<string, number | null>;
  reasons: Record<string, string>;
}

/** The reason a scored check gives a choice it has nothing to judge (a tool call, a filtered answer, a refusal). */
export const NO_CONTENT = 'no content to grade';

/** The content parsed at most once per choice, shared by every check that has a pointer. */
export interface ParsedContent {
  get(): ParsedJson;
}

/** A pointer into the tool calls instead of the content: `/tool_calls`, `/tool_calls/0/arguments/city`, … */
export const TOOL_CALLS_POINTER = /^\/tool_calls(\/|$)/;

/** What a choice answered besides its content, for checks that point into tool calls. */
export interface ChoiceAnswer {
  toolCalls: readonly ToolCall[] | null;
  /** Each call's arguments parsed (shared with the tool-argument validation); parsed here when absent. */
  parsedArgs?: readonly ParsedJson[] | undefined;
  /** False when the content is not graded (a tool-call-only or a filtered answer): content checks stay null. */
  gradeContent: boolean;
}

/**
 * The document a `/tool_calls/...` pointer is resolved against: `{ tool_calls: [{ id, name, arguments }] }`, the
 * arguments parsed from their JSON string (kept as the string when they do not parse). No calls: an empty list.
 */
export function toolCallsDocument(calls: readonly ToolCall[] | null, parsedArgs?: readonly ParsedJson[]): { tool_calls: unknown[] } {
  return {
    tool_calls: (calls ?? []).map((c, i) => {
      const args = parsedArgs?.[i] ?? parseJson(c.arguments);
      return { id: c.id, name: c.name, arguments: args.ok ? args.value : c.arguments };
    }),
  };
}

/** RFC 6901: "" is the whole document, "/a/0" walks keys and indexes, "~1" is "/" and "~0" is "~". */
export function resolvePointer(doc: unknown, pointer: string): { found: true; value: unknown } | { found: false } {
  let v = doc;
  for (const key of pointerTokens(pointer)) {
    if (Array.isArray(v) && /^(0|[1-9]\d*)$/.test(key) && Number(key) < v.length) v = v[Number(key)];
    else if (v && typeof v === 'object' && !Array.isArray(v) && Object.hasOwn(v, key)) v = (v as Record<string, unknown>)[key];
    else return { found: false };
  }
  return { found: true, value: v };
}

/** Text of a value for string comparison: strings as they are, anything else as JSON (so CSV "3" equals JSON 3). */
function text(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v) ?? '';
}

export function compileCheck(spec: CheckSpec): CompiledCheck {
  const column = expectedColumn(spec.expected);
  const expectedOf = (vars: Record<string, unknown>): unknown => (column === undefined ? spec.expected : lookup(vars, column.split('.')));
  const fold = (s: string) => (spec.ignoreCase ? s.toLowerCase() : s);
  const regex = spec.type === 'regex' ? new RegExp(spec.pattern ?? '', (spec.flags ?? '').replace(/[gy]/g, '')) : undefined;
  const validate: ValidateFunction | undefined = spec.type === 'json_schema' && spec.schema ? compileSchema(spec.schema) : undefined;
  const scored = SCORED_CHECK_TYPES.includes(spec.type);
  return {
    name: spec.name,
    readsToolCalls: spec.pointer !== undefined && TOOL_CALLS_POINTER.test(spec.pointer),
    scored,
    run(content, parsed, vars, note) {
      const missing = (why: string): boolean | CheckOutcome => {
        if (scored) return { pass: false, score: 0, reason: why };
        if (spec.type === 'equals') note?.({ expected: expectedOf(vars) });
        return false;
      };
      // The value under test: the text itself, or (with a pointer, or for a schema) the parsed JSON value.
      let value: unknown = content;
      if (spec.pointer !== undefined || spec.type === 'json_schema') {
        const doc = parsed.get();
        if (!doc.ok) return missing('the answer is not JSON');
        const at = resolvePointer(doc.value, spec.pointer ?? '');
        if (!at.found) return missing(`no value at ${spec.pointer}`);
        value = at.value;
      } else if (content === null) {
        return missing('no content');
      }
      switch (spec.type) {
        case 'equals': {
          const want = expectedOf(vars);
          // Strings compare as text (a CSV column is always a string); other literals by JSON value.
          const equal = typeof want === 'string' ? fold(text(value)) === fold(want) : isDeepStrictEqual(value, want);
          if (!equal) note?.({ expected: want, got: value });
          return equal;
        }
        case 'contains':
          return fold(text(value)).includes(fold(text(expectedOf(vars))));
        case 'regex':
          return regex!.test(text(value));
        case 'json_schema':
          return validate ? Boolean(validate(value)) : true;
        case 'number':
          return numberCheck(spec, value, expectedOf(vars));
        case 'set_equals':
          return setEqualsCheck(spec, value, expectedOf(vars));
        case 'similarity':
          return similarityCheck(spec, value, expectedOf(vars));
        case 'script':
        case 'judge':
          // Graded apart, in worker threads (src/check/script-checks.ts) or by a judge's call: never compiled here.
          return false;
      }
    },
  };
}

/**
 * Grades one choice with every check. Content checks stay null when there is no content to judge (a tool call or
 * a filtered answer, `answer.gradeContent` false); an answer with null content or unparsable JSON under a pointer
 * fails. Checks pointing into `/tool_calls` are graded for every answered choice: one without tool calls fails them.
 */
export function makeCheckRunner(
  specs: readonly CheckSpec[],
): ((content: string | null, vars: Record<string, unknown>, parse?: () => ParsedJson, answer?: ChoiceAnswer, details?: Record<string, CheckDetail>, sink?: ScoreSink) => CheckResults) | undefined {
  const compiled = specs.filter((s) => !gradedApart(s.type)).map(compileCheck);
  if (compiled.length === 0) return undefined;
  return (content, vars, parse, answer, details, sink) => {
    let cache: ParsedJson | undefined;
    // The caller may share the parse it made for the JSON check; otherwise parse at most once, and only if needed.
    const parsed: ParsedContent = { get: parse ?? (() => (cache ??= parseJson(content))) };
    let doc: ParsedJson | undefined;
    const calls: ParsedContent = { get: () => (doc ??= { ok: true, value: toolCallsDocument(answer?.toolCalls ?? null, answer?.parsedArgs) }) };
    const gradeContent = answer?.gradeContent ?? true;
    const out: CheckResults = {};
    for (const c of compiled) {
      const note = details && ((d: CheckDetail) => (details[c.name] = d));
      const result = c.readsToolCalls ? c.run(null, calls, vars, note) : gradeContent ? c.run(content, parsed, vars, note) : null;
      if (!c.scored) out[c.name] = result as boolean | null;
      else {
        const outcome: CheckOutcome = result === null ? { pass: null, score: null, reason: NO_CONTENT } : (result as CheckOutcome);
        out[c.name] = outcome.pass;
        if (sink) {
          sink.scores[c.name] = outcome.score;
          if (outcome.reason !== undefined) sink.reasons[c.name] = outcome.reason;
        }
      }
    }
    return out;
  };
}
