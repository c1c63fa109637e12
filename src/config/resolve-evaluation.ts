import { existsSync, statSync } from 'node:fs';
import { isAbsolute, resolve as resolvePath } from 'node:path';
import { CHECK_TYPES, DEFAULT_SCRIPT_TIMEOUT_MS, expectedColumn, humanCheckNames, scoredCheckNames, type CheckSpec } from '../contracts/checks.js';
import type { ConfigLocation } from '../contracts/config.js';
import { globToRegExp } from '../util/glob.js';
import { DEFAULT_ALPHA, type CompareSpec, type GateSpec } from '../contracts/evaluation.js';
import { findMetric, metricsFor, suggestMetric } from '../stats/index.js';
import type { DocPath } from './locate.js';
import { suggest } from './locate.js';
import type { ConfigFile } from '../contracts/config.js';

type Issue = (path: DocPath, message: string, opts?: { atKey?: boolean }) => void;
type SchemaLoader = (spec: string | Record<string, unknown>, path: DocPath) => { value: Record<string, unknown>; file: string | undefined } | undefined;

export interface ResolvedEvaluation {
  checks: CheckSpec[];
  scriptSources: Record<string, { module: ConfigLocation; export: ConfigLocation }>;
  compare: CompareSpec;
  gates: GateSpec[];
  pricing: Record<string, { input: number; output: number; cached_input?: number }>;
  /** The schema of a `json_schema` check named schema_valid: the run's schema check. */
  runSchema: { value: Record<string, unknown>; file: string | undefined } | undefined;
}

/**
 * `checks`, `compare`, `gates` and `pricing`: what the JSON Schema cannot say (which keys each check type needs,
 * metric names, regexes that compile), each problem reported at its line.
 */
/** The keys each newer check type takes besides name, type (and, but for script, pointer and expected). */
const OWN_KEYS: Record<string, readonly string[]> = {
  number: ['tolerance'],
  set_equals: ['key', 'ignore_case'],
  similarity: ['method', 'min', 'ignore_case'],
  script: ['module', 'export', 'timeout_ms', 'min'],
};
const NEWER_KEYS = ['tolerance', 'key', 'method', 'min', 'module', 'export', 'timeout_ms'] as const;

export function resolveEvaluation(
  data: ConfigFile,
  issue: Issue,
  loadSchema: SchemaLoader,
  context: { dir: string; locate: (path: DocPath, opts?: { atKey?: boolean }) => ConfigLocation } = { dir: process.cwd(), locate: (path) => ({ file: '', line: 0, col: 0, path: path.join('.') }) },
): ResolvedEvaluation {
  const checks: CheckSpec[] = [];
  const scriptSources: ResolvedEvaluation['scriptSources'] = {};
  let runSchema: ResolvedEvaluation['runSchema'];
  const names = new Set<string>();
  (data.checks ?? []).forEach((c, i) => {
    const at = (key?: string): DocPath => (key ? ['checks', i, key] : ['checks', i]);
    const name = c.name ?? (c.type === 'json_schema' ? 'schema_valid' : undefined);
    if (name === undefined) return issue(at(), `a '${c.type}' check needs a 'name' (it names the check_<name> column and the <name>_pass_rate metric)`);
    if (names.has(name)) issue(at('name'), `duplicate check name '${name}'`);
    names.add(name);
    if (c.type !== 'json_schema' && ['json_valid', 'schema_valid', 'stop', 'length', 'error'].includes(name)) {
      issue(at('name'), `'${name}' is a built-in column; choose another check name`);
    }
    const misplaced = (key: keyof typeof c, why: string) => c[key] !== undefined && issue(at(key), `'${key}' does not apply to a '${c.type}' check: ${why}`, { atKey: true });
    const spec: CheckSpec = { name, type: c.type, pointer: c.pointer, expected: c.expected, ignoreCase: c.ignore_case };
    if (c.human !== undefined) spec.human = { column: c.human.column };
    const own = OWN_KEYS[c.type] ?? [];
    for (const key of NEWER_KEYS) if (!own.includes(key)) misplaced(key, `it is a key of ${Object.keys(OWN_KEYS).filter((t) => OWN_KEYS[t]!.includes(key)).join(', ')} checks`);
    if (c.type === 'number' || c.type === 'set_equals' || c.type === 'similarity') {
      if (!('expected' in c)) issue(at(), `a '${c.type}' check needs 'expected': a value, or { column: <dataset column> }`);
      misplaced('pattern', "use a 'regex' check");
      misplaced('flags', "use a 'regex' check");
      misplaced('schema', "use a 'json_schema' check");
      if (c.type === 'number') {
        const t = c.tolerance;
        spec.tolerance = typeof t === 'number' ? { absolute: t } : t ? { absolute: t.absolute, relative: t.relative } : undefined;
      }
      if (c.type === 'set_equals') spec.key = c.key;
      if (c.type === 'similarity') Object.assign(spec, { method: c.method ?? 'levenshtein', min: c.min });
    } else if (c.type === 'script') {
      for (const key of ['pointer', 'expected', 'pattern', 'flags', 'schema', 'ignore_case'] as const) {
        misplaced(key, 'the function is given the whole answer, the row and the cell');
      }
      if (c.module === undefined) issue(at(), "a 'script' check needs 'module': a JavaScript file (relative to the config) exporting the check function");
      else {
        const file = isAbsolute(c.module) ? c.module : resolvePath(context.dir, c.module);
        if (!existsSync(file) || !statSync(file).isFile()) issue(at('module'), `module not found: ${file}`);
        Object.assign(spec, { module: file, export: c.export ?? 'default', timeoutMs: c.timeout_ms ?? DEFAULT_SCRIPT_TIMEOUT_MS, min: c.min });
        scriptSources[name] = { module: context.locate(at('module')), export: context.locate(c.export !== undefined ? at('export') : at('module')) };
      }
    } else if (c.type === 'equals' || c.type === 'contains') {
      if (!('expected' in c)) issue(at(), `a '${c.type}' check needs 'expected': a value, or { column: <dataset column> }`);
      if (c.type === 'contains' && c.expected !== null && typeof c.expected === 'object' && expectedColumn(c.expected) === undefined) {
        issue(at('expected'), "'expected' of a contains check must be text, a number, or { column: <dataset column> }");
      }
      misplaced('pattern', "use a 'regex' check");
      misplaced('flags', "use a 'regex' check");
      misplaced('schema', "use a 'json_schema' check");
    } else if (c.type === 'regex') {
      if (c.pattern === undefined) issue(at(), "a 'regex' check needs 'pattern'");
      else {
        try {
          new RegExp(c.pattern, c.flags ?? '');
        } catch (e) {
          issue(at('pattern'), `not a valid regular expression: ${(e as Error).message}`);
        }
      }
      misplaced('expected', "the pattern is what must match");
      misplaced('ignore_case', "add the flag 'i' (flags: i)");
      misplaced('schema', "use a 'json_schema' check");
      Object.assign(spec, { pattern: c.pattern, flags: c.flags });
    } else if (c.type === 'json_schema') {
      misplaced('expected', 'the schema is what must hold');
      misplaced('pattern', "use a 'regex' check");
      misplaced('flags', "use a 'regex' check");
      misplaced('ignore_case', 'schemas are exact');
      const loaded = c.schema === undefined ? undefined : loadSchema(c.schema, at('schema'));
      if (name === 'schema_valid') {
        if (c.schema === undefined && data.schema === undefined) issue(at(), "the 'schema_valid' check needs a schema: give 'schema' here or at the top level");
        if (c.schema !== undefined && data.schema !== undefined) issue(at('schema'), "the run's schema is given twice (here and at the top-level 'schema'); keep one");
        if (c.pointer !== undefined) issue(at('pointer'), "the 'schema_valid' check validates the whole output; name the check otherwise to validate a part", { atKey: true });
        if (c.human !== undefined) issue(at('human'), "the run's schema check takes no human labels; give the check a 'name' of its own to compare it with people", { atKey: true });
        runSchema = loaded;
        return;
      }
      if (c.schema === undefined) issue(at(), "a 'json_schema' check needs 'schema' (a file or an inline schema)");
      spec.schema = loaded?.value;
    } else {
      issue(at('type'), `unknown check type (use ${CHECK_TYPES.join(', ')})`);
    }
    checks.push(spec);
  });

  const checkNames = checks.map((c) => c.name);
  const scored = scoredCheckNames(checks);
  const human = humanCheckNames(checks);
  const known = metricsFor(checkNames, scored, human).map((m) => m.name);
  const unknownMetric = (path: DocPath, metric: string) => {
    const hint = suggestMetric(metric, known, suggest);
    issue(path, `unknown metric '${metric}'${hint ? ` (did you mean '${hint}'?)` : ''}; known: ${known.join(', ')}`);
  };

  const compare: CompareSpec = { baseline: data.compare?.baseline ?? null, metrics: data.compare?.metrics ?? null, alpha: data.compare?.alpha ?? DEFAULT_ALPHA };
  (compare.metrics ?? []).forEach((m, i) => {
    const def = findMetric(m, checkNames, scored, human);
    if (!def) unknownMetric(['compare', 'metrics', i], m);
    else if (!def.comparable) issue(['compare', 'metrics', i], def.kind === 'agreement' ? `'${m}' is agreement over all labelled choices and has no per-row value to compare; gate on it instead` : `'${m}' cannot be compared row by row; use latency_mean_ms`);
  });

  const gates: GateSpec[] = (data.gates ?? []).map((g, i) => {
    const def = findMetric(g.metric, checkNames, scored, human);
    if (!def) unknownMetric(['gates', i, 'metric'], g.metric);
    if (g.min === undefined && g.max === undefined) issue(['gates', i], "a gate needs 'min' or 'max' (or both)");
    if (g.min !== undefined && g.max !== undefined && g.min > g.max) issue(['gates', i, 'min'], `min ${g.min} is above max ${g.max}: no value can pass`);
    if (def && g.bound && g.bound !== 'point' && !def.interval) issue(['gates', i, 'bound'], `'${g.metric}' has no interval; judge it on the point value (drop 'bound')`);
    if (g.cell !== undefined) {
      try {
        globToRegExp(g.cell);
      } catch (e) {
        issue(['gates', i, 'cell'], (e as Error).message);
      }
    }
    return { name: g.name, metric: g.metric, min: g.min, max: g.max, cell: g.cell, bound: g.bound ?? 'point' };
  });

  return { checks, scriptSources, compare, gates, pricing: data.pricing ?? {}, runSchema };
}

/**
 * Rules that need the grid's cell ids: the baseline must be a cell, and a gate's glob must match one (a gate that
 * matches nothing would pass silently forever).
 */
export function cellIssues(data: ConfigFile, cellIds: readonly string[], issue: Issue): void {
  const baseline = data.compare?.baseline;
  if (baseline !== undefined && !cellIds.includes(baseline)) {
    const hint = suggest(baseline, cellIds);
    issue(['compare', 'baseline'], `no cell '${baseline}'${hint ? ` (did you mean '${hint}'?)` : ''}; cells: ${cellIds.join(', ')}`);
  }
  (data.gates ?? []).forEach((g, i) => {
    if (g.cell === undefined) return;
    let re: RegExp;
    try {
      re = globToRegExp(g.cell);
    } catch {
      return;
    }
    if (!cellIds.some((id) => re.test(id))) issue(['gates', i, 'cell'], `'${g.cell}' matches no cell; cells: ${cellIds.join(', ')}`);
  });
}
