import type { MessageTemplate, PromptVariant } from './config.js';
import type { ChatMessage } from './dataset.js';

type Part = string | { name: string; path: string[] };
export interface CompiledTemplate {
  messages: Array<{ role: string; name?: string; parts: Part[] }>;
  /** Every variable the template uses, for checking rows before anything is sent. */
  variables: string[];
}

// A name starts with a letter or _ (any script: CSV headers are often 'prénom' or '件名') and may hold letters, digits,
// _ . - and inner spaces ('Customer Tier'). Anything else in braces ({{"a": 1}}) is text, not a variable.
// `\{{` is a literal `{{` (the backslash is dropped), so a prompt can show template syntax: `\{{name}}` → `{{name}}`.
const VAR = /\\\{\{|\{\{\s*([\p{L}_](?:[\p{L}\p{N}\p{M}_ .-]*[\p{L}\p{N}\p{M}_.-])?)\s*\}\}/gu;

/**
 * `{{column}}` (or `{{a.b}}` into a JSON row) is replaced by the row's value; strings as they are, other values as
 * JSON. Hand-written rather than Mustache/Handlebars: those HTML-escape by default and render a missing variable
 * as an empty string, where evalrun must refuse before sending a malformed prompt.
 */
export function compileTemplate(messages: MessageTemplate[]): CompiledTemplate {
  const variables = new Set<string>();
  const compiled = messages.map((m) => {
    const parts: Part[] = [];
    let last = 0;
    let text = '';
    for (const match of m.content.matchAll(VAR)) {
      text += m.content.slice(last, match.index);
      last = match.index + match[0].length;
      const name = match[1];
      if (name === undefined) {
        text += '{{';
        continue;
      }
      if (text) parts.push(text);
      text = '';
      parts.push({ name, path: name.split('.') });
      variables.add(name);
    }
    text += m.content.slice(last);
    if (text) parts.push(text);
    return m.name === undefined ? { role: m.role, parts } : { role: m.role, name: m.name, parts };
  });
  return { messages: compiled, variables: [...variables] };
}

const MISSING = Symbol('missing');

export function lookup(vars: Record<string, unknown>, path: string[]): unknown {
  if (path.length === 1) return Object.hasOwn(vars, path[0]!) ? vars[path[0]!] : MISSING;
  // A column whose own name has a dot ('v1.2') wins over a path into nested objects.
  const whole = path.join('.');
  if (Object.hasOwn(vars, whole)) return vars[whole];
  let v: unknown = vars;
  for (const key of path) {
    if (!v || typeof v !== 'object' || !Object.hasOwn(v, key)) return MISSING;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

/** The variables a row lacks (checked once per row, before the run). */
export function missingVariables(t: CompiledTemplate, vars: Record<string, unknown>): string[] {
  return t.variables.filter((name) => lookup(vars, name.split('.')) === MISSING);
}

export function renderMessages(t: CompiledTemplate, vars: Record<string, unknown>): ChatMessage[] {
  return t.messages.map((m) => {
    let content = '';
    for (const p of m.parts) {
      if (typeof p === 'string') content += p;
      else {
        const v = lookup(vars, p.path);
        content += typeof v === 'string' ? v : v === MISSING ? '' : JSON.stringify(v);
      }
    }
    return m.name === undefined ? { role: m.role, content } : { role: m.role, name: m.name, content };
  });
}

/** The line of a template's message that uses `{{name}}`, for an error about that variable. */
export function variableLine(v: PromptVariant, name: string): number {
  const re = new RegExp(`\\{\\{\\s*${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*\\}\\}`);
  const i = v.messages.findIndex((m) => re.test(m.content));
  if (i === -1) return v.source.lines[0] ?? 0;
  const base = v.source.lines[i] ?? 0;
  if (base === 0) return 0;
  // Multi-line content: count the lines before the variable.
  const content = v.messages[i]!.content;
  const offset = content.slice(0, content.search(re)).split('\n').length - 1;
  return base + offset;
}
