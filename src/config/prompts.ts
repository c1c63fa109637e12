import { readFileSync } from 'node:fs';
import { extname, isAbsolute, relative, resolve as resolvePath } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import type { SourceIssue } from '../errors.js';
import { locate, suggest, type DocPath } from './locate.js';
import type { LoadedConfigFile } from './load.js';
import type { ConfigFile, MessageTemplate, PromptVariant } from '../contracts/config.js';

type Issue = (path: DocPath, message: string, opts?: { atKey?: boolean }) => void;

const ROLES = ['system', 'developer', 'user', 'assistant'];

/**
 * `prompts:` and `grid.prompt`: each variant loaded (inline, or from its file) and checked, in the order the grid
 * runs them. Problems inside a prompt file are reported at their line in that file (`fileIssues`); problems in the
 * config, through `issue`. undefined without `prompts:` (the `messages` template is used as before).
 */
export function resolvePrompts(loaded: LoadedConfigFile, dir: string, issue: Issue, fileIssues: SourceIssue[]): PromptVariant[] | undefined {
  const { data } = loaded;
  const axis = data.grid?.['prompt'];
  if (!data.prompts) {
    if (axis !== undefined) issue(['grid', 'prompt'], "'grid.prompt' lists prompt variants, but the config has no 'prompts:'; define the variants there (prompts: { name: [messages…] or a file })", { atKey: true });
    return undefined;
  }
  if (data.messages) issue(['messages'], "give either 'messages' (one template) or 'prompts' (named variants), not both; move this template under 'prompts:' with a name", { atKey: true });
  const all = new Map<string, PromptVariant>();
  for (const [name, spec] of Object.entries(data.prompts)) {
    const v = typeof spec === 'string' ? loadPromptFile(name, spec, dir, fileIssues, (m) => issue(['prompts', name], m)) : inlineVariant(name, spec, loaded);
    if (v) all.set(name, v);
  }
  let names = Object.keys(data.prompts);
  if (axis !== undefined) {
    const list = Array.isArray(axis) ? axis : [axis];
    const seen = new Set<string>();
    list.forEach((n, i) => {
      const at: DocPath = Array.isArray(axis) ? ['grid', 'prompt', i] : ['grid', 'prompt'];
      if (typeof n !== 'string' || !(n in data.prompts!)) {
        const hint = typeof n === 'string' ? suggest(n, names) : undefined;
        issue(at, `no prompt variant '${String(n)}'${hint ? ` (did you mean '${hint}'?)` : ''}; variants: ${names.join(', ')}`);
      } else if (seen.has(n)) issue(at, `prompt variant '${n}' is listed twice`);
      seen.add(String(n));
    });
    names = list.filter((n): n is string => typeof n === 'string' && n in data.prompts!);
  }
  const variants = [...new Set(names)].map((n) => all.get(n)).filter((v): v is PromptVariant => v !== undefined);
  jsonModeNamesJson(data, variants, loaded, issue);
  return variants;
}

function inlineVariant(name: string, messages: MessageTemplate[], loaded: LoadedConfigFile): PromptVariant {
  let text: string[] | undefined;
  try {
    text = readFileSync(loaded.file, 'utf8').split('\n');
  } catch {
    text = undefined;
  }
  const lines = messages.map((_, i) => contentLine(text, loaded.at(['prompts', name, i, 'content']).line));
  return { name, messages, source: { file: loaded.file, lines } };
}

/** `.yaml`/`.yml`/`.json`: a list of messages; `.txt`/`.md`: the whole file is one user message. */
function loadPromptFile(name: string, spec: string, dir: string, fileIssues: SourceIssue[], issue: (message: string) => void): PromptVariant | undefined {
  const file = isAbsolute(spec) ? spec : resolvePath(dir, spec);
  const shown = shownFile(file);
  const ext = extname(file).toLowerCase();
  if (!['.yaml', '.yml', '.json', '.txt', '.md'].includes(ext)) {
    issue(`prompt file '${spec}' has an unsupported extension '${ext}': use .yaml or .json (a list of messages), or .txt or .md (one user message)`);
    return undefined;
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    issue(`prompt file not found: ${file} (paths are relative to the config file)`);
    return undefined;
  }
  if (ext === '.txt' || ext === '.md') {
    const content = text.replace(/\r?\n$/, '');
    if (!content.trim()) {
      fileIssues.push({ file: shown, line: 1, col: 1, path: '', message: `prompt '${name}' is empty` });
      return undefined;
    }
    return { name, messages: [{ role: 'user', content }], source: { file: shown, lines: [1] } };
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const at = (path: DocPath) => locate(doc, lines, path);
  const problem = (path: DocPath, message: string) => fileIssues.push({ file: shown, ...at(path), path: path.join('.'), message: `prompt '${name}': ${message}` });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const pos = e.pos[0] >= 0 ? lines.linePos(e.pos[0]) : { line: 0, col: 0 };
    fileIssues.push({ file: shown, line: pos.line, col: pos.col, path: '', message: `prompt '${name}': ${ext === '.json' ? 'JSON' : 'YAML'} syntax error: ${e.message.split('\n')[0]}` });
    return undefined;
  }
  const raw: unknown = doc.toJS();
  if (!Array.isArray(raw) || raw.length === 0) {
    problem([], 'a prompt file must hold a non-empty list of messages ({ role, content }); for a single user message, use a .txt or .md file');
    return undefined;
  }
  const before = fileIssues.length;
  raw.forEach((m: unknown, i) => {
    if (!m || typeof m !== 'object' || Array.isArray(m)) {
      problem([i], 'each message must be a mapping with role and content');
      return;
    }
    const { role, content, name: who, ...rest } = m as Record<string, unknown>;
    if (typeof role !== 'string' || !ROLES.includes(role)) problem([i, 'role'], `role must be one of ${ROLES.join(', ')}`);
    if (typeof content !== 'string') problem([i, 'content'], 'content must be text');
    if (who !== undefined && typeof who !== 'string') problem([i, 'name'], 'name must be text');
    for (const key of Object.keys(rest)) problem([i, key], `unknown key '${key}'; allowed: role, content, name`);
  });
  if (fileIssues.length > before) return undefined;
  const messages = raw as MessageTemplate[];
  const textLines = text.split('\n');
  return { name, messages, source: { file: shown, lines: messages.map((_, i) => contentLine(textLines, at([i, 'content']).line)) } };
}

/** A block scalar (`content: |`) starts on the line after its indicator. */
function contentLine(text: string[] | undefined, line: number): number {
  return text && line > 0 && /[|>][+-]?\d*[+-]?\s*(#.*)?$/.test(text[line - 1] ?? '') ? line + 1 : line;
}

function shownFile(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && rel.length < file.length ? rel : file;
}

/** As for `messages`: json_object needs the word JSON in the prompt, or the API answers 400 to every request. */
function jsonModeNamesJson(data: ConfigFile, variants: PromptVariant[], loaded: LoadedConfigFile, issue: Issue): void {
  const formats = [data.params?.['response_format'], ...(Array.isArray(data.grid?.['response_format']) ? (data.grid['response_format'] as unknown[]) : [data.grid?.['response_format']])];
  if (!formats.some((f) => (f as { type?: string } | undefined)?.type === 'json_object')) return;
  for (const v of variants) {
    if (v.messages.some((m) => /json/i.test(m.content))) continue;
    const where = typeof data.prompts?.[v.name] === 'string' ? ` (${v.source.file})` : '';
    void loaded;
    issue(['prompts', v.name], `prompt '${v.name}'${where}: response_format json_object needs the word 'json' in the messages (the API rejects it otherwise); e.g. add 'Answer with a JSON object.'`);
  }
}
