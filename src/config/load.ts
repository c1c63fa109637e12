import { readFile, stat } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { LineCounter, parseDocument, type Document } from 'yaml';
import { ConfigError, type SourceIssue } from '../errors.js';
import { configSchema, topLevelKeys, requestParamSchemas } from './schema.js';
import { locate, pathToString, pointerToPath, suggest, type DocPath } from './locate.js';
import type { ConfigFile } from '../contracts/config.js';
import { builtFile } from '../util/built-file.js';

/** The parsed file with what is needed to point back into it. */
export interface LoadedConfigFile {
  file: string;
  data: ConfigFile;
  /** Source position of a path in the file, for errors found by later rules. */
  at(path: DocPath, opts?: { atKey?: boolean }): { line: number; col: number };
}

type ConfigValidator = ((data: unknown) => boolean) & { errors?: ErrorObject[] | null };

/** The build precompiles the validator (scripts/build-config-validator.mjs); without a build, compile it here. */
async function loadValidator(): Promise<ConfigValidator> {
  try {
    const mod = (await import(builtFile(import.meta.url, './config-validator.js').href)) as { default: ConfigValidator };
    return mod.default;
  } catch {
    return new Ajv({ allErrors: true, strict: true, allowUnionTypes: true }).compile(configSchema) as ConfigValidator;
  }
}
const validateConfig = await loadValidator();

/** How a value of each anyOf-shaped key should look, for one clear message instead of every branch's. */
const anyOfShapes: Record<string, string> = {
  dataset: 'a file path, { path, encoding }, or a list of them',
  provider: "'simulator', 'openai' or a mapping with base_url, api_key_env, headers, query, timeout_s, organization",
  schema: 'a path to a JSON Schema file or an inline JSON Schema mapping',
  stop: 'a string, a list of up to 4 strings, or null',
  tool_choice: "'none', 'auto', 'required' or a mapping with a type",
  prompts: 'a list of messages ({ role, content }) or a prompt file (.yaml, .json, .txt, .md)',
};

export async function loadConfigFile(file: string): Promise<LoadedConfigFile> {
  // A directory stands for the evalrun.yaml inside it.
  if (await stat(file).then((s) => s.isDirectory(), () => false)) file = join(file, 'evalrun.yaml');
  const abs = resolvePath(file);
  let text: string;
  try {
    text = await readFile(abs, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a directory, not a YAML file' : String(e);
    throw new ConfigError([{ file, line: 0, col: 0, path: '', message: `${why}` }], 'EVALRUN_CONFIG_MISSING');
  }
  return parseConfigText(text, file);
}

export function parseConfigText(text: string, file: string): LoadedConfigFile {
  const lines = new LineCounter();
  // `merge`: YAML 1.1's `<<: *anchor` keys, which users reach for to share parameters between sections.
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true, merge: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => {
        // With prettyErrors off, yaml sets no linePos: compute it from the error's offset.
        const pos = e.linePos?.[0] ?? (e.pos[0] >= 0 ? lines.linePos(e.pos[0]) : undefined);
        return {
          file,
          line: pos?.line ?? 0,
          col: pos?.col ?? 0,
          path: '',
          message: `YAML syntax error: ${e.message.split('\n')[0]}`,
        };
      }),
      'EVALRUN_CONFIG_SYNTAX',
    );
  }
  const raw: unknown = doc.toJS();
  const at = (path: DocPath, opts?: { atKey?: boolean }) => locate(doc, lines, path, opts);
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError([{ file, ...at([]), path: '', message: 'the config must be a YAML mapping (key: value)' }]);
  }
  // Top-level `x-` keys hold anchors and notes (the OpenAPI/Compose convention): not config, so not validated or used.
  const data = Object.fromEntries(Object.entries(raw).filter(([k]) => !k.startsWith('x-')));
  const issues = schemaIssues(data, doc, file, at);
  if (issues.length > 0) throw new ConfigError(issues);
  return { file, data: data as unknown as ConfigFile, at };
}

/** Validate, after wrapping scalar grid values as one-element lists (a grid axis with a single value is fine). */
function schemaIssues(
  raw: Record<string, unknown>,
  doc: Document,
  file: string,
  at: LoadedConfigFile['at'],
): SourceIssue[] {
  const scalarAxes = new Set<string>();
  const normalized = { ...raw };
  const grid = raw['grid'];
  if (grid && typeof grid === 'object' && !Array.isArray(grid)) {
    normalized['grid'] = Object.fromEntries(
      Object.entries(grid).map(([k, v]) => {
        if (Array.isArray(v)) return [k, v];
        scalarAxes.add(k);
        return [k, [v]];
      }),
    );
  }
  if (validateConfig(normalized)) return [];
  void doc;
  return collapseAnyOf(validateConfig.errors ?? []).map((e) => {
    let path = pointerToPath(e.instancePath);
    if (path[0] === 'grid' && typeof path[1] === 'string' && scalarAxes.has(path[1]) && path[2] === 0) {
      path = path.slice(0, 2).concat(path.slice(3));
    }
    return toIssue(e, path, file, at);
  });
}

function toIssue(e: ErrorObject, path: DocPath, file: string, at: LoadedConfigFile['at']): SourceIssue {
  if (e.keyword === 'additionalProperties') {
    const key = String((e.params as { additionalProperty: string }).additionalProperty);
    const full = [...path, key];
    const known = path.length === 0 ? topLevelKeys : knownKeysAt(e.schemaPath);
    const hint = suggest(key, known);
    return {
      file,
      ...at(full, { atKey: true }),
      path: pathToString(full),
      message: `unknown key '${key}'${hint ? ` (did you mean '${hint}'?)` : ''}; allowed here: ${known.join(', ')}`,
    };
  }
  if (e.keyword === 'anyOf') {
    // A variant's name is the user's own: its shape is that of a `prompts:` entry.
    const last = path[0] === 'prompts' && path.length === 2 ? 'prompts' : [...path].reverse().find((p) => typeof p === 'string');
    const shape = (last && anyOfShapes[last]) ?? 'one of the documented forms';
    return { file, ...at(path), path: pathToString(path), message: `must be ${shape}` };
  }
  if (e.keyword === 'required') {
    const missing = (e.params as { missingProperty: string }).missingProperty;
    return { file, ...at(path), path: pathToString(path), message: `missing required key '${missing}'` };
  }
  if (e.keyword === 'enum') {
    const allowed = (e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v));
    return { file, ...at(path), path: pathToString(path), message: `must be one of ${allowed.join(', ')}` };
  }
  return { file, ...at(path), path: pathToString(path), message: e.message ?? e.keyword };
}

function knownKeysAt(schemaPath: string): string[] {
  // "#/properties/provider/anyOf/1/additionalProperties" → that sub-schema's property names
  let node: unknown = configSchema;
  for (const seg of schemaPath.replace(/^#\//, '').split('/').slice(0, -1)) {
    node = (node as Record<string, unknown> | undefined)?.[seg];
  }
  const props = (node as { properties?: object } | undefined)?.properties;
  return props ? Object.keys(props) : Object.keys(requestParamSchemas);
}

/**
 * ajv reports every branch of a failed anyOf. When the value's type picks one branch (an object given for
 * `provider`), report only that branch's errors; otherwise one "must be …" message.
 */
function collapseAnyOf(errors: ErrorObject[]): ErrorObject[] {
  const anyOfPaths = new Map<string, ErrorObject>();
  for (const e of errors) if (e.keyword === 'anyOf') anyOfPaths.set(e.schemaPath, e);
  if (anyOfPaths.size === 0) return errors;
  const out: ErrorObject[] = [];
  const handled = new Set<string>();
  for (const e of errors) {
    const owner = [...anyOfPaths.keys()].find((p) => e.schemaPath.startsWith(`${p}/`));
    if (!owner) {
      if (e.keyword !== 'anyOf') out.push(e);
      continue;
    }
    if (handled.has(owner)) continue;
    handled.add(owner);
    const anyOf = anyOfPaths.get(owner)!;
    const branchErrors = errors.filter((x) => x.schemaPath.startsWith(`${owner}/`));
    const byBranch = new Map<string, ErrorObject[]>();
    for (const x of branchErrors) {
      const branch = x.schemaPath.slice(owner.length + 1).split('/')[0]!;
      byBranch.set(branch, [...(byBranch.get(branch) ?? []), x]);
    }
    // A branch whose only complaints are deeper than the anyOf value itself matched the value's type.
    const matching = [...byBranch.values()].filter((list) =>
      list.every((x) => x.instancePath !== anyOf.instancePath || x.keyword === 'additionalProperties' || x.keyword === 'required'),
    );
    if (matching.length === 1) out.push(...matching[0]!);
    else out.push(anyOf);
  }
  return out;
}
