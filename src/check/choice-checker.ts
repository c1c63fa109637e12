import type { ValidateFunction } from 'ajv';
import type { Cell, Task } from '../contracts/plan.js';
import { makeCheckRunner, NO_CONTENT, type ScoreSink } from './checks.js';
import { labelScale, SCORED_CHECK_TYPES, type CheckSpec } from '../contracts/checks.js';
import { readHumanLabel } from '../contracts/human-label.js';
import { lookup } from '../contracts/template.js';
import { checkJsonOutput, checkToolCalls, NOT_CHECKED, parseJson, type ChoiceCheck, type ParsedJson, type ToolCall } from './json-output.js';
import { compileSchema, compileTools, type ToolValidators } from './validators.js';

/** Grades one choice of a task: JSON + schema in JSON-mode cells, tool-call arguments, and the configured checks. */
export type ChoiceChecker = (task: Task, content: string | null, toolCalls?: readonly ToolCall[] | null, gradeContent?: boolean, nothing?: boolean) => ChoiceCheck;

/**
 * Compiles every cell's schema and tools once, and the checks once, into the grader the executors call as answers
 * arrive. `schema` (the config's) wins over a cell's own `json_schema` response_format.
 */
export function makeChoiceChecker(spec: { schema?: Record<string, unknown> | undefined; checks?: readonly CheckSpec[] | undefined }, cells: readonly Cell[]): ChoiceChecker {
  const validators: Array<ValidateFunction | undefined> = cells.map((c) => {
    const own = (c.params['response_format'] as { json_schema?: { schema?: Record<string, unknown> } } | undefined)?.json_schema?.schema;
    const schema = spec.schema ?? own;
    return schema ? compileSchema(schema) : undefined;
  });
  // Each cell's tools, compiled once per cell (and once per schema object: cells sharing `tools` share them).
  const tools: ToolValidators[] = cells.map((c) => compileTools(c.params['tools']));
  const grade = makeCheckRunner(spec.checks ?? []);
  const scored = (spec.checks ?? []).some((c) => c.type !== 'script' && SCORED_CHECK_TYPES.includes(c.type));
  const scoredNames = (spec.checks ?? []).filter((c) => c.type !== 'script' && SCORED_CHECK_TYPES.includes(c.type)).map((c) => c.name);
  const graded: ChoiceChecker = (task, content, toolCalls, gradeContent = true, nothing = false) => {
    // Nothing to judge (a filtered answer, a refusal): nothing is checked; the scored checks say why they are unscored.
    if (nothing) {
      if (!scored) return { json_valid: null, schema_valid: null, schema_errors: [] };
      const none = Object.fromEntries(scoredNames.map((n) => [n, null]));
      return { json_valid: null, schema_valid: null, schema_errors: [], checks: none, check_scores: { ...none }, check_reasons: Object.fromEntries(scoredNames.map((n) => [n, NO_CONTENT])) };
    }
    let parsed: ParsedJson | undefined;
    const parse = () => (parsed ??= parseJson(content));
    let check: ChoiceCheck = gradeContent && task.cell.jsonMode ? checkJsonOutput(content, validators[task.cell.index], parse()) : NOT_CHECKED;
    const parsedArgs = toolCalls?.map((c) => parseJson(c.arguments));
    if (toolCalls?.length) {
      const args = checkToolCalls(toolCalls, tools[task.cell.index]!, parsedArgs);
      check = Object.assign({}, check, { schema_errors: [...check.schema_errors, ...args.errors], tool_args_valid: args.valid });
    }
    // Checks compare with the dataset row, which records do not carry: they are graded here, once, per choice.
    if (!grade) return check;
    const details: NonNullable<ChoiceCheck['check_details']> = {};
    const sink: ScoreSink | undefined = scored ? { scores: {}, reasons: {} } : undefined;
    const checks = grade(content, task.row.vars, parse, { toolCalls: toolCalls ?? null, parsedArgs, gradeContent }, details, sink);
    // Object.assign, not a literal starting with `...check`: see makeRecord in src/run/execute-task.ts.
    const out = Object.assign({}, check, Object.keys(details).length ? { checks, check_details: details } : { checks });
    if (sink) Object.assign(out, Object.keys(sink.reasons).length ? { check_scores: sink.scores, check_reasons: sink.reasons } : { check_scores: sink.scores });
    return out;
  };
  const labels = makeHumanLabels(spec.checks ?? []);
  if (!labels) return graded;
  // Every answered choice carries its row's human labels (whatever graded it: here, a script, a judge), so the
  // agreement statistics are computed from records alone.
  return (task, content, toolCalls, gradeContent, nothing) => Object.assign({}, graded(task, content, toolCalls, gradeContent, nothing), { check_human: labels(task.row.vars) });
}

/**
 * The human labels of one dataset row, one per check with `human: { column }`, each read on its check's scale by
 * readHumanLabel (null: unlabelled). undefined when no check has labels. The dataset scan has refused bad labels
 * before anything was sent, so one that does not read here (a dataset changed under a regrade) counts as unlabelled.
 */
export function makeHumanLabels(specs: readonly CheckSpec[]): ((vars: Record<string, unknown>) => Record<string, number | null>) | undefined {
  const labelled = specs.filter((s) => s.human !== undefined).map((s) => ({ name: s.name, path: s.human!.column.split('.'), scale: labelScale(s) }));
  if (labelled.length === 0) return undefined;
  return (vars) => {
    const out: Record<string, number | null> = {};
    for (const l of labelled) {
      const read = readHumanLabel(lookup(vars, l.path), l.scale);
      out[l.name] = read.ok ? read.label : null;
    }
    return out;
  };
}
