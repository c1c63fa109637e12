import type { Config } from '../contracts/config.js';
import { canonicalJson, sha256 } from '../util/canonical-json.js';
import type { Cell } from '../contracts/plan.js';

/** Axes that always show in a cell id, with their short prefixes, when the config sets them. */
const core: Array<[key: string, prefix: string]> = [
  ['temperature', 't'],
  ['top_p', 'p'],
  ['n', 'n'],
];

/**
 * The cartesian product of the grid, in the order written (last axis fastest), merged over `params`. Small (a
 * few hundred cells at most), so it is an array; the rows × cells product is what gets streamed.
 */
export function expandGrid(config: Config): Cell[] {
  let combos: Array<Record<string, unknown>> = [{}];
  for (const axis of config.grid) {
    combos = combos.flatMap((c) => axis.values.map((v) => Object.assign({}, c, { [axis.key]: v })));
  }
  // The prompt variant is the outermost axis: cells are grouped by variant, each over the whole parameter grid.
  const prompts: Array<string | undefined> = config.prompts ? config.prompts.map((p) => p.name) : [undefined];
  const varied = new Set(config.grid.filter((a) => a.values.length > 1).map((a) => a.key));
  const used = new Map<string, number>();
  return prompts.flatMap((prompt) => combos.map((axes) => ({ prompt, axes }))).map(({ prompt, axes }, index) => {
    const params = { ...config.params, ...axes };
    let id = prompt === undefined ? cellId(params, varied) : `prompt=${shortValue(prompt)}/${cellId(params, varied)}`;
    const count = (used.get(id) ?? 0) + 1;
    used.set(id, count);
    if (count > 1) id = `${id}~${count}`;
    const format = (params['response_format'] as { type?: string } | undefined)?.type;
    return {
      id,
      index,
      params,
      ...(prompt !== undefined ? { prompt } : {}),
      n: typeof params['n'] === 'number' ? params['n'] : 1,
      // A schema means the user expects JSON even when the prompt, not response_format, asks for it.
      jsonMode: format === 'json_object' || format === 'json_schema' || config.schema !== undefined,
    };
  });
}

export function cellId(params: Record<string, unknown>, varied: Set<string>): string {
  const parts = [String(params['model'])];
  for (const [key, prefix] of core) if (params[key] !== undefined) parts.push(`${prefix}${shortValue(params[key])}`);
  for (const key of varied) {
    if (key === 'model' || core.some(([k]) => k === key)) continue;
    parts.push(`${key}=${shortValue(params[key])}`);
  }
  return parts.join('/');
}

function shortValue(v: unknown): string {
  if (v === null || v === undefined) return 'none';
  // No slashes (they separate the parts) and no raw control characters (a stop of "\n" would break lines): `\n`.
  if (typeof v !== 'object') return String(v).replace(/\//g, '_').replace(/[\u0000-\u001f]/g, (c) => JSON.stringify(c).slice(1, -1));
  const type = (v as { type?: unknown }).type;
  const name = (v as { json_schema?: { name?: unknown } }).json_schema?.name;
  if (typeof type === 'string') return typeof name === 'string' ? `${type}:${name}` : type;
  return sha256(canonicalJson(v)).slice(0, 6);
}
